"""How a fix intent is spelled in a framework's source (see ``layerlint.fix``).

Rules ask for intents ("feed the loss logits"); these tables say which call does that
in each framework. No LibCST here: rules build fixes while checking any input.
"""

from __future__ import annotations

__all__ = ["FUNCTIONAL_SQUASH", "MODULE_SQUASH", "WITH_LOGITS"]

# A loss on probabilities -> the callable in the same module that takes logits, with
# the same arguments.
WITH_LOGITS: dict[str, str] = {
    "torch.nn.BCELoss": "BCEWithLogitsLoss",
    "torch.nn.functional.binary_cross_entropy": "binary_cross_entropy_with_logits",
}
# Squashing layers written as a call on the tensor (dropped by unwrapping the call) and
# as a module (dropped by removing it from its Sequential).
FUNCTIONAL_SQUASH = frozenset({"torch.sigmoid", "torch.nn.functional.sigmoid",
                               "torch.special.expit"})
MODULE_SQUASH = frozenset({"torch.nn.Sigmoid"})
