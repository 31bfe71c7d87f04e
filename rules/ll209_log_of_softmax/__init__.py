from layerlint.rules.ll209_log_of_softmax.rule import LogOfSoftmax

RULE = LogOfSoftmax
