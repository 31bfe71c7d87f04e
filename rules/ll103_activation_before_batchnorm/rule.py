from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, LayerGraph
from layerlint.rule import Example, Finding, Rule, Severity
from layerlint.rules._common import describe_from, layer_ref


class ActivationBeforeBatchnorm(Rule):
    """## What it does
    Reports a weighted layer -> activation -> batchnorm chain (only shape-only
    layers in between), including a Keras layer with `activation=` that feeds a
    `BatchNormalization`. The finding is at the activation. Off by default
    (opt-in, informational).

    ## Why is this bad?
    It may not be. The original batch normalization paper adds the batchnorm
    "immediately before the nonlinearity", normalizing the weighted layer's output,
    and most reference architectures (ResNet, DenseNet's BN-ReLU-Conv, torchvision's
    `Conv2dNormActivation`) follow weighted layer -> batchnorm -> activation. Others
    normalize after the activation and report results at least as good. The rule
    exists for code bases that want one consistent convention.

    ## Known problems
    The practice is contested and the public comparisons disagree (see Evidence);
    this finding is a style note, not a defect. Enable it with
    `--extend-select LL103`.

    ## Fix safety
    Swapping the activation and the batchnorm changes the function the network
    computes; trained weights are not interchangeable.

    ## Evidence
    Not piloted. The public numbers conflict and are single runs without
    confidence intervals: in one benchmark (ImageNet at 128 px) batchnorm *after*
    ReLU scored better for CaffeNet (top-1 0.499 vs 0.474) and worse for GoogLeNet
    (0.596 vs 0.607). Chen et al. 2019 argue against batchnorm before ReLU;
    F. Chollet noted that code by one of the batchnorm authors applies ReLU before
    batchnorm. `layerlint verify LL103` compares both orders over several seeds.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 8 seeds; `layerlint explain` shows it, `layerlint verify LL103` re-runs
    it): not supported. In a small CNN the flagged order Conv -> ReLU -> BN was not
    less accurate (0.25 pp more accurate, 95% CI from 0.77 pp more to 0.27 pp less:
    inconclusive) and had *lower* test NLL (by 0.027 nats, CI 0.020..0.035:
    contradicted). Keep this rule informational.

    ## References
    - S. Ioffe, C. Szegedy, "Batch Normalization", ICML 2015 (arXiv:1502.03167).
    - D. Mishkin, caffenet-benchmark, `batchnorm.md`
      (https://github.com/ducha-aiki/caffenet-benchmark).
    - keras-team/keras#1802 (discussion of the order).
    - G. Chen et al., "Rethinking the Usage of Batch Normalization and Dropout in
      the Training of Deep Neural Networks", arXiv:1905.05928.
    """

    code = "LL103"
    name = "activation-before-batchnorm"
    needs = frozenset({Kind.BATCHNORM})
    default_enabled = False
    severity = Severity.INFO
    message = (
        "activation {activation} is applied between weighted layer {weighted} and "
        "batchnorm {batchnorm}; the common order is weighted layer -> batchnorm -> "
        "activation (a contested convention)"
    )

    invalid = (
        Example.pytorch("""
            import torch.nn as nn

            block = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1),
                nn.ReLU(),  # error: LL103
                nn.BatchNorm2d(32),
                nn.Conv2d(32, 32, 3, padding=1),
            )
        """),
        Example.pytorch("""
            import torch
            import torch.nn as nn

            class Tabular(nn.Module):
                def __init__(self, n_in, n_hidden):
                    super().__init__()
                    self.fc = nn.Linear(n_in, n_hidden)
                    self.bn = nn.BatchNorm1d(n_hidden)
                    self.out = nn.Linear(n_hidden, 1)

                def forward(self, x):
                    h = torch.relu(self.fc(x))  # error: LL103
                    return self.out(self.bn(h))
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Conv2D(64, 3, activation="relu"),  # error: LL103
                layers.BatchNormalization(),
                layers.GlobalAveragePooling2D(),
                layers.Dense(10),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            block (float[N, 3, 32, 32] x) => (float[N, 16, 30, 30] y)
            <float[16, 3, 3, 3] w, float[16] s, float[16] b, float[16] m, float[16] v>
            {
                c = Conv <kernel_shape: ints = [3, 3]> (x, w)
                a = Relu (c)  # error: LL103
                y = BatchNormalization <training_mode: int = 1> (a, s, b, m, v)
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            block = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1, bias=False),
                nn.BatchNorm2d(32),
                nn.ReLU(),
                nn.Conv2d(32, 32, 3, padding=1),
            )
        """),
        Example.pytorch("""
            import torch.nn as nn

            class DenseLayer(nn.Module):
                def __init__(self, cin, growth):
                    super().__init__()
                    self.norm = nn.BatchNorm2d(cin)
                    self.relu = nn.ReLU(inplace=True)
                    self.conv = nn.Conv2d(cin, growth, 3, padding=1, bias=False)

                def forward(self, x):
                    return self.conv(self.relu(self.norm(x)))
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Conv2D(64, 3, use_bias=False),
                layers.BatchNormalization(),
                layers.Activation("relu"),
                layers.GlobalAveragePooling2D(),
                layers.Dense(10),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            block (float[N, 3, 32, 32] x) => (float[N, 16, 30, 30] y)
            <float[16, 3, 3, 3] w, float[16] s, float[16] b, float[16] m, float[16] v>
            {
                c = Conv <kernel_shape: ints = [3, 3]> (x, w)
                n = BatchNormalization <training_mode: int = 1> (c, s, b, m, v)
                y = Relu (n)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for activation in graph.of_kind(Kind.ACTIVATION):
            before = graph.previous_layers(activation)
            if len(before) != 1 or before[0].kind is not Kind.WEIGHTED:
                continue
            batchnorm = next(
                (lay for lay in graph.next_layers(activation) if lay.kind is Kind.BATCHNORM),
                None)
            if batchnorm is not None:
                yield self.report(
                    activation, related=(before[0], batchnorm),
                    activation=layer_ref(activation), weighted=describe_from(before[0], activation),
                    batchnorm=describe_from(batchnorm, activation),
                )
