"""LL202 evidence: what does a sigmoid before BCEWithLogits (a double sigmoid) cost?

Question: ``BCEWithLogitsLoss`` applies a sigmoid itself; fed a sigmoid output, the loss
sees sigmoid(sigmoid(z)) in (0.5, 0.731). Mechanism: the training loss has floors
softplus(-1) = 0.3133 (y = 1) and log 2 = 0.6931 (y = 0). Is the model's output,
as users read it (sigmoid(z) as the probability), then worse calibrated on test data?

Exact checks (no training):
- primary: the loss floors, BCEWithLogits(sigmoid(z), y) at saturated z; pass criterion
  "supported" when they match 0.3133 / 0.6931 to 1e-4.

Arms (identical weights):
- ``sigmoid-bcewl`` (flagged): Linear -> ReLU -> Linear -> Sigmoid, BCEWithLogitsLoss
- ``logits-bcewl``: Linear -> ReLU -> Linear, BCEWithLogitsLoss
Data: scikit-learn breast_cancer (427/142, standardized). Adam 1e-3, batch 32,
quick 30 epochs, full 60.
Secondary endpoint (training): test NLL of the predicted probability (sigmoid output
for the flagged arm), delta 0.01 nats; test accuracy (0.5 pp).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck
from layerlint.evidence.training import fit, init_hash, mlp

CODE = "LL202"
ARMS = ("sigmoid-bcewl", "logits-bcewl")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("breast_cancer",)

COMPARISONS = (
    Comparison("test NLL", "test NLL (nats) of the predicted probability",
               a=("sigmoid-bcewl", "nll"), b=("logits-bcewl", "nll"), delta=0.01,
               unit="nats"),
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
                       "supported" if ok else "contradicted", primary=True,
                       detail={"floor_y1": float(floors[0]), "floor_y0": float(floors[1]),
                               "expected": list(expected)})]


def _loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(out.squeeze(1), y.float())


@torch.no_grad()
def _evaluate(model: nn.Module, arm: str, x: torch.Tensor, y: torch.Tensor) -> dict:
    model.eval()
    out = model(x).squeeze(1).double()
    proba = out if arm == "sigmoid-bcewl" else torch.sigmoid(out)
    proba = proba.clamp(1e-12, 1 - 1e-12)
    nll = float(F.binary_cross_entropy(proba, y.double()))
    return {"nll": nll, "acc": float(((proba > 0.5).long() == y).double().mean()),
            "mean_confidence": float(torch.maximum(proba, 1 - proba).mean())}


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
