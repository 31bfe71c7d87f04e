"""LL301 evidence: what does a Keras-convention momentum pasted into torch BN cost?

Question: torch updates running = (1 - m) * running + m * batch (default m = 0.1);
Keras uses running = m * running + (1 - m) * batch (default 0.99). A Keras value in
torch (m = 0.99) makes the running statistics track the last batch only. Training
uses batch statistics, so the weights are identical across arms; does eval-mode test
accuracy suffer, and how wrong are the running statistics?

Arms (identical weights throughout training: only the running statistics differ):
- ``m0.99`` (flagged, Keras 0.01 pasted into torch... i.e. torch 0.99)
- ``m0.1`` (torch default, = Keras 0.9)
- ``m0.9`` (Keras ``momentum=0.1`` style, secondary), ``m0.01`` (exact Keras 0.99, secondary)
Model: Linear -> BN -> ReLU -> Linear -> BN -> ReLU -> Linear, no dropout.
Data: scikit-learn digits. Adam 1e-3, batch 50 (1347 rows: the last batch has 47 rows;
with batch 64 it would have 3, and m = 0.99 would keep nearly only those), quick 3
epochs, full 5.

Primary endpoint: eval-mode test accuracy after the last epoch, paired difference
m0.1 - m0.99 (positive: the Keras value is worse). Smallest effect of interest 0.5 pp.
Pass criterion: "supported" when the 95% CI is above 0.
Mechanism (secondary): running-statistics error, mean over BNs and channels of
|log(running_var / population_var)|, population statistics from a cumulative
re-estimate over the training set; delta log(1.1). Also test NLL, and the other momenta.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from layerlint.evidence.api import Comparison
from layerlint.evidence.training import evaluate, fit, init_hash, mlp, recalibrate_bn

CODE = "LL301"
ARMS = ("m0.99", "m0.1", "m0.9", "m0.01")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test accuracy"

COMPARISONS = (
    Comparison("test accuracy", "eval-mode test accuracy, torch momentum 0.99 vs 0.1",
               a=("m0.99", "acc"), b=("m0.1", "acc"), delta=0.005, worse="lower",
               unit="pp", scale=100),
    Comparison("running-statistics error", "mean |log(running_var / population_var)|",
               a=("m0.99", "stat_error"), b=("m0.1", "stat_error"), delta=math.log(1.1),
               unit="log ratio"),
    Comparison("test NLL", "test NLL (nats)", a=("m0.99", "nll"), b=("m0.1", "nll"),
               delta=0.01, unit="nats"),
    Comparison("test accuracy, 0.9 vs 0.1", "eval-mode test accuracy", a=("m0.9", "acc"),
               b=("m0.1", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
    Comparison("test accuracy, 0.01 vs 0.1", "eval-mode test accuracy", a=("m0.01", "acc"),
               b=("m0.1", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
)


def _weights_hash(model: nn.Module) -> str:
    import hashlib

    digest = hashlib.sha256()
    for p in model.parameters():
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _stat_error(model: nn.Module, x: torch.Tensor) -> float:
    reference = copy.deepcopy(model)
    recalibrate_bn(reference, x)
    errors = []
    for bn, pop in zip((m for m in model.modules() if isinstance(m, nn.BatchNorm1d)),
                       (m for m in reference.modules() if isinstance(m, nn.BatchNorm1d)),
                       strict=True):
        errors.append((bn.running_var.log() - pop.running_var.log()).abs().mean())
    return float(torch.stack(errors).mean())


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    momentum = float(arm[1:])
    width = ctx.budget(32, 128, 256)
    model = mlp([data.features, width, width, data.n_classes],
                between=lambda i, w: [nn.BatchNorm1d(w, momentum=momentum), nn.ReLU()])
    model = model.to(ctx.device)
    start = init_hash(model)
    per_epoch: list[float] = []

    def after_epoch(_epoch: int) -> None:
        per_epoch.append(evaluate(model, data.x_test, data.y_test)["acc"])

    curve = fit(model, data, generator, epochs=ctx.budget(1, 3, 5), batch=50,
                after_epoch=after_epoch)
    return {"init_hash": start, "final_hash": _weights_hash(model),
            **evaluate(model, data.x_test, data.y_test),
            "stat_error": _stat_error(model, data.x_train), "acc_per_epoch": per_epoch,
            "train_loss": curve}
