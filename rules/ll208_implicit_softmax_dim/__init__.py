from layerlint.rules.ll208_implicit_softmax_dim.rule import ImplicitSoftmaxDim

RULE = ImplicitSoftmaxDim
