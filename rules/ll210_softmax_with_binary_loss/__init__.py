from layerlint.rules.ll210_softmax_with_binary_loss.rule import SoftmaxWithBinaryLoss

RULE = SoftmaxWithBinaryLoss
