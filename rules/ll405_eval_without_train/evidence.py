"""LL405 evidence: what happens when training continues after ``model.eval()``?

Question: a loop validates with ``model.eval()`` at the end of each epoch and calls
``model.train()`` only once before the loop. Do the later training steps run with
dropout off and batchnorm frozen, and what does it cost?

Exact check (primary, pre-registered): an MLP Linear -> BN -> ReLU -> Dropout(0.5) ->
Linear, after ``model.eval()``: one more optimizer step leaves the BN running mean and
variance bit-identical (max change 0), and two forward passes of the "training" step
give identical outputs (dropout off). Pass criterion: "supported" when both hold.

Arms (identical initial weights and batch order):
- ``eval_stuck``: ``model.train()`` once before the epoch loop, validation each epoch
  (flagged)
- ``train_each_epoch``: ``model.train()`` at the top of every epoch (the fix)
Training endpoint (secondary): test accuracy on scikit-learn digits, smallest effect
of interest 1 pp; also test NLL. Adam 1e-3, batch 64, quick 10 epochs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.loops import train_loop
from layerlint.evidence.training import evaluate, init_hash, mlp

CODE = "LL405"
ARMS = ("eval_stuck", "train_each_epoch")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
# the exact check, pre-registered
PRIMARY = 'after eval(), training steps leave BN statistics frozen and dropout off'
COMPARISONS = (
    Comparison("test accuracy", "test accuracy, eval() left on after validation vs "
               "train() every epoch", a=("eval_stuck", "acc"), b=("train_each_epoch", "acc"),
               delta=0.01, worse="lower", unit="pp", scale=100),
    Comparison("test NLL", "test NLL (nats)", a=("eval_stuck", "nll"),
               b=("train_each_epoch", "nll"), delta=0.01, unit="nats"),
)


def _model(ctx, features: int, classes: int) -> nn.Module:
    width = ctx.budget(32, 128, 256)
    return mlp([features, width, classes], between=lambda i, w: [
        nn.BatchNorm1d(w), nn.ReLU(), nn.Dropout(0.5)]).to(ctx.device)


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    model = _model(ctx, data.features, data.n_classes)
    start = init_hash(model)
    curve = train_loop(model, data, generator, epochs=ctx.budget(2, 10, 20), validate=True,
                       train_each_epoch=arm == "train_each_epoch")
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
            "train_loss": curve}


def exact(ctx) -> list[ExactCheck]:
    data = ctx.data("digits")
    ctx.seed(0)
    model = _model(ctx, data.features, data.n_classes)
    bn = model[1]
    opt = torch.optim.Adam(model.parameters())
    x, y = data.x_train[:64], data.y_train[:64]
    model.train()
    F.cross_entropy(model(x), y).backward()
    opt.step()
    model.eval()  # validation, and no model.train() afterwards
    before = (bn.running_mean.clone(), bn.running_var.clone())
    opt.zero_grad()
    out = model(x)
    F.cross_entropy(out, y).backward()
    opt.step()
    change = max(float((bn.running_mean - before[0]).abs().max()),
                 float((bn.running_var - before[1]).abs().max()))
    with torch.no_grad():
        same = float((model(x) - model(x)).abs().max())
    return [ExactCheck("after eval(), training steps leave BN statistics frozen and dropout off",
                       "max change of BN running statistics over a training step", change,
                       expectation(change == 0 and same == 0),
                       detail={"output_difference_between_two_passes": same})]
