"""Typed layer attributes: the same model in each framework types the same, neutrally."""

from __future__ import annotations

import textwrap
from pathlib import Path

from layerlint.frontends import Project
from layerlint.frontends import onnx as onnx_frontend
from layerlint.frontends.python import source as python_source
from layerlint.ir import (
    BatchNorm,
    Dropout,
    Kind,
    LayerGraph,
    MomentumConvention,
    Unresolved,
    Weighted,
)

TORCH = """
    import torch.nn as nn

    def head(bias, **kwargs):
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, bias=False),
            nn.BatchNorm2d(8, momentum=0.01, track_running_stats=False),
            nn.Dropout(0.25),
            nn.Linear(8, 4),
            nn.Linear(4, 4, bias=bias),
            nn.Linear(4, 2, **kwargs),
            nn.Dropout(),
            nn.BatchNorm1d(2),
        )
"""

KERAS = """
    import keras
    from keras import layers

    model = keras.Sequential([
        layers.Conv2D(8, 3, use_bias=False),
        layers.BatchNormalization(momentum=0.99),
        layers.Dropout(0.25),
        layers.Dense(4),
        layers.Dense(4, use_bias=cfg.bias),
    ])
"""

ONNX = """<ir_version: 8, opset_import: ["" : 17]>
head (float[N, 3, 8, 8] x) => (float[N, 8, 6, 6] y)
<float[8, 3, 3, 3] w, float[8] cb, float[8] s, float[8] b, float[8] m, float[8] v>
{
    c = Conv <kernel_shape: ints = [3, 3]> (x, w)
    n = BatchNormalization <momentum: float = 0.99> (c, s, b, m, v)
    d = Conv <kernel_shape: ints = [1, 1]> (n, w, cb)
    y = Relu (d)
}
"""


def _graph(tmp_path: Path, name: str, code: str) -> LayerGraph:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code) if not name.endswith("txt") else code)
    project = Project([path], str)
    load = onnx_frontend.load_graphs if name.endswith("txt") else python_source.load_graphs
    [graph] = [g for g in load(path, project) if g.layers]
    return graph


def _typed(graph: LayerGraph) -> list[object]:
    return [layer.typed for layer in graph.layers if layer.kind is not Kind.INPUT]


def test_pytorch_arguments_and_defaults_become_typed_attributes(tmp_path):
    typed = _typed(_graph(tmp_path, "model.py", TORCH))
    assert typed == [
        Weighted(bias=False, bias_argument="bias", units=8, units_axis=1),  # channels first
        BatchNorm(0.01, MomentumConvention.BATCH, tracks_running_stats=False),
        Dropout(rate=0.25),
        Weighted(bias=True, bias_argument="bias", units=4, units_axis=-1),  # the default
        Weighted(bias=Unresolved("bias"), bias_argument="bias", units=4, units_axis=-1),
        # may be set there
        Weighted(bias=Unresolved("**kwargs"), bias_argument="bias", units=2, units_axis=-1),
        Dropout(rate=None),
        BatchNorm(None, MomentumConvention.BATCH),
    ]


def test_keras_arguments_become_the_same_neutral_attributes(tmp_path):
    typed = _typed(_graph(tmp_path, "model.py", KERAS))
    assert typed == [
        Weighted(bias=False, bias_argument="use_bias", units=8, units_axis=-1),
        BatchNorm(0.99, MomentumConvention.RUNNING),
        Dropout(rate=0.25),
        Weighted(bias=True, bias_argument="use_bias", units=4, units_axis=-1),
        Weighted(bias=Unresolved("cfg.bias"), bias_argument="use_bias", units=4, units_axis=-1),
    ]


def test_onnx_bias_input_and_momentum_are_typed(tmp_path):
    typed = _typed(_graph(tmp_path, "model.onnxtxt", ONNX))
    assert typed[:3] == [
        Weighted(bias=False, bias_argument=None),  # no bias input; no argument to set
        BatchNorm(0.99, MomentumConvention.RUNNING),
        Weighted(bias=True, bias_argument=None),
    ]


def test_momentum_is_normalised_to_the_weight_of_the_new_batch():
    assert BatchNorm(0.1, MomentumConvention.BATCH).batch_weight == 0.1
    assert abs(BatchNorm(0.9, MomentumConvention.RUNNING).batch_weight - 0.1) < 1e-12
    assert BatchNorm(0.9, None).batch_weight is None  # the convention is unknown
    assert BatchNorm(Unresolved("m"), MomentumConvention.BATCH).batch_weight is None


def test_an_untyped_layer_reads_as_unknown(tmp_path):
    graph = _graph(tmp_path, "model.py", TORCH)
    relu_like = graph.layers[0]  # the input: no typed attributes of any kind
    assert relu_like.typed is None
    assert relu_like.weighted.bias is None and relu_like.dropout.rate is None
    assert relu_like.batchnorm.convention is None
