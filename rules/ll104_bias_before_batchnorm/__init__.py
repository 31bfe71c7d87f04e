from layerlint.rules.ll104_bias_before_batchnorm.rule import BiasBeforeBatchnorm as RULE

__all__ = ["RULE"]
