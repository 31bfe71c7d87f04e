"""What the loss rules (LL201-LL210) share: which loss a squashing layer feeds.

Frontends add a LOSS layer whose single input edge comes from the loss's *input*
argument (never the target), and record in ``OpInfo.expects`` what that input should
be. A softmax or sigmoid "feeds" a loss when only shape-only ops lie between them.
"""

from __future__ import annotations

from layerlint.ir import Kind, Layer, LayerGraph, Role

__all__ = ["BINARY_PROBS", "PROBABILITIES", "fed_losses", "is_head", "is_sigmoid",
           "logit_sources", "loss_ref", "output_units", "squash_ref"]

# What a binary cross-entropy on probabilities expects (torch's, and Keras' clipped one).
BINARY_PROBS = ("binary_probs", "binary_probs_clipped")
# Losses that expect probabilities or log-probabilities ("probability loss", RULES.md).
PROBABILITIES = ("log_probs", "probs", *BINARY_PROBS)
# What may follow the last weighted layer while its output stays logits (RULES.md).
_KEEPS_LOGITS = frozenset({Kind.SHAPE, Kind.POOL, Kind.NORM, Kind.BATCHNORM, Kind.MERGE,
                           Kind.DROPOUT})


def is_sigmoid(layer: Layer) -> bool:
    return layer.kind is Kind.ACTIVATION and layer.info.activation == "sigmoid"


def fed_losses(graph: LayerGraph, layer: Layer, *expects: str) -> list[Layer]:
    """The losses expecting one of ``expects`` that take ``layer``'s output as input."""
    return [lay for lay in graph.next_layers(layer, skip=(Kind.SHAPE,))
            if lay.kind is Kind.LOSS and lay.info.expects in expects]


def _short_op(layer: Layer) -> str:
    return layer.op.rsplit("::", 1)[-1].rsplit(".", 1)[-1]


def loss_ref(loss: Layer, origin: Layer) -> str:
    """How a message names the loss: "`criterion` (CrossEntropyLoss, train.py:14)"."""
    if loss.location.node:
        where = f"node {loss.location.node}"
    elif loss.location.path != origin.location.path:
        where = f"{loss.location.path}:{loss.location.line}"
    else:
        where = f"line {loss.location.line}"
    if loss.location.cell and not loss.location.node:
        where = f"cell {loss.location.cell}, {where}"
    label, op = loss.label, _short_op(loss)
    if label.split("(", 1)[0].rsplit(".", 1)[-1] == op:
        return f"`{op}` ({where})"
    return f"`{label}` ({op}, {where})"


def squash_ref(layer: Layer) -> str:
    """How a message names the reported softmax or sigmoid."""
    return f"`{layer.label}`"


def logit_sources(graph: LayerGraph, layer: Layer) -> list[Layer]:
    """The weighted layers whose logits reach ``layer``'s input, or [] when anything
    else (an activation, a softmax, an opaque op) is among its nearest producers.

    Model inputs are ignored: an ONNX loss also takes the labels.
    """
    producers = [lay for lay in graph.previous_layers(layer, skip=_KEEPS_LOGITS)
                 if lay.kind is not Kind.INPUT]
    if producers and all(lay.kind is Kind.WEIGHTED for lay in producers):
        return producers
    return []


def output_units(layer: Layer) -> tuple[object, int] | None:
    """(number of output units as given, the axis they lie on) of a weighted layer."""
    units, axis = layer.weighted.units, layer.weighted.units_axis
    return None if units is None or axis is None else (units, axis)


def is_head(graph: LayerGraph, layer: Layer) -> bool:
    """An output of a whole model, or the input of a loss: a prediction, not an
    intermediate such as attention weights."""
    if graph.role is Role.MODEL and graph.is_output(layer):
        return True
    return any(lay.kind is Kind.LOSS for lay in graph.next_layers(layer))
