from layerlint.rules.ll301_batchnorm_momentum_convention.rule import (
    BatchnormMomentumConvention as RULE,
)

__all__ = ["RULE"]
