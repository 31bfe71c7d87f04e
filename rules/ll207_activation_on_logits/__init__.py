from layerlint.rules.ll207_activation_on_logits.rule import ActivationOnLogits

RULE = ActivationOnLogits
