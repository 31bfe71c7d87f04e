from layerlint.rules.ll205_softmax_into_nll_loss.rule import SoftmaxIntoNllLoss

RULE = SoftmaxIntoNllLoss
