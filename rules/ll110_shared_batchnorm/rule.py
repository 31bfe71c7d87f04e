from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.ir.condition import ALWAYS
from layerlint.rule import Example, Finding, Related, Rule
from layerlint.rules._common import tracks_running_stats


class SharedBatchnorm(Rule):
    """## What it does
    Reports one batchnorm module or layer object applied at two or more places in the
    forward pass, to different inputs.

    That is `self.bn` called on two tensors (two branches of a multi-input model), a
    Keras `bn = BatchNormalization()` applied as `bn(x1)` and `bn(x2)`, a module or
    functional submodel containing a batchnorm applied to two inputs, or one
    `self.bn` applied on every pass of a loop (`for _ in range(3): x =
    self.bn(self.conv(x))`: the same object, a different input each time; a layer
    used in a loop counts each time).

    The finding is at the second application; the first application and the
    constructor are the related locations.
    Each object is reported once. In ONNX, two `BatchNormalization` nodes that read
    the same running-mean and running-variance initializers are one layer.

    ## Why is this bad?
    A batchnorm keeps one running mean and variance. Applied to two inputs, it
    updates them from both, so they end up between the two inputs' distributions
    and match neither. In training each call normalises with its own batch's
    statistics, so nothing looks wrong; at test time both inputs are normalised with
    the mixed statistics and come out shifted and rescaled. Networks that share
    weights across inputs keep separate batchnorms for that reason: EfficientDet
    shares its head's convolutions across pyramid levels but not their batchnorms,
    and recurrent batch normalization keeps statistics per time step.

    ## Known problems
    - When both inputs come from the same distribution (two augmented views of one
      image in a siamese or contrastive model) the mixed statistics are right for
      both: suppress the finding there.
    - A batchnorm frozen in eval mode (fine-tuning with fixed statistics) is not
      updated, so sharing it does no harm; layerlint cannot see that from the model.
    - Not reported: one block class instantiated several times (each instance has its
      own batchnorm), a loop over distinct blocks, a batchnorm reached by the two
      sides of an `if`/`else` (only one runs), a batchnorm that keeps no running
      statistics (`track_running_stats=False`) or is applied in inference mode (a
      Keras layer called with `training=False`), a loop whose number of passes is not
      known (it may run once), and training code that calls a model once per step
      (each call is a forward pass of its own).

    ## Fix safety
    No automatic fix: the remedy is a second batchnorm for the second input, which
    adds parameters and `state_dict` keys, and where the second input starts (which
    call gets the new layer) is a modelling decision. Give each input its own
    batchnorm (`self.bn_a`, `self.bn_b`), or apply the shared one to the
    concatenation of the inputs if they should share statistics.

    ## Evidence
    `layerlint verify LL110` trains a two-input MLP whose inputs come from two
    different distributions (a shift and a scale apart), with one batchnorm shared by
    both inputs against one batchnorm per input (identical initial weights), and
    compares test NLL in eval mode. A mechanism row measures how far the shared
    running statistics are from each input's own statistics.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds): the shared running means were 0.61 standard deviations (95% CI
    0.57..0.65) further from each stream's own mean than with one batchnorm per
    stream; in eval mode the model with the shared batchnorm was 2.5 pp less
    accurate (CI 1.0..3.9) and its test NLL 0.077 nats higher (CI +0.055..+0.099).
    Re-estimating the statistics per stream on the flagged model's own weights
    recovered 0.079 nats (CI 0.049..0.108), so the statistics, not the second set
    of affine parameters, account for the difference. The size of the harm grows
    with how far apart the two inputs' distributions are; for two inputs from one
    distribution it is nil (see Known problems).

    ## References
    - Ioffe & Szegedy 2015, "Batch Normalization": the running averages estimate the
      statistics of the one input a batchnorm normalises.
    - Cooijmans et al. 2016, "Recurrent Batch Normalization": separate statistics per
      time step, as sharing them across steps hurt.
    - Tan, Pang & Le 2020, "EfficientDet": box and class heads share weights across
      feature levels, but not their batchnorms.
    """

    code = "LL110"
    name = "shared-batchnorm"
    message = ("batchnorm {batchnorm} is applied again here to another input ({first}): "
               "its running statistics mix both inputs' distributions and match neither "
               "at test time; give each input its own batchnorm")

    invalid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn

            class TwoViewNet(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.rgb = nn.Conv2d(3, 32, 3, bias=False)
                    self.depth = nn.Conv2d(1, 32, 3, bias=False)
                    self.bn = nn.BatchNorm2d(32)
                    self.head = nn.Linear(64, 10)

                def forward(self, rgb, depth):
                    a = torch.relu(self.bn(self.rgb(rgb)))
                    b = torch.relu(self.bn(self.depth(depth)))  # error: LL110
                    pooled = torch.cat([a.mean((2, 3)), b.mean((2, 3))], dim=1)
                    return self.head(pooled)
        """),
        Example.keras("""
            import keras
            from keras import layers

            image = keras.Input(shape=(64,))
            meta = keras.Input(shape=(64,))
            bn = layers.BatchNormalization()
            a = bn(layers.Dense(32, use_bias=False)(image))
            b = bn(layers.Dense(32, use_bias=False)(meta))  # error: LL110
            out = layers.Dense(1, activation="sigmoid")(layers.Concatenate()([a, b]))
            model = keras.Model([image, meta], out)
        """),
        Example.pytorch("""
            import torch.nn as nn

            class Refiner(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(c)

                def forward(self, x):
                    for _ in range(3):
                        x = self.bn(self.conv(x)).relu()  # error: LL110
                    return x
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 15]>
            two_inputs (float[N, 8] a, float[N, 8] b) => (float[N, 8] ya, float[N, 8] yb)
            <float[8] scale, float[8] bias, float[8] mean, float[8] var>
            {
               ya = BatchNormalization (a, scale, bias, mean, var)
               yb = BatchNormalization (b, scale, bias, mean, var)  # error: LL110
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch
            import torch.nn as nn

            class TwoViewNet(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.rgb = nn.Conv2d(3, 32, 3, bias=False)
                    self.depth = nn.Conv2d(1, 32, 3, bias=False)
                    self.bn_rgb = nn.BatchNorm2d(32)
                    self.bn_depth = nn.BatchNorm2d(32)
                    self.head = nn.Linear(64, 10)

                def forward(self, rgb, depth):
                    a = torch.relu(self.bn_rgb(self.rgb(rgb)))
                    b = torch.relu(self.bn_depth(self.depth(depth)))
                    pooled = torch.cat([a.mean((2, 3)), b.mean((2, 3))], dim=1)
                    return self.head(pooled)
        """),
        Example.keras("""
            import keras
            from keras import layers

            image = keras.Input(shape=(64,))
            meta = keras.Input(shape=(64,))
            a = layers.BatchNormalization()(layers.Dense(32, use_bias=False)(image))
            b = layers.BatchNormalization()(layers.Dense(32, use_bias=False)(meta))
            out = layers.Dense(1, activation="sigmoid")(layers.Concatenate()([a, b]))
            model = keras.Model([image, meta], out)
        """),
        Example.pytorch("""
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(c)

                def forward(self, x):
                    return self.bn(self.conv(x)).relu() + x

            class Net(nn.Module):
                def __init__(self, c, fuse):
                    super().__init__()
                    self.blocks = nn.ModuleList([Block(c) for _ in range(4)])
                    self.fuse = fuse
                    self.a = nn.Conv2d(c, c, 1, bias=False)
                    self.b = nn.Conv2d(c, c, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(c)

                def forward(self, x):
                    for blk in self.blocks:  # four blocks, four batchnorms
                        x = blk(x)
                    if self.fuse:  # only one side runs
                        return self.bn(self.a(x))
                    else:
                        return self.bn(self.b(x))
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 15]>
            two_inputs (float[N, 8] a, float[N, 8] b) => (float[N, 8] ya, float[N, 8] yb)
            <float[8] scale, float[8] bias, float[8] mean_a, float[8] var_a,
             float[8] mean_b, float[8] var_b>
            {
               ya = BatchNormalization (a, scale, bias, mean_a, var_a)
               yb = BatchNormalization (b, scale, bias, mean_b, var_b)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        objects: dict[int, list[Layer]] = {}
        for layer in graph.of_kind(Kind.BATCHNORM):
            # only applications that update the running statistics can mix them
            if layer.instance is not None and tracks_running_stats(layer):
                objects.setdefault(layer.instance, []).append(layer)
        values: dict[int, object] = {}
        for applications in objects.values():
            found = _second_application(graph, sorted(applications, key=lambda lay: lay.id),
                                        values)
            if found is None:
                continue
            first, second = found
            finding = self.report(second, related=(first,), batchnorm=f"`{second.label}`",
                                  first=_first(first, second))
            yield _at_use(finding, first, second)


def _second_application(graph: LayerGraph, applications: list[Layer],
                        values: dict[int, object]) -> tuple[Layer, Layer] | None:
    """The first application (in forward order) that can run together with an earlier
    one on another input, and that earlier one."""
    for index, second in enumerate(applications):
        for first in applications[:index]:
            if not (first.condition or ALWAYS).excludes(second.condition) and \
                    _value(graph, first, values) != _value(graph, second, values):
                return first, second
    return None


def _value(graph: LayerGraph, layer: Layer, values: dict[int, object]) -> object:
    """What a layer computes, as far as the graph tells: the same objects applied in
    the same order to the same tensors compute the same value, so a batchnorm applied
    twice to it sees one input, not two. (Iterative: graphs can be deep.)"""
    stack = [layer]
    while stack:
        current = stack[-1]
        if current.id in values:
            stack.pop()
            continue
        missing = [lay for lay in graph.predecessors(current) if lay.id not in values]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        inputs = frozenset(values[lay.id] for lay in graph.predecessors(current))
        values[current.id] = ("layer", current.id) if current.instance is None else (
            current.instance, inputs)
    return values[layer.id]


def _first(first: Layer, second: Layer) -> str:
    """Where the first application is, as the message says it."""
    if first.use is None and first.location.node:
        return f"first at node {first.location.node}"
    place, again = first.use or first.location, second.use or second.location
    if (place.path, place.line, place.column) == (again.path, again.line, again.column):
        # one call site: a module around it is applied twice, or a loop repeats it
        return "the module or loop around this call applies it more than once"
    return f"first at line {place.line}"


def _at_use(finding: Finding, first: Layer, second: Layer) -> Finding:
    """The finding at the second application (the call), and the first application and
    the constructor as related locations, when they are in the same file."""
    use = second.use
    if use is None or use.path != second.location.path or use.cell != second.location.cell:
        return finding
    related = (Related(first.use or first.location, f"{first.label}: first application"),
               Related(second.location, f"{second.label}: the batchnorm object"))
    return dataclasses.replace(finding, location=use, related=related)
