"""LL206 evidence: does a one-unit softmax head learn anything?

Question: a softmax over an axis of size 1 is constantly 1, so the prediction never
changes and no gradient reaches the layers before it. Does a binary classifier with a
one-unit softmax head do worse than the same network with a sigmoid head?

Exact checks (mechanism rows: identities, which cannot fail and give no verdict):
- max |softmax(Linear(h, 1)(x), dim=-1) - 1| over 1,000 random inputs: "confirmed"
  when exactly 0;
- the norm of the gradient of BCE(softmax(...)) with respect to every weight:
  "confirmed" when exactly 0.

Arms (identical weights):
- ``softmax-1`` (flagged): Linear -> ReLU -> Linear(h, 1) -> Softmax(dim=1), BCELoss
- ``sigmoid-1``: Linear -> ReLU -> Linear(h, 1) -> Sigmoid, BCELoss
Data: scikit-learn breast cancer (binary). Adam 1e-3, batch 64, quick 20 epochs, full 40.
Primary endpoint (EVIDENCE.md §3.2): test accuracy (prediction: output > 0.5), paired
difference fixed - flagged; smallest effect of interest 1 pp. Pass criterion:
"supported" when the 95% CI lies beyond 0 on the harmful side.
Secondary (exploratory): the fraction of test predictions that are positive.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import fit, init_hash, mlp

CODE = "LL206"
ARMS = ("softmax-1", "sigmoid-1")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("breast_cancer",)
PRIMARY = "test accuracy"  # EVIDENCE.md §3.2; the constant output is an identity

COMPARISONS = (
    Comparison("test accuracy", "test accuracy (output > 0.5)", a=("softmax-1", "acc"),
               b=("sigmoid-1", "acc"), delta=0.01, worse="lower", unit="pp", scale=100),
    Comparison("positive predictions", "fraction of test predictions that are positive",
               a=("softmax-1", "positive"), b=("sigmoid-1", "positive"), delta=0.05,
               unit="fraction"),
)


def exact(ctx) -> list[ExactCheck]:
    torch.manual_seed(0)
    head = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1), nn.Softmax(dim=-1))
    x = torch.randn(1000, 16)
    out = head(x)
    deviation = float((out - 1).abs().max())
    F.binary_cross_entropy(out.squeeze(1), (torch.rand(1000) < 0.5).float()).backward()
    grad = float(sum(p.grad.norm() for p in head.parameters()))
    return [
        ExactCheck("one-unit softmax output is constantly 1", "max |output - 1|", deviation,
                   expectation(deviation == 0.0)),
        ExactCheck("no gradient flows through a one-unit softmax",
                   "norm of the weights' gradient", grad, expectation(grad == 0.0)),
    ]


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("breast_cancer")
    generator = ctx.seed(seed)
    width = ctx.budget(16, 64, 128)
    model = mlp([data.features, width, 1], between=lambda i, w: [nn.ReLU()])
    model.append(nn.Softmax(dim=1) if arm == "softmax-1" else nn.Sigmoid())
    model = model.to(ctx.device)
    start = init_hash(model)

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy(out.squeeze(1), y.float())

    curve = fit(model, data, generator, epochs=ctx.budget(1, 20, 40), loss=loss)
    model.eval()
    with torch.no_grad():
        positive = model(data.x_test).squeeze(1) > 0.5
    return {"init_hash": start,
            "acc": float((positive.long() == data.y_test).float().mean()),
            "positive": float(positive.float().mean()), "train_loss": curve}
