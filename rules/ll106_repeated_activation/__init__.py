from layerlint.rules.ll106_repeated_activation.rule import RepeatedActivation as RULE

__all__ = ["RULE"]
