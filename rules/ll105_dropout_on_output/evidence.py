"""LL105 evidence: does a dropout on the model's output (the logits) hurt?

Question: a dropout after the last weighted layer zeroes random logits while training
(and rescales the rest). Is test NLL worse than with the same dropout placed before the
last weighted layer? No primary source measures this; the prior is open (dropout on
logits acts a little like label-smoothing noise).

Arms (identical weights; p = 0.5 primary, p = 0.2 secondary):
- ``logits-0.5`` (flagged): Linear -> ReLU -> Linear -> Dropout(0.5) -> cross-entropy
- ``hidden-0.5`` (remedy): Linear -> ReLU -> Dropout(0.5) -> Linear -> cross-entropy
- ``logits-0.2`` / ``hidden-0.2``: the same with p = 0.2

Data: scikit-learn digits (1347/450). Adam 1e-3, batch 64, quick 20 epochs, full 40.

Primary endpoint: test NLL (p = 0.5), paired difference logits - hidden. Smallest
effect of interest 0.01 nats. Pass criterion: "supported" when the 95% CI is above 0,
"contradicted" below 0, "equivalent" inside (-0.01, 0.01). Secondary: accuracy
(0.5 pp) and the p = 0.2 pair.
"""

from __future__ import annotations

from torch import nn

from layerlint.evidence.api import Comparison
from layerlint.evidence.training import mlp, train_digits_arm

CODE = "LL105"
ARMS = ("logits-0.5", "hidden-0.5", "logits-0.2", "hidden-0.2")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test NLL (p=0.5)"

COMPARISONS = (
    Comparison("test NLL (p=0.5)", "test NLL (nats), dropout on logits vs before last layer",
               a=("logits-0.5", "nll"), b=("hidden-0.5", "nll"), delta=0.01, unit="nats"),
    Comparison("test accuracy (p=0.5)", "test accuracy", a=("logits-0.5", "acc"),
               b=("hidden-0.5", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
    Comparison("test NLL (p=0.2)", "test NLL (nats)", a=("logits-0.2", "nll"),
               b=("hidden-0.2", "nll"), delta=0.01, unit="nats"),
)


def _build(arm: str, width: int, features: int, classes: int) -> nn.Sequential:
    where, p = arm.split("-")
    model = mlp([features, width, classes], between=lambda i, w: (
        [nn.ReLU(), nn.Dropout(float(p))] if where == "hidden" else [nn.ReLU()]))
    if where == "logits":
        model.append(nn.Dropout(float(p)))
    return model


def run_arm(ctx, seed: int, arm: str) -> dict:
    return train_digits_arm(ctx, seed, lambda *sizes: _build(arm, *sizes))[1]
