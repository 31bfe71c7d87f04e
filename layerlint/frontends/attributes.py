"""How each framework spells the layer attributes rules read (``layerlint.ir.attrs``).

A frontend passes its typer to ``GraphBuilder``; rules then read one neutral spelling.
"""

from __future__ import annotations

from collections.abc import Mapping

from layerlint.ir import LayerAttrs, MomentumConvention, OpInfo
from layerlint.ir.attrs import typed_attrs

__all__ = ["TYPERS", "keras_attrs", "onnx_attrs", "pytorch_attrs"]


def pytorch_attrs(op: str, info: OpInfo, raw: Mapping[str, object]) -> LayerAttrs | None:
    # ``nn.Dropout(p)``, ``nn.BatchNorm2d(momentum=0.1)``, ``nn.Conv2d(bias=True)``
    return typed_attrs(op, info, raw, rate="p", convention=MomentumConvention.BATCH,
                       bias_argument="bias", bias_default=True, axis_argument="dim")


def keras_attrs(op: str, info: OpInfo, raw: Mapping[str, object]) -> LayerAttrs | None:
    # the Keras frontend reads ``Dropout(rate)`` into "p"; ``use_bias`` defaults to True
    return typed_attrs(op, info, raw, rate="p", convention=MomentumConvention.RUNNING,
                       bias_argument="use_bias", bias_default=True, axis_argument="axis")


def onnx_attrs(op: str, info: OpInfo, raw: Mapping[str, object]) -> LayerAttrs | None:
    # the ONNX frontend records "p" (ratio), "momentum", and "bias" from the node's inputs
    return typed_attrs(op, info, raw, rate="p", convention=MomentumConvention.RUNNING,
                       bias_argument=None, bias_default=None)


# By the frontend name a graph records (for graphs built outside a frontend, as tests do).
TYPERS = {"pytorch": pytorch_attrs, "keras": keras_attrs, "onnx": onnx_attrs}
