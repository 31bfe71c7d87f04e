from layerlint.rules.ll110_shared_batchnorm.rule import SharedBatchnorm

RULE = SharedBatchnorm
