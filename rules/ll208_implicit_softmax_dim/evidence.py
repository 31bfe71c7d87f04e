"""LL208 evidence: what does an implicit softmax axis do to a (batch, time, classes) model?

Question: without ``dim`` PyTorch normalises a 3-D input over axis 0, the batch. Does a
per-position classifier whose scores have shape (batch, 1, classes), trained with
``F.log_softmax(z)`` (implicit axis) into ``nll_loss``, predict worse than the same model
with ``dim=-1``?

Exact checks (mechanism rows: identities, which cannot fail and give no verdict):
- max |F.softmax(z) - F.softmax(z, dim=0)| for a (4, 5, 10) input: "confirmed" when 0
  (the implicit axis is the batch axis);
- the fraction of (example, position) pairs of one example whose predicted class changes
  when the *other* examples of its batch are replaced: "confirmed" when above 0.

Arms (identical weights):
- ``implicit-dim`` (flagged): x.unsqueeze(1) -> Linear -> ReLU -> Linear ->
  F.log_softmax(z) (implicit, over the batch) -> squeeze -> nll_loss
- ``dim-last``: the same with F.log_softmax(z, dim=-1)
Data: scikit-learn digits. Adam 1e-3, batch 64, quick 20 epochs, full 40. Evaluation runs
the whole test set as one batch, as the trained model would be used.
Primary endpoint (EVIDENCE.md §3.2): test accuracy (argmax over the classes of each
model's output), paired difference fixed - flagged; smallest effect of interest 1 pp.
Pass criterion: "supported" when the 95% CI lies beyond 0 on the harmful side.
Secondary (exploratory, added after the primary came out "contradicted": a model
normalised over a large batch was not less accurate): test accuracy when each test
example is predicted on its own (a batch of one, as a deployed model often is).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F

from layerlint.evidence.api import Comparison, ExactCheck, expectation
from layerlint.evidence.training import fit, init_hash, mlp

CODE = "LL208"
ARMS = ("implicit-dim", "dim-last")
PAIRED_INIT = True
SEEDS = {"smoke": 2, "quick": 10, "full": 20}
DATASETS = ("digits",)
PRIMARY = "test accuracy"

COMPARISONS = (
    Comparison("test accuracy", "test accuracy (whole test set as one batch)",
               a=("implicit-dim", "acc"), b=("dim-last", "acc"), delta=0.01, worse="lower",
               unit="pp", scale=100),
    Comparison("test accuracy, one example at a time", "test accuracy (batches of one)",
               a=("implicit-dim", "acc_single"), b=("dim-last", "acc_single"), delta=0.01,
               worse="lower", unit="pp", scale=100),
)


def _implicit_log_softmax(z: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation warning is the point
        return F.log_softmax(z)  # the implicit axis under test


class _Tagger(nn.Module):
    """Scores of shape (batch, 1, classes), normalised by the arm's log-softmax."""

    def __init__(self, body: nn.Module, implicit: bool) -> None:
        super().__init__()
        self.body, self.implicit = body, implicit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.body(x.unsqueeze(1))
        out = _implicit_log_softmax(z) if self.implicit else F.log_softmax(z, dim=-1)
        return out.squeeze(1)


def exact(ctx) -> list[ExactCheck]:
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(4, 5, 10, generator=generator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        implicit = F.softmax(z)
    gap = float((implicit - F.softmax(z, dim=0)).abs().max())
    other = z.clone()
    other[1:] = torch.randn(3, 5, 10, generator=generator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        changed = (F.softmax(z)[0].argmax(-1) != F.softmax(other)[0].argmax(-1))
    fraction = float(changed.float().mean())
    return [
        ExactCheck("implicit softmax of a 3-D input normalises over the batch",
                   "max |softmax(z) - softmax(z, dim=0)|", gap, expectation(gap == 0.0)),
        ExactCheck("a prediction depends on the other examples of its batch",
                   "fraction of positions whose class changes", fraction,
                   expectation(fraction > 0.0)),
    ]


def run_arm(ctx, seed: int, arm: str) -> dict:
    data = ctx.data("digits")
    generator = ctx.seed(seed)
    width = ctx.budget(32, 128, 256)
    body = mlp([data.features, width, data.n_classes], between=lambda i, w: [nn.ReLU()])
    model = _Tagger(body, implicit=arm == "implicit-dim").to(ctx.device)
    start = init_hash(model)
    curve = fit(model, data, generator, epochs=ctx.budget(1, 20, 40), loss=F.nll_loss)
    model.eval()
    with torch.no_grad():
        predicted = model(data.x_test).argmax(dim=1)
        alone = torch.cat([model(x.unsqueeze(0)) for x in data.x_test]).argmax(dim=1)
    return {"init_hash": start, "acc": float((predicted == data.y_test).float().mean()),
            "acc_single": float((alone == data.y_test).float().mean()),
            "final_train_loss": curve[-1], "train_loss": curve}
