from layerlint.rules.ll202_double_sigmoid.rule import DoubleSigmoid

RULE = DoubleSigmoid
