"""LL110 evidence: what does one batchnorm shared by two differently distributed inputs cost?

Question: a batchnorm applied to two inputs updates one running mean and variance from
both, so at test time each input is normalised with statistics that lie between the two.
In training every call uses its own batch's statistics, so nothing shows. Does the model
predict worse in eval mode than the same model with one batchnorm per input?

Model: two input streams computed from each example, a view ``a`` (the standardised
features) and a view ``b`` from another "sensor" (the features permuted, scaled by 2
and shifted by 1: same information, other statistics). Each stream has its own
Linear(d, h); then BN -> ReLU; the two are concatenated into Linear(2h, classes).
Arms (identical initial weights: the linear layers are created in the same order):
- ``shared`` (flagged): one BatchNorm1d(h) applied to both streams;
- ``per-input``: one BatchNorm1d(h) per stream (the rule's remedy; it also has a second
  set of affine parameters).
Data: scikit-learn digits. Adam 1e-3, batch 64, quick 20 epochs, full 40.

Primary endpoint (EVIDENCE.md §3.2): eval-mode test NLL (nats), paired difference
shared - per-input; smallest effect of interest 0.01 nats. Pass criterion: "supported"
when the 95% CI is above 0.
Secondary (exploratory): eval-mode test accuracy (0.5 pp); the running-statistics error,
the mean over channels and both streams of |running mean - the stream's own mean| in
units of the stream's standard deviation (0.1); and a causal check on the flagged
model's own weights: test NLL with the shared statistics against the same weights with
statistics re-estimated per stream (``shared, per-stream statistics``), which isolates
the running statistics from the extra affine parameters.
Mechanism (exact, no training): a batchnorm updated alternately from N(0, 1) and
N(3, 2^2) batches ends with a running mean that is neither stream's mean.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import evaluate, fit, init_hash

CODE = "LL110"
ARMS = ("shared", "per-input")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test NLL"

COMPARISONS = (
    Comparison("test NLL", "eval-mode test NLL (nats)", a=("shared", "nll"),
               b=("per-input", "nll"), delta=0.01, unit="nats"),
    Comparison("test accuracy", "eval-mode test accuracy", a=("shared", "acc"),
               b=("per-input", "acc"), delta=0.005, worse="lower", unit="pp", scale=100),
    Comparison("running-statistics error",
               "mean |running mean - stream mean| / stream std, both streams",
               a=("shared", "stat_error"), b=("per-input", "stat_error"), delta=0.1,
               unit="std"),
    Comparison("shared, per-stream statistics",
               "test NLL of the flagged model: shared statistics vs re-estimated per stream",
               a=("shared", "nll"), b=("shared", "split_nll"), delta=0.01, unit="nats"),
)


class TwoStream(nn.Module):
    def __init__(self, features: int, width: int, classes: int, shared: bool,
                 permutation: torch.Tensor) -> None:
        super().__init__()
        self.fc_a = nn.Linear(features, width)
        self.fc_b = nn.Linear(features, width)
        self.head = nn.Linear(2 * width, classes)
        self.bn_a = nn.BatchNorm1d(width)
        self.bn_b = self.bn_a if shared else nn.BatchNorm1d(width)
        self.register_buffer("permutation", permutation)

    def streams(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two views' pre-batchnorm activations."""
        return self.fc_a(x), self.fc_b(2.0 * x[:, self.permutation] + 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.streams(x)
        return self.head(torch.cat([F.relu(self.bn_a(a)), F.relu(self.bn_b(b))], dim=1))


@torch.no_grad()
def _stat_error(model: TwoStream, x: torch.Tensor) -> float:
    """How far each stream's running mean is from that stream's own mean, in its stds."""
    errors = []
    for bn, h in zip((model.bn_a, model.bn_b), model.streams(x), strict=True):
        errors.append(((bn.running_mean - h.mean(0)).abs() / h.std(0).clamp_min(1e-6)).mean())
    return float(torch.stack(errors).mean())


@torch.no_grad()
def _split(model: TwoStream, x: torch.Tensor) -> TwoStream:
    """The same weights with one batchnorm per stream, each holding its stream's own
    statistics (affine parameters copied from the shared one)."""
    split = copy.deepcopy(model)
    split.bn_b = copy.deepcopy(split.bn_a)
    for bn, h in zip((split.bn_a, split.bn_b), split.streams(x), strict=True):
        bn.running_mean.copy_(h.mean(0))
        bn.running_var.copy_(h.var(0, unbiased=True))
    return split


def exact(ctx) -> list[ExactCheck]:
    generator = torch.Generator().manual_seed(0)
    bn = nn.BatchNorm1d(1)
    bn.train()
    for _ in range(200):
        bn(torch.randn(64, 1, generator=generator))
        bn(3.0 + 2.0 * torch.randn(64, 1, generator=generator))
    mean = float(bn.running_mean[0])
    # distance from the nearer stream's mean, in that stream's standard deviations
    distance = min(abs(mean - 0.0) / 1.0, abs(mean - 3.0) / 2.0)
    return [ExactCheck(
        "shared running mean matches neither input",
        "distance of the running mean from the nearer input's mean (its stds)", distance,
        expectation(distance > 0.5), detail={"running_mean": mean, "means": [0.0, 3.0],
                                             "running_var": float(bn.running_var[0])})]


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)  # before building: it fixes the initial weights
    permutation = torch.randperm(data.features, generator=torch.Generator().manual_seed(0))
    model = TwoStream(data.features, ctx.budget(32, 128, 256), data.n_classes,
                      arm == "shared", permutation).to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 20, 40))
    record = {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
              "stat_error": _stat_error(model, data.x_train), "train_loss": curve}
    split = evaluate(_split(model, data.x_train), data.x_test, data.y_test)
    record.update(split_nll=split["nll"], split_acc=split["acc"])
    return record
