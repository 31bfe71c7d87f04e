"""LL209 evidence: what does log(softmax(z)) in two steps cost against log_softmax(z)?

Question: in float32 the softmax rounds tiny probabilities to exactly 0, so
``log(softmax(z))`` becomes -inf (and its gradient NaN) once a logit gap is large enough,
while ``log_softmax`` stays finite. Where is that threshold, and does a model trained on
the two-step log-probabilities predict worse at ordinary scales?

Exact checks (mechanism rows, no verdict; float32, no training):
- the smallest logit gap g (step 0.01) at which log(softmax([g, 0]))[1] is -inf:
  "confirmed" when such a finite gap exists and log_softmax is finite there (= -g);
- at that gap, whether the gradient of -log(softmax(z))[1] is NaN while log_softmax's
  is finite: "confirmed" when so.

Arms (identical weights):
- ``log-of-softmax`` (flagged): Linear -> ReLU -> Linear, loss nll_loss(log(softmax(z)))
- ``log-softmax``: the same, loss nll_loss(log_softmax(z))
Data: scikit-learn digits. Adam 1e-3, batch 64, quick 20 epochs, full 40.
Primary endpoint (EVIDENCE.md §3.2): test NLL (nats), paired difference flagged - fixed;
smallest effect of interest 0.01 nats. Pass criterion: "supported" when the 95% CI is
above 0; "equivalent" when it lies within +-0.01.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import evaluate, fit, init_hash, mlp

CODE = "LL209"
ARMS = ("log-of-softmax", "log-softmax")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test NLL"  # EVIDENCE.md §3.2; the underflow threshold is an identity

COMPARISONS = (
    Comparison("test NLL", "test NLL (nats)", a=("log-of-softmax", "nll"),
               b=("log-softmax", "nll"), delta=0.01, unit="nats"),
    Comparison("test accuracy", "test accuracy", a=("log-of-softmax", "acc"),
               b=("log-softmax", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
)


def exact(ctx) -> list[ExactCheck]:
    gaps = torch.arange(0, 200, 0.01, dtype=torch.float32)
    z = torch.stack([gaps, torch.zeros_like(gaps)], dim=1)
    two_step = torch.log(F.softmax(z, dim=1))[:, 1]
    infinite = torch.isinf(two_step).nonzero()
    if not len(infinite):
        return [ExactCheck("log(softmax) underflows to -inf (float32)", "logit gap",
                           float("nan"), expectation(False))]
    index = int(infinite[0])
    gap = float(gaps[index])
    fused = float(F.log_softmax(z[index:index + 1], dim=1)[0, 1])
    grads = []
    for two in (True, False):
        logits = z[index:index + 1].clone().requires_grad_(True)
        logp = torch.log(F.softmax(logits, dim=1)) if two else F.log_softmax(logits, dim=1)
        (-logp[0, 1]).backward()
        grads.append(logits.grad)
    nan_two_step = bool(torch.isnan(grads[0]).any())
    fused_finite = bool(torch.isfinite(grads[1]).all())
    return [
        ExactCheck("log(softmax) underflows to -inf (float32)",
                   "smallest logit gap giving -inf", gap,
                   expectation(bool(torch.isfinite(torch.tensor(fused)))),
                   detail={"log_softmax_there": fused}),
        ExactCheck("its gradient is NaN there, log_softmax's finite",
                   "NaN gradient (1/0)", float(nan_two_step),
                   expectation(nan_two_step and fused_finite)),
    ]


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    width = ctx.budget(32, 128, 256)
    model = mlp([data.features, width, data.n_classes],
                between=lambda i, w: [nn.ReLU()]).to(ctx.device)
    start = init_hash(model)

    def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logp = torch.log(F.softmax(z, dim=1)) if arm == "log-of-softmax" else \
            F.log_softmax(z, dim=1)
        return F.nll_loss(logp, y)

    curve = fit(model, data, generator, epochs=ctx.budget(1, 20, 40), loss=loss)
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
            "final_train_loss": curve[-1], "train_loss": curve}
