from __future__ import annotations

from collections.abc import Iterator

from layerlint.fix import Fix
from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._losses import is_sigmoid


class LogOfSoftmax(Rule):
    """## What it does
    Reports a logarithm taken of a softmax or sigmoid output in two steps:
    `torch.log(F.softmax(x, dim=1))`, `probs.log()`, `torch.log(torch.sigmoid(x))`,
    `keras.ops.log(keras.ops.softmax(x))`, an ONNX `Log` after `Softmax`.

    The finding is at the log; the softmax or sigmoid is the related location. An
    epsilon added in between (`torch.log(p + 1e-8)`) does not hide the pair.
    In PyTorch source, helper functions and methods are read too, whether or not a
    model or training code calls them (a `predict` method, a hand-written loss): their
    tensor arguments are taken as inputs.

    ## Why is this bad?
    The softmax rounds a probability smaller than about 1e-45 (float32) to exactly
    0: once a logit trails the largest one by more than about 104, `log` returns
    `-inf`, the loss becomes infinite and its gradient NaN, which poisons the
    weights at the next step. An epsilon avoids the `-inf` but caps the log at
    `log(eps)` with a zero gradient, so a confidently wrong example stops
    training. `log_softmax` (and `F.logsigmoid`) compute the same value with the
    log-sum-exp trick and stay finite with an exact gradient.

    ## Known problems
    - Only a log applied directly to the softmax output (through shape-only ops)
      is recognised; a clamp in between (`p.clamp(min=eps).log()`) hides it.
    - In an exported ONNX graph `Log(Sigmoid(x))` is how `logsigmoid` itself is
      exported, so only `Log` after `Softmax` is reported there.

    ## Fix safety
    A safe fix rewrites `torch.log(F.softmax(x, dim=d))` (or `torch.softmax`) as
    `F.log_softmax(x, dim=d)` when the softmax call is the log's only argument, in
    the same expression: the value is the same wherever the original was finite.
    Other spellings (a softmax stored in a variable, a sigmoid) have no automatic fix.

    ## Evidence
    Exact (mechanism, no training): in float32, `log(softmax(z))` is `-inf` (and
    its gradient NaN) once a logit gap reaches the underflow threshold that
    `layerlint verify LL209` measures, while `log_softmax` stays finite with an
    exact gradient. The training endpoint trains the same MLP on scikit-learn
    digits with the two-step and the fused log-probabilities (identical initial
    weights).

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds): `log(softmax(z))` is `-inf` with a NaN gradient once a logit
    trails the largest by 103.98 (float32), where `log_softmax` is finite. At
    ordinary logit scales training was equivalent (test NLL identical in every seed):
    the risk is numerical, and no training cost was shown here.

    ## References
    - PyTorch `torch.nn.functional.log_softmax` documentation: "While mathematically
      equivalent to log(softmax(x)), doing these two operations separately is
      slower and numerically unstable."
    - PyTorch `nn.Softmax` documentation: "This module doesn't work directly with
      NLLLoss ... Use LogSoftmax instead (it's faster and has better numerical
      properties)."
    """

    code = "LL209"
    name = "log-of-softmax"
    message = "log of {squash} output in two steps{consequence}; use {fused}"

    invalid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(256, 10)

                def forward(self, x):
                    return torch.log(F.softmax(self.fc(x), dim=1))  # error: LL209

            def train(loader):
                model = Classifier()
                for x, y in loader:
                    F.nll_loss(model(x), y).backward()
        """),
        Example.pytorch("""
            import torch
            import torch.nn as nn

            class Policy(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(16, 4)

                def forward(self, obs, actions):
                    probs = torch.softmax(self.fc(obs), dim=-1)
                    log_probs = torch.log(probs + 1e-8)  # error: LL209
                    gate = torch.log(torch.sigmoid(self.fc(obs)))  # error: LL209
                    return log_probs.gather(1, actions), gate
        """),
        Example.keras("""
            import keras
            from keras import layers, ops

            inputs = keras.Input(shape=(64,))
            probs = layers.Dense(10, activation="softmax")(inputs)
            log_probs = ops.log(probs)  # error: LL209
            model = keras.Model(inputs, log_probs)
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            train_graph (float[N, 64] x, int64[N] labels) => (float loss)
            <float[10, 64] w, float[10] b>
            {
               logits = Gemm <transB: int = 1> (x, w, b)
               probs = Softmax <axis: int = 1> (logits)
               logp = Log (probs)  # error: LL209
               loss = NegativeLogLikelihoodLoss (logp, labels)
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Policy(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(16, 4)

                def forward(self, obs):
                    logits = self.fc(obs)
                    log_probs = F.log_softmax(logits, dim=-1)
                    entropy = -(log_probs.exp() * log_probs).sum(-1)
                    return log_probs, F.logsigmoid(logits), torch.log(obs.abs() + 1)
        """),
        Example.keras("""
            import keras
            from keras import layers, ops

            inputs = keras.Input(shape=(64,))
            log_probs = ops.log_softmax(layers.Dense(10)(inputs))
            model = keras.Model(inputs, log_probs)
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            train_graph (float[N, 64] x, int64[N] labels) => (float loss)
            <float[10, 64] w, float[10] b>
            {
               logits = Gemm <transB: int = 1> (x, w, b)
               logp = LogSoftmax <axis: int = 1> (logits)
               loss = NegativeLogLikelihoodLoss (logp, labels)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for log in graph.of_kind(Kind.OPAQUE):
            if log.info.function not in _CONSEQUENCE:
                continue
            for squash in graph.previous_layers(log):
                if squash.kind is Kind.SOFTMAX and not squash.info.log:
                    fused = "log_softmax"
                elif is_sigmoid(squash):
                    fused = "logsigmoid"
                else:
                    continue
                yield self.report(log, related=(squash,), autofix=_fix(graph, log, squash),
                                  squash=f"`{squash.label}`", fused=fused,
                                  consequence=_CONSEQUENCE[log.info.function])


# What goes wrong, by the log's form: bare, or guarded by an added epsilon
# (``torch.log(p + 1e-8)``), which cannot reach -inf but caps the log.
_CONSEQUENCE = {
    "log": ": it underflows to -inf (NaN gradients) once a logit trails the largest by "
           "about 104 in float32",
    "guarded_log": " with an epsilon, which avoids -inf but caps the log at log(eps): a "
                   "confidently wrong example then gets almost no gradient",
}


def _fix(graph: LayerGraph, log: Layer, softmax: Layer) -> Fix | None:
    """``torch.log(F.softmax(x, dim))`` -> ``F.log_softmax(x, dim)``, one expression."""
    if graph.successors(softmax) != [log]:
        return None
    # the softmax call is the log's argument itself, ``torch.log(F.softmax(...))``: a
    # softmax kept in a variable may have other uses that renaming would change
    start = log.location.column + len(log.label) + 1
    if (softmax.location.line, softmax.location.column) != (log.location.line, start):
        return None
    return Fix.fuse_log(log, softmax, safe=True)
