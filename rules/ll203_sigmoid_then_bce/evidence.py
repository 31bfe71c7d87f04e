"""LL203 evidence: does sigmoid followed by BCELoss lose gradients that the fused loss keeps?

Question: ``BCELoss`` on a sigmoid output clamps log at -100; in float32 the sigmoid
saturates, so beyond some logit the gradient is exactly zero even for a wrong
prediction, while ``BCEWithLogitsLoss`` keeps |grad| = 1. Does this happen in training?

Exact checks (mechanism rows, no verdict; float32, no training):
- the smallest logit z with an exactly zero d(loss)/dz for target 0 (pilot: 16.636),
  and the largest with target 1 (pilot: -88.723); "confirmed" when such a finite logit
  exists while the fused loss has |grad| > 0.99 there;
- on CUDA only: autocast refuses BCELoss (records the RuntimeError).

Arms (identical weights):
- ``sigmoid-bce`` (flagged): Linear -> ReLU -> Linear -> Sigmoid, BCELoss
- ``bce-with-logits``: Linear -> ReLU -> Linear, BCEWithLogitsLoss
Data: scikit-learn digits, binary (digit < 5), 20% of training labels flipped (fixed
flip, seed 12345) so that confidently wrong examples occur; Adam 1e-2 (high on
purpose), batch 64, quick 40 epochs, full 80.
Primary endpoint (EVIDENCE.md §3.2): fraction of training examples misclassified w.r.t.
their (noisy) label whose gradient is exactly zero at the end of training, paired
difference flagged - fixed; smallest effect of interest 0.01. Pass criterion:
"supported" when the 95% CI is above 0. Secondary (exploratory): test NLL on clean
labels (0.01 nats).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.context import TensorData
from layerlint.evidence.training import fit, init_hash, mlp

CODE = "LL203"
ARMS = ("sigmoid-bce", "bce-with-logits")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "dead gradients"  # EVIDENCE.md §3.2; the zero-gradient logit is an identity
NOISE = 0.2
LR = 1e-2

COMPARISONS = (
    Comparison("dead gradients", "fraction of misclassified training examples with zero grad",
               a=("sigmoid-bce", "zero_grad_wrong"), b=("bce-with-logits", "zero_grad_wrong"),
               delta=0.01, unit="fraction"),
    Comparison("test NLL", "test NLL (nats), clean labels", a=("sigmoid-bce", "nll"),
               b=("bce-with-logits", "nll"), delta=0.01, unit="nats"),
)


def _logit_grads(z: torch.Tensor, target: float) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.full_like(z, target)
    grads = []
    for fused in (False, True):
        logits = z.clone().requires_grad_(True)
        loss = (F.binary_cross_entropy_with_logits(logits, y, reduction="sum") if fused
                else F.binary_cross_entropy(torch.sigmoid(logits), y, reduction="sum"))
        loss.backward()
        grads.append(logits.grad)
    return grads[0], grads[1]


def exact(ctx) -> list[ExactCheck]:
    checks = []
    for target, z in ((0.0, torch.arange(0, 40, 0.001, dtype=torch.float32)),
                      (1.0, -torch.arange(0, 120, 0.001, dtype=torch.float32))):
        plain, fused = _logit_grads(z, target)
        dead = (plain == 0).nonzero()
        if len(dead):
            index = int(dead[0])
            threshold = float(z[index])
            fused_grad = float(fused[index].abs())
            verdict = expectation(fused_grad > 0.99)
        else:
            threshold, fused_grad, verdict = float("nan"), float("nan"), expectation(False)
        checks.append(ExactCheck(f"zero-gradient logit, target {int(target)} (float32)",
                                 "logit where d BCELoss(sigmoid(z))/dz becomes exactly 0",
                                 threshold, verdict,
                                 detail={"fused_abs_grad_there": fused_grad}))
    if ctx.device.type == "cuda":
        x = torch.randn(4, device=ctx.device)
        try:
            with torch.autocast("cuda"):
                F.binary_cross_entropy(torch.sigmoid(x), torch.zeros_like(x))
            refused, message = 0.0, ""
        except RuntimeError as error:
            refused, message = 1.0, str(error)[:200]
        checks.append(ExactCheck("CUDA autocast refuses BCELoss", "refused (1/0)", refused,
                                 expectation(bool(refused)),
                                 detail={"error": message}))
    return checks


def _binary(ctx) -> TensorData:
    data = ctx.data("digits")
    y_train = (data.y_train < 5).long()
    flip = torch.rand(len(y_train), generator=torch.Generator().manual_seed(12345)) < NOISE
    y_train = torch.where(flip.to(y_train.device), 1 - y_train, y_train)
    return TensorData(data.name + "-binary-noisy", data.x_train, y_train, data.x_test,
                      (data.y_test < 5).long(), 2, None, data.info)


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = _binary(ctx)
    generator = ctx.seed(seed)
    width = ctx.budget(32, 128, 256)
    body = mlp([data.features, width, 1], between=lambda i, w: [nn.ReLU()]).to(ctx.device)
    model = nn.Sequential(body, nn.Sigmoid()) if arm == "sigmoid-bce" else body
    start = init_hash(model)

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if arm == "sigmoid-bce":
            return F.binary_cross_entropy(out.squeeze(1), y.float())
        return F.binary_cross_entropy_with_logits(out.squeeze(1), y.float())

    curve = fit(model, data, generator, epochs=ctx.budget(1, 40, 80), lr=LR, loss=loss)
    model.eval()
    with torch.no_grad():
        z = body(data.x_train).squeeze(1)
        z_test = body(data.x_test).squeeze(1).double()
    y = data.y_train.float()
    logits = z.clone().requires_grad_(True)
    per_example = (F.binary_cross_entropy(torch.sigmoid(logits), y, reduction="sum")
                   if arm == "sigmoid-bce" else
                   F.binary_cross_entropy_with_logits(logits, y, reduction="sum"))
    per_example.backward()
    wrong = (z > 0).long() != data.y_train
    zero = logits.grad == 0
    proba = torch.sigmoid(z_test).clamp(1e-12, 1 - 1e-12)
    return {"init_hash": start,
            "zero_grad_wrong": float((zero & wrong).sum() / max(int(wrong.sum()), 1)),
            "wrong_train": float(wrong.float().mean()),
            "max_abs_logit": float(z.abs().max()),
            "nll": float(F.binary_cross_entropy(proba, data.y_test.double())),
            "acc": float(((z_test > 0).long() == data.y_test).double().mean()),
            "train_loss": curve}
