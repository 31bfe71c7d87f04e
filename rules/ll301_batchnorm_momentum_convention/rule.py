from __future__ import annotations

from collections.abc import Iterator

from layerlint.ir import Kind, LayerGraph, MomentumConvention
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._common import number, op_name, tracks_running_stats


class BatchnormMomentumConvention(Rule):
    """## What it does
    Reports a batchnorm whose literal `momentum` looks like the other framework's
    convention: a PyTorch batchnorm with `momentum >= 0.5`, or a Keras (or ONNX)
    batchnorm with `momentum <= 0.5`. The finding is at the batchnorm.

    ## Why is this bad?
    The two conventions are opposite. PyTorch updates the running statistics as
    `running = (1 - momentum) * running + momentum * batch` (default 0.1); Keras
    and ONNX as `running = momentum * running + (1 - momentum) * batch` (Keras
    default 0.99). A value copied across unchanged (Keras 0.99 pasted into
    PyTorch) makes the running statistics follow almost only the last batch, so
    the model evaluates with noisy statistics; the reverse makes them nearly
    frozen at their initial values. Many ports got this wrong
    (kazuto1011/deeplab-pytorch#79, eriklindernoren/PyTorch-YOLOv3#230,
    Cadene/pretrained-models.pytorch#44, affinelayer/pix2pix-tensorflow#126).

    ## Known problems
    Which convention applies is taken from the layer's framework (PyTorch ops use
    the batch-weight convention; Keras and ONNX the running-weight one, see
    `MOMENTUM_CONVENTION` in `layerlint/ir/kinds.py`). A deliberate value in the
    flagged range (a very fast-moving average on purpose) is reported as well.
    `momentum=0.5` means the same in both conventions and is reported by both, as
    the catalog specifies, without a conversion to advise (it would be 0.5 again).
    An ONNX graph exported by PyTorch is advised on in PyTorch's terms: the value
    the user wrote in the source. A batchnorm that keeps no running statistics or uses
    fixed ones (`track_running_stats=False`, `training=False`) is not reported: its
    momentum is unused.

    ## Fix safety
    Converting the value (`1 - momentum`) changes only the running statistics, not
    the trained weights; but evaluation results change.

    ## Evidence
    Confirmed by the CPU pilot (MLP with two batchnorms on a 5,000-image MNIST
    subset, 8 seeds, weights bit-identical across arms, so the difference comes
    from the running statistics alone): PyTorch momentum 0.99 (a Keras value)
    lowered eval-mode test accuracy by 0.91 pp after 5 epochs (95% CI
    -1.64..-0.18) against the default 0.1, and by 1.45 pp after 1 epoch; 0.9 (what
    Keras `momentum=0.1` means) cost 0.66 pp. The exact equivalent of Keras 0.99,
    0.01, lagged early (its statistics still remember their initial values) and
    was close by epoch 5, so for short runs the PyTorch default 0.1 is the safer
    fix. `layerlint verify LL301` re-runs the comparison.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds; `layerlint explain` shows it, `layerlint verify LL301` re-runs
    it): a 2-batchnorm MLP, batch 50, 3 epochs, weights bit-identical across arms:
    momentum 0.99 lowered eval-mode test accuracy by 1.47 pp against 0.1 (95% CI
    +0.68..+2.25), 0.9 by 1.13 pp (CI +0.47..+1.80) and 0.01 by 1.69 pp (CI
    +1.28..+2.10); the running-variance error grew by 0.12 log units (CI
    0.11..0.14).

    ## References
    - PyTorch `torch.nn.BatchNorm2d` documentation (the momentum note).
    - Keras `keras.layers.BatchNormalization` documentation.
    - ONNX operator `BatchNormalization` (training-mode outputs).
    - pytorch/examples#289 (PyTorch 0.1 is TensorFlow 0.9).
    """

    code = "LL301"
    name = "batchnorm-momentum-convention"
    needs = frozenset({Kind.BATCHNORM})
    message = "`{batchnorm}` ({op}) has momentum={momentum}: {explanation}"

    invalid = (
        Example.pytorch("""
            import torch.nn as nn

            class ConvBlock(nn.Module):
                def __init__(self, cin, cout):
                    super().__init__()
                    self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.99)  # error: LL301
                    self.act = nn.ReLU(inplace=True)

                def forward(self, x):
                    return self.act(self.bn(self.conv(x)))
        """),
        Example.pytorch("""
            import torch.nn as nn

            head = nn.Sequential(
                nn.Linear(512, 256, bias=False),
                nn.BatchNorm1d(256, momentum=0.9),  # error: LL301
                nn.ReLU(),
                nn.Linear(256, 10),
            )
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Conv2D(32, 3, use_bias=False),
                layers.BatchNormalization(momentum=0.1),  # error: LL301
                layers.ReLU(),
                layers.Conv2D(32, 3, use_bias=False),
                layers.BatchNormalization(-1, 0.01),  # error: LL301
                layers.ReLU(),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            block (float[N, 3, 32, 32] x) => (float[N, 16, 30, 30] y)
            <float[16, 3, 3, 3] w, float[16] s, float[16] b, float[16] m, float[16] v>
            {
                c = Conv <kernel_shape: ints = [3, 3]> (x, w)
                n = BatchNormalization <momentum: float = 0.01> (c, s, b, m, v)  # error: LL301
                y = Relu (n)
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            block = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1, bias=False),
                nn.BatchNorm2d(32, eps=1e-3, momentum=0.01),
                nn.ReLU(inplace=True),
                nn.Conv2d(32, 32, 3, padding=1, bias=False),
                nn.BatchNorm2d(32),
                nn.ReLU(inplace=True),
            )
        """),
        Example.pytorch("""
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, c, bn_momentum):
                    super().__init__()
                    self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(c, momentum=bn_momentum)
                    self.stats_free = nn.BatchNorm2d(c, momentum=0.9, track_running_stats=False)

                def forward(self, x):
                    return self.stats_free(self.bn(self.conv(x))).relu()
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Conv2D(32, 3, use_bias=False),
                layers.BatchNormalization(momentum=0.9),
                layers.ReLU(),
                layers.Conv2D(32, 3, use_bias=False),
                layers.BatchNormalization(-1, 0.99, 1e-3),
                layers.ReLU(),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            block (float[N, 3, 32, 32] x) => (float[N, 16, 30, 30] y)
            <float[16, 3, 3, 3] w, float[16] s, float[16] b, float[16] m, float[16] v>
            {
                c = Conv <kernel_shape: ints = [3, 3]> (x, w)
                n = BatchNormalization <momentum: float = 0.9> (c, s, b, m, v)
                y = Relu (n)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for batchnorm in graph.of_kind(Kind.BATCHNORM):
            attrs = batchnorm.batchnorm
            momentum, batch_weight = number(attrs.momentum), attrs.batch_weight
            # the last batch outweighing all history is the other convention's value
            if momentum is None or batch_weight is None or batch_weight < 0.5 \
                    or not tracks_running_stats(batchnorm):
                continue
            if batch_weight == 0.5:  # the same value in both: no conversion to advise
                explanation = (
                    "in either convention that gives the new batch and the running "
                    "statistics equal weight, a very fast-moving average (the defaults: "
                    "0.1 in PyTorch, 0.99 in Keras); check that it is meant"
                )
            elif attrs.source_convention is MomentumConvention.BATCH \
                    and attrs.convention is not MomentumConvention.BATCH:
                # exported from PyTorch: advise on the value the user wrote there
                explanation = (
                    f"in the PyTorch source it was exported from, that is "
                    f"momentum={batch_weight:g}, the new batch's weight (running = "
                    f"{1 - batch_weight:.3g}*running + {batch_weight:g}*batch), which is "
                    f"the Keras convention; use {1 - batch_weight:.3g} there"
                    + ("" if round(1 - batch_weight, 3) == 0.1 else " (or the default 0.1)")
                )
            elif attrs.convention is MomentumConvention.BATCH:
                explanation = (
                    f"here the new batch gets weight {momentum:g} (running = "
                    f"{1 - momentum:.3g}*running + {momentum:g}*batch), which is the Keras "
                    f"convention; use {1 - momentum:.3g} (or the default 0.1, which warms up "
                    "faster in short runs)"
                )
            else:
                explanation = (
                    f"here the running statistics keep weight {momentum:g} (running = "
                    f"{momentum:g}*running + {1 - momentum:.3g}*batch), which is the PyTorch "
                    f"convention; use {1 - momentum:.3g}"
                )
            yield self.report(
                batchnorm, batchnorm=batchnorm.label, op=op_name(batchnorm),
                momentum=attrs.momentum, explanation=explanation,
            )
