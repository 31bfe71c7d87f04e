"""Patterns lowered to one layer: ``Clip(0, 6)`` -> ReLU6, ``Clip(0, inf)`` -> ReLU, other
literal Clips -> hardtanh; ``x * Sigmoid(x)`` -> SiLU; ``x * Tanh(Softplus(x))`` -> Mish;
``Log(Sigmoid(x))`` -> LogSigmoid; a weighted layer without bias whose only consumer is an
``Add`` of a static value gets a bias (MatMul + Add is a biased Linear)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from layerlint.frontends.onnx.reader import DEFAULT_DOMAINS
from layerlint.ir import Kind, OpInfo, lookup
from layerlint.ir.kinds import activation_op

if TYPE_CHECKING:
    from onnx import NodeProto

    from layerlint.frontends.onnx.lowering import Body, Record

__all__ = ["Patterns"]


class Patterns:
    """The pattern half of the lowering (a mixin: it reads the records built so far)."""

    records: list[Record]

    # -- fusions ------------------------------------------------------------------------
    @staticmethod
    def _single_use(name: str, body: Body) -> bool:
        return body.consumers.get(name, 0) == 1

    def _producer_record(self, name: str, body: Body) -> int | None:
        produced = body.lookup(name)
        return produced[0] if produced and len(produced) == 1 else None

    def _try_fuse(self, node: NodeProto, index: int, body: Body,
                  dynamic: list[tuple[int, str]]) -> bool:
        op = node.op_type if node.domain in DEFAULT_DOMAINS else ""
        if op == "Add" and len(dynamic) == 1 and len(node.input) == 2:
            return self._fuse_bias(node, body, dynamic[0][1])
        if op == "Mul" and len(dynamic) == 2 and len(node.input) == 2:
            return self._fuse_gated(node, body)
        if op == "Log" and len(dynamic) == 1:
            rec_id = self._fusable(node.input[0], body, "onnx::Sigmoid")
            if rec_id is not None:
                self._relabel(rec_id, "onnx::LogSigmoid", "logsigmoid")
                self._alias(node, body, rec_id)
                return True
        return False

    def _fusable(self, name: str, body: Body, op: str) -> int | None:
        rec_id = self._producer_record(name, body)
        if rec_id is None or self.records[rec_id].op != op or not self._single_use(name, body):
            return None
        return rec_id

    def _fuse_bias(self, node: NodeProto, body: Body, data: str) -> bool:
        rec_id = self._producer_record(data, body)
        if rec_id is None or not self._single_use(data, body):
            return False
        record = self.records[rec_id]
        if record.info.kind is not Kind.WEIGHTED or record.attrs.get("bias") is not False:
            return False
        producer, _ = body.producer(data)
        if producer is None or producer.output[0] != data:
            return False
        record.attrs["bias"] = True
        self._alias(node, body, rec_id)
        return True

    def _fuse_gated(self, node: NodeProto, body: Body) -> bool:
        """``x * Sigmoid(x)`` -> SiLU, ``x * Tanh(Softplus(x))`` -> Mish."""
        for gate, other in ((node.input[0], node.input[1]), (node.input[1], node.input[0])):
            sigmoid = self._fusable(gate, body, "onnx::Sigmoid")
            if sigmoid is not None and self.records[sigmoid].inputs == list(
                    body.lookup(other) or ()):
                self._relabel(sigmoid, "onnx::SiLU", "silu")
                self._alias(node, body, sigmoid)
                return True
            tanh = self._fusable(gate, body, "onnx::Tanh")
            if tanh is None:
                continue
            tanh_node, _ = body.producer(gate)
            softplus = self._fusable(tanh_node.input[0], body, "onnx::Softplus") \
                if tanh_node is not None else None
            if softplus is not None and self.records[softplus].inputs == list(
                    body.lookup(other) or ()):
                self.records[tanh].removed = True
                self._relabel(softplus, "onnx::Mish", "mish")
                self._alias(node, body, softplus)
                return True
        return False

    def _relabel(self, rec_id: int, op: str, activation: str) -> None:
        record = self.records[rec_id]
        record.op = op
        record.info = activation_op(activation) or record.info

    def _alias(self, node: NodeProto, body: Body, rec_id: int) -> None:
        for name in node.output:
            if name:
                body.values[name] = (rec_id,)

    # -- Clip -------------------------------------------------------------------------
    def _clip_info(self, node: NodeProto, body: Body) -> OpInfo:
        if len(node.input) > 1 or self._opset() >= 11:
            low = self._scalar(node.input[1], body) if len(node.input) > 1 and node.input[1] \
                else -math.inf
            high = self._scalar(node.input[2], body) if len(node.input) > 2 and node.input[2] \
                else math.inf
        else:
            low = self._attr_number(node, "min", body)
            high = self._attr_number(node, "max", body)
            low = -math.inf if low is None and self._attr(node, "min", body) is None else low
            high = math.inf if high is None and self._attr(node, "max", body) is None else high
        if low is None or high is None:
            return OpInfo(Kind.OPAQUE)  # bounds computed at run time: not an activation
        if low == 0 and high == 6:
            name = "relu6"
        elif low == 0 and high == math.inf:
            name = "relu"
        elif low == -math.inf and high == math.inf:
            return lookup("onnx::Identity")
        else:
            name = "hardtanh"
        return activation_op(name) or OpInfo(Kind.OPAQUE)
