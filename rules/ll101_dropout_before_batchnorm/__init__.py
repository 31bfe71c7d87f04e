from layerlint.rules.ll101_dropout_before_batchnorm.rule import DropoutBeforeBatchnorm as RULE

__all__ = ["RULE"]
