from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._losses import is_head, loss_ref

# Activations whose output is bounded below (at 0, or a small negative value): applied
# to logits they stop a class from receiving a large negative score.
_FLOORED = frozenset({"relu", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish",
                      "hardswish", "softplus"})


class ActivationOnLogits(Rule):
    """## What it does
    Reports a ReLU-family activation (ReLU, ReLU6, ELU, SELU, CELU, GELU, SiLU,
    Mish, Hardswish, Softplus) applied to the final logits, the output of the last
    weighted layer, right before a softmax that is the model's prediction or before
    a loss on logits (torch `CrossEntropyLoss`, `BCEWithLogitsLoss`, Keras losses
    with `from_logits=True`, ONNX `SoftmaxCrossEntropyLoss`).

    The finding is at the activation; the softmax or the loss is the related
    location. A Keras `Dense(10, activation="relu")` compiled with such a loss is
    reported at the `Dense`.

    ## Why is this bad?
    These activations are bounded below (ReLU at 0), so no class can receive a
    large negative score: the model can only say "not this class" by giving all the
    others a high score. A class whose pre-activation is negative for every input
    has a zero gradient and never recovers ("dead" output unit): the model then
    never predicts it. Tutorials that end in `ReLU -> Softmax` plateau well below
    the accuracy of the same network without the ReLU.

    ## Known problems
    - The link from a model to its loss is found by following training code (see
      LL201); a softmax is reported only as a prediction (the model's output or a
      loss input), not inside attention.
    - Squashing activations (sigmoid, tanh) before a softmax are not reported here.

    ## Fix safety
    An unsafe fix is not offered: removing the activation changes the model's
    function and its outputs. Delete the activation after the last layer.

    ## Evidence
    `layerlint verify LL207` trains an MLP on scikit-learn digits with a ReLU on its
    logits against the same MLP without it, both with `cross_entropy` (identical
    initial weights), and compares test NLL.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds): with the ReLU on its logits the MLP was 19 pp less accurate
    (77.1% against 96.4%; 95% CI 8..30 pp) and its test NLL 0.50 nats higher (CI
    +0.30..+0.70); on average 21% of the classes had an output unit that was 0 for
    every test example, so they were never predicted.

    ## References
    - PyTorch `nn.CrossEntropyLoss` documentation: the input is "the unnormalized
      logits for each class", which "do not need to be positive or sum to 1".
    - Stack Overflow, "Why use softmax only in the output layer and not in hidden
      layers?" and its many "ReLU before softmax" questions.
    """

    code = "LL207"
    name = "activation-on-logits"
    message = ("{activation} is applied to the logits of {producer} right before {target}: "
               "classes can no longer receive negative scores and an output unit can die; "
               "remove it")

    invalid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 256)
                    self.fc2 = nn.Linear(256, 10)

                def forward(self, x):
                    x = torch.relu(self.fc1(x))
                    return torch.relu(self.fc2(x))  # error: LL207

            def train(loader):
                model = Net()
                criterion = nn.CrossEntropyLoss()
                for x, y in loader:
                    criterion(model(x), y).backward()
        """),
        Example.pytorch("""
            import torch.nn as nn

            model = nn.Sequential(
                nn.Linear(64, 32), nn.ReLU(),
                nn.Linear(32, 10), nn.ReLU(),  # error: LL207
                nn.Softmax(dim=1),
            )
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(784,)),
                layers.Dense(128, activation="relu"),
                layers.Dense(10, activation="relu"),  # error: LL207
            ])
            model.compile(optimizer="adam",
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            train_graph (float[N, 64] x, int64[N] labels) => (float loss)
            <float[10, 64] w, float[10] b>
            {
               logits = Gemm <transB: int = 1> (x, w, b)
               scores = Relu (logits)  # error: LL207
               loss = SoftmaxCrossEntropyLoss (scores, labels)
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10),
                                  nn.Softmax(dim=1))
        """),
        Example.pytorch("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Attention(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.score = nn.Linear(dim, dim)
                    self.out = nn.Linear(dim, 4)

                def forward(self, h):
                    weights = F.softmax(F.relu(self.score(h)), dim=1)  # attention, not a head
                    return self.out(torch.sum(weights * h, dim=1))
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                keras.Input(shape=(784,)),
                layers.Dense(128, activation="relu"),
                layers.Dense(10),
            ])
            model.compile(optimizer="adam",
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            train_graph (float[N, 64] x, int64[N] labels) => (float loss)
            <float[10, 64] w, float[10] b, float[10, 10] w2>
            {
               h = Gemm <transB: int = 1> (x, w, b)
               a = Relu (h)
               logits = Gemm <transB: int = 1> (a, w2)
               loss = SoftmaxCrossEntropyLoss (logits, labels)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for act in graph.of_kind(Kind.ACTIVATION):
            if act.info.activation not in _FLOORED:
                continue
            producers = graph.previous_layers(act)
            if not producers or any(lay.kind is not Kind.WEIGHTED for lay in producers):
                continue
            target = _prediction(graph, act)
            if target is None:
                continue
            where = (loss_ref(target, act) if target.kind is Kind.LOSS
                     else f"the softmax `{target.label}`")
            yield self.report(act, related=(target,), activation=f"`{act.label}`",
                              producer=f"`{producers[0].label}`", target=where)


def _prediction(graph: LayerGraph, act: Layer) -> Layer | None:
    """The head softmax or logits loss that ``act``'s output goes straight into."""
    for lay in graph.next_layers(act, skip=(Kind.SHAPE, Kind.DROPOUT)):
        if lay.kind is Kind.LOSS and lay.info.expects in ("logits", "binary_logits"):
            return lay
        if lay.kind is Kind.SOFTMAX and is_head(graph, lay):
            return lay
    return None
