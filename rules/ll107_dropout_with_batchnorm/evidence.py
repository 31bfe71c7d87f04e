"""LL107 evidence: does a dropout still help a network that has batchnorm?

Question: Ioffe & Szegedy (2015) report that BN can make dropout unnecessary; the
ducha-aiki ImageNet benchmark found dropout 0.2 still helped a BN network (0.527 vs
0.513 top-1, single runs) while 0.5 did not. With dropout in the recommended place
(after the last BN), is test accuracy lower than without dropout?

Arms (identical weights):
- ``bn+dropout-0.5`` (flagged):
  Linear -> BN -> ReLU -> Linear -> BN -> ReLU -> Dropout(0.5) -> Linear
- ``bn-only``: the same without the dropout
- ``bn+dropout-0.2``: p = 0.2 (secondary)
Data: scikit-learn digits. Adam 1e-3, batch 64, quick 20 epochs, full 40.

Primary endpoint: test accuracy, paired difference bn-only - bn+dropout-0.5 (positive:
the dropout hurts). Smallest effect of interest 0.5 pp. Pass criterion: "supported"
when the 95% CI is above 0, "contradicted" (dropout helps) below 0, "equivalent" inside
(-0.5, +0.5) pp. Secondary: test NLL (0.01), and p = 0.2.
"""

from __future__ import annotations

from torch import nn

from layerlint.evidence.api import Comparison
from layerlint.evidence.training import mlp, train_digits_arm

CODE = "LL107"
ARMS = ("bn+dropout-0.5", "bn-only", "bn+dropout-0.2")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test accuracy (p=0.5)"

COMPARISONS = (
    Comparison("test accuracy (p=0.5)", "test accuracy, BN net with vs without dropout",
               a=("bn+dropout-0.5", "acc"), b=("bn-only", "acc"), delta=0.005, worse="lower",
               unit="pp", scale=100),
    Comparison("test NLL (p=0.5)", "test NLL (nats)", a=("bn+dropout-0.5", "nll"),
               b=("bn-only", "nll"), delta=0.01, unit="nats"),
    Comparison("test accuracy (p=0.2)", "test accuracy", a=("bn+dropout-0.2", "acc"),
               b=("bn-only", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
)


def _build(arm: str, width: int, features: int, classes: int) -> nn.Sequential:
    p = float(arm.rsplit("-", 1)[1]) if "dropout" in arm else 0.0

    def between(i: int, w: int) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.BatchNorm1d(w), nn.ReLU()]
        return layers + [nn.Dropout(p)] if i == 1 and p else layers

    return mlp([features, width, width, classes], between=between)


def run_arm(ctx, seed: int, arm: str) -> dict:
    return train_digits_arm(ctx, seed, lambda *sizes: _build(arm, *sizes))[1]
