"""LL101 evidence: does a dropout before a batchnorm leave the BN with a wrong running variance?

Question: with dropout active in training and off at test time, does a BN fed by a
dropout (directly) normalise test inputs with a running variance that overestimates
their variance (Li et al. 2018 "variance shift"), and does that cost test NLL/accuracy?

Arms (identical layers and initial weights, only the dropout position differs):
- ``drop-direct`` (flagged):
  Linear -> BN -> ReLU -> Linear -> Dropout(0.5) -> BN -> ReLU -> Linear
- ``drop-after`` (the rule's remedy):
  Linear -> BN -> ReLU -> Linear -> BN -> ReLU -> Dropout(0.5) -> Linear

Data: scikit-learn digits (1347 train / 450 test, fixed stratified split). Adam 1e-3,
batch 64; quick 20 epochs, full 40 epochs.

Primary endpoint (mechanism): log r at the second BN, r = geometric mean over channels
of running_var / eval-mode variance of the BN input on the training set; paired
difference drop-direct - drop-after. Smallest effect of interest: log(1.1).
Pass criterion: "supported" when the 95% CI of the mean difference is above 0
(and above log 1.1 for a material shift); first-case prediction
((c^2+v)/q - c^2)/v, q = 1 - p, is recorded beside it.

Secondary (no verdict on the rule by themselves): test NLL (delta 0.01) and accuracy
(delta 0.5 pp) drop-direct vs drop-after, which are confounded by where the dropout
regularises; and the causal check: test NLL of drop-direct before vs after re-estimating
its BN statistics with dropout off (Hendrycks & Gimpel) — positive means the shift hurts.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from layerlint.evidence.api import Comparison
from layerlint.evidence.training import (
    bn_input_stats,
    evaluate,
    log_variance_ratios,
    mlp,
    recalibrate_bn,
    train_digits_arm,
)

CODE = "LL101"
ARMS = ("drop-direct", "drop-after")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "variance shift"  # EVIDENCE.md §3.2: mechanistic, measured
P = 0.5

COMPARISONS = (
    Comparison("variance shift", "log(BN running var / test-time input var), BN after the dropout",
               a=("drop-direct", "log_var_ratio"), b=("drop-after", "log_var_ratio"),
               delta=math.log(1.1), unit="log ratio"),
    Comparison("test NLL", "test NLL (nats)", a=("drop-direct", "nll"), b=("drop-after", "nll"),
               delta=0.01, unit="nats"),
    Comparison("test accuracy", "test accuracy", a=("drop-direct", "acc"),
               b=("drop-after", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
    Comparison("recalibration (causal)", "test NLL before - after BN recalibration, drop-direct",
               a=("drop-direct", "nll"), b=("drop-direct", "nll_recal"), delta=0.01,
               unit="nats"),
)


def _build(arm: str, width: int, features: int, classes: int) -> nn.Sequential:
    def between(i: int, w: int) -> list[nn.Module]:
        if i == 0:
            return [nn.BatchNorm1d(w), nn.ReLU()]
        if arm == "drop-direct":
            return [nn.Dropout(P), nn.BatchNorm1d(w), nn.ReLU()]
        return [nn.BatchNorm1d(w), nn.ReLU(), nn.Dropout(P)]

    return mlp([features, width, width, classes], between=between)


def _predicted_log_ratio(model: nn.Sequential, x: torch.Tensor) -> float:
    """First-case prediction from the eval-time mean c and variance v of BN2's input."""
    mean, var = bn_input_stats(model, x)[1]
    keep = var > 1e-6
    c2, v = mean[keep] ** 2, var[keep]
    q = 1 - P
    return float((((c2 + v) / q - c2) / v).log().mean())


def run_arm(ctx, seed: int, arm: str) -> dict:
    model, metrics = train_digits_arm(ctx, seed, lambda *sizes: _build(arm, *sizes))
    data = ctx.data("digits")
    ratios = log_variance_ratios(model, data.x_train)
    recal = copy.deepcopy(model)
    recalibrate_bn(recal, data.x_train)
    after = evaluate(recal, data.x_test, data.y_test)
    return {"init_hash": metrics["init_hash"], "acc": metrics["acc"], "nll": metrics["nll"],
            "log_var_ratio": ratios[1], "log_var_ratio_bn1": ratios[0],
            "predicted_log_ratio": _predicted_log_ratio(model, data.x_train),
            "acc_recal": after["acc"], "nll_recal": after["nll"],
            "train_loss": metrics["train_loss"]}
