"""LL302 evidence: what happens with a dropout rate outside [0, 1)?

Question: torch accepts ``Dropout(1.0)`` silently. Does it zero every activation in
training, so that nothing upstream ever learns? Do negative rates and rates > 1 fail
at construction (which LL302 catches before anything runs)?

Exact checks (no arms, no seeds):
- primary (deterministic, as EVIDENCE.md §3.2 pre-registers it; "mechanism only": it
  cannot fail, so it is no verdict on harm): an MLP Linear -> ReLU -> Dropout(1.0) ->
  Linear trained on scikit-learn digits for a few epochs (Adam 1e-3): the upstream
  weights are bit-identical to their initial values and the training-mode output of
  the dropout is all zeros; pass criterion "confirmed" when the weight change is 0;
- test accuracy of that model is the majority-class rate (chance), recorded;
- ``Dropout(-0.1)`` and ``Dropout(1.5)`` raise ValueError at construction.
"""

from __future__ import annotations

import torch
from torch import nn

from layerlint.evidence.api import ExactCheck, expectation
from layerlint.evidence.training import evaluate, fit, mlp

CODE = "LL302"
ARMS: tuple[str, ...] = ()
PAIRED_INIT = False
SEEDS = {"smoke": 0, "quick": 0, "full": 0}
DATASETS = ("digits",)
COMPARISONS = ()
# EVIDENCE.md §3.2: deterministic only, so LL302 shows its mechanism and has no verdict.
PRIMARY = "Dropout(1.0): upstream weights never change"


def _raises(p: float) -> str:
    try:
        nn.Dropout(p)
    except ValueError as error:
        return str(error)
    return ""


def exact(ctx) -> list[ExactCheck]:
    data = ctx.data("digits")
    generator = ctx.seed(0)
    model = mlp([data.features, 64, data.n_classes],
                between=lambda i, w: [nn.ReLU(), nn.Dropout(1.0)]).to(ctx.device)
    before = model[0].weight.detach().clone()
    model.train()
    with torch.no_grad():
        zeros = float(model[:3](data.x_train).abs().sum())
    fit(model, data, generator, epochs=ctx.budget(1, 3, 5))
    change = float((model[0].weight.detach() - before).abs().max())
    acc = evaluate(model, data.x_test, data.y_test)["acc"]
    chance = float(torch.bincount(data.y_test).max() / len(data.y_test))
    checks = [
        ExactCheck("Dropout(1.0): upstream weights never change", "max |W_after - W_before|",
                   change, expectation(change == 0 and zeros == 0),
                   detail={"dropout_output_abs_sum": zeros}),
        ExactCheck("Dropout(1.0): test accuracy no better than chance", "test accuracy", acc,
                   expectation(acc <= chance + 0.05),
                   detail={"majority_class_rate": chance}),
    ]
    for p in (-0.1, 1.5):
        message = _raises(p)
        checks.append(ExactCheck(f"Dropout({p}) raises at construction", "raised (1/0)",
                                 1.0 if message else 0.0,
                                 expectation(bool(message)),
                                 detail={"error": message}))
    return checks
