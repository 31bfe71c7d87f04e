"""LL207 evidence: what does a ReLU on the final logits cost?

Question: a ReLU after the last linear layer stops a class from receiving a negative
score, and a class whose pre-activation is negative for every input gets no gradient.
Does the model predict worse than the same model without that ReLU?

Arms (identical weights):
- ``relu-logits`` (flagged): Linear -> ReLU -> Linear -> ReLU, trained with cross_entropy
- ``logits``: Linear -> ReLU -> Linear, trained with cross_entropy
Data: scikit-learn digits. Adam 1e-3, batch 64, quick 20 epochs, full 40.
Primary endpoint (EVIDENCE.md §3.2): test NLL (nats) of each model's predictive
distribution (softmax of its output), paired difference flagged - fixed; smallest effect
of interest 0.01 nats. Pass criterion: "supported" when the 95% CI is above 0.
Secondary (exploratory): test accuracy (0.5 pp); the fraction of classes whose output
is 0 for every test example (dead output units), delta 0.05.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison
from layerlint.evidence.training import evaluate, fit, init_hash, mlp

CODE = "LL207"
ARMS = ("relu-logits", "logits")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test NLL"

COMPARISONS = (
    Comparison("test NLL", "test NLL (nats) of the predictive distribution",
               a=("relu-logits", "nll"), b=("logits", "nll"), delta=0.01, unit="nats"),
    Comparison("test accuracy", "test accuracy", a=("relu-logits", "acc"),
               b=("logits", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
    Comparison("dead output units", "fraction of classes whose output is always 0",
               a=("relu-logits", "dead"), b=("logits", "dead"), delta=0.05,
               unit="fraction"),
)


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    width = ctx.budget(32, 128, 256)
    model = mlp([data.features, width, data.n_classes], between=lambda i, w: [nn.ReLU()])
    if arm == "relu-logits":
        model.append(nn.ReLU())
    model = model.to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 20, 40), loss=F.cross_entropy)
    model.eval()
    with torch.no_grad():
        out = model(data.x_test)
    dead = float(((out == 0).all(dim=0)).float().mean())
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
            "dead": dead, "final_train_loss": curve[-1], "train_loss": curve}
