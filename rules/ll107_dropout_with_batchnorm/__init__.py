from layerlint.rules.ll107_dropout_with_batchnorm.rule import DropoutWithBatchnorm as RULE

__all__ = ["RULE"]
