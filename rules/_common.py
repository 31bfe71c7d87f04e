"""Small helpers the architecture rules share: literal attributes and how layers are named.

Attribute values are literals (numbers, bools, strings, None) or
``layerlint.ir.Unresolved``; anything that is not a literal of the expected type is
unknown, and an unknown value never triggers a finding.
"""

from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, Layer, LayerGraph, Unresolved
from layerlint.ir.condition import Condition
from layerlint.rule import describe

__all__ = [
    "UNEXPANDED_KWARGS",
    "active_dropout",
    "attr",
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


# Set by a frontend when a call passes keyword arguments it could not expand
# (``nn.Conv2d(..., **kwargs)``): an attribute absent there is unknown, not the default.
UNEXPANDED_KWARGS = "**"


def attr(layer: Layer, key: str, default: object) -> object:
    """A layer attribute, its framework default when absent, or Unresolved when unknown."""
    if key in layer.attrs:
        return layer.attrs[key]
    if UNEXPANDED_KWARGS in layer.attrs:
        return Unresolved(f"**{layer.attrs[UNEXPANDED_KWARGS]}")
    return default


def number(value: object) -> float | None:
    """The value as a float if it is a literal int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


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
    if layer.kind is Kind.DROPOUT and "p" in layer.attrs:
        details.append(f"p={layer.attrs['p']}")
    return f"`{layer.label}` ({', '.join(details)})"


def describe_from(layer: Layer, origin: Layer) -> str:
    """How a message names another layer: with its file when that is not the reported one's."""
    if layer.location.path != origin.location.path and not layer.location.node:
        return f"`{layer.label}` ({layer.location.path}:{layer.location.line})"
    return describe(layer)


def active_dropout(layer: Layer) -> bool:
    """A dropout that may zero anything while training.

    Not ``F.dropout(x, training=False)`` (attr ``training`` literally false) and not a
    literal rate of 0. An unknown rate or flag counts as active: the layer is there.
    """
    return not (literal_false(layer.attrs.get("training")) or number(layer.attrs.get("p")) == 0.0)


def tracks_running_stats(layer: Layer) -> bool:
    """A batchnorm that updates running statistics while training.

    Not one that always normalises with fixed statistics (attr ``training`` literally
    false, as ``F.batch_norm``'s default) and not one that keeps none
    (``track_running_stats=False``: it uses batch statistics at test time too).
    """
    return not (literal_false(layer.attrs.get("training"))
                or literal_false(layer.attrs.get("track_running_stats")))


def upstream(graph: LayerGraph, start: Layer) -> Iterator[Layer]:
    """Layers upstream of ``start`` in breadth-first order (nearest first)."""
    return graph.upstream(start)


def conjuncts(condition: Condition | None) -> frozenset[str]:
    """The tests of a layer condition, each one a term of its conjunction."""
    return frozenset(condition.clauses) if condition else frozenset()


def present_with(layer: Layer, origin: Layer) -> bool:
    """``layer`` is there whenever ``origin`` is: its condition adds nothing to origin's."""
    return conjuncts(layer.condition) <= conjuncts(origin.condition)
