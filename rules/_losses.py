"""What the loss rules (LL201-LL203) share: which loss a squashing layer feeds.

Frontends add a LOSS layer whose single input edge comes from the loss's *input*
argument (never the target), and record in ``OpInfo.expects`` what that input should
be. A softmax or sigmoid "feeds" a loss when only shape-only ops lie between them.
"""

from __future__ import annotations

from layerlint.ir import Kind, Layer, LayerGraph

__all__ = ["fed_losses", "is_sigmoid", "loss_ref", "squash_ref"]


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
