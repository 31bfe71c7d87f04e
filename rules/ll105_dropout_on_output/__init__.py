from layerlint.rules.ll105_dropout_on_output.rule import DropoutOnOutput as RULE

__all__ = ["RULE"]
