"""How a fix intent is spelled in a framework's source (see ``layerlint.fix``).

Rules ask for intents ("feed the loss logits"); these tables say which call does that
in each framework. No LibCST here: rules build fixes while checking any input.
"""

from __future__ import annotations

__all__ = ["FOLLOW_MODE", "FROM_LOGITS_PREFIX", "FUNCTIONAL_SQUASH", "LOG_FORM",
           "LOG_FUNCTIONS", "LOG_OF_CALL", "MODULE_SQUASH", "ON_LOGITS", "REGISTERING",
           "SETTERS", "WITH_LOGITS"]

# A loss on probabilities -> the callable in the same module that takes logits, with
# the same arguments.
WITH_LOGITS: dict[str, str] = {
    "torch.nn.BCELoss": "BCEWithLogitsLoss",
    "torch.nn.functional.binary_cross_entropy": "binary_cross_entropy_with_logits",
}
# A loss on log-probabilities or probabilities -> the callable in the same module that
# takes logits, with the same arguments (LL204).
ON_LOGITS: dict[str, str] = {
    **WITH_LOGITS,
    "torch.nn.NLLLoss": "CrossEntropyLoss", "torch.nn.functional.nll_loss": "cross_entropy",
}
# Loss objects whose ``from_logits`` argument makes them take logits (LL204).
FROM_LOGITS_PREFIX = "keras.losses."
# Squashing layers written as a call on the tensor (dropped by unwrapping the call) and
# as a module (dropped by removing it from its Sequential).
FUNCTIONAL_SQUASH = frozenset({"torch.sigmoid", "torch.nn.functional.sigmoid",
                               "torch.special.expit"})
MODULE_SQUASH = frozenset({"torch.nn.Sigmoid"})
# A softmax -> the callable in the same module that computes its log in one op.
LOG_FORM: dict[str, str] = {
    "torch.nn.functional.softmax": "log_softmax", "torch.softmax": "log_softmax",
    "torch.special.softmax": "log_softmax", "torch.nn.Softmax": "LogSoftmax",
}
# The softmax calls that ``log(softmax(x))`` fuses into their log form, and the logs.
LOG_OF_CALL: dict[str, str] = {"torch.nn.functional.softmax": "log_softmax",
                               "torch.softmax": "log_softmax"}
LOG_FUNCTIONS = frozenset({"torch.log"})

# -- training code -------------------------------------------------------------------
# A functional dropout / batchnorm -> its mode argument and the expression by which a
# layer's own method passes on the layer's mode (``{self}``: the method's ``self``).
FOLLOW_MODE: dict[str, tuple[str, str]] = {
    **{f"torch.nn.functional.{name}": ("training", "{self}.training") for name in (
        "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
        "feature_alpha_dropout", "batch_norm")},
    **{f"torch.{name}": ("train", "{self}.training")
       for name in ("dropout", "alpha_dropout", "feature_dropout")},
}
# A framework's layer base -> the container that registers the layers a plain
# container holds, by the plain container's kind.
REGISTERING: dict[str, dict[str, str]] = {
    "torch.nn.Module": {"list": "torch.nn.ModuleList", "tuple": "torch.nn.ModuleList",
                        "dict": "torch.nn.ModuleDict"},
}
# A framework's layer base -> the method that sets a flag on every parameter, by flag.
SETTERS: dict[str, dict[str, str]] = {"torch.nn.Module": {"requires_grad": "requires_grad_"}}
