from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, LayerGraph
from layerlint.rule import Example, Finding, Rule, Severity
from layerlint.rules._common import number, op_name


class DropoutRateOutOfRange(Rule):
    """## What it does
    Reports a dropout whose literal drop probability (PyTorch `p`, Keras `rate`,
    ONNX `ratio`) lies outside [0, 1): `p=1.0`, a rate above 1, or a negative rate.

    ## Why is this bad?
    The probability is the fraction of units *dropped*. At `p=1.0` every unit is
    zeroed while training, so nothing after the dropout learns from its input and
    no gradient flows back through it; at test time, with dropout off, the layer is
    the identity, so the network runs on activations it never trained on. A rate
    above 1 or below 0 is meaningless. A rate meant as a *keep* probability (as in
    TensorFlow 1's `keep_prob`) is a common source of such values.

    ## Known problems
    A rate given by an expression or a variable is not checked.

    ## Fix safety
    The intended value cannot be inferred; there is no automatic fix.

    ## Evidence
    Measured in the evidence pilot: PyTorch (`nn.Dropout(1.0)`, `F.dropout(p=1.0)`)
    and Keras (`Dropout(1.0)`) accept a rate of 1.0 and output all zeros while
    training; PyTorch raises `ValueError` for 1.5 and -0.1 when the layer is built,
    Keras for -0.1. So `p=1.0` is the silent case, and the others are caught here
    before anything runs. `layerlint verify LL302` re-checks this.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, no seeds: deterministic; `layerlint explain` shows it, `layerlint verify
    LL302` re-runs it): with `nn.Dropout(1.0)` the upstream weights were
    bit-identical after 3 epochs of training; `nn.Dropout(-0.1)` and
    `nn.Dropout(1.5)` raise `ValueError`.

    ## References
    - PyTorch `torch.nn.Dropout`, Keras `keras.layers.Dropout` documentation.
    - N. Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
      Overfitting", JMLR 15 (2014).
    """

    code = "LL302"
    name = "dropout-rate-out-of-range"
    needs = frozenset({Kind.DROPOUT})
    severity = Severity.ERROR
    message = "`{dropout}` ({op}) has drop probability {p}, outside [0, 1): {effect}"

    invalid = (
        Example.pytorch("""
            import torch.nn as nn

            classifier = nn.Sequential(
                nn.Linear(512, 256),
                nn.ReLU(),
                nn.Dropout(p=1.0),  # error: LL302
                nn.Linear(256, 10),
            )
        """),
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(64, 64)
                    self.fc2 = nn.Linear(64, 10)

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    x = F.dropout(x, p=-0.1, training=self.training)  # error: LL302
                    return self.fc2(x)
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Conv2D(32, 3, activation="relu"),
                layers.SpatialDropout2D(rate=-0.1),  # error: LL302
                layers.Flatten(),
                layers.Dense(64, activation="relu"),
                layers.Dropout(1.0),  # error: LL302
                layers.Dense(10),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            head (float[N, 512] x) => (float[N, 10] y)
            <float[10, 512] w, float[10] b, float p = {1.0}, bool train = {1}>
            {
                d, mask = Dropout (x, p, train)  # error: LL302
                y = Gemm <transB: int = 1> (d, w, b)
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            classifier = nn.Sequential(
                nn.Linear(512, 256),
                nn.ReLU(),
                nn.Dropout(p=0.5),
                nn.Linear(256, 256),
                nn.ReLU(),
                nn.Dropout(0.0),
                nn.Linear(256, 10),
            )
        """),
        Example.pytorch("""
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self, keep_prob=0.8):
                    super().__init__()
                    self.fc = nn.Linear(64, 10)
                    self.drop = nn.Dropout(1 - keep_prob)

                def forward(self, x):
                    return self.fc(self.drop(x))
        """),
        Example.keras("""
            import keras
            from keras import layers

            import os

            rate = float(os.environ.get("DROPOUT", "0.2"))
            model = keras.Sequential([
                layers.Dense(64, activation="relu"),
                layers.Dropout(0.5),
                layers.Dense(64, activation="relu"),
                layers.Dropout(rate),
                layers.Dense(10),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            head (float[N, 512] x) => (float[N, 10] y)
            <float[10, 512] w, float[10] b, float p = {0.5}, bool train = {1}>
            {
                d, mask = Dropout (x, p, train)
                y = Gemm <transB: int = 1> (d, w, b)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for dropout in graph.of_kind(Kind.DROPOUT):
            p = number(dropout.dropout.rate)
            if p is None or 0.0 <= p < 1.0:
                continue
            effect = (
                "it zeroes every unit while training, so nothing downstream learns from "
                "its input" if p == 1.0 else
                "a drop probability must be at least 0 and below 1"
            )
            yield self.report(dropout, dropout=dropout.label, op=op_name(dropout),
                              p=dropout.dropout.rate, effect=effect)
