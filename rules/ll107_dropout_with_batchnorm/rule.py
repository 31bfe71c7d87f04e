from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, LayerGraph
from layerlint.rule import Example, Finding, Rule, Severity
from layerlint.rules._common import (
    active_dropout,
    blocks,
    describe_from,
    earlier_pass,
    layer_ref,
    upstream,
)


class DropoutWithBatchnorm(Rule):
    """## What it does
    Reports each dropout that comes after a batchnorm in the same model or block,
    even in the recommended order (dropout after the last batchnorm). Off by
    default (opt-in, informational). The finding is at the dropout and names the
    nearest batchnorm before it.

    ## Why is this bad?
    It may not be. Batchnorm regularizes on its own, and in some cases removes the
    need for dropout: Ioffe & Szegedy removed dropout from BN-Inception, and ResNet
    and DenseNet use none. A dropout in a batchnorm network is worth a check that
    it still helps.

    ## Known problems
    Dropout after the last batchnorm often does help (see Evidence); this is a
    prompt to measure, not a defect. Enable it with `--extend-select LL107`. A
    dropout *before* a batchnorm is LL101's concern and is reported here only when a
    batchnorm also precedes it. A batchnorm applied with fixed statistics
    (`training=False`, as a frozen base model is called) regularizes nothing and
    does not count.

    ## Fix safety
    Removing the dropout changes training; it is never automatic.

    ## Evidence
    Not piloted. The public numbers go both ways and are single runs: in one
    ImageNet benchmark (CaffeNet at 128 px, with batchnorm) a dropout of 0.2 in the
    fully connected layers beat no dropout (top-1 0.527 vs 0.513) while 0.5 did
    not (0.499). `layerlint verify LL107` compares the same network with and
    without the dropout over several seeds.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds; `layerlint explain` shows it, `layerlint verify LL107` re-runs
    it): inconclusive. In a small batchnorm MLP, dropout 0.5 after the last
    batchnorm changed test accuracy by -0.13 pp (95% CI -0.52..+0.26) and test NLL
    was equivalent (+0.003 nats, CI -0.002..+0.008); dropout 0.2 was equivalent in
    accuracy (CI -0.24..+0.46 pp).

    ## References
    - S. Ioffe, C. Szegedy, "Batch Normalization", ICML 2015 (arXiv:1502.03167).
    - D. Mishkin, caffenet-benchmark, `batchnorm.md`
      (https://github.com/ducha-aiki/caffenet-benchmark).
    """

    code = "LL107"
    name = "dropout-with-batchnorm"
    needs = frozenset({Kind.DROPOUT, Kind.BATCHNORM})
    default_enabled = False
    severity = Severity.INFO
    message = (
        "{dropout} follows batchnorm {batchnorm}; batchnorm often makes dropout "
        "unnecessary: check that it helps"
    )

    invalid = (
        Example.pytorch("""
            import torch.nn as nn

            classifier = nn.Sequential(
                nn.Linear(784, 256, bias=False),
                nn.BatchNorm1d(256),
                nn.ReLU(),
                nn.Dropout(0.5),  # error: LL107
                nn.Linear(256, 10),
            )
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Dense(128, use_bias=False),
                layers.BatchNormalization(),
                layers.ReLU(),
                layers.Dropout(0.5),  # error: LL107
                layers.Dense(10),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            net (float[N, 3, 32, 32] x) => (float[N, 10] y)
            <float[16, 3, 3, 3] w, float[16] s, float[16] b, float[16] m, float[16] v,
             float[10, 16] fc, float p = {0.5}, bool train = {1}>
            {
                c = Conv <kernel_shape: ints = [3, 3]> (x, w)
                n = BatchNormalization <training_mode: int = 1> (c, s, b, m, v)
                r = Relu (n)
                g = GlobalAveragePool (r)
                f = Flatten (g)
                d, mask = Dropout (f, p, train)  # error: LL107
                y = Gemm <transB: int = 1> (d, fc)
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            classifier = nn.Sequential(
                nn.Linear(784, 256),
                nn.ReLU(),
                nn.Dropout(0.5),
                nn.Linear(256, 10),
            )
        """),
        Example.pytorch("""
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(3, 32, 3, bias=False)
                    self.bn = nn.BatchNorm2d(32)
                    self.drop = nn.Dropout(0.0)
                    self.fc = nn.Linear(32, 10)

                def forward(self, x):
                    x = self.bn(self.conv(x)).relu().mean((2, 3))
                    return self.fc(self.drop(x))
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Dense(128, use_bias=False),
                layers.BatchNormalization(),
                layers.ReLU(),
                layers.Dense(10),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            net (float[N, 3, 32, 32] x) => (float[N, 10] y)
            <float[16, 3, 3, 3] w, float[16] s, float[16] b, float[16] m, float[16] v,
             float[10, 16] fc>
            {
                c = Conv <kernel_shape: ints = [3, 3]> (x, w)
                n = BatchNormalization <training_mode: int = 1> (c, s, b, m, v)
                r = Relu (n)
                g = GlobalAveragePool (r)
                f = Flatten (g)
                y = Gemm <transB: int = 1> (f, fc)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for dropout in graph.of_kind(Kind.DROPOUT):
            if not active_dropout(dropout):
                continue
            # a batchnorm applied with fixed statistics (``training=False``, a frozen
            # base model) adds no batch noise: it regularizes nothing
            batchnorm = next((lay for lay in upstream(graph, dropout)
                              if lay.kind is Kind.BATCHNORM
                              and lay.batchnorm.training is not False), None)
            if batchnorm is not None:
                inside, reached = blocks(dropout, batchnorm)
                yield self.report(
                    dropout, related=(batchnorm,), dropout=layer_ref(dropout) + inside,
                    batchnorm=describe_from(batchnorm, dropout)
                    + (reached or earlier_pass(batchnorm, dropout)),
                )
