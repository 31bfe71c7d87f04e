"""LL106 evidence: what does an activation applied to another activation's output cost?

Question: for idempotent activations (ReLU, ReLU6, Hardtanh) f(f(x)) = f(x), so the
second one is wasted compute only; for the others (sigmoid, tanh, GELU) the function
changes: sigmoid(sigmoid(x)) lies in (0.5, 0.731) with slope at most 0.059. Does the
doubled sigmoid cost test NLL?

Exact checks (mechanism rows, no verdict; random float64 tensors): max |f(f(x)) - f(x)|
is 0 for ReLU, ReLU6 and Hardtanh (redundant compute only) and > 1e-3 for sigmoid,
tanh, GELU (the function changes); "confirmed" when it comes out as expected.

Arms (identical weights):
- ``double`` (flagged): Linear -> Sigmoid -> Sigmoid -> Linear -> Sigmoid -> Sigmoid -> Linear
- ``single``: Linear -> Sigmoid -> Linear -> Sigmoid -> Linear
Data: scikit-learn digits. Adam 1e-3, batch 64, quick 20 epochs, full 40.

Primary endpoint: test NLL, paired difference double - single. Smallest effect of
interest 0.01 nats. Pass criterion: "supported" when the 95% CI is above 0.
Secondary: test accuracy (0.5 pp).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import mlp, train_digits_arm

CODE = "LL106"
ARMS = ("double", "single")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test NLL"

COMPARISONS = (
    Comparison("test NLL", "test NLL (nats), sigmoid->sigmoid vs sigmoid",
               a=("double", "nll"), b=("single", "nll"), delta=0.01, unit="nats"),
    Comparison("test accuracy", "test accuracy", a=("double", "acc"), b=("single", "acc"),
               delta=0.005, worse="lower", unit="pp", scale=100),
)

_ACTIVATIONS = {"relu": F.relu, "relu6": F.relu6, "hardtanh": F.hardtanh,
                "sigmoid": torch.sigmoid, "tanh": torch.tanh, "gelu": F.gelu}
_IDEMPOTENT = ("relu", "relu6", "hardtanh")


def exact(ctx) -> list[ExactCheck]:
    x = torch.randn(10_000, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64) * 4
    checks = []
    for name, f in _ACTIVATIONS.items():
        error = float((f(f(x)) - f(x)).abs().max())
        if name in _IDEMPOTENT:
            verdict = expectation(error == 0)
            label = f"{name} twice = {name} once (redundant compute)"
        else:
            verdict = expectation(error > 1e-3)
            label = f"{name} twice changes the function"
        checks.append(ExactCheck(label, "max |f(f(x)) - f(x)|", error, verdict))
    return checks


def _build(arm: str, width: int, features: int, classes: int) -> nn.Sequential:
    count = 2 if arm == "double" else 1
    return mlp([features, width, width, classes],
               between=lambda i, w: [nn.Sigmoid() for _ in range(count)])


def run_arm(ctx, seed: int, arm: str) -> dict:
    return train_digits_arm(ctx, seed, lambda *sizes: _build(arm, *sizes))[1]
