"""LL402 evidence: what does a Keras model called without ``training=True`` learn?

Question: in a custom loop, ``model(x)`` under ``tf.GradientTape`` runs the model in
inference mode (Keras' ``training`` defaults to False outside ``fit``). Do batchnorm's
moving statistics stay at their initial values and dropout stay off while the weights
train, and is the model that comes out worse than one trained with ``training=True``?

Faithfulness: Keras is not a dependency, so Keras' documented semantics are reproduced
in torch. With ``training=False`` a Keras ``BatchNormalization`` normalises with its
moving mean and variance and does not update them, and ``Dropout`` returns its input;
gradients still flow through both. That is exactly what torch's ``eval()`` does to
``BatchNorm1d`` and ``Dropout``, so the flagged arm runs every training step's forward
in ``eval()`` and the fixed arm in ``train()``. The layers carry Keras' defaults:
Glorot-uniform kernels and zero biases (``Dense``), ``epsilon=1e-3``, moving statistics
initialised to mean 0 and variance 1, and momentum 0.99 in Keras' convention (torch
``momentum=0.01``); batch 32 (``fit``'s default).

Model (the rule's examples, with batchnorm): Linear -> BN -> ReLU -> Dropout(0.5), twice,
then Linear, on scikit-learn digits.

Arms (identical initial weights and batch order):
- ``inference_call``: ``model(x)`` under the tape (forward in inference mode) (flagged)
- ``training_true``: ``model(x, training=True)`` (the fix)
Both are evaluated in inference mode (``model.predict`` / ``model(x_test)``).

Primary (pre-registered): inference-mode test NLL, paired difference flagged - fixed,
smallest effect of interest 0.01 nats. Pass criterion: "supported" when its 95% CI lies
above 0, "equivalent" when within +-0.01, "contradicted" when below. Secondary: test
accuracy (smallest effect of interest 1 pp). Adam 1e-3, quick 20 epochs (860 steps).
Exact checks (mechanism rows, 20 training steps from the same weights): after training
steps in inference mode the moving statistics are bit-identical to their initial values
while the weights moved, and two forward passes of a training step give identical
outputs (dropout off); in training mode both change.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.loops import train_loop, weights
from layerlint.evidence.training import evaluate, init_hash, mlp

CODE = "LL402"
ARMS = ("inference_call", "training_true")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test NLL"
COMPARISONS = (
    Comparison("test NLL", "inference-mode test NLL (nats), model called without "
               "training=True under the tape vs with training=True",
               a=("inference_call", "nll"), b=("training_true", "nll"), delta=0.01,
               unit="nats"),
    Comparison("test accuracy", "inference-mode test accuracy",
               a=("inference_call", "acc"), b=("training_true", "acc"), delta=0.01,
               worse="lower", unit="pp", scale=100),
)
STATISTICS = "inference-mode training steps leave the moving statistics at their initial values"
DROPOUT = "inference-mode training steps run with dropout off"


def _model(ctx, features: int, classes: int) -> nn.Sequential:
    width = ctx.budget(32, 128, 256)
    model = mlp([features, width, width, classes], between=lambda i, w: [
        nn.BatchNorm1d(w, eps=1e-3, momentum=0.01), nn.ReLU(), nn.Dropout(0.5)])
    for layer in model:  # Keras Dense defaults
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return model.to(ctx.device)


def _batchnorms(model: nn.Module) -> list[nn.BatchNorm1d]:
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]


def _drift(model: nn.Module) -> float:
    """Largest distance of any moving statistic from its initial value (mean 0, var 1)."""
    return max(max(float(bn.running_mean.abs().max()), float((bn.running_var - 1).abs().max()))
               for bn in _batchnorms(model))


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    model = _model(ctx, data.features, data.n_classes)
    start = init_hash(model)
    curve = train_loop(model, data, generator, epochs=ctx.budget(2, 20, 40), batch=32,
                       inference=arm == "inference_call")
    return {"init_hash": start, **evaluate(model, data.x_test, data.y_test),
            "train_loss": curve, "moving_statistics_drift": _drift(model)}


def _steps(ctx, model: nn.Module, inference: bool, steps: int) -> float:
    """Train ``steps`` batches in the given mode; the largest weight change."""
    data = ctx.data("digits")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = weights(model)
    model.eval() if inference else model.train()
    for step in range(steps):
        index = slice(32 * step, 32 * (step + 1))
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(data.x_train[index]), data.y_train[index]).backward()
        opt.step()
    return float((weights(model) - before).abs().max())


def exact(ctx) -> list[ExactCheck]:
    data = ctx.data("digits")
    ctx.seed(0)
    flagged = _model(ctx, data.features, data.n_classes)
    fixed = _model(ctx, data.features, data.n_classes)
    fixed.load_state_dict(flagged.state_dict())
    steps = 8 if ctx.mode == "smoke" else 20  # smoke keeps 256 training rows
    moved = {True: _steps(ctx, flagged, True, steps), False: _steps(ctx, fixed, False, steps)}
    drift = {True: _drift(flagged), False: _drift(fixed)}
    x = data.x_train[:32]
    with torch.no_grad():
        flagged.eval()
        fixed.train()
        same = {True: float((flagged(x) - flagged(x)).abs().max()),
                False: float((fixed(x) - fixed(x)).abs().max())}
    return [
        ExactCheck(STATISTICS, f"largest change of a BN moving statistic after {steps} "
                   "training steps in inference mode", drift[True],
                   expectation(drift[True] == 0 and moved[True] > 0 and drift[False] > 0),
                   detail={"largest_weight_change": moved[True],
                           "with_training_true": drift[False]}),
        ExactCheck(DROPOUT, "largest output difference between two forward passes of a "
                   "training step in inference mode", same[True],
                   expectation(same[True] == 0 and same[False] > 0),
                   detail={"with_training_true": same[False]}),
    ]
