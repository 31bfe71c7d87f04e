from layerlint.rules.ll206_single_unit_softmax.rule import SingleUnitSoftmax

RULE = SingleUnitSoftmax
