"""LL204 evidence: what does NLLLoss on raw scores (no log-softmax) cost?

Question: ``nll_loss`` takes ``-input[y]``; on raw scores that is ``-z_y``, which has no
lower bound, so training can push the scores up without limit instead of learning a
distribution. Does a model trained that way predict worse (its softmax output) than the
same model trained with ``cross_entropy``?

Exact checks (mechanism rows: identities, which cannot fail and give no verdict):
- nll_loss(z, y) == -z[y] exactly for 1,000 random score vectors: "confirmed" when so;
- the loss of the same scores scaled by 1000: "confirmed" when below -100 (no lower
  bound).

Arms (identical weights):
- ``logits-nll`` (flagged): Linear -> ReLU -> Linear, trained with nll_loss on the scores
- ``logits-ce``: the same, trained with cross_entropy
Data: scikit-learn digits. Adam 1e-3, batch 64, quick 20 epochs, full 40.
Primary endpoint (EVIDENCE.md §3.2): test NLL (nats) of each model's softmax output,
paired difference flagged - fixed; smallest effect of interest 0.01 nats. Pass criterion:
"supported" when the 95% CI is above 0.
Secondary (exploratory): test accuracy (0.5 pp), final training loss (0.01 nats).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import evaluate, fit, init_hash, mlp

CODE = "LL204"
ARMS = ("logits-nll", "logits-ce")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test NLL"  # EVIDENCE.md §3.2; the unbounded loss is an identity

COMPARISONS = (
    Comparison("test NLL", "test NLL (nats) of the softmax output", a=("logits-nll", "nll"),
               b=("logits-ce", "nll"), delta=0.01, unit="nats"),
    Comparison("test accuracy", "test accuracy", a=("logits-nll", "acc"),
               b=("logits-ce", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
    Comparison("final training loss", "training loss, last epoch (nats)",
               a=("logits-nll", "final_train_loss"), b=("logits-ce", "final_train_loss"),
               delta=0.01, unit="nats"),
)


def exact(ctx) -> list[ExactCheck]:
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(1000, 10, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 10, (1000,), generator=generator)
    per_example = F.nll_loss(z, y, reduction="none")
    gap = float((per_example + z.gather(1, y[:, None]).squeeze(1)).abs().max())
    scaled = float(F.nll_loss(z.abs() * 1000, y))
    return [
        ExactCheck("nll_loss of raw scores is -z[y]", "max |nll_loss(z, y) + z[y]|", gap,
                   expectation(gap == 0.0)),
        ExactCheck("nll_loss of raw scores has no lower bound",
                   "loss of |z| * 1000", scaled, expectation(scaled < -100)),
    ]


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    width = ctx.budget(32, 128, 256)
    model = mlp([data.features, width, data.n_classes],
                between=lambda i, w: [nn.ReLU()]).to(ctx.device)
    start = init_hash(model)
    loss = F.nll_loss if arm == "logits-nll" else F.cross_entropy
    curve = fit(model, data, generator, epochs=ctx.budget(1, 20, 40), loss=loss)
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
            "final_train_loss": curve[-1], "train_loss": curve}
