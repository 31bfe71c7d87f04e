"""Reading ``.onnx`` files without their weights.

A model's structure is a small part of a file whose bulk is initializer payloads.
``read_model`` maps the file and walks the protobuf wire format only where a weight can
be (graphs, nodes, attributes, functions, tensors), copying everything else as opaque
byte ranges; the payload of a tensor with more than ``MAX_INLINE_ELEMENTS`` elements is
left out, so its pages are never read, and the rest is parsed by protobuf as usual.
The lowering never decodes such tensors, so it sees the same model as a full parse.
External data is never opened: it is only a reference (location, offset, length).

The message classes come from onnx's generated ``onnx_ml_pb2`` module, loaded on its own
when ``onnx`` is not imported yet: ``import onnx`` costs about 0.7 s (numpy, ml_dtypes),
more than reading any model.
"""

from __future__ import annotations

import importlib.util
import math
import mmap
import os
import stat
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from layerlint.frontends import InputError

__all__ = ["DEFAULT_DOMAINS", "MAX_INLINE_ELEMENTS", "NodeKey", "check_header", "nodes_in_order",
           "proto", "read_model", "structure", "tensor_values"]

# Tensors with more elements are never decoded (and their payload never read).
MAX_INLINE_ELEMENTS = 4096
# Submessages at most this long are copied without being walked: they cannot hold a
# payload worth skipping, and walking every small node in Python would cost more.
WALK_ABOVE = 64 * 1024

_proto: ModuleType | None = None


def proto() -> ModuleType:
    """onnx's generated protobuf module (``ModelProto``, ``NodeProto``...)."""
    global _proto
    if _proto is None:
        _proto = _load_proto()
    return _proto


def _load_proto() -> ModuleType:
    if "onnx" not in sys.modules:
        try:
            spec = importlib.util.find_spec("onnx")
            origin = spec.origin if spec is not None else None
            if origin:
                path = Path(origin).with_name("onnx_ml_pb2.py")
                own = importlib.util.spec_from_file_location("_layerlint_onnx_ml_pb2", path)
                if own is not None and own.loader is not None:
                    module = importlib.util.module_from_spec(own)
                    own.loader.exec_module(module)
                    return module
        except Exception:  # noqa: BLE001 - any layout surprise: import onnx as usual
            pass
    import onnx.onnx_ml_pb2

    return onnx.onnx_ml_pb2


# --------------------------------------------------------------------------------------
# The wire walk

# Which length-delimited fields of each message lead to a tensor (field numbers from
# onnx-ml.proto); every other field is copied as it is.
_TENSOR = "tensor"
_LEADS_TO: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: _TENSOR, 15: "sparse"},
    "function": {7: "node", 11: "attribute"},
    "node": {5: "attribute"},
    "attribute": {5: _TENSOR, 6: "graph", 10: _TENSOR, 11: "graph", 22: "sparse",
                  23: "sparse"},
    "sparse": {1: _TENSOR, 2: _TENSOR},
}
# TensorProto fields that hold values: float/int32/string/int64/raw/double/uint64 data.
_PAYLOAD = frozenset({4, 5, 6, 7, 9, 10, 11})
_DIMS = 1
_MAX_DEPTH = 64  # nested graphs deeper than this are parsed by protobuf, not walked


class _Truncated(Exception):
    pass


def _varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Truncated
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _fields(buf: Any, pos: int, end: int):
    """(field, wire type, start of the field, start of its body, end of the field)."""
    while pos < end:
        start = pos
        key, pos = _varint(buf, pos, end)
        wire = key & 7
        if wire == 0:
            body = pos
            _, pos = _varint(buf, pos, end)
        elif wire == 1:
            body, pos = pos, pos + 8
        elif wire == 5:
            body, pos = pos, pos + 4
        elif wire == 2:
            length, body = _varint(buf, pos, end)
            pos = body + length
        else:  # groups (unused by ONNX) and invalid wire types
            raise _Truncated
        if pos > end:
            raise _Truncated
        yield key >> 3, wire, start, body, pos


def _walk(buf: Any, pos: int, end: int, kind: str, out: list, depth: int) -> None:
    """Append to ``out`` the pieces that re-encode this message without large payloads."""
    leads = _LEADS_TO[kind]
    copied = pos
    for number, wire, start, body, stop in _fields(buf, pos, end):
        child = leads.get(number) if wire == 2 else None
        if child is None or stop - body <= WALK_ABOVE or depth > _MAX_DEPTH:
            continue
        pieces: list = []
        if child == _TENSOR:
            _tensor(buf, body, stop, pieces)
        else:
            _walk(buf, body, stop, child, pieces, depth + 1)
        out.append(buf[copied:start])
        out.append(_encode_varint(number << 3 | 2))
        out.append(_encode_varint(sum(len(p) for p in pieces)))
        out.extend(pieces)
        copied = stop
    out.append(buf[copied:end])


