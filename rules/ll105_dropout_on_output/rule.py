from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, Layer, LayerGraph, Role
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._common import (
    active_dropout,
    describe_from,
    layer_ref,
    present_with,
    upstream,
)

# The walk from a dropout to the model output stops at these: after a weighted or
# unknown layer the output is no longer the dropped tensor itself, and after a merge
# (a residual add, a concatenation) only one branch of it is dropped.
_STOP = frozenset({Kind.WEIGHTED, Kind.OPAQUE, Kind.MERGE})


class DropoutOnOutput(Rule):
    """## What it does
    Reports a dropout applied to the model's final output, after the last weighted
    layer, and a dropout directly before a softmax or sigmoid. The finding is at
    the dropout.

    ## Why is this bad?
    Dropout regularizes the features a later weighted layer learns from. Applied to
    the output itself, there is nothing after it to learn robustness: it only
    zeroes random logits (or probabilities) while training and rescales the rest
    by 1/(1-p), so the loss sees corrupted predictions, and the model trains on a
    different output distribution from the one it produces at test time. Before a
    softmax or sigmoid the same holds for the logits. The usual place is before the
    last weighted layer (`Dropout -> Linear`), as in AlexNet, VGG and most
    classification heads.

    ## Known problems
    - The first case is only checked where the frontend knows the graph is a whole
      model (not a block whose output feeds further layers elsewhere).
    - A dropout on a residual branch whose sum is the output (`x + drop(f(x))`, the
      transformer block pattern) is not reported: the output is not dropped as a
      whole.
    - A path to the output that exists only in another configuration (a head
      written `nn.Linear(...) if num_classes > 0 else nn.Identity()`, where the
      Identity alternative makes the model a feature extractor) is not reported.
    - Dropping logits acts a little like label noise and may be deliberate.

    ## Fix safety
    Moving or removing the dropout changes training behaviour; it is not an
    automatic fix.

    ## Evidence
    No primary study was found that measures this, and it has not been piloted
    yet: the claim that it costs accuracy or calibration is unverified. `layerlint
    verify LL105` compares a dropout on the logits with a dropout before the last
    linear layer (test NLL over several seeds).

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds; `layerlint explain` shows it, `layerlint verify LL105` re-runs
    it): in a small MLP, dropout 0.5 on the logits raised test NLL by 0.038 nats
    against the same dropout before the last linear layer (95% CI +0.033..+0.043);
    accuracy was not resolved (0.29 pp higher, CI from 0.71 pp higher to 0.14 pp
    lower); at p=0.2 test NLL was equivalent (+0.001, CI -0.002..+0.004).

    ## References
    - N. Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
      Overfitting", JMLR 15 (2014): dropout is applied to hidden (and input) units.
    """

    code = "LL105"
    name = "dropout-on-output"
    needs = frozenset({Kind.DROPOUT})
    message = "{dropout} {where}: it randomly zeroes the {what} while training; {fix}"

    invalid = (
        Example.pytorch("""
            import torch.nn as nn

            class Classifier(nn.Module):
                def __init__(self, n_in, n_classes):
                    super().__init__()
                    self.fc1 = nn.Linear(n_in, 256)
                    self.fc2 = nn.Linear(256, n_classes)
                    self.drop = nn.Dropout(0.5)  # error: LL105

                def forward(self, x):
                    x = self.fc1(x).relu()
                    x = self.fc2(x)
                    return self.drop(x)
        """),
        Example.pytorch("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Scorer(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(32, 1)

                def forward(self, x):
                    logit = self.fc(x)
                    logit = F.dropout(logit, 0.2, self.training)  # error: LL105
                    return torch.sigmoid(logit)
        """),
        Example.keras("""
            import keras
            from keras import layers

            inputs = keras.Input(shape=(784,))
            x = layers.Dense(256, activation="relu")(inputs)
            x = layers.Dense(10)(x)
            x = layers.Dropout(0.3)(x)  # error: LL105
            outputs = layers.Softmax()(x)
            model = keras.Model(inputs, outputs)
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            classifier (float[N, 512] x) => (float[N, 10] y)
            <float[10, 512] w, float[10] b, float p = {0.5}, bool train = {1}>
            {
                logits = Gemm <transB: int = 1> (x, w, b)
                y, mask = Dropout (logits, p, train)  # error: LL105
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            class Classifier(nn.Module):
                def __init__(self, n_in, n_classes):
                    super().__init__()
                    self.fc1 = nn.Linear(n_in, 256)
                    self.drop = nn.Dropout(0.5)
                    self.fc2 = nn.Linear(256, n_classes)

                def forward(self, x):
                    x = self.drop(self.fc1(x).relu())
                    return self.fc2(x)
        """),
        Example.pytorch("""
            import torch.nn as nn

            class Attention(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.qkv = nn.Linear(dim, 3 * dim)
                    self.attn_drop = nn.Dropout(0.1)
                    self.proj = nn.Linear(dim, dim)

                def forward(self, x):
                    q, k, v = self.qkv(x).chunk(3, dim=-1)
                    attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
                    attn = self.attn_drop(attn)
                    return self.proj(attn @ v)
        """),
        Example.pytorch("""
            import torch.nn as nn

            class ResidualMLP(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)
                    self.drop = nn.Dropout(0.1)

                def forward(self, x):
                    return x + self.drop(self.fc(x).relu())
        """),
        Example.keras("""
            import keras
            from keras import layers

            inputs = keras.Input(shape=(784,))
            x = layers.Dense(256, activation="relu")(inputs)
            x = layers.Dropout(0.3)(x)
            outputs = layers.Dense(10, activation="softmax")(x)
            model = keras.Model(inputs, outputs)
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            classifier (float[N, 512] x) => (float[N, 10] y)
            <float[10, 512] w, float[10] b, float p = {0.5}, bool train = {1}>
            {
                d, mask = Dropout (x, p, train)
                y = Gemm <transB: int = 1> (d, w, b)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for dropout in graph.of_kind(Kind.DROPOUT):
            if not active_dropout(dropout):
                continue
            squash = next((lay for lay in graph.next_layers(dropout) if _is_squash(lay)), None)
            if squash is not None:
                yield self.report(
                    dropout, related=(squash,), dropout=layer_ref(dropout),
                    where=f"feeds {_squash_name(squash)} {describe_from(squash, dropout)} directly",
                    what="logits", fix="apply it before the last weighted layer instead",
                )
                continue
            if graph.role is not Role.MODEL:
                continue
            output = _output_reached(graph, dropout)
            weighted = next(
                (lay for lay in upstream(graph, dropout) if lay.kind is Kind.WEIGHTED), None)
            if output is None or weighted is None:
                continue
            where = ("is applied to the model output after its last weighted layer "
                     + describe_from(weighted, dropout))
            yield self.report(
                dropout, related=(weighted,), dropout=layer_ref(dropout), where=where,
                what="outputs", fix="apply it before the last weighted layer instead",
            )


def _is_squash(layer: Layer) -> bool:
    return layer.kind is Kind.SOFTMAX or (
        layer.kind is Kind.ACTIVATION and layer.info.activation == "sigmoid")


def _squash_name(layer: Layer) -> str:
    if layer.kind is Kind.ACTIVATION:
        return "sigmoid"
    return "log-softmax" if layer.info.log else "softmax"


def _output_reached(graph: LayerGraph, dropout: Layer) -> Layer | None:
    """The first graph output the dropout's output reaches unchanged by weights or merges."""
    if graph.is_output(dropout):
        return dropout

    def unchanged(layer: Layer) -> bool:
        # A layer under a condition the dropout does not share is an alternative
        # configuration (`nn.Linear(...) if num_classes else nn.Identity()`): in the
        # configuration with a classifier, the output is not the dropped tensor.
        return layer.kind not in _STOP and present_with(layer, dropout)

    return next(
        (lay for lay in graph.reachable(dropout, unchanged)
         if unchanged(lay) and graph.is_output(lay)),
        None,
    )
