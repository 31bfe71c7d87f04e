"""LL210 evidence: what does a multi-unit softmax into a binary cross-entropy cost?

Question: binary cross-entropy scores each unit as an independent label, while the
softmax makes the units compete. For a single-label task trained on one-hot targets,
does softmax -> binary cross-entropy predict worse than cross-entropy on the logits,
and how much does Keras' "accuracy" (binary accuracy under this loss) overstate it?

Exact checks (mechanism rows: identities, which cannot fail and give no verdict):
- Keras-style binary accuracy (mean over units of round(p) == target) of a constant
  uniform prediction over 10 classes on one-hot targets: "confirmed" when >= 0.9,
  while its categorical accuracy is 0.1.

Arms (identical weights):
- ``softmax-bce`` (flagged): Linear -> ReLU -> Linear -> Softmax, binary_cross_entropy
  against one-hot targets
- ``logits-ce``: Linear -> ReLU -> Linear, cross_entropy
Data: scikit-learn digits. Adam 1e-3, batch 64, quick 20 epochs, full 40.
Primary endpoint (EVIDENCE.md §3.2): test NLL (nats) of each model's predictive
distribution (softmax output), paired difference flagged - fixed; smallest effect of
interest 0.01 nats. Pass criterion: "supported" when the 95% CI is above 0.
Secondary (exploratory): test accuracy (0.5 pp).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import evaluate, fit, init_hash, mlp

CODE = "LL210"
ARMS = ("softmax-bce", "logits-ce")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test NLL"

COMPARISONS = (
    Comparison("test NLL", "test NLL (nats) of the predictive distribution",
               a=("softmax-bce", "nll"), b=("logits-ce", "nll"), delta=0.01, unit="nats"),
    Comparison("test accuracy", "test accuracy", a=("softmax-bce", "acc"),
               b=("logits-ce", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
)


def exact(ctx) -> list[ExactCheck]:
    classes = 10
    targets = F.one_hot(torch.arange(1000) % classes, classes).double()
    uniform = torch.full_like(targets, 1 / classes)
    binary = float((uniform.round() == targets).double().mean())
    categorical = float((uniform.argmax(1) == targets.argmax(1)).double().mean())
    return [ExactCheck("binary accuracy of a constant uniform prediction (10 classes)",
                       "Keras-style binary accuracy", binary, expectation(binary >= 0.9),
                       detail={"categorical_accuracy": categorical})]


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    width = ctx.budget(32, 128, 256)
    model = mlp([data.features, width, data.n_classes], between=lambda i, w: [nn.ReLU()])
    if arm == "softmax-bce":
        model.append(nn.Softmax(dim=1))
    model = model.to(ctx.device)
    start = init_hash(model)

    def bce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy(out, F.one_hot(y, data.n_classes).float())

    curve = fit(model, data, generator, epochs=ctx.budget(1, 20, 40),
                loss=bce if arm == "softmax-bce" else F.cross_entropy)
    log_proba = ((lambda out: out.clamp_min(1e-45).log()) if arm == "softmax-bce" else None)
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test, log_proba),
            "final_train_loss": curve[-1], "train_loss": curve}
