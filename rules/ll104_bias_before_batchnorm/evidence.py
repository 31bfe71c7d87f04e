"""LL104 evidence: is the bias of a weighted layer feeding a batchnorm dead?

Question: BN subtracts the batch mean in training, which cancels a per-channel bias
(Ioffe & Szegedy 2015, Sec. 3.2). Is the bias then dead (no effect on the output, zero
gradient), and does removing it change accuracy?

Exact checks (no training), Conv2d(16 -> 32, 3x3) -> BatchNorm2d in training mode:
- primary (deterministic, as EVIDENCE.md §3.2 pre-registers it): the bias gradient
  relative to the weight gradient in float64, ||dL/db|| / ||dL/dW||; pass criterion
  "confirmed" when < 1e-9. An identity cannot fail, so it shows the mechanism (dead
  parameters) and gives LL104 no verdict on harm ("mechanism only");
- the float32 output difference max |BN(Wx + b) - BN(Wx)| with bias std 3 (< 1e-4);
- counter-check (the rule's known exception): with the BN frozen in eval mode the bias
  gradient ratio is > 1e-3, i.e. the bias is live again.

Arms for the secondary training check (identical weights; the bias arm has extra biases):
- ``bias`` (flagged): [Conv(bias) -> BN -> ReLU -> MaxPool] x 2 -> Linear
- ``no-bias``: the same with ``bias=False``
Data: scikit-learn digits as 1x8x8 images. Adam 1e-3, batch 64, quick 12 epochs.
Secondary endpoint (exploratory): test accuracy; smallest effect of interest 0.3 pp; the rule
predicts "equivalent" (dead parameters cost compute, not accuracy).
"""

from __future__ import annotations

import torch
from torch import nn

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import evaluate, fit, init_hash

CODE = "LL104"
ARMS = ("bias", "no-bias")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("image",)
# EVIDENCE.md §3.2 pre-registers the deterministic gradient check as primary: it shows
# the mechanism (dead parameters), so LL104 has no verdict on harm.
PRIMARY = "bias gradient is zero before a training-mode BN"

COMPARISONS = (
    Comparison("test accuracy", "test accuracy, conv bias vs bias=False before BN",
               a=("bias", "acc"), b=("no-bias", "acc"), delta=0.003, worse="lower",
               unit="pp", scale=100),
)


def _grad_ratio(dtype: torch.dtype, frozen: bool) -> float:
    generator = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(16, 32, 3).to(dtype)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator, dtype=dtype) * 0.1)
        conv.bias.copy_(torch.randn(32, generator=generator, dtype=dtype))
    bn = nn.BatchNorm2d(32).to(dtype)
    if frozen:
        bn.eval()
    x = torch.randn(16, 16, 10, 10, generator=generator, dtype=dtype)
    target = torch.randn(16, 32, 8, 8, generator=generator, dtype=dtype)
    loss = ((bn(conv(x)) - target) ** 2).mean()
    loss.backward()
    return float(conv.bias.grad.norm() / conv.weight.grad.norm())


def _output_difference() -> float:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(16, 16, 10, 10, generator=generator)
    conv = nn.Conv2d(16, 32, 3)
    bn = nn.BatchNorm2d(32)
    with torch.no_grad():
        with_bias = bn(conv(x))
        conv.bias.copy_(torch.randn(32, generator=generator) * 3)
        shifted = bn(conv(x))
    return float((with_bias - shifted).abs().max())


def _counts() -> dict[str, int]:
    """Dead parameters of the checked conv: its bias, out of all its parameters."""
    conv = nn.Conv2d(16, 32, 3)
    return {"dead_parameters_per_conv": conv.bias.numel(),
            "conv_parameters": sum(p.numel() for p in conv.parameters())}


def exact(ctx) -> list[ExactCheck]:
    ratio = _grad_ratio(torch.float64, frozen=False)
    frozen = _grad_ratio(torch.float64, frozen=True)
    difference = _output_difference()
    return [
        ExactCheck("bias gradient is zero before a training-mode BN",
                   "||dL/db|| / ||dL/dW|| (float64)", ratio,
                   expectation(ratio < 1e-9), detail=_counts()),
        ExactCheck("output does not depend on the bias", "max |BN(Wx+b) - BN(Wx)| (float32)",
                   difference, expectation(difference < 1e-4)),
        ExactCheck("frozen (eval-mode) BN: the bias is live", "||dL/db|| / ||dL/dW|| (float64)",
                   frozen, expectation(frozen > 1e-3)),
    ]


def _build(arm: str, shape: tuple[int, ...], classes: int) -> nn.Sequential:
    channels, height, width = shape
    convs = [nn.Conv2d(channels, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)]
    head = nn.Linear(32 * (height // 4) * (width // 4), classes)
    if arm == "no-bias":  # drop after creation, so both arms draw the same random weights
        for conv in convs:
            conv.bias = None
    layers: list[nn.Module] = []
    for conv in convs:
        layers += [conv, nn.BatchNorm2d(conv.out_channels), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.Flatten(), head)


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("image").images()
    generator = ctx.seed(seed)
    model = _build(arm, data.image_shape, data.n_classes).to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 12, 30))
    params = sum(p.numel() for p in model.parameters())
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
            "parameters": params, "train_loss": curve}
