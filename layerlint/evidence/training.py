"""Small torch helpers shared by the evidence modules: training loop, evaluation,
weight hashing, BN statistics."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.context import TensorData

__all__ = ["bn_input_stats", "evaluate", "fit", "init_hash", "recalibrate_bn",
           "train_digits_arm"]

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def init_hash(model: nn.Module) -> str:
    """Hash of the weighted layers' weights in module order (biases excluded, so a
    bias/no-bias pair can still be checked for identical weights)."""
    digest = hashlib.sha256()
    for module in model.modules():
        if isinstance(module, _WEIGHTED):
            digest.update(module.weight.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def fit(model: nn.Module, data: TensorData, generator: torch.Generator, *, epochs: int,
        lr: float = 1e-3, batch: int = 64, loss: Loss = F.cross_entropy,
        optimizer: str = "adam", after_epoch: Callable[[int], None] | None = None
        ) -> list[float]:
    """Train in place with a seeded batch order; return the mean training loss per epoch."""
    params = list(model.parameters())
    opt = (torch.optim.Adam(params, lr=lr) if optimizer == "adam"
           else torch.optim.SGD(params, lr=lr, momentum=0.9))
    n = len(data.y_train)
    curve = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator).to(data.x_train.device)
        total = 0.0
        for start in range(0, n, batch):
            index = order[start:start + batch]
            opt.zero_grad(set_to_none=True)
            value = loss(model(data.x_train[index]), data.y_train[index])
            value.backward()
            opt.step()
            total += float(value.detach()) * len(index)
        curve.append(total / n)
        if after_epoch is not None:
            after_epoch(epoch)
    return curve


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             log_proba: Callable[[torch.Tensor], torch.Tensor] | None = None
             ) -> dict[str, float]:
    """Eval-mode accuracy and NLL of the model's predictive distribution.

    ``log_proba`` maps the model output to log-probabilities (default: log-softmax of
    logits); a rule whose anti-pattern changes what the output means passes its own.
    """
    model.eval()
    out = model(x)
    logp = (log_proba or (lambda o: F.log_softmax(o, dim=1)))(out)
    nll = float(F.nll_loss(logp.clamp_min(-100.0), y))
    acc = float((logp.argmax(dim=1) == y).float().mean())
    return {"acc": acc, "nll": nll}


@torch.no_grad()
def bn_input_stats(model: nn.Module, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Eval-mode per-channel mean and variance of every BN's input, in module order."""
    found: list[tuple[torch.Tensor, torch.Tensor]] = []

    def hook(_module, inputs, _output):
        value = inputs[0]
        dims = [0] + list(range(2, value.dim()))
        found.append((value.mean(dim=dims), value.var(dim=dims, unbiased=False)))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _BN)]
    model.eval()
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return found


def log_variance_ratios(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Per BN: log of the geometric mean over channels of running_var / eval input var
    (channels with eval variance < 1e-6 skipped)."""
    bns = [m for m in model.modules() if isinstance(m, _BN)]
    ratios = []
    for bn, (_mean, var) in zip(bns, bn_input_stats(model, x), strict=True):
        keep = var > 1e-6
        ratios.append(float((bn.running_var[keep].log() - var[keep].log()).mean()))
    return ratios


@torch.no_grad()
def recalibrate_bn(model: nn.Module, x: torch.Tensor, batch: int = 256) -> None:
    """Re-estimate BN running statistics with dropout off (cumulative average)."""
    bns = [m for m in model.modules() if isinstance(m, _BN)]
    saved = [bn.momentum for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    for start in range(0, len(x), batch):
        model(x[start:start + batch])
    for bn, momentum in zip(bns, saved, strict=True):
        bn.momentum = momentum
    model.eval()


def mlp(sizes: list[int], *, between: Callable[[int, int], list[nn.Module]]) -> nn.Sequential:
    """Linear layers of the given sizes; ``between(i, width)`` gives the layers after
    hidden layer i. Weighted layers are created first, in order, so arms that only
    reorder the other layers start from identical weights under the same seed."""
    linears = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=False)]
    layers: list[nn.Module] = []
    for i, linear in enumerate(linears):
        layers.append(linear)
        if i < len(linears) - 1:
            layers.extend(between(i, sizes[i + 1]))
    return nn.Sequential(*layers)


def entropy_floor(classes: int) -> float:
    """Training-loss floor of cross-entropy fed probabilities: log(1 + (C-1)/e)."""
    return math.log(1 + (classes - 1) / math.e)


def train_digits_arm(ctx, seed: int, build: Callable[[int, int, int], nn.Module]
                     ) -> tuple[nn.Module, dict]:
    """The MLP arm several rules share: seed, ``build(width, features, classes)`` on
    digits, train, evaluate. Returns the trained model and the per-seed record."""
    data = ctx.data("digits")
    generator = ctx.seed(seed)  # before building: it fixes the initial weights
    model = build(ctx.budget(32, 128, 256), data.features, data.n_classes).to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 20, 40))
    return model, {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
                   "train_loss": curve}
