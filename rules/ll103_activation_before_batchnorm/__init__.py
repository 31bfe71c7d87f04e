from layerlint.rules.ll103_activation_before_batchnorm.rule import ActivationBeforeBatchnorm as RULE

__all__ = ["RULE"]
