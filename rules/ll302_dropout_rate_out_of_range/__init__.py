from layerlint.rules.ll302_dropout_rate_out_of_range.rule import DropoutRateOutOfRange as RULE

__all__ = ["RULE"]
