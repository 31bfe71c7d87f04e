from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._losses import is_head, output_units, squash_ref


class SingleUnitSoftmax(Rule):
    """## What it does
    Reports a softmax (or log-softmax) over an axis of size 1: a
    `Dense(1, activation="softmax")`, or an `nn.Linear(h, 1)` / `nn.Conv2d(c, 1, k)`
    whose output goes straight into a softmax over its units.

    The finding is at the softmax. The size of the axis is read from the weighted
    layer that directly produces the softmax's input.

    ## Why is this bad?
    A softmax over one element is constantly 1 (a log-softmax constantly 0),
    whatever the input, so the prediction never changes and no gradient flows back
    through it: the layers before it never learn. It is the classic binary
    classifier written as a one-unit softmax; a single output unit needs a sigmoid
    (or a with-logits binary loss).

    ## Known problems
    - For a linear layer (units on the last axis) a softmax over axis 1 is the last
      axis only for 2-D inputs; `Linear(h, 1)` on a `(batch, time, h)` input
      followed by a softmax over `dim=1` is attention pooling over time, which is
      fine. So a softmax over axis 1 (or PyTorch's implicit axis) after a linear
      layer is reported only when it is the model's output or a loss input, and
      goes nowhere else: attention weights that a model also returns (for
      plotting) still weigh other values, and are not a prediction.
    - A reshape between the layer and the softmax moves the axes, so only a
      softmax applied directly to the layer's output is considered.
    - The number of units must be a literal (`nn.Linear(h, 1)`, `Dense(1)`).

    ## Fix safety
    No automatic fix: replacing the softmax by a sigmoid also changes the loss the
    output should go to (`BCEWithLogitsLoss` on the logits, or Keras
    `binary_crossentropy`).

    ## Evidence
    Exact (mechanism, no training): the output of a one-unit softmax is exactly 1
    and the gradient of any loss with respect to the layers before it is exactly 0.
    `layerlint verify LL206` measures both and trains a one-unit softmax against a
    one-unit sigmoid head (MLP, binary task on scikit-learn digits, identical
    initial weights).

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    breast cancer, 10 seeds): output exactly 1 and gradient exactly 0 confirmed; in
    training the one-unit softmax head predicted "positive" for every test example
    and was 34.9 pp less accurate (95% CI 34.4..35.3) than the same network with a
    sigmoid head, which reached 97.5%.

    ## References
    - Keras `softmax` documentation: the softmax normalises over an axis, so the
      elements along it sum to 1.
    - Stack Overflow, "Keras: binary classification with softmax, accuracy stuck"
      and its many duplicates: `Dense(1, activation="softmax")` always outputs 1.
    """

    code = "LL206"
    name = "single-unit-softmax"
    message = ("{softmax} normalises over the single unit of {producer}: its output is "
               "constantly {constant}, so it never learns; use a sigmoid for one unit")

    invalid = (
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(30,)),
                layers.Dense(16, activation="relu"),
                layers.Dense(1, activation="softmax"),  # error: LL206
            ])
            model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        """),
        Example.pytorch("""
            import torch.nn as nn

            model = nn.Sequential(
                nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1),
                nn.Softmax(dim=1),  # error: LL206
            )
        """),
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Scorer(nn.Module):
                def __init__(self, hidden):
                    super().__init__()
                    self.body = nn.Linear(128, hidden)
                    self.score = nn.Linear(hidden, 1)

                def forward(self, x):
                    return F.softmax(self.score(F.relu(self.body(x))), dim=-1)  # error: LL206
        """),
    )
    valid = (
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(30,)),
                layers.Dense(16, activation="relu"),
                layers.Dense(1, activation="sigmoid"),
            ])
            model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        """),
        Example.pytorch("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class AttentionPool(nn.Module):
                def __init__(self, hidden):
                    super().__init__()
                    self.score = nn.Linear(hidden, 1)
                    self.head = nn.Linear(hidden, 2)

                def forward(self, x):  # x: (batch, time, hidden)
                    weights = F.softmax(self.score(x), dim=1)  # over time: fine
                    pooled = torch.sum(weights * x, dim=1)
                    return self.head(pooled)
        """),
        Example.pytorch("""
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
        """),
        Example.keras("""
            import tensorflow as tf

            class BahdanauAttention(tf.keras.Model):
                def __init__(self, units):
                    super().__init__()
                    self.W1 = tf.keras.layers.Dense(units)
                    self.W2 = tf.keras.layers.Dense(units)
                    self.V = tf.keras.layers.Dense(1)

                def call(self, features, hidden):  # features: (batch, time, dim)
                    hidden = tf.expand_dims(hidden, 1)
                    score = tf.nn.tanh(self.W1(features) + self.W2(hidden))
                    # over time; returned too, but it also weighs the features
                    weights = tf.nn.softmax(self.V(score), axis=1)
                    context = tf.reduce_sum(weights * features, axis=1)
                    return context, weights
        """),
        Example.keras("""
            import keras
            from keras import layers

            inputs = keras.Input((10, 8))
            weights = layers.Softmax(axis=1)(layers.Dense(1)(inputs))  # over the 10 steps
            pooled = layers.GlobalAveragePooling1D()(layers.Multiply()([weights, inputs]))
            model = keras.Model(inputs, [layers.Dense(3)(pooled), weights])
        """),
    )
    unsupported = {
        "onnx": "the ONNX lowering records no weight shapes, so the number of units a "
                "Gemm/MatMul produces is unknown",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for softmax in graph.of_kind(Kind.SOFTMAX):
            layer = _single_unit_producer(graph, softmax)
            if layer is not None:
                yield self.report(softmax, related=(layer,), softmax=squash_ref(softmax),
                                  producer=f"`{layer.label}`",
                                  constant=0 if softmax.info.log else 1)


def _single_unit_producer(graph: LayerGraph, softmax: Layer) -> Layer | None:
    """The weighted layer of one unit whose units the softmax normalises over."""
    producers = graph.predecessors(softmax)
    if len(producers) != 1 or producers[0].kind is not Kind.WEIGHTED:
        return None
    layer = producers[0]
    found = output_units(layer)
    if found is None or found[0] != 1 or isinstance(found[0], bool):
        return None
    axis = softmax.softmax.axis
    if axis is not None and not isinstance(axis, int):
        return None  # unresolved
    units_axis = found[1]
    if axis == units_axis:
        return layer
    # axis 1 (or PyTorch's implicit axis, 1 for 2-D and 4-D inputs) is the units' axis
    # of a last-axis layer only for 2-D inputs: a prediction head, not attention (whose
    # weights, even when also returned, go on to weigh other values)
    if (axis is None or axis == 1) and (units_axis == -1 and _prediction(graph, softmax)
                                         or units_axis == 1):
        return layer
    return None


def _prediction(graph: LayerGraph, softmax: Layer) -> bool:
    return is_head(graph, softmax) and all(
        lay.kind is Kind.LOSS for lay in graph.next_layers(softmax))
