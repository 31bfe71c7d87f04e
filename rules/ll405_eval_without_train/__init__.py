from layerlint.rules.ll405_eval_without_train.rule import EvalWithoutTrain as RULE

__all__ = ["RULE"]
