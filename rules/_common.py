"""Small helpers the architecture rules share: literal attributes and how layers are named.

Rules read a layer's typed attributes (``layer.dropout``, ``layer.batchnorm``,
``layer.weighted``); a value that is not a literal of the expected type is unknown, and
an unknown value never triggers a finding.
"""

from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.ir.attrs import literal_number
from layerlint.ir.condition import Condition
from layerlint.rule import describe

__all__ = [
    "active_dropout",
    "blocks",
    "conjuncts",
    "describe_from",
    "layer_ref",
    "number",
    "op_name",
    "literal_false",
    "present_with",
    "tracks_running_stats",
    "upstream",
]


number = literal_number  # re-exported for the rules


def literal_false(value: object) -> bool:
    """True only for a literal ``False`` (or ``0``): unknown values are not false."""
    return value is False or (number(value) == 0.0)


def op_name(layer: Layer) -> str:
    """The short operator name: ``Dropout`` (``torch.nn.Dropout``), ``Relu`` (``onnx::Relu``)."""
    return layer.op.rsplit("::", 1)[-1].rsplit(".", 1)[-1]


def layer_ref(layer: Layer) -> str:
    """How a message names the reported layer: "`self.drop` (Dropout, p=0.3)"."""
    details = [op_name(layer)]
    function = layer.info.activation
    # `Activation("relu")` or a lowered `activation=` argument: name the function.
    if function and details[0].lower().replace("_", "") != function.replace("_", ""):
        details = [function]
    if layer.kind is Kind.DROPOUT and layer.dropout.rate is not None:
        details.append(f"p={layer.dropout.rate}")
    return f"`{layer.label}` ({', '.join(details)})"


def describe_from(layer: Layer, origin: Layer) -> str:
    """How a message names another layer: with its file when that is not the reported one's."""
    if layer.location.path != origin.location.path and not layer.location.node:
        return f"`{layer.label}` ({layer.location.path}:{layer.location.line})"
    return describe(layer)


def blocks(layer: Layer, other: Layer) -> tuple[str, str]:
    """(" in `layer1.0`", " in `layer1.1`") when the two sit in different blocks (by
    module path); a block that is an element of the model itself reads `self[1]`."""
    if layer.module_path is None or other.module_path is None:
        return "", ""
    here = layer.module_path.rpartition(".")[0]
    there = other.module_path.rpartition(".")[0]
    if here == there:
        return "", ""
    return (f" in `{_module(here)}`" if here else "",
            f" in `{_module(there)}`" if there else " in the enclosing model")


def _module(path: str) -> str:
    """A module path as a user names it: `layer1.0`; `self[1].conv` for a path that
    starts at an element of the model (a bare `1` reads as a number)."""
    if not path.split(".")[0].isdigit():
        return path
    return "self" + "".join(f"[{part}]" if part.isdigit() else f".{part}"
                            for part in path.split("."))


def earlier_pass(layer: Layer, origin: Layer) -> str:
    """" in an earlier pass through this code" when ``layer`` feeds ``origin`` but is
    written after it in the same file (a block applied in a loop or more than once)."""
    where, there = origin.location, layer.location
    if where.path != there.path or where.node or there.node or where.cell != there.cell:
        return ""
    if (there.line, there.column) <= (where.line, where.column):
        return ""
    return " in an earlier pass through this code (a loop or a block applied more than once)"


def active_dropout(layer: Layer) -> bool:
    """A dropout that may zero anything while training.

    Not ``F.dropout(x, training=False)`` (``training`` literally false) and not a
    literal rate of 0. An unknown rate or flag counts as active: the layer is there.
    """
    return not (layer.dropout.training is False or number(layer.dropout.rate) == 0.0)


def tracks_running_stats(layer: Layer) -> bool:
    """A batchnorm that updates running statistics while training.

    Not one that always normalises with fixed statistics (``training`` literally
    false, as ``F.batch_norm``'s default) and not one that keeps none
    (``track_running_stats=False``: it uses batch statistics at test time too).
    """
    return not (layer.batchnorm.training is False
                or layer.batchnorm.tracks_running_stats is False)


def upstream(graph: LayerGraph, start: Layer) -> Iterator[Layer]:
    """Layers upstream of ``start`` in breadth-first order (nearest first)."""
    return graph.upstream(start)


def conjuncts(condition: Condition | None) -> frozenset[str]:
    """The tests of a layer condition, each one a term of its conjunction."""
    return frozenset(condition.clauses) if condition else frozenset()


def present_with(layer: Layer, origin: Layer) -> bool:
    """``layer`` is there whenever ``origin`` is: its condition adds nothing to origin's."""
    return conjuncts(layer.condition) <= conjuncts(origin.condition)
