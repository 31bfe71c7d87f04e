from __future__ import annotations

from collections.abc import Iterator

from layerlint.fix import Fix
from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._common import (
    active_dropout,
    blocks,
    describe_from,
    layer_ref,
    tracks_running_stats,
)


class DropoutBeforeBatchnorm(Rule):
    """## What it does
    Reports a dropout whose output reaches a batchnorm while training, directly or
    through any layers in between (weighted layers, activations, residual adds,
    concatenations, the next block). The finding is at the dropout and names the
    first batchnorm it reaches.

    ## Why is this bad?
    While training, dropout scales the activations it keeps by 1/(1-p), so the
    variance of its output is larger than at test time, when dropout is off. The
    batchnorm downstream accumulates its running variance from those training-time
    activations and uses it at test time, when its input variance is smaller: its
    statistics do not match its test-time input ("variance shift", Li et al.). For
    zero-mean inputs directly after the dropout the mismatch factor is 1/(1-p): 2 at
    p=0.5, 1.11 at p=0.1. Li et al. report large accuracy losses in deep CIFAR
    networks with dropout 0.5 in every block. The usual remedy is to apply dropout
    only after the last batchnorm, right before the classifier.

    ## Known problems
    - Whether the mismatch costs accuracy depends on depth, width and the dropout
      rate; in a shallow network it may cost nothing (see Evidence). Small rates
      (p <= 0.1) give a small shift and are still reported.
    - Some published designs put dropout before a batchnorm on purpose (Chen et al.
      2019's IC layer, ReLU -> BN -> Dropout -> Weight, reaches the next batchnorm).
    - A dropout or batchnorm that is only switched on or off at run time (a module
      put in eval mode while training) cannot be seen in source and is reported as
      written. A dropout with a literal `training=False` or a literal rate of 0, and
      a batchnorm that keeps no running statistics (`track_running_stats=False`) or
      uses fixed ones (`training=False`), are not reported.

    ## Fix safety
    Unsafe (applied with `--unsafe-fixes`): when the dropout and the last batchnorm
    it reaches are elements of one literal `nn.Sequential(...)` or
    `keras.Sequential([...])`, the fix moves the dropout right after that batchnorm.
    No fix is offered when a dropout already follows that batchnorm (the two would
    stack), or when the move would not resolve the finding (a block built in a loop,
    whose dropout reaches the next block's batchnorm wherever it sits in the block).
    Moving it changes the model's training behaviour and its results, and renumbers
    the state dict keys of a torch Sequential, so old checkpoints no longer load as
    they are. Recalibrating the batchnorm statistics with dropout off after training
    (Hendrycks & Gimpel) removes the shift without moving anything.

    ## Evidence
    The CPU pilot in the evidence protocol measured the mechanism exactly: with
    dropout p=0.5 directly before a batchnorm (2-block MLP on a 5,000-image MNIST
    subset, 10 seeds), the batchnorm's running variance was 2.18 times (range
    2.11-2.24) the variance of its test-time input, against 2.19 predicted. The harm
    was not shown there: test accuracy did not differ from the remedy (+0.12 pp, 95%
    CI -0.22..+0.46) and test NLL was slightly *lower* with the anti-pattern. In a
    4-block MLP with a dropout before every batchnorm, accuracy was 1.28 pp lower
    (CI -2.23..-0.34), but recalibrating the batchnorm statistics did not recover
    it, so that loss came from the extra dropout layers rather than from the shift
    itself. A faithful replication of the published harm needs a deep CNN.
    `layerlint verify LL101` re-runs the measurement.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds; `layerlint explain` shows it, `layerlint verify LL101` re-runs
    it): in a 2-block MLP with dropout 0.5 directly before the second batchnorm, its
    running variance was 2.17 times (range 2.01-2.31) the test-time input variance,
    against 1.00 for the remedy (first-case prediction 2.25). Test NLL was 0.019
    nats higher (95% CI +0.013..+0.026), and re-estimating the batchnorm statistics
    with dropout off lowered it by 0.029 (CI +0.023..+0.035), so on this data the
    shift itself cost calibration; test accuracy was equivalent (+0.02 pp, CI
    -0.33..+0.37). So: a real statistics mismatch, a small calibration cost, no
    accuracy cost shown.

    ## References
    - X. Li, S. Chen, X. Hu, J. Yang, "Understanding the Disharmony between Dropout
      and Batch Normalization by Variance Shift", CVPR 2019 (arXiv:1801.05134).
    - D. Hendrycks, K. Gimpel, "Adjusting for Dropout Variance in Batch Normalization
      and Weight Initialization", arXiv:1607.02488.
    - G. Chen et al., "Rethinking the Usage of Batch Normalization and Dropout in the
      Training of Deep Neural Networks", arXiv:1905.05928.
    """

    code = "LL101"
    name = "dropout-before-batchnorm"
    needs = frozenset({Kind.DROPOUT, Kind.BATCHNORM})
    message = (
        "{dropout} reaches batchnorm {batchnorm} while training; "
        "move the dropout after the last batchnorm"
    )

    invalid = (
        Example.pytorch("""
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, cin, cout):
                    super().__init__()
                    self.bn1 = nn.BatchNorm2d(cin)
                    self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
                    self.dropout = nn.Dropout(p=0.3)  # error: LL101
                    self.bn2 = nn.BatchNorm2d(cout)
                    self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)

                def forward(self, x):
                    out = self.conv1(self.bn1(x).relu())
                    out = self.dropout(out)
                    out = self.conv2(self.bn2(out).relu())
                    return out
        """),
        Example.pytorch("""
            import torch.nn as nn

            mlp = nn.Sequential(
                nn.Linear(784, 256),
                nn.Dropout(0.5),  # error: LL101
                nn.BatchNorm1d(256),
                nn.ReLU(),
                nn.Linear(256, 10),
            )
        """),
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(64, 128)
                    self.fc2 = nn.Linear(128, 128)
                    self.bn = nn.BatchNorm1d(128)
                    self.head = nn.Linear(128, 10)

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    x = F.dropout(x, p=0.2, training=self.training)  # error: LL101
                    x = F.relu(self.bn(self.fc2(x)))
                    return self.head(x)
        """),
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class WideBasic(nn.Module):
                def __init__(self, planes, drop_rate=0.3):
                    super().__init__()
                    self.bn1 = nn.BatchNorm2d(planes)
                    self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
                    self.bn2 = nn.BatchNorm2d(planes)
                    self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
                    self.dropout = nn.Dropout(drop_rate)  # error: LL101

                def forward(self, x):
                    out = self.conv1(F.relu(self.bn1(x)))
                    out = self.conv2(F.relu(self.bn2(out)))
                    return x + self.dropout(out)

            class WideResNet(nn.Module):
                def __init__(self, num_classes=10):
                    super().__init__()
                    self.stem = nn.Conv2d(3, 64, 3, padding=1, bias=False)
                    self.layer1 = nn.Sequential(WideBasic(64), WideBasic(64))
                    self.bn = nn.BatchNorm2d(64)
                    self.fc = nn.Linear(64, num_classes)

                def forward(self, x):
                    out = self.layer1(self.stem(x))
                    out = F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1)
                    return self.fc(out.flatten(1))
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Dense(256, activation="relu"),
                layers.Dropout(0.5),  # error: LL101
                layers.BatchNormalization(),
                layers.Dense(10, activation="softmax"),
            ])
        """),
        Example.keras("""
            import keras
            from keras import layers

            class DenseBlock(layers.Layer):
                def __init__(self, units, rate=0.3):
                    super().__init__()
                    self.dense = layers.Dense(units, use_bias=False)
                    self.drop = layers.Dropout(rate)  # error: LL101
                    self.bn = layers.BatchNormalization()

                def call(self, x, training=False):
                    x = self.drop(self.dense(x), training=training)
                    return keras.activations.relu(self.bn(x, training=training))
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            mlp (float[N, 64] x) => (float[N, 10] y)
            <float[64, 128] w1, float[128] s, float[128] b, float[128] m, float[128] v,
             float[128, 10] w2, float p = {0.3}, bool train = {1}>
            {
                h = MatMul (x, w1)
                d, mask = Dropout (h, p, train)  # error: LL101
                n = BatchNormalization <training_mode: int = 1> (d, s, b, m, v)
                r = Relu (n)
                y = MatMul (r, w2)
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            classifier = nn.Sequential(
                nn.Linear(784, 256),
                nn.BatchNorm1d(256),
                nn.ReLU(),
                nn.Linear(256, 256),
                nn.BatchNorm1d(256),
                nn.ReLU(),
                nn.Dropout(0.5),
                nn.Linear(256, 10),
            )
        """),
        Example.pytorch("""
            import torch.nn as nn

            class TransformerBlock(nn.Module):
                def __init__(self, dim, heads):
                    super().__init__()
                    self.norm1 = nn.LayerNorm(dim)
                    self.attn = nn.MultiheadAttention(dim, heads)
                    self.drop1 = nn.Dropout(0.1)
                    self.norm2 = nn.LayerNorm(dim)
                    self.mlp = nn.Sequential(
                        nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
                    )
                    self.drop2 = nn.Dropout(0.1)

                def forward(self, x):
                    h = self.norm1(x)
                    x = x + self.drop1(self.attn(h, h, h)[0])
                    x = x + self.drop2(self.mlp(self.norm2(x)))
                    return x
        """),
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(64, 128)
                    self.bn = nn.BatchNorm1d(128)

                def forward(self, x):
                    x = F.dropout(x, p=0.2, training=False)
                    return F.relu(self.bn(self.fc1(x)))
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Dense(256, use_bias=False),
                layers.BatchNormalization(),
                layers.Activation("relu"),
                layers.Dropout(0.5),
                layers.Dense(10, activation="softmax"),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            mlp (float[N, 64] x) => (float[N, 10] y)
            <float[64, 128] w1, float[128] s, float[128] b, float[128] m, float[128] v,
             float[128, 10] w2, float p = {0.3}, bool train = {1}>
            {
                h = MatMul (x, w1)
                n = BatchNormalization <training_mode: int = 1> (h, s, b, m, v)
                r = Relu (n)
                d, mask = Dropout (r, p, train)
                y = MatMul (d, w2)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for dropout in graph.of_kind(Kind.DROPOUT):
            if not active_dropout(dropout):
                continue
            batchnorm = next(
                (layer for layer in graph.reachable(dropout)
                 if layer.kind is Kind.BATCHNORM and tracks_running_stats(layer)),
                None,
            )
            if batchnorm is not None:
                inside, reached = blocks(dropout, batchnorm)
                yield self.report(
                    dropout, related=(batchnorm,),
                    autofix=_move_after_last_batchnorm(graph, dropout),
                    dropout=layer_ref(dropout) + inside,
                    batchnorm=describe_from(batchnorm, dropout) + reached,
                )


def _move_after_last_batchnorm(graph: LayerGraph, dropout: Layer) -> Fix | None:
    """Move the dropout after the batchnorm that no other reached batchnorm leads to.

    The source fixer applies it only inside one literal Sequential; unsafe, because it
    renumbers a torch Sequential's state_dict keys and changes training.
    """
    reached = [lay for lay in graph.reachable(dropout) if lay.kind is Kind.BATCHNORM]
    last = {lay.location for lay in reached
            if not any(other.kind is Kind.BATCHNORM for other in graph.reachable(lay))}
    if len(last) != 1:
        return None
    anchor = next(lay for lay in reached if lay.location in last)
    # a dropout already after that batchnorm: moving this one there would stack two
    beyond = graph.next_layers(anchor, skip=(Kind.SHAPE, Kind.ACTIVATION, Kind.POOL))
    if any(lay.kind is Kind.DROPOUT and lay is not dropout for lay in beyond):
        return None
    return Fix.move(dropout, anchor, safe=False)
