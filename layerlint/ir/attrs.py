"""Typed layer attributes: what rules may know about a layer, in neutral terms.

Frontends translate their framework's arguments and defaults into these (PyTorch's
``bias=``, Keras' ``use_bias=`` and an ONNX bias input all become ``Weighted.bias``);
rules read only these, never a framework's spelling. A value the source gives by an
expression that is not a literal is ``Unresolved`` (rules stay silent on it); ``None``
means the source did not give it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from layerlint.ir.kinds import OUTPUT_UNITS, Kind, OpInfo, softmax_axis

__all__ = [
    "UNEXPANDED_KWARGS", "BatchNorm", "Dropout", "LayerAttrs", "MomentumConvention",
    "Softmax", "Unresolved", "Weighted", "flag", "literal_number", "typed_attrs",
]

# Key of a layer's raw arguments when the call passes keyword arguments the frontend
# could not expand (``nn.Conv2d(..., **kwargs)``): an argument absent there is unknown,
# not the framework default. The value is the expanded expression's text.
UNEXPANDED_KWARGS = "**"


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A layer attribute given by an expression that is not a literal (its source text).

    Rules treat it as unknown and stay silent rather than guess.
    """

    text: str

    def __str__(self) -> str:
        return self.text


class MomentumConvention(str, enum.Enum):
    """What a batchnorm's ``momentum`` weighs in the running-statistics update."""

    # running = (1 - m) * running + m * batch  (PyTorch)
    BATCH = "batch"
    # running = m * running + (1 - m) * batch  (Keras, ONNX BatchNormalization)
    RUNNING = "running"


@dataclass(frozen=True, slots=True)
class Dropout:
    # the drop probability as written; None: not given (the framework default, in (0, 1))
    rate: float | Unresolved | None = None
    # False: never drops (``F.dropout(x, training=False)``); unknown counts as True
    training: bool | Unresolved | None = True


@dataclass(frozen=True, slots=True)
class BatchNorm:
    # momentum as written, in ``convention``; None: not given (the framework default)
    momentum: float | Unresolved | None = None
    convention: MomentumConvention | None = None
    # False: keeps no running statistics (normalises with batch statistics at test time)
    tracks_running_stats: bool | Unresolved | None = True
    # False: always normalises with fixed statistics (``F.batch_norm(..., training=False)``)
    training: bool | Unresolved | None = True
    # the convention of the source code the graph was exported from, when known and
    # other than ``convention`` (a PyTorch ONNX export: BATCH): where the user wrote it
    source_convention: MomentumConvention | None = None

    @property
    def batch_weight(self) -> float | None:
        """The literal momentum normalised to the BATCH convention (weight of the new batch)."""
        momentum = literal_number(self.momentum)
        if momentum is None or self.convention is None:
            return None
        return momentum if self.convention is MomentumConvention.BATCH else 1.0 - momentum


@dataclass(frozen=True, slots=True)
class Weighted:
    # whether the layer adds a bias; an Unresolved or None value is unknown
    bias: bool | Unresolved | None = None
    # the constructor keyword that turns the bias off in the source ("bias", "use_bias"),
    # None where the bias is not a constructor argument (an ONNX bias input)
    bias_argument: str | None = None
    # the number of output units as given (None: not known), and the axis they lie on
    units: int | Unresolved | None = None
    units_axis: int | None = None


@dataclass(frozen=True, slots=True)
class Softmax:
    # the axis it normalises over; None: picked from the input's rank (implicit)
    axis: int | Unresolved | None = -1
    # the argument that sets the axis in the source ("dim", "axis"), if any
    axis_argument: str | None = None


LayerAttrs = Dropout | BatchNorm | Weighted | Softmax


def literal_number(value: object) -> float | None:
    """The value as a float if it is a literal int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def flag(value: object) -> bool | Unresolved | None:
    """A literal bool or number as a bool (``0`` is False), None as None, else Unresolved."""
    if value is None or isinstance(value, (bool, Unresolved)):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    return Unresolved(str(value))


def _given(raw: Mapping[str, object], key: str) -> object:
    """A raw argument; unknown (Unresolved) when absent behind unexpanded ``**kwargs``."""
    if key in raw:
        return raw[key]
    if UNEXPANDED_KWARGS in raw:
        return Unresolved(f"**{raw[UNEXPANDED_KWARGS]}")
    return None


def _as_written(value: object) -> float | Unresolved | None:
    """A number stays as written (int or float); other values are not numbers: Unresolved."""
    if value is None or isinstance(value, Unresolved):
        return value
    if literal_number(value) is not None:
        return value  # type: ignore[return-value]  # an int prints as written
    return Unresolved(str(value))


def typed_attrs(op: str, info: OpInfo, raw: Mapping[str, object], *, rate: str,
                convention: MomentumConvention | None, bias_argument: str | None,
                bias_default: bool | None, axis_argument: str | None = None
                ) -> LayerAttrs | None:
    """Typed attributes from a layer's raw arguments, given how the framework spells them.

    ``rate``: the raw key of a dropout's drop probability; ``convention``: the momentum
    convention of the framework's batchnorms; ``bias_argument``: the raw key of a weighted
    layer's bias flag, whose default is ``bias_default``.
    """
    if info.kind is Kind.DROPOUT:
        return Dropout(rate=_as_written(raw.get(rate)),
                       training=flag(raw.get("training", True)))
    if info.kind is Kind.BATCHNORM:
        return BatchNorm(
            momentum=_as_written(raw.get("momentum")), convention=convention,
            tracks_running_stats=flag(raw.get("track_running_stats", True)),
            training=flag(raw.get("training", True)),
            source_convention=MomentumConvention.BATCH
            if raw.get("exported_from") == "pytorch" else None)
    if info.kind is Kind.WEIGHTED:
        key = bias_argument or "bias"
        value = _given(raw, key)
        # a literal None bias is no bias (``bias=None`` in some builders)
        bias = (bias_default if value is None and key not in raw
                else False if value is None else flag(value))
        units_key, units_axis = OUTPUT_UNITS.get(op, (None, None))
        units = raw.get(units_key) if units_key else None
        return Weighted(bias=bias, bias_argument=bias_argument,
                        units=units if units is None or isinstance(units, (int, Unresolved))
                        else Unresolved(str(units)),
                        units_axis=units_axis if units_key in raw else None)
    if info.kind is Kind.SOFTMAX:
        axis = softmax_axis(op, raw)
        if axis is None and UNEXPANDED_KWARGS in raw:
            axis = Unresolved(f"**{raw[UNEXPANDED_KWARGS]}")  # may be given there
        elif axis is not None and not isinstance(axis, (int, Unresolved)):
            axis = Unresolved(str(axis))
        return Softmax(axis=axis, axis_argument=axis_argument)
    return None
