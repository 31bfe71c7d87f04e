from layerlint.rules.ll401_functional_dropout_always_on.rule import (
    FunctionalDropoutAlwaysOn as RULE,
)

__all__ = ["RULE"]
