from layerlint.rules.ll402_keras_call_without_training.rule import (
    KerasCallWithoutTraining as RULE,
)

__all__ = ["RULE"]