def _tensor(buf: Any, pos: int, end: int, out: list) -> None:
    elements = 1
    kept: list[tuple[int, int]] = []
    for number, wire, start, body, stop in _fields(buf, pos, end):
        if number == _DIMS:
            if wire == 2:  # packed
                cursor = body
                while cursor < stop:
                    dim, cursor = _varint(buf, cursor, stop)
                    elements *= dim
            elif wire == 0:
                dim, _ = _varint(buf, body, stop)
                elements *= dim
        if number not in _PAYLOAD:
            kept.append((start, stop))
    if elements <= MAX_INLINE_ELEMENTS:
        out.append(buf[pos:end])
        return
    out.extend(buf[start:stop] for start, stop in kept)


# --------------------------------------------------------------------------------------
# Reading a file


def read_model(path: Path) -> Any:
    """The file's ModelProto without large tensor payloads; InputError when unreadable."""
    data = structure(path)
    model_class = proto().ModelProto
    try:
        model = model_class.FromString(data)
    except Exception as error:  # noqa: BLE001 - protobuf raises DecodeError and others
        raise InputError(
            f"not an ONNX model: the protobuf cannot be decoded ({error}); "
            "the file may be truncated or corrupt") from None
    sanitise_strings(model)
    return model


def structure(path: Path) -> bytes:
    """The file's bytes without large tensor payloads: all that ``check`` reads of it
    (so also what a result cache keys it by); InputError when unreadable or malformed."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError("cannot read file: not a regular file")
            if info.st_size == 0:
                data = b""
            else:
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                    data = _strip(mapped, info.st_size)
    except OSError as error:
        raise InputError(f"cannot read file: {error.strerror or error}") from None
    return data


def _strip(mapped: mmap.mmap, size: int) -> bytes:
    pieces: list = []
    try:
        _walk(mapped, 0, size, "model", pieces, 0)
    except _Truncated:
        raise InputError("not an ONNX model: the protobuf cannot be decoded (a field runs "
                         "past its end); the file may be truncated or corrupt") from None
    return b"".join(pieces)


# --------------------------------------------------------------------------------------
# Strings: protobuf hands out bytes for a string field that is not valid UTF-8


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


def _fix(message: Any, *names: str) -> None:
    for name in names:
        value = getattr(message, name)
        if isinstance(value, bytes):
            setattr(message, name, _text(value))


def _fix_repeated(values: Any) -> None:
    for i, value in enumerate(values):
        if isinstance(value, bytes):
            values[i] = _text(value)


def _fix_graph(graph: Any, depth: int = 0) -> None:
    _fix(graph, "name")
    for value in (*graph.input, *graph.output, *graph.value_info):
        _fix(value, "name")
    for tensor in graph.initializer:
        _fix(tensor, "name")
    for sparse in graph.sparse_initializer:
        _fix(sparse.values, "name")
    _fix_nodes(graph.node, depth)


def _fix_nodes(nodes: Any, depth: int) -> None:
    for node in nodes:
        _fix(node, "name", "op_type", "domain")
        _fix_repeated(node.input)
        _fix_repeated(node.output)
        for prop in node.metadata_props:
            _fix(prop, "key", "value")
        for attr in node.attribute:
            _fix(attr, "name", "ref_attr_name")
            if depth < _MAX_DEPTH:
                if attr.HasField("g"):
                    _fix_graph(attr.g, depth + 1)
                for graph in attr.graphs:
                    _fix_graph(graph, depth + 1)


def sanitise_strings(model: Any) -> None:
    """Replace every name that is not valid UTF-8 by its escaped form (``\\xff``)."""
    for opset in model.opset_import:
        _fix(opset, "domain")
    _fix_graph(model.graph)
    for function in model.functions:
        _fix(function, "name", "domain")
        _fix_repeated(function.input)
        _fix_repeated(function.output)
        for attr in function.attribute_proto:
            _fix(attr, "name")
        for opset in function.opset_import:
            _fix(opset, "domain")
        _fix_nodes(function.node, 0)


# --------------------------------------------------------------------------------------
# Small tensors' values (without numpy)

# data_type -> (struct format of one raw element, typed field holding the values)
_FORMATS: dict[int, tuple[str, str]] = {
    1: ("f", "float_data"),  # FLOAT
    2: ("B", "int32_data"),  # UINT8
    3: ("b", "int32_data"),  # INT8
    4: ("H", "int32_data"),  # UINT16
    5: ("h", "int32_data"),  # INT16
    6: ("i", "int32_data"),  # INT32
    7: ("q", "int64_data"),  # INT64
    9: ("?", "int32_data"),  # BOOL
    10: ("e", "int32_data"),  # FLOAT16 (typed: the bits, in int32_data)
    11: ("d", "double_data"),  # DOUBLE
    12: ("I", "uint64_data"),  # UINT32
    13: ("Q", "uint64_data"),  # UINT64
    16: ("H", "int32_data"),  # BFLOAT16 (the upper half of a float32's bits)
}
_EXTERNAL = 1  # TensorProto.EXTERNAL


def tensor_values(tensor: Any) -> list[float] | None:
    """Values of a small inline numeric tensor; None when external, large or unknown."""
    if tensor.data_location == _EXTERNAL or len(tensor.external_data):
        return None
    count = math.prod(tensor.dims)
    if count > MAX_INLINE_ELEMENTS or tensor.data_type not in _FORMATS:
        return None
    code, typed = _FORMATS[tensor.data_type]
    raw = tensor.raw_data
    if raw:
        if len(raw) != count * struct.calcsize(code):
            return None
        values = list(struct.unpack(f"<{count}{code}", raw))
    else:
        values = list(getattr(tensor, typed))
        if len(values) != count:
            return None
        if tensor.data_type == 10:
            values = [struct.unpack("<e", struct.pack("<H", v & 0xFFFF))[0] for v in values]
    if tensor.data_type == 16:
        values = [struct.unpack("<f", struct.pack("<I", (v & 0xFFFF) << 16))[0]
                  for v in values]
    return [float(v) for v in values]


# --------------------------------------------------------------------------------------
# Checks and walks shared by the binary and the text reader

DEFAULT_DOMAINS = ("", "ai.onnx")
_KNOWN_OPSET = 20  # the newest opset of the oldest onnx that layerlint supports (1.15)
_GRAPH, _GRAPHS = 5, 10  # AttributeProto.GRAPH, AttributeProto.GRAPHS

NodeKey = tuple  # ("graph", i, attr, j, ...) or ("function", f, j, ...)


def check_header(model: Any, text: bool = False) -> None:
    """Reject protobufs that decode but are not a ModelProto, and unknown opsets."""
    lowest = 0 if text else 1  # the text format may leave ir_version out
    if not model.HasField("graph") or not (lowest <= model.ir_version <= 64):
        raise InputError(
            "not an ONNX model: the file is a protobuf but not a ModelProto "
            f"(ir_version {model.ir_version}, {'a' if model.HasField('graph') else 'no'} graph)")
    if (text or model.ir_version >= 3) and not model.opset_import:
        raise InputError("not an ONNX model: it imports no opset (opset_import is empty)")
    for opset in model.opset_import:
        if opset.domain in DEFAULT_DOMAINS and not 1 <= opset.version <= _KNOWN_OPSET:
            import onnx.defs  # newer than every supported onnx knows: ask this one

            newest = onnx.defs.onnx_opset_version()
            if 1 <= opset.version <= newest:
                continue
            raise InputError(
                f"unknown ONNX opset {opset.version} (this onnx {onnx.__version__} knows "
                f"opsets 1 to {newest}); upgrade the onnx package or re-export")


def nodes_in_order(model: Any) -> Iterator[tuple[NodeKey, Any]]:
    """Every node of the main graph, its subgraphs and the functions, in file order."""
    def walk(graph: Any, key: NodeKey) -> Iterator[tuple[NodeKey, Any]]:
        for index, node in enumerate(graph.node):
            yield (*key, index), node
            for attr in node.attribute:
                if attr.type == _GRAPH:
                    yield from walk(attr.g, (*key, index, attr.name))
                elif attr.type == _GRAPHS:
                    for k, sub in enumerate(attr.graphs):
                        yield from walk(sub, (*key, index, f"{attr.name}[{k}]"))

    yield from walk(model.graph, ("graph",))
    for f_index, function in enumerate(model.functions):
        for index, node in enumerate(function.node):
            yield ("function", f_index, index), node
