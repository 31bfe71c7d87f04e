from __future__ import annotations

from collections.abc import Iterator

from layerlint.fix import Fix
from layerlint.ir import Kind, Layer, LayerGraph
from layerlint.ir.kinds import IDENTITY_ON, OUTPUT_RANGE
from layerlint.rule import Example, Finding, Rule
from layerlint.rules._common import describe_from, layer_ref


class RepeatedActivation(Rule):
    """## What it does
    Reports an activation whose input comes straight from another activation
    (only shape-only layers in between), such as ReLU -> ReLU, or a Keras
    `Dense(activation="relu")` followed by `Activation("relu")`. The finding is at
    the second activation.

    ## Why is this bad?
    Two activations in a row are either redundant or change the function. When
    the second one is the identity on everything the first can output (ReLU after
    ReLU, ReLU6 or sigmoid; ReLU6 after ReLU6), it is wasted compute and memory.
    Otherwise the pair is a different nonlinearity from the one intended: sigmoid
    of sigmoid maps every input into (0.5, 0.731) with a maximum slope of 0.059
    instead of 0.25, and tanh, GELU or SiLU applied twice are no longer what their
    names say. The message says which of the two it is.

    ## Known problems
    A deliberately stacked pair (an activation followed by a different one on
    purpose) is reported as well; suppress it there. A function-changing pair whose
    output is multiplied with the pair's own input is a composite activation, not a
    mistake, and is not reported: Mish written as `x * tanh(softplus(x))`.

    ## Fix safety
    Removing a redundant activation keeps the function identical; removing one of
    a function-changing pair changes the model's outputs. The fix removes only a
    redundant second activation that is an element of a literal `nn.Sequential(...)`
    or `keras.Sequential([...])`; it is unsafe because it renumbers the state dict
    keys of a torch Sequential (and any code indexing it).

    ## Evidence
    Deterministic checks in the evidence pilot: applying ReLU, ReLU6 or Hardtanh
    twice gives exactly the same output as once (difference 0), while the largest
    difference between f(f(x)) and f(x) was 0.49 for sigmoid, 0.24 for tanh, 0.17
    for GELU and 0.28 for SiLU. Whether a function-changing pair trains worse was
    not piloted. `layerlint verify LL106` re-runs these checks.

    Bundled reference result (quick mode on a 2-core CPU, torch 2.13.0, scikit-learn
    digits, 10 seeds; `layerlint explain` shows it, `layerlint verify LL106` re-runs
    it): a small MLP with sigmoid applied twice in each hidden layer barely trained
    in 20 epochs: test NLL 1.86 nats higher (95% CI +1.84..+1.88), accuracy 47 pp
    lower. ReLU, ReLU6 and Hardtanh twice are exactly the same function (redundant
    compute only).

    ## References
    - The definitions of the activation functions (PyTorch `torch.nn`, Keras
      `keras.activations`).
    """

    code = "LL106"
    name = "repeated-activation"
    message = "{activation} is applied directly to the output of activation {first}; {effect}"

    invalid = (
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.features = nn.Sequential(
                        nn.Conv2d(3, 16, 3, bias=False),
                        nn.BatchNorm2d(16),
                        nn.ReLU(inplace=True),
                    )
                    self.fc = nn.Linear(16, 10)

                def forward(self, x):
                    x = F.relu(self.features(x))  # error: LL106
                    return self.fc(x.mean((2, 3)))
        """),
        Example.pytorch("""
            import torch.nn as nn

            gate = nn.Sequential(
                nn.Linear(64, 64),
                nn.Sigmoid(),
                nn.Sigmoid(),  # error: LL106
            )
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Dense(64, activation="relu"),
                layers.ReLU(),  # error: LL106
                layers.Dense(10),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            block (float[N, 3, 32, 32] x) => (float[N, 16, 30, 30] y)
            <float[16, 3, 3, 3] w, float[16] b, float lo = {0}, float hi = {6}>
            {
                c = Conv <kernel_shape: ints = [3, 3]> (x, w, b)
                a = Clip (c, lo, hi)
                y = Relu (a)  # error: LL106
            }
        """),
    )
    valid = (
        Example.pytorch("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(3, 16, 3, bias=False)
                    self.bn = nn.BatchNorm2d(16)
                    self.fc = nn.Linear(16, 10)

                def forward(self, x):
                    x = F.relu(self.bn(self.conv(x)))
                    return self.fc(x.mean((2, 3)))
        """),
        Example.pytorch("""
            import torch.nn as nn

            class BasicBlock(nn.Module):
                def __init__(self, planes):
                    super().__init__()
                    self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
                    self.bn1 = nn.BatchNorm2d(planes)
                    self.relu = nn.ReLU(inplace=True)
                    self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
                    self.bn2 = nn.BatchNorm2d(planes)

                def forward(self, x):
                    out = self.relu(self.bn1(self.conv1(x)))
                    out = self.bn2(self.conv2(out))
                    return self.relu(out + x)
        """),
        Example.keras("""
            import keras
            from keras import layers

            model = keras.Sequential([
                layers.Dense(64),
                layers.ReLU(),
                layers.Dense(10),
            ])
        """),
        Example.onnx("""
            <ir_version: 8, opset_import: ["" : 17]>
            block (float[N, 3, 32, 32] x) => (float[N, 16, 28, 28] y)
            <float[16, 3, 3, 3] w1, float[16, 16, 3, 3] w2>
            {
                c = Conv <kernel_shape: ints = [3, 3]> (x, w1)
                a = Relu (c)
                d = Conv <kernel_shape: ints = [3, 3]> (a, w2)
                y = Relu (d)
            }
        """),
    )

    def check(self, graph: LayerGraph) -> Iterator[Finding]:
        for second in graph.of_kind(Kind.ACTIVATION):
            before = graph.previous_layers(second)
            if len(before) != 1 or before[0].kind is not Kind.ACTIVATION:
                continue
            first = before[0]
            redundant = _is_redundant(first, second)
            if not redundant and _is_self_gate(graph, first, second):
                continue
            yield self.report(
                second, related=(first,),
                activation=layer_ref(second), first=describe_from(first, second),
                effect=_effect(first, second, redundant),
                autofix=Fix.remove(second, safe=False) if redundant else None,
            )


def _is_redundant(first: Layer, second: Layer) -> bool:
    """The second activation is the identity on everything the first can output."""
    out = OUTPUT_RANGE.get(first.info.activation or "")
    identity = IDENTITY_ON.get(second.info.activation or "")
    return bool(out and identity and identity[0] <= out[0] and out[1] <= identity[1])


def _is_self_gate(graph: LayerGraph, first: Layer, second: Layer) -> bool:
    """The pair is the gate of a composite activation: its output multiplies its own input.

    Mish is written ``x * tanh(softplus(x))``: the layer that consumes the second
    activation also consumes what the first one was applied to.
    """
    sources = {lay.id for lay in graph.previous_layers(first)}
    return any(
        lay.id in sources and lay.id != second.id
        for consumer in graph.next_layers(second)
        for lay in graph.previous_layers(consumer)
    )


def _effect(first: Layer, second: Layer, redundant: bool) -> str:
    f, g = first.info.activation, second.info.activation
    if redundant:
        return f"{g} is the identity on the output of {f}, so the second one is redundant"
    return (f"{g} is not the identity on the output of {f}, so the pair changes the function; "
            "remove one unless both are intended")
