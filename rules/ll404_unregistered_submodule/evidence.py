"""LL404 evidence: what happens to layers kept in a plain Python list?

Question: are the parameters of layers in a plain ``list`` attribute missing from
``.parameters()`` and ``state_dict()``, so that an optimizer built from
``model.parameters()`` never updates them, and what does it cost?

Exact check (primary, pre-registered): an MLP whose hidden layers sit in a plain list,
trained on scikit-learn digits with ``Adam(model.parameters())``: the largest change of
any hidden-layer weight after training. Pass criterion: "supported" when it is
exactly 0 (and with
``nn.ModuleList`` it is not). Recorded too: the parameters and ``state_dict`` keys
the model reports in each form.

Arms (identical initial weights and batch order):
- ``plain_list``: ``self.hidden = [nn.Linear(...), ...]`` (flagged)
- ``module_list``: ``self.hidden = nn.ModuleList([...])`` (the fix)
Training endpoint (secondary): test accuracy, smallest effect of interest 1 pp; also
test NLL. Adam 1e-3, batch 64, quick 10 epochs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import evaluate, fit, init_hash

CODE = "LL404"
ARMS = ("plain_list", "module_list")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
# the exact check, pre-registered
PRIMARY = 'layers in a plain list are never updated by the optimizer'
COMPARISONS = (
    Comparison("test accuracy", "test accuracy, plain list vs nn.ModuleList",
               a=("plain_list", "acc"), b=("module_list", "acc"), delta=0.01,
               worse="lower", unit="pp", scale=100),
    Comparison("test NLL", "test NLL (nats)", a=("plain_list", "nll"),
               b=("module_list", "nll"), delta=0.01, unit="nats"),
)


class _Net(nn.Module):
    def __init__(self, features: int, width: int, classes: int, registered: bool) -> None:
        super().__init__()
        hidden = [nn.Linear(features, width), nn.Linear(width, width)]
        self.hidden = nn.ModuleList(hidden) if registered else hidden
        self.out = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.out(x)


def _run(ctx, seed: int, registered: bool) -> tuple[_Net, dict]:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    model = _Net(data.features, ctx.budget(32, 128, 256), data.n_classes, registered)
    model = model.to(ctx.device) if registered else model  # .to() misses the list too
    before = [layer.weight.detach().clone() for layer in model.hidden]
    start = init_hash(nn.Sequential(*model.hidden, model.out))
    curve = fit(model, data, generator, epochs=ctx.budget(1, 10, 20))
    change = max(float((layer.weight.detach() - b).abs().max())
                 for layer, b in zip(model.hidden, before, strict=True))
    return model, {"init_hash": start, "train_loss": curve, "hidden_change": change,
                   "parameters": sum(p.numel() for p in model.parameters()),
                   "state_dict_keys": len(model.state_dict())}


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    model, record = _run(ctx, seed, arm == "module_list")
    return {**record, **evaluate(model, data.x_test, data.y_test)}


def exact(ctx) -> list[ExactCheck]:
    _, plain = _run(ctx, 0, False)
    _, registered = _run(ctx, 0, True)
    ok = plain["hidden_change"] == 0 and registered["hidden_change"] > 0
    return [ExactCheck("layers in a plain list are never updated by the optimizer",
                       "max |W_after - W_before| of the hidden layers",
                       plain["hidden_change"], expectation(ok),
                       detail={
                           "with_module_list": registered["hidden_change"],
                           "parameters_plain_list": plain["parameters"],
                           "parameters_module_list": registered["parameters"],
                           "state_dict_keys_plain_list": plain["state_dict_keys"],
                           "state_dict_keys_module_list": registered["state_dict_keys"]})]
