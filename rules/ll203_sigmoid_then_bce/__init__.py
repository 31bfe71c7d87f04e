from layerlint.rules.ll203_sigmoid_then_bce.rule import SigmoidThenBce

RULE = SigmoidThenBce
