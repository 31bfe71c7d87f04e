"""LL406 evidence: do ``module.requires_grad = False`` and ``p.require_grad = False``
freeze anything?

Question: Python lets any object take a new attribute, so neither line raises; do the
parameters still train?

Exact checks (no arms, no seeds): an MLP on scikit-learn digits; its first layer is
"frozen" three ways, then one SGD step (lr 0.1) on a batch of 64 over all parameters:
- primary (pre-registered): ``model[0].requires_grad = False``: the largest change of
  the first layer's weights. Pass criterion: "supported" when it is above 0 (the
  freeze did nothing);
- ``p.require_grad = False`` for the first layer's parameters: the same measure;
- control: ``model[0].requires_grad_(False)``: the change is exactly 0.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import ExactCheck, expectation
from layerlint.evidence.training import mlp

CODE = "LL406"
ARMS: tuple[str, ...] = ()
PAIRED_INIT = False
SEEDS = {"smoke": 0, "quick": 0, "full": 0}
DATASETS = ("digits",)
# the exact check, pre-registered
PRIMARY = '`module.requires_grad = False` leaves the layer training'
COMPARISONS = ()


def _change_after_step(ctx, freeze) -> tuple[float, int]:
    data = ctx.data("digits")
    ctx.seed(0)
    model = mlp([data.features, 64, data.n_classes],
                between=lambda i, w: [nn.ReLU()]).to(ctx.device)
    freeze(model)
    before = model[0].weight.detach().clone()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    F.cross_entropy(model(data.x_train[:64]), data.y_train[:64]).backward()
    opt.step()
    trainable = sum(p.requires_grad for p in model[0].parameters())
    return float((model[0].weight.detach() - before).abs().max()), trainable


def _module_flag(model: nn.Module) -> None:
    model[0].requires_grad = False


def _typo(model: nn.Module) -> None:
    for p in model[0].parameters():
        p.require_grad = False


def _method(model: nn.Module) -> None:
    model[0].requires_grad_(False)


def exact(ctx) -> list[ExactCheck]:
    module_flag, left_module = _change_after_step(ctx, _module_flag)
    typo, left_typo = _change_after_step(ctx, _typo)
    method, left_method = _change_after_step(ctx, _method)
    return [
        ExactCheck("`module.requires_grad = False` leaves the layer training",
                   "max |W_after - W_before| of the 'frozen' layer after one step",
                   module_flag, expectation(module_flag > 0),
                   detail={"parameters_still_requiring_grad": left_module}),
        ExactCheck("`p.require_grad = False` leaves the layer training",
                   "max |W_after - W_before| of the 'frozen' layer after one step", typo,
                   expectation(typo > 0),
                   detail={"parameters_still_requiring_grad": left_typo}),
        ExactCheck("control: `requires_grad_(False)` freezes the layer",
                   "max |W_after - W_before| of the frozen layer after one step", method,
                   expectation(method == 0),
                   detail={"parameters_still_requiring_grad": left_method}),
    ]
