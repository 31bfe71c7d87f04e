from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._common import active_dropout, describe_from

# Kinds that may be a gap, depending on the activation.
_CANDIDATES = frozenset({Kind.DROPOUT, Kind.POOL})


class BatchnormActivationGap(Rule):
    """## What it does
    Reports a batchnorm whose output passes, before it reaches its activation,
    through a layer that does not commute with that activation, so that the order
    changes the function. The finding is at the batchnorm and names the layer in
    between and the activation.

    The gaps are: a dropout before an activation that is not positively
    homogeneous (anything but ReLU, LeakyReLU, PReLU); an average or Lp pooling
    before any activation; a max pooling before a non-monotone activation (GELU,
    SiLU/Swish, Mish, Hardswish). Shape-only layers between the batchnorm and the
    activation are not gaps, and neither are residual adds and concatenations: the
    check follows the batchnorm's own branch up to its activation, and a merge ends
    it (the activation after a merge belongs to the combined tensor).

    ## Why is this bad?
    The canonical order is weighted layer -> batchnorm -> activation (Ioffe &
    Szegedy put the batchnorm "immediately before the nonlinearity"). When a layer
    that does not commute with the activation sits in between, the network
    computes a different function from the canonical block, usually by accident
    (a reordered `nn.Sequential`, a pooling moved up). Combinations that commute
    exactly are not reported, because the two orders are the same function:
    BN -> Dropout -> ReLU equals BN -> ReLU -> Dropout (`relu(m*x) == m*relu(x)`
    for a mask `m >= 0`), and BN -> MaxPool -> ReLU equals BN -> ReLU -> MaxPool
    (max pooling commutes with every non-decreasing function).

    ## Known problems
    - A non-canonical order can be deliberate; the rule says the function differs,
      not that it is worse.
    - `AlphaDropout` and Keras `GaussianDropout` do not multiply by a non-negative
      mask, so strictly they do not commute with ReLU either; they are treated like
      any dropout.
    - Only the first gap found from each batchnorm is reported.
    - A gap followed or preceded by a residual add or concatenation is not
      reported: the activation after the merge is not this batchnorm's alone, and
      moving it would change the architecture (NASNet's cells average-pool
      batchnorm outputs and sum them before the next cell's ReLU, by design).

    ## Fix safety
    Moving the activation next to the batchnorm changes the function the network
    computes (that is the point), so trained weights are not interchangeable.

    ## Evidence
    Deterministic checks in the evidence pilot confirmed which pairs commute: max
    pooling with ReLU, LeakyReLU, ELU and sigmoid gave a difference of exactly 0;
    dropout with ReLU and LeakyReLU (same mask) at most 7e-9; dropout with ELU,
    GELU or sigmoid, max pooling with GELU, and average pooling with every
    activation did not commute (differences 0.12-1.08). Whether a non-commuting
    order trains worse was not piloted. `layerlint verify LL102` re-runs the
    commutation check and a training comparison.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 8 seeds; `layerlint explain` shows it, `layerlint verify LL102` re-runs
    it): a small CNN with BN -> AvgPool -> ELU had 0.023 nats higher test NLL than
    BN -> ELU -> AvgPool (95% CI +0.017..+0.029) and 0.44 pp lower accuracy (CI
    +0.02..+0.87); the exempted pairs (max pooling with monotone activations,
    dropout with ReLU/LeakyReLU) commute exactly.

    ## References
    - S. Ioffe, C. Szegedy, "Batch Normalization: Accelerating Deep Network
      Training by Reducing Internal Covariate Shift", ICML 2015 (arXiv:1502.03167),
      Sec. 3.2.
    """

    code = "LL102"
    name = "batchnorm-activation-gap"
    needs = frozenset({Kind.DROPOUT, Kind.BATCHNORM})
    message = (
        "batchnorm `{batchnorm}` passes through {gap} before its activation {activation}; "
        "{reason}, so this order changes the function: apply the activation directly "
        "after the batchnorm"
    )

    invalid = (
        Example.pytorch("""
            import torch.nn as nn

            features = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1, bias=False),
                nn.BatchNorm2d(32),  # error: LL102
                nn.AvgPool2d(2),
                nn.ReLU(inplace=True),
                nn.Conv2d(32, 64, 3, padding=1),
            )
        """),
        Example.pytorch("""
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim, bias=False)
                    self.bn = nn.BatchNorm1d(dim)  # error: LL102
                    self.drop = nn.Dropout(0.3)
                    self.act = nn.GELU()

                def forward(self, x):
                    return self.act(self.drop(self.bn(self.fc(x))))
        """),
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Stem(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(3, 24, 3, stride=2, bias=False)
                    self.bn = nn.BatchNorm2d(24)  # error: LL102

                def forward(self, x):
                    x = F.max_pool2d(self.bn(self.conv(x)), 2)
                    return F.silu(x)
        """),
        Example.keras("""
            import keras
            from keras import layers

            inputs = keras.Input(shape=(32, 32, 3))
            x = layers.Conv2D(64, 3, use_bias=False)(inputs)
            x = layers.BatchNormalization()(x)  # error: LL102
            x = layers.Dropout(0.2)(x)
            x = layers.Activation("gelu")(x)
            model = keras.Model(inputs, x)
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            block (float[N, 3, 32, 32] x) => (float[N, 16, 15, 15] y)
            <float[16, 3, 3, 3] w, float[16] s, float[16] b, float[16] m, float[16] v>
            {
                c = Conv <kernel_shape: ints = [3, 3]> (x, w)
                n = BatchNormalization <training_mode: int = 1> (c, s, b, m, v)  # error: LL102
                p = AveragePool <kernel_shape: ints = [2, 2], strides: ints = [2, 2]> (n)
                y = Relu (p)
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim, bias=False)
                    self.bn = nn.BatchNorm1d(dim)
                    self.drop = nn.Dropout(0.3)
                    self.act = nn.ReLU()

                def forward(self, x):
                    return self.act(self.drop(self.bn(self.fc(x))))
        """),
        Example.pytorch("""
            import torch.nn as nn

            features = nn.Sequential(
                nn.Conv2d(3, 64, 3, padding=1, bias=False),
                nn.BatchNorm2d(64),
                nn.MaxPool2d(2),
                nn.ReLU(inplace=True),
                nn.Conv2d(64, 128, 3, padding=1, bias=False),
                nn.BatchNorm2d(128),
                nn.ReLU(inplace=True),
                nn.AvgPool2d(2),
            )
        """),
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class BasicBlock(nn.Module):
                def __init__(self, planes):
                    super().__init__()
                    self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
                    self.bn1 = nn.BatchNorm2d(planes)
                    self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
                    self.bn2 = nn.BatchNorm2d(planes)

                def forward(self, x):
                    out = F.relu(self.bn1(self.conv1(x)))
                    out = self.bn2(self.conv2(out))
                    out = out + x
                    return F.relu(out)
        """),
        Example.keras("""
            import keras
            from keras import layers

            inputs = keras.Input(shape=(32, 32, 3))
            x = layers.Conv2D(64, 3, use_bias=False)(inputs)
            x = layers.BatchNormalization()(x)
            x = layers.Dropout(0.2)(x)
            x = layers.ReLU()(x)
            x = layers.Conv2D(64, 3, use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.MaxPooling2D()(x)
            x = layers.Activation("relu")(x)
            model = keras.Model(inputs, x)
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            block (float[N, 3, 32, 32] x) => (float[N, 16, 15, 15] y)
            <float[16, 3, 3, 3] w, float[16] s, float[16] b, float[16] m, float[16] v>
            {
                c = Conv <kernel_shape: ints = [3, 3]> (x, w)
                n = BatchNormalization <training_mode: int = 1> (c, s, b, m, v)
                p = MaxPool <kernel_shape: ints = [2, 2], strides: ints = [2, 2]> (n)
                y = Relu (p)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for batchnorm in graph.of_kind(Kind.BATCHNORM):
            found = _first_gap(graph, batchnorm)
            if found is not None:
                gap, activation, reason = found
                yield self.report(
                    batchnorm, related=(gap, activation),
                    batchnorm=batchnorm.label, gap=_kind_ref(gap, batchnorm),
                    activation=describe_from(activation, batchnorm), reason=reason,
                )


def _first_gap(graph: LayerGraph, batchnorm: Layer) -> tuple[Layer, Layer, str] | None:
    """The first (gap, activation, reason) on a path from the batchnorm to an activation.

    Only the batchnorm's own branch counts: a residual add or concatenation ends the
    walk. The activation after a merge belongs to the combined tensor (ResNet's
    ``relu(bn2(x) + shortcut)``), so a layer before or after the merge is not a gap
    between this batchnorm and its activation, and "apply the activation right after
    the batchnorm" would change the architecture (NASNet's cells average-pool
    batchnorm outputs, sum them, and apply the next ReLU in the next cell).
    """
    queue: deque[tuple[Layer, tuple[Layer, ...]]] = deque(
        (nxt, ()) for nxt in graph.successors(batchnorm))
    seen: set[tuple[int, tuple[int, ...]]] = set()
    while queue:
        layer, gaps = queue.popleft()
        key = (layer.id, tuple(g.id for g in gaps))
        if key in seen:
            continue
        seen.add(key)
        if layer.kind is Kind.ACTIVATION:
            for gap in gaps:
                reason = _non_commuting(gap, layer)
                if reason:
                    return gap, layer, reason
            continue
        if layer.kind in _CANDIDATES:
            gaps = (*gaps, layer)
        elif layer.kind is not Kind.SHAPE:
            continue
        queue.extend((nxt, gaps) for nxt in graph.successors(layer))
    return None


def _non_commuting(gap: Layer, activation: Layer) -> str | None:
    """Why ``gap`` does not commute with ``activation``, or None if it does (or is unknown)."""
    traits = activation.info.traits
    if traits is None:
        return None
    name = activation.info.activation
    if gap.kind is Kind.DROPOUT:
        if active_dropout(gap) and not traits.positively_homogeneous:
            return f"dropout does not commute with {name}, which is not positively homogeneous"
        return None
    pool = gap.info.pool or ""
    if "avg" in pool:
        return f"average pooling does not commute with the nonlinear {name}"
    if "lp" in pool:
        return f"Lp pooling does not commute with the nonlinear {name}"
    if "max" in pool and not traits.monotone:
        return f"max pooling does not commute with {name}, which is not monotone"
    return None


def _kind_ref(layer: Layer, origin: Layer) -> str:
    what = "dropout" if layer.kind is Kind.DROPOUT else "pooling"
    return f"{what} {describe_from(layer, origin)}"
