"""Provenance: which module of the torch model a node comes from, and its source line.

The torch exporters record it in three ways: ``pkg.torch.onnx.name_scopes`` metadata
(dynamo), scoped node names (``/layer1/layer1.0/bn1/BatchNormalization`` ->
``layer1.0.bn1``, TorchScript), and parameter names (``layer1.0.conv1.weight``, any
exporter that keeps torch's names). The dynamo exporter's stack trace gives the
source line, stored as the layer's ``use`` location.
"""

from __future__ import annotations

import ast
import functools
import re
from typing import Any

from layerlint.frontends.onnx.reader import nodes_in_order
from layerlint.ir import Kind, Location, OpInfo

__all__ = ["PARAMETER", "metadata", "module_path_from_metadata", "module_path_from_name",
           "module_path_from_parameters", "source_location", "torch_scopes"]


def module_path_from_name(name: str, scopes: frozenset[str] = frozenset()) -> str | None:
    """``/layer1/layer1.0/bn1/BatchNormalization`` -> ``layer1.0.bn1`` (TorchScript exporter).

    Each scope is the module's name from its last non-numeric atom (``layer1.0`` for a
    Sequential's child, ``bn1`` for an attribute), so a scope that extends the previous
    one replaces it and any other scope is appended. A module called twice gets
    ``drop_1`` for its second call: with ``scopes`` (every scope in the model), a
    ``<name>_<n>`` whose ``<name>`` scope also exists is read as ``<name>``.
    """
    if not name.startswith("/"):
        return None
    return _module_path_from_scopes(_repeat_free(name[1:].rpartition("/")[0], scopes))


_REPEAT = re.compile(r"(.+)_\d+")
PARAMETER = re.compile(r"([A-Za-z_][\w.]*)\.(?:weight|bias|running_mean|running_var)")


def _repeat_free(scope: str, scopes: frozenset[str]) -> str:
    if not scopes or "_" not in scope:
        return scope
    parts = scope.split("/")
    for i, part in enumerate(parts):
        match = _REPEAT.fullmatch(part)
        if match and "/".join([*parts[:i], match[1]]) in scopes:
            parts[i] = match[1]
    return "/".join(parts)


def torch_scopes(model: Any) -> frozenset[str]:
    """The scopes of TorchScript-style node names (``/a/b/Op`` -> ``a/b`` and ``a``)."""
    scopes: set[str] = set()
    for _, node in nodes_in_order(model):
        if node.name.startswith("/"):
            scope = node.name[1:].rpartition("/")[0]
            while scope and scope not in scopes:
                scopes.add(scope)
                scope = scope.rpartition("/")[0]
    return frozenset(scopes)


@functools.lru_cache(maxsize=4096)
def _module_path_from_scopes(scopes: str) -> str | None:
    path: list[str] = []
    tail_start = 0  # where the last scope's atoms begin in ``path``
    for scope in filter(None, scopes.split("/")):
        atoms = scope.split(".")
        tail = path[tail_start:]
        if tail and len(atoms) > len(tail) and atoms[:len(tail)] == tail:
            path[tail_start:] = atoms
        else:
            tail_start = len(path)
            path.extend(atoms)
    return ".".join(path) or None


def metadata(node: Any) -> dict[str, str]:
    return {prop.key: prop.value for prop in node.metadata_props}


def module_path_from_metadata(meta: dict[str, str]) -> str | None:
    """The innermost module of ``pkg.torch.onnx.name_scopes`` (dynamo exporter)."""
    raw = meta.get("pkg.torch.onnx.name_scopes")
    if not raw:
        return None
    try:
        scopes = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(scopes, list) or len(scopes) < 3:
        return None  # ['', op]: a call in the root module's forward
    module = scopes[-2]
    return module if isinstance(module, str) and module else None


_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def source_location(meta: dict[str, str]) -> Location | None:
    """The innermost frame of the exporter's stack trace that is not library code."""
    trace = meta.get("pkg.torch.onnx.stack_trace")
    if not trace:
        return None
    frames = _FRAME.findall(trace)
    user = [f for f in frames if "site-packages" not in f[0] and "dist-packages" not in f[0]
            and not f[0].startswith("<")]
    if not user:
        return None  # only library frames: they would not help anyone find the layer
    return Location(user[-1][0], int(user[-1][1]), 1)


def module_path_from_parameters(node: Any, info: OpInfo, body: Any) -> str | None:
    """``layer1.0.conv1`` from a weight named ``layer1.0.conv1.weight`` (any exporter
    that keeps torch's parameter names, when node names carry no scope)."""
    if info.kind not in (Kind.WEIGHTED, Kind.BATCHNORM, Kind.NORM):
        return None
    for name in node.input[1:2]:
        match = PARAMETER.fullmatch(name)
        if match and (body.constant(name) is not None or name in body.declared):
            return match[1]
    return None
