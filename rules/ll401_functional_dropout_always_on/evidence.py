"""LL401 evidence: what does a functional dropout without ``training=`` do at test time?

Question: ``F.dropout(x, p)`` defaults to ``training=True``, so ``model.eval()`` does
not turn it off. Are eval-mode predictions random, and are they worse than those of
the same weights with the dropout following the module's mode?

Exact check (primary, pre-registered): an MLP Linear -> ReLU -> F.dropout(0.5) ->
Linear trained on scikit-learn digits, then put in ``eval()``: the fraction of test
examples whose predicted class changes between two eval-mode calls on the same input.
Pass criterion: "supported" when it is above 0 with ``F.dropout(x, 0.5)`` and
exactly 0 with ``training=self.training``.

Arms (identical initial weights, dropout masks and batch order: training is the same
function in both, only evaluation differs):
- ``always_on``: ``F.dropout(x, 0.5)`` (flagged)
- ``follows_mode``: ``F.dropout(x, 0.5, training=self.training)`` (the fix)
Training endpoint (secondary): eval-mode test accuracy, paired difference, smallest
effect of interest 0.5 pp; also test NLL. Adam 1e-3, batch 64, quick 10 epochs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import evaluate, fit, init_hash

CODE = "LL401"
ARMS = ("always_on", "follows_mode")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
# the exact check, pre-registered
PRIMARY = 'F.dropout without training= changes eval-mode predictions from call to call'
COMPARISONS = (
    Comparison("test accuracy", "eval-mode test accuracy, F.dropout without training= vs "
               "training=self.training", a=("always_on", "acc"), b=("follows_mode", "acc"),
               delta=0.005, worse="lower", unit="pp", scale=100),
    Comparison("test NLL", "eval-mode test NLL (nats)", a=("always_on", "nll"),
               b=("follows_mode", "nll"), delta=0.01, unit="nats"),
)


class _Net(nn.Module):
    def __init__(self, features: int, width: int, classes: int, always_on: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(features, width)
        self.fc2 = nn.Linear(width, classes)
        self.always_on = always_on

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x))
        if self.always_on:
            x = F.dropout(x, 0.5)
        else:
            x = F.dropout(x, 0.5, training=self.training)
        return self.fc2(x)


def _trained(ctx, seed: int, always_on: bool) -> tuple[_Net, dict]:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    model = _Net(data.features, ctx.budget(32, 128, 256), data.n_classes, always_on)
    model = model.to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 10, 20))
    return model, {"init_hash": start, "train_loss": curve}


@torch.no_grad()
def _flips(model: nn.Module, x: torch.Tensor) -> float:
    model.eval()
    return float((model(x).argmax(1) != model(x).argmax(1)).float().mean())


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    model, record = _trained(ctx, seed, arm == "always_on")
    return {**record, **evaluate(model, data.x_test, data.y_test),
            "flips": _flips(model, data.x_test)}


def exact(ctx) -> list[ExactCheck]:
    data = ctx.data("digits")
    flips = {}
    for always_on in (True, False):
        model, _ = _trained(ctx, 0, always_on)
        flips[always_on] = _flips(model, data.x_test)
    return [ExactCheck(
        "F.dropout without training= changes eval-mode predictions from call to call",
        "fraction of test predictions that differ between two eval() calls",
        flips[True], expectation(flips[True] > 0 and flips[False] == 0),
        detail={"with_training_self_training": flips[False]})]
