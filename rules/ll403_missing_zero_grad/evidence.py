"""LL403 evidence: what happens when a training loop never clears gradients?

Question: ``backward()`` adds into ``.grad``. Without ``zero_grad()``, does each step
apply the sum of all previous batches' gradients, and how much does that cost?

Exact check (primary, pre-registered): a Linear layer, two batches, two backward calls
with no clearing in between: max |grad - (g1 + g2)| relative to max |g1 + g2|, where g1
and g2 are each batch's own gradient. Pass criterion: "supported" when it is below 1e-6.

Arms (identical initial weights and batch order):
- ``no_zero_grad``: the loop never clears (flagged)
- ``zero_grad``: ``optimizer.zero_grad(set_to_none=True)`` every step (the fix)
Training endpoint (secondary): test accuracy of an MLP on scikit-learn digits, SGD
lr 0.01, batch 64, quick 5 epochs; smallest effect of interest 1 pp. Also test NLL.
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.loops import train_loop
from layerlint.evidence.training import evaluate, init_hash, mlp

CODE = "LL403"
ARMS = ("no_zero_grad", "zero_grad")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
# the exact check, pre-registered
PRIMARY = "without zero_grad, .grad is the sum of both batches' gradients"
COMPARISONS = (
    Comparison("test accuracy", "test accuracy, no zero_grad vs zero_grad every step",
               a=("no_zero_grad", "acc"), b=("zero_grad", "acc"), delta=0.01,
               worse="lower", unit="pp", scale=100),
    Comparison("test NLL", "test NLL (nats)", a=("no_zero_grad", "nll"),
               b=("zero_grad", "nll"), delta=0.01, unit="nats"),
)


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    model = mlp([data.features, ctx.budget(32, 128, 256), data.n_classes],
                between=lambda i, w: [nn.ReLU()]).to(ctx.device)
    start = init_hash(model)
    curve = train_loop(model, data, generator, epochs=ctx.budget(1, 5, 10), lr=0.01,
                       optimizer="sgd", zero_grad=arm == "zero_grad")
    metrics = evaluate(model, data.x_test, data.y_test)
    if metrics["nll"] != metrics["nll"]:  # NaN: diverged
        metrics["nll"] = 100.0
    return {"init_hash": start, **metrics, "train_loss": curve}


def exact(ctx) -> list[ExactCheck]:
    data = ctx.data("digits")
    ctx.seed(0)
    layer = nn.Linear(data.features, data.n_classes).to(ctx.device)
    batches = [(data.x_train[i:i + 64], data.y_train[i:i + 64]) for i in (0, 64)]
    own = []
    for x, y in batches:
        layer.zero_grad()
        F.cross_entropy(layer(x), y).backward()
        own.append(layer.weight.grad.clone())
    layer.zero_grad()
    for x, y in batches:
        F.cross_entropy(layer(x), y).backward()
    total = own[0] + own[1]
    error = float((layer.weight.grad - total).abs().max() / total.abs().max())
    return [ExactCheck("without zero_grad, .grad is the sum of both batches' gradients",
                       "max |grad - (g1 + g2)| / max |g1 + g2|", error,
                       expectation(error < 1e-6),
                       detail={"grad_norm_ratio_to_last_batch": float(
                           total.norm() / own[1].norm())})]
