from __future__ import annotations

from collections.abc import Iterator

from layerlint.fix import Fix
from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._losses import fed_losses, is_sigmoid, loss_ref, squash_ref


class SigmoidThenBce(Rule):
    """## What it does
    Reports a sigmoid whose output is the input of torch `nn.BCELoss` /
    `F.binary_cross_entropy`.

    The finding is at the sigmoid; the loss is the related location.

    ## Why is this bad?
    The pair computes `-log(sigmoid(z))` in two steps, which loses precision
    where the sigmoid saturates. `BCELoss` clamps its log at -100, so in float32
    the gradient becomes *exactly zero* for a confidently wrong prediction: once
    the logit reaches 16.64 with target 0, or falls to -88.72 with target 1, the
    loss sticks at 100 and that example stops training. The fused
    `nn.BCEWithLogitsLoss` uses the log-sum-exp trick and keeps a gradient of
    magnitude 1 there. torch also refuses `BCELoss` under CUDA autocast for this
    reason.

    ## Known problems
    - The model and its loss are linked by following training code (see LL201).
    - Keras is not checked: `BinaryCrossentropy()` after a sigmoid is the Keras
      idiom (the TensorFlow backend recovers the logits from the sigmoid), so
      the frontend records no expectation for it.

    ## Fix safety
    An unsafe fix replaces `nn.BCELoss` with `nn.BCEWithLogitsLoss` (or
    `F.binary_cross_entropy` with `F.binary_cross_entropy_with_logits`) and drops
    the sigmoid, both in one edit, when both are literal calls in the same file:
    an `nn.Sigmoid()` element of a literal `nn.Sequential`, or a
    `torch.sigmoid(x)` / `F.sigmoid(x)` call, and every use of that loss in the
    analysed code takes this sigmoid's output. It is unsafe because the model then
    returns logits where it returned probabilities: code that reads its output
    (metrics, thresholds, inference) must apply the sigmoid itself.

    ## Evidence
    Confirmed (EVIDENCE.md §1.4, §3.2, fp32): sigmoid + BCELoss gives loss 100
    and gradient exactly 0 once the logit >= 16.636 with target 0 (logit 17:
    BCEWithLogits loss 17, gradient +1.0), and once the logit <= -88.723 with
    target 1. `layerlint verify LL203` measures the thresholds and, in training,
    the fraction of misclassified examples whose gradient is exactly zero.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds; `layerlint explain` shows it, `layerlint verify LL203` re-runs
    it): thresholds 16.636 / -88.723 reproduced. In training (binary digits, 20%
    flipped labels, Adam 1e-2) no misclassified example reached that zone, and test
    NLL was equivalent (95% CI -0.009..+0.009): the risk is numerical, and no
    training cost was shown here.

    ## References
    - PyTorch `nn.BCELoss` documentation: "BCELoss clamps its log function
      outputs to be greater than or equal to -100".
    - PyTorch `nn.BCEWithLogitsLoss` documentation: "more numerically stable
      than using a plain `Sigmoid` followed by a `BCELoss`".
    """

    code = "LL203"
    name = "sigmoid-then-bce"
    message = ("{sigmoid} output is the input of {loss}: in float32 the gradient is exactly "
               "zero once a logit saturates (>= 16.6 with target 0); use BCEWithLogitsLoss "
               "on the logits")

    invalid = (
        Example.pytorch("""
            import torch.nn as nn

            model = nn.Sequential(
                nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1),
                nn.Sigmoid(),  # error: LL203
            )
            criterion = nn.BCELoss()
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
        """),
        Example.pytorch("""
            import torch
            import torch.nn.functional as F

            def train_step(model, optimizer, x, y):
                optimizer.zero_grad()
                probs = torch.sigmoid(model(x))  # error: LL203
                loss = F.binary_cross_entropy(probs, y)
                loss.backward()
                optimizer.step()
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1))
            criterion = nn.BCEWithLogitsLoss()
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
        """),
        Example.pytorch("""
            import torch
            import torch.nn.functional as F

            def evaluate(model, x, y):
                with torch.no_grad():
                    probs = torch.sigmoid(model(x))
                    return F.binary_cross_entropy(probs, y)
        """),
    )
    unsupported = {
        "keras": "BinaryCrossentropy() after a sigmoid is the Keras idiom: the TensorFlow "
                 "backend recovers the logits from the sigmoid (RULES.md limits LL203 to torch)",
        "onnx": "ONNX has no binary cross-entropy operator: an exported training graph "
                "spells it as elementwise Log/Mul/Sub ops, which are not a loss layer",
    }

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for sigmoid in graph.of_kind(Kind.ACTIVATION):
            if not is_sigmoid(sigmoid):
                continue
            for loss in fed_losses(graph, sigmoid, "binary_probs"):
                yield self.report(sigmoid, related=(loss,), autofix=_fix(graph, sigmoid, loss),
                                  sigmoid=squash_ref(sigmoid), loss=loss_ref(loss, sigmoid))


def _fix(graph: LayerGraph, sigmoid: Layer, loss: Layer) -> Fix | None:
    """Use the with-logits loss and drop the sigmoid, when both edits are plain."""
    if loss.location.path != sigmoid.location.path:
        return None
    # every use of this loss must take this sigmoid's output, which feeds nothing else
    for use in graph.of_kind(Kind.LOSS):
        if use.location == loss.location and [
                lay.location for lay in graph.previous_layers(use)] != [sigmoid.location]:
            return None
    if len(graph.next_layers(sigmoid)) != 1:
        return None
    return Fix.fuse_into_loss(sigmoid, loss, safe=False)
