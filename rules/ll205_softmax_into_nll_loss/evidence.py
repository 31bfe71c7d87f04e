"""LL205 evidence: what does a softmax (instead of a log-softmax) before NLLLoss cost?

Question: ``nll_loss`` takes ``-input[y]``; fed probabilities it computes ``-p_y``, which
is bounded in [-1, 0] and whose gradient vanishes where p_y is near 0. Does a model
trained that way predict worse than the same model trained on log-probabilities?

Exact checks (mechanism rows: identities, which cannot fail and give no verdict):
- the range of nll_loss(softmax(z), y) over 10,000 random logit vectors (scale 10):
  "confirmed" when every value lies in [-1, 0];
- the gradient norm on a confidently wrong example (logit 8 on a wrong class of 10),
  log-softmax vs softmax into nll_loss: "confirmed" when the ratio exceeds 100.

Arms (identical weights):
- ``softmax-nll`` (flagged): Linear -> ReLU -> Linear -> Softmax, trained with nll_loss
- ``log-softmax-nll``: Linear -> ReLU -> Linear -> LogSoftmax, trained with nll_loss
Data: scikit-learn digits. Adam 1e-3, batch 64, quick 20 epochs, full 40.
Primary endpoint (EVIDENCE.md §3.2): test NLL (nats) of each model's predictive
distribution (its softmax output), paired difference flagged - fixed; smallest effect of
interest 0.01 nats. Pass criterion: "supported" when the 95% CI is above 0.
Secondary (exploratory): test accuracy (0.5 pp).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import evaluate, fit, init_hash, mlp

CODE = "LL205"
ARMS = ("softmax-nll", "log-softmax-nll")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test NLL"  # EVIDENCE.md §3.2; the bounded loss is an identity

COMPARISONS = (
    Comparison("test NLL", "test NLL (nats) of the predictive distribution",
               a=("softmax-nll", "nll"), b=("log-softmax-nll", "nll"), delta=0.01,
               unit="nats"),
    Comparison("test accuracy", "test accuracy", a=("softmax-nll", "acc"),
               b=("log-softmax-nll", "acc"), delta=0.005, worse="lower", unit="pp",
               scale=100),
)


def exact(ctx) -> list[ExactCheck]:
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(10_000, 10, generator=generator, dtype=torch.float64) * 10
    y = torch.randint(0, 10, (10_000,), generator=generator)
    losses = F.nll_loss(F.softmax(z, dim=1), y, reduction="none")
    low, high = float(losses.min()), float(losses.max())
    wrong = torch.zeros(1, 10, dtype=torch.float64)
    wrong[0, 1] = 8.0
    grads = []
    for to_input in (lambda t: F.log_softmax(t, dim=1), lambda t: F.softmax(t, dim=1)):
        logits = wrong.clone().requires_grad_(True)
        F.nll_loss(to_input(logits), torch.tensor([0])).backward()
        grads.append(float(logits.grad.norm()))
    ratio = grads[0] / grads[1]
    return [
        ExactCheck("nll_loss of a softmax lies in [-1, 0]", "min and max over 10,000 inputs",
                   low, expectation(low >= -1.0 and high <= 0.0),
                   detail={"min": low, "max": high}),
        ExactCheck("gradient on a confidently wrong example vanishes",
                   "grad norm log-softmax / softmax into nll_loss", ratio,
                   expectation(ratio > 100),
                   detail={"grad_log_softmax": grads[0], "grad_softmax": grads[1]}),
    ]


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    width = ctx.budget(32, 128, 256)
    model = mlp([data.features, width, data.n_classes], between=lambda i, w: [nn.ReLU()])
    model.append(nn.Softmax(dim=1) if arm == "softmax-nll" else nn.LogSoftmax(dim=1))
    model = model.to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 20, 40), loss=F.nll_loss)
    log_proba = ((lambda out: out.clamp_min(1e-45).log()) if arm == "softmax-nll"
                 else (lambda out: out))
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test, log_proba),
            "final_train_loss": curve[-1], "train_loss": curve}
