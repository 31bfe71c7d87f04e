from layerlint.rules.ll403_missing_zero_grad.rule import MissingZeroGrad as RULE

__all__ = ["RULE"]
