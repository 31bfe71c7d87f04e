"""LL102 evidence: does a layer between a batchnorm and its activation change the function?

Question: BN -> X -> act computes act(X(BN(x))) instead of X(act(BN(x))). When X commutes
with the activation the two orders are the same function (so LL102 must not report
them); when it does not, does the gap cost test NLL?

Exact checks (mechanism rows, no verdict; no training, random tensors): max-pool with
every monotone activation (ReLU, LeakyReLU, ELU, sigmoid, tanh) and dropout with a
positively homogeneous one (ReLU, LeakyReLU) commute: max |difference| must be 0
(dropout: <= 1e-6, same mask). Average pooling with ELU and max-pool with GELU must not
commute (difference > 1e-3): these are the gaps LL102 reports. "confirmed" when a
check comes out as expected.

Arms for the reported case (same weights, only the order differs):
- ``gap`` (flagged): Conv -> BN -> AvgPool(2) -> ELU -> Conv -> BN -> ELU -> Linear
- ``canonical``: Conv -> BN -> ELU -> AvgPool(2) -> Conv -> BN -> ELU -> Linear

Data: scikit-learn digits as 1x8x8 images (or ``--data`` MNIST/CIFAR-10). Adam 1e-3,
batch 64, quick 12 epochs, full 30.

Primary endpoint: test NLL, paired difference gap - canonical. Smallest effect of
interest 0.01 nats. Pass criterion: "supported" when the 95% CI is above 0;
"equivalent" when it lies inside (-0.01, 0.01). Secondary: test accuracy (0.5 pp).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import evaluate, fit, init_hash

CODE = "LL102"
ARMS = ("gap", "canonical")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 8, "full": 20}
DATASETS = ("image",)
PRIMARY = "test NLL"

COMPARISONS = (
    Comparison("test NLL", "test NLL (nats), BN->AvgPool->ELU vs BN->ELU->AvgPool",
               a=("gap", "nll"), b=("canonical", "nll"), delta=0.01, unit="nats"),
    Comparison("test accuracy", "test accuracy", a=("gap", "acc"), b=("canonical", "acc"),
               delta=0.005, worse="lower", unit="pp", scale=100),
)

_MONOTONE = {"relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu,
             "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def exact(ctx) -> list[ExactCheck]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, 16, 16, generator=generator, dtype=torch.float64)
    checks = []
    for name, act in _MONOTONE.items():
        error = float((F.max_pool2d(act(x), 2) - act(F.max_pool2d(x, 2))).abs().max())
        checks.append(ExactCheck(f"max-pool commutes with {name}", "max |difference|",
                                 error, expectation(error == 0)))
    mask = (torch.rand(x.shape, generator=generator) > 0.3).double() / 0.7
    for name in ("relu", "leaky_relu"):
        act = _MONOTONE[name]
        error = float((act(x * mask) - act(x) * mask).abs().max())
        checks.append(ExactCheck(f"dropout commutes with {name}", "max |difference|",
                                 error, expectation(error <= 1e-6)))
    for label, gap in (("avg-pool with elu", lambda t: F.elu(F.avg_pool2d(t, 2)) -
                        F.avg_pool2d(F.elu(t), 2)),
                       ("max-pool with gelu", lambda t: F.gelu(F.max_pool2d(t, 2)) -
                        F.max_pool2d(F.gelu(t), 2))):
        error = float(gap(x).abs().max())
        checks.append(ExactCheck(f"{label} does not commute", "max |difference|", error,
                                 expectation(error > 1e-3)))
    return checks


def _build(arm: str, channels: int, classes: int) -> nn.Sequential:
    conv1 = nn.Conv2d(channels, 16, 3, padding=1)
    conv2 = nn.Conv2d(16, 32, 3, padding=1)
    head = nn.Linear(32 * 4 * 4, classes)
    first = ([nn.BatchNorm2d(16), nn.AvgPool2d(2), nn.ELU()] if arm == "gap"
             else [nn.BatchNorm2d(16), nn.ELU(), nn.AvgPool2d(2)])
    return nn.Sequential(conv1, *first, conv2, nn.BatchNorm2d(32), nn.ELU(),
                         nn.AdaptiveAvgPool2d(4), nn.Flatten(), head)


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("image").images()
    generator = ctx.seed(seed)
    model = _build(arm, data.image_shape[0], data.n_classes).to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 12, 30))
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
            "train_loss": curve}
