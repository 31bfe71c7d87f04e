"""ONNX frontend: lower an ONNX model (binary ``.onnx`` or text ``.onnxtxt``) to the layer graph.

Weights are never read: ``reader`` walks a binary file's protobuf wire format and leaves
out the payload of every large tensor, and external-data files (missing, huge, or
pointing outside the model's folder) are never opened. Only small inline constants (a
Dropout ratio, Clip bounds, a zero bias) are decoded. ``text`` parses ``.onnxtxt`` and
finds each node's line; ``lowering`` builds the graph, with ``patterns`` (fused forms),
``provenance`` (torch module paths and source lines) and ``eval_export`` (an LL002 note
for exports that removed dropout or folded batchnorm).

This package never shadows the ``onnx`` package: every import is absolute, and it is
only ever imported as ``layerlint.frontends.onnx``.
"""

from __future__ import annotations

from pathlib import Path

from layerlint.frontends import Project
from layerlint.frontends.onnx.eval_export import TRAINING_EXPORT
from layerlint.ir import LayerGraph

__all__ = ["TRAINING_EXPORT", "load_graphs"]


def load_graphs(path: Path, project: Project) -> list[LayerGraph]:
    from layerlint.frontends.onnx.lowering import Lowering
    from layerlint.frontends.onnx.reader import check_header, read_model
    from layerlint.frontends.onnx.text import read_text_model, text_positions

    shown = project.display(path)
    if path.suffix == ".onnxtxt":
        model, text = read_text_model(path)
        check_header(model, text=True)
        return [Lowering(model, shown, text_positions(model, text)).run()]
    model = read_model(path)
    check_header(model)
    return [Lowering(model, shown, {}).run()]
