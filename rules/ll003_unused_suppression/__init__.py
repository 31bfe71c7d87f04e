from layerlint.rules.ll003_unused_suppression.rule import UnusedSuppression as RULE

__all__ = ["RULE"]
