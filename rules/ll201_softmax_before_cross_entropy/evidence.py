"""LL201 evidence: what does a softmax before a logits-expecting cross-entropy cost?

Question: ``F.cross_entropy`` applies log-softmax itself; fed probabilities it applies a
second softmax. Mechanism: the training loss cannot go below log(1 + (C-1)/e), and a
confidently wrong example gets a much smaller gradient. Does the model that users read
(its softmax output) then have a worse test NLL?

Exact checks (mechanism rows: identities, which cannot fail and give no verdict):
- the loss floor for C = 10, measured as cross_entropy(softmax(z), y) at a saturated
  correct one-hot z; "confirmed" when it matches log(1 + 9/e) = 1.4612 to 1e-4 (a floor
  > 0 means the loss can never reach 0);
- the gradient norm on a confidently wrong example (logit 4 on the wrong class), logits
  vs softmax-then-CE; "confirmed" when the ratio exceeds 10.

Arms (identical weights):
- ``softmax-ce`` (flagged): Linear -> ReLU -> Linear -> Softmax, trained with cross_entropy
- ``logits-ce``: Linear -> ReLU -> Linear, trained with cross_entropy
Data: scikit-learn digits. Adam 1e-3, batch 64, quick 20 epochs, full 40.
Primary endpoint (EVIDENCE.md §3.2): test NLL of each model's predictive distribution
(the softmax output for the flagged arm), paired difference flagged - fixed; smallest
effect of interest 0.01 nats. Pass criterion: "supported" when the 95% CI is above 0.
Secondary (exploratory): test accuracy (0.5 pp), final training loss (0.01 nats).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import entropy_floor, evaluate, fit, init_hash, mlp

CODE = "LL201"
ARMS = ("softmax-ce", "logits-ce")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test NLL"  # EVIDENCE.md §3.2; the loss floor is an identity

COMPARISONS = (
    Comparison("test NLL", "test NLL (nats) of the predictive distribution",
               a=("softmax-ce", "nll"), b=("logits-ce", "nll"), delta=0.01, unit="nats"),
    Comparison("test accuracy", "test accuracy", a=("softmax-ce", "acc"),
               b=("logits-ce", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
    Comparison("final training loss", "training loss, last epoch (nats)",
               a=("softmax-ce", "final_train_loss"), b=("logits-ce", "final_train_loss"),
               delta=0.01, unit="nats"),
)


def exact(ctx) -> list[ExactCheck]:
    classes = 10
    z = torch.zeros(1, classes, dtype=torch.float64)
    z[0, 0] = 100.0
    floor = float(F.cross_entropy(F.softmax(z, dim=1), torch.tensor([0])))
    predicted = entropy_floor(classes)
    wrong = torch.zeros(1, classes, dtype=torch.float64)
    wrong[0, 1] = 4.0
    grads = []
    for to_input in (lambda t: t, lambda t: F.softmax(t, dim=1)):
        logits = wrong.clone().requires_grad_(True)
        F.cross_entropy(to_input(logits), torch.tensor([0])).backward()
        grads.append(float(logits.grad.norm()))
    ratio = grads[0] / grads[1]
    return [
        ExactCheck("training-loss floor with probabilities as logits (C=10)",
                   "min cross_entropy(softmax(z), y)", floor,
                   expectation(abs(floor - predicted) < 1e-4), detail={"predicted": predicted}),
        ExactCheck("gradient on a confidently wrong example shrinks",
                   "grad norm logits / softmax-then-CE", ratio,
                   expectation(ratio > 10),
                   detail={"grad_logits": grads[0], "grad_softmax": grads[1]}),
    ]


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    width = ctx.budget(32, 128, 256)
    model = mlp([data.features, width, data.n_classes], between=lambda i, w: [nn.ReLU()])
    if arm == "softmax-ce":
        model.append(nn.Softmax(dim=1))
    model = model.to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 20, 40))
    log_proba = ((lambda out: out.clamp_min(1e-45).log()) if arm == "softmax-ce" else None)
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test, log_proba),
            "final_train_loss": curve[-1], "train_loss": curve}
