"""LL202 evidence: what does a sigmoid before BCEWithLogits (a double sigmoid) cost?

Question: ``BCEWithLogitsLoss`` applies a sigmoid itself; fed a sigmoid output, the loss
sees sigmoid(sigmoid(z)) in (0.5, 0.731). Mechanism: the training loss has floors
softplus(-1) = 0.3133 (y = 1) and log 2 = 0.6931 (y = 0). Is the model's output,
as users read it (sigmoid(z) as the probability), then worse calibrated on test data?

Exact check (a mechanism row: an identity, which cannot fail and gives no verdict):
the loss floors, BCEWithLogits(sigmoid(z), y) at saturated z; "confirmed" when they
match 0.3133 / 0.6931 to 1e-4.

Arms (identical weights):
- ``sigmoid-bcewl`` (flagged): Linear -> ReLU -> Linear -> Sigmoid, BCEWithLogitsLoss
- ``logits-bcewl``: Linear -> ReLU -> Linear, BCEWithLogitsLoss
Data: scikit-learn breast_cancer (427/142, standardized). Adam 1e-3, batch 32,
quick 30 epochs, full 60.
Primary endpoint (EVIDENCE.md §3.2 names test NLL and ECE; §3.1 allows one primary, so
NLL, the first named): test NLL of the predicted probability (the sigmoid output for
the flagged arm), paired difference flagged - fixed; smallest effect of interest 0.01
nats. Pass criterion: "supported" when the 95% CI is above 0. Secondary (exploratory):
test ECE (10 equal-width confidence bins, delta 0.01) and test accuracy (0.5 pp).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import fit, init_hash, mlp

CODE = "LL202"
ARMS = ("sigmoid-bcewl", "logits-bcewl")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("breast_cancer",)
PRIMARY = "test NLL"  # EVIDENCE.md §3.2; the loss floors are identities

COMPARISONS = (
    Comparison("test NLL", "test NLL (nats) of the predicted probability",
               a=("sigmoid-bcewl", "nll"), b=("logits-bcewl", "nll"), delta=0.01,
               unit="nats"),
    Comparison("test ECE", "expected calibration error, 10 bins", a=("sigmoid-bcewl", "ece"),
               b=("logits-bcewl", "ece"), delta=0.01, unit="ECE"),
    Comparison("test accuracy", "test accuracy", a=("sigmoid-bcewl", "acc"),
               b=("logits-bcewl", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
)


def exact(ctx) -> list[ExactCheck]:
    z = torch.tensor([100.0, -100.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0], dtype=torch.float64)
    floors = F.binary_cross_entropy_with_logits(torch.sigmoid(z), y, reduction="none")
    expected = (math.log1p(math.exp(-1.0)), math.log(2.0))
    ok = all(abs(float(f) - e) < 1e-4 for f, e in zip(floors, expected, strict=True))
    return [ExactCheck("training-loss floors of a double sigmoid",
                       "min loss for y=1 (y=0 in detail)", float(floors[0]),
                       expectation(ok),
                       detail={"floor_y1": float(floors[0]), "floor_y0": float(floors[1]),
                               "expected": list(expected)})]


def _loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(out.squeeze(1), y.float())


def _ece(proba: torch.Tensor, y: torch.Tensor, bins: int = 10) -> float:
    """Expected calibration error of binary predictions: confidence max(p, 1 - p) in
    equal-width bins, |accuracy - mean confidence| weighted by the bin's share."""
    confidence = torch.maximum(proba, 1 - proba)
    correct = ((proba > 0.5).long() == y).double()
    index = ((confidence - 0.5) * 2 * bins).long().clamp(0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            gap = correct[inside].mean() - confidence[inside].mean()
            total += float(gap.abs()) * int(inside.sum()) / len(y)
    return total


@torch.no_grad()
def _evaluate(model: nn.Module, arm: str, x: torch.Tensor, y: torch.Tensor) -> dict:
    model.eval()
    out = model(x).squeeze(1).double()
    proba = out if arm == "sigmoid-bcewl" else torch.sigmoid(out)
    proba = proba.clamp(1e-12, 1 - 1e-12)
    nll = float(F.binary_cross_entropy(proba, y.double()))
    return {"nll": nll, "acc": float(((proba > 0.5).long() == y).double().mean()),
            "mean_confidence": float(torch.maximum(proba, 1 - proba).mean()),
            "ece": _ece(proba, y)}


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("breast_cancer")
    generator = ctx.seed(seed)
    width = ctx.budget(16, 32, 64)
    model = mlp([data.features, width, 1], between=lambda i, w: [nn.ReLU()])
    if arm == "sigmoid-bcewl":
        model.append(nn.Sigmoid())
    model = model.to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 30, 60), batch=32, loss=_loss)
    return {"init_hash": start, **_evaluate(model, arm, data.x_test, data.y_test),
            "train_loss": curve}
