"""LL103 evidence: is weighted layer -> activation -> batchnorm worse than -> BN -> activation?

Question: does normalising after the nonlinearity (Conv -> ReLU -> BN, flagged) give
lower test accuracy than the canonical Conv -> BN -> ReLU (Ioffe & Szegedy 2015)?
The literature disagrees (ducha-aiki's CaffeNet: after is better; GoogLeNet: before is
better; single runs), so the rule is opt-in and informational until this says more.

Arms (same weights, only the order differs):
- ``act-bn`` (flagged): [Conv -> ReLU -> BN -> MaxPool] x 2 -> Linear
- ``bn-act`` (canonical): [Conv -> BN -> ReLU -> MaxPool] x 2 -> Linear

Data: scikit-learn digits as 1x8x8 images (or ``--data`` MNIST/CIFAR-10). Adam 1e-3,
batch 64, quick 12 epochs, full 30.

Primary endpoint: test accuracy, paired difference (bn-act - act-bn, so positive means
the flagged order is worse). Smallest effect of interest 0.5 pp. Pass criterion:
"supported" when the 95% CI is above 0, "equivalent" inside (-0.5, +0.5) pp.
Secondary: test NLL (0.01 nats).
"""

from __future__ import annotations

from torch import nn

from layerlint.evidence.api import Comparison
from layerlint.evidence.training import evaluate, fit, init_hash

CODE = "LL103"
ARMS = ("act-bn", "bn-act")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 8, "full": 20}
DATASETS = ("image",)
PRIMARY = "test accuracy"

COMPARISONS = (
    Comparison("test accuracy", "test accuracy, Conv->ReLU->BN vs Conv->BN->ReLU",
               a=("act-bn", "acc"), b=("bn-act", "acc"), delta=0.005, worse="lower",
               unit="pp", scale=100),
    Comparison("test NLL", "test NLL (nats)", a=("act-bn", "nll"), b=("bn-act", "nll"),
               delta=0.01, unit="nats"),
)


def _build(arm: str, shape: tuple[int, ...], classes: int) -> nn.Sequential:
    channels, height, width = shape
    convs = [nn.Conv2d(channels, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)]
    head = nn.Linear(32 * (height // 4) * (width // 4), classes)
    layers: list[nn.Module] = []
    for conv in convs:
        bn = nn.BatchNorm2d(conv.out_channels)
        pair = [nn.ReLU(), bn] if arm == "act-bn" else [bn, nn.ReLU()]
        layers += [conv, *pair, nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.Flatten(), head)


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("image").images()
    generator = ctx.seed(seed)
    model = _build(arm, data.image_shape, data.n_classes).to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 12, 30))
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
            "train_loss": curve}
