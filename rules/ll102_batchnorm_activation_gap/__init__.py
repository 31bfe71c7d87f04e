from layerlint.rules.ll102_batchnorm_activation_gap.rule import BatchnormActivationGap as RULE

__all__ = ["RULE"]
