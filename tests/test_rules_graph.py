"""The architecture rules on layer graphs built directly, independent of any frontend.

Each layer gets its own line (its id + 1), so a finding's line says which layer it is at.
"""

from __future__ import annotations

import pytest

from layerlint.frontends.attributes import TYPERS, pytorch_attrs
from layerlint.ir import GraphBuilder, Kind, Layer, LayerGraph, Location, Role, Unresolved
from layerlint.ir.kinds import OpInfo, activation_op
from layerlint.registry import get_rule
from layerlint.rule import Finding, Severity

nn = "torch.nn."
F = "torch.nn.functional."


class Net:
    """A graph under construction: ``add(op, *inputs, **attrs)`` returns the new layer."""

    def __init__(self, frontend: str = "pytorch") -> None:
        self.builder = GraphBuilder("Net", "model.py", frontend, TYPERS.get(frontend))

    def add(self, op: str, *inputs: Layer, label: str | None = None, info: OpInfo | None = None,
            line: int | None = None, condition: str | None = None, **attrs: object) -> Layer:
        number = line or len(self.builder.layers) + 1
        return self.builder.add(
            op, label or f"{op.rsplit('.', 1)[-1].lower()}{number}",
            Location("model.py", number, 5), inputs, info=info, attrs=attrs,
            condition=condition)

    def input(self) -> Layer:
        return self.add("input", info=OpInfo(Kind.INPUT), label="x")

    def build(self, *outputs: Layer, role: Role = Role.UNKNOWN) -> LayerGraph:
        return self.builder.build(outputs, role)


def run(code: str, graph: LayerGraph) -> list[Finding]:
    rule = get_rule(code)
    assert rule is not None, code
    return list(rule().check(graph))


def at(code: str, graph: LayerGraph) -> list[int]:
    """The lines (= layer ids + 1) of the findings of ``code`` on ``graph``."""
    return sorted(f.location.line for f in run(code, graph))


def seq(net: Net, *ops: str | tuple[str, dict]) -> list[Layer]:
    """A chain from a fresh input; each op is a name or (name, attrs)."""
    layers = [net.input()]
    for op in ops:
        name, attrs = (op, {}) if isinstance(op, str) else op
        layers.append(net.add(name, layers[-1], **attrs))
    return layers


def chain(*ops: str | tuple[str, dict], role: Role = Role.UNKNOWN,
          frontend: str = "pytorch") -> tuple[LayerGraph, list[Layer]]:
    net = Net(frontend)
    layers = seq(net, *ops)
    return net.build(layers[-1], role=role), layers


# --- LL101 dropout-before-batchnorm -----------------------------------------------------


def test_ll101_dropout_directly_before_batchnorm():
    graph, (_, fc, drop, bn, _) = chain(
        nn + "Linear", (nn + "Dropout", {"p": 0.3}), nn + "BatchNorm1d", nn + "ReLU")
    [finding] = run("LL101", graph)
    assert finding.location == drop.location
    assert finding.message == (
        "`dropout3` (Dropout, p=0.3) reaches batchnorm `batchnorm1d4` (line 4) while "
        "training; move the dropout after the last batchnorm")
    assert [r.location for r in finding.related] == [bn.location]


def test_ll101_names_the_first_batchnorm_through_layers_and_blocks():
    net = Net()
    x = net.input()
    drop = net.add(nn + "Dropout", x, p=0.5)
    fc = net.add(nn + "Linear", drop)
    act = net.add(nn + "ReLU", fc)
    add = net.add("torch.add", act, x)  # residual add
    opaque = net.add("mylib.Block", add)
    bn_near = net.add(nn + "BatchNorm2d", opaque, label="bn_near")
    net.add(nn + "BatchNorm2d", bn_near, label="bn_far")
    [finding] = run("LL101", net.build(bn_near))
    assert finding.location == drop.location
    assert "`bn_near`" in finding.message and "bn_far" not in finding.message


def test_ll101_names_the_blocks_when_they_differ():
    builder = GraphBuilder("Net", "model.py", "pytorch", pytorch_attrs)
    x = builder.add("input", "x", Location("model.py", 1, 1), info=OpInfo(Kind.INPUT))
    drop = builder.add(nn + "Dropout", "self.dropout", Location("model.py", 11, 9), [x],
                       module_path="layer1.0.dropout")
    builder.add(nn + "BatchNorm2d", "self.bn2", Location("model.py", 9, 9), [drop],
                module_path="layer1.0.bn2")
    [finding] = run("LL101", builder.build())
    assert " in `" not in finding.message
    builder.edges.pop()
    builder.add(nn + "BatchNorm2d", "self.bn1", Location("model.py", 7, 9), [drop],
                module_path="layer1.1.bn1")
    [finding] = run("LL101", builder.build())
    assert finding.message.startswith(
        "`self.dropout` (Dropout) in `layer1.0` reaches batchnorm `self.bn1` (line 7) in "
        "`layer1.1` while training")


def test_ll101_dropout_after_last_batchnorm_is_silent():
    graph, _ = chain(nn + "Linear", nn + "BatchNorm1d", nn + "ReLU", nn + "Dropout",
                     nn + "Linear")
    assert at("LL101", graph) == []


@pytest.mark.parametrize(("attrs", "reported"), [
    ({"training": False}, False),
    ({"p": 0.0}, False),
    ({"p": 0}, False),
    ({"p": Unresolved("self.drop_rate")}, True),
    ({"training": Unresolved("self.training")}, True),
    ({}, True),
])
def test_ll101_inactive_dropouts(attrs, reported):
    graph, _ = chain((F + "dropout", attrs), nn + "BatchNorm1d")
    assert at("LL101", graph) == ([2] if reported else [])


def test_ll101_unresolved_rate_is_shown_as_written():
    graph, _ = chain((nn + "Dropout", {"p": Unresolved("drop_rate")}), nn + "BatchNorm1d")
    [finding] = run("LL101", graph)
    assert finding.message.startswith("`dropout2` (Dropout, p=drop_rate) reaches")


def test_ll101_skips_batchnorms_without_running_statistics():
    graph, _ = chain(nn + "Dropout", (nn + "BatchNorm2d", {"track_running_stats": False}),
                     (F + "batch_norm", {"training": False}))
    assert at("LL101", graph) == []
    graph, _ = chain(nn + "Dropout", (nn + "BatchNorm2d", {"track_running_stats": False}),
                     nn + "Conv2d", nn + "BatchNorm2d")
    [finding] = run("LL101", graph)
    assert "`batchnorm2d5` (line 5)" in finding.message


def test_ll101_condition_is_in_the_message():
    net = Net()
    x = net.input()
    drop = net.add(nn + "Dropout", x, condition="drop_rate > 0")
    net.add(nn + "BatchNorm2d", drop)
    [finding] = run("LL101", net.build())
    assert finding.message.endswith("(when drop_rate > 0)")


# --- LL102 batchnorm-activation-gap -----------------------------------------------------


@pytest.mark.parametrize(("gap", "activation", "reported"), [
    ((nn + "Dropout", {"p": 0.5}), nn + "ReLU", False),
    ((nn + "Dropout", {"p": 0.5}), nn + "LeakyReLU", False),
    ((nn + "Dropout", {"p": 0.5}), nn + "PReLU", False),
    ((nn + "Dropout", {"p": 0.5}), nn + "GELU", True),
    ((nn + "Dropout", {"p": 0.5}), nn + "ELU", True),
    ((nn + "Dropout", {"p": 0.5}), nn + "Sigmoid", True),
    ((nn + "Dropout", {"p": 0.5}), nn + "ReLU6", True),
    ((nn + "Dropout", {"p": 0.0}), nn + "GELU", False),
    ((F + "dropout", {"training": False}), nn + "GELU", False),
    ((nn + "MaxPool2d", {}), nn + "ReLU", False),
    ((nn + "MaxPool2d", {}), nn + "ELU", False),
    ((nn + "MaxPool2d", {}), nn + "Sigmoid", False),
    ((nn + "MaxPool2d", {}), nn + "Tanh", False),
    ((nn + "AdaptiveMaxPool2d", {}), nn + "Hardsigmoid", False),
    ((nn + "MaxPool2d", {}), nn + "GELU", True),
    ((nn + "MaxPool2d", {}), nn + "SiLU", True),
    ((nn + "MaxPool2d", {}), nn + "Mish", True),
    ((nn + "MaxPool2d", {}), nn + "Hardswish", True),
    ((nn + "AvgPool2d", {}), nn + "ReLU", True),
    ((nn + "AdaptiveAvgPool2d", {}), nn + "ReLU", True),
    ((nn + "LPPool2d", {}), nn + "Tanh", True),
])
def test_ll102_gaps(gap, activation, reported):
    graph, _ = chain(nn + "Conv2d", nn + "BatchNorm2d", gap, activation)
    assert at("LL102", graph) == ([3] if reported else [])


def test_ll102_message_names_gap_and_activation():
    graph, (_, _, bn, drop, act) = chain(
        nn + "Linear", nn + "BatchNorm1d", (nn + "Dropout", {"p": 0.3}), nn + "GELU")
    [finding] = run("LL102", graph)
    assert finding.location == bn.location
    assert "dropout `dropout4` (line 4)" in finding.message
    assert "activation `gelu5` (line 5)" in finding.message
    assert [r.location for r in finding.related] == [drop.location, act.location]


def test_ll102_shape_ops_do_not_hide_a_gap():
    graph, _ = chain(nn + "BatchNorm2d", "torch.Tensor.view", nn + "AvgPool2d",
                     "torch.flatten", nn + "GELU")
    assert at("LL102", graph) == [2]


def test_ll102_residual_add_and_shape_ops_are_not_gaps():
    net = Net()
    x = net.input()
    bn = net.add(nn + "BatchNorm2d", net.add(nn + "Conv2d", x))
    add = net.add("torch.add", net.add("torch.Tensor.view", bn), x)
    net.add(nn + "GELU", net.add("torch.flatten", add))
    assert at("LL102", net.build()) == []


def test_ll102_gap_on_another_branch_of_a_merge_is_not_on_the_path():
    net = Net()
    x = net.input()
    other = net.add(nn + "AvgPool2d", x)
    bn = net.add(nn + "BatchNorm2d", x)
    net.add(nn + "ReLU", net.add("torch.cat", bn, other))
    assert at("LL102", net.build()) == []


def test_ll102_a_merge_ends_the_branch():
    # ResNet-style: the ReLU after the residual add belongs to the sum.
    net = Net()
    x = net.input()
    bn = net.add(nn + "BatchNorm2d", x)
    pool = net.add(nn + "AvgPool2d", bn)
    net.add(nn + "ReLU", net.add("torch.add", pool, x))
    assert at("LL102", net.build()) == []


def test_ll102_pooling_after_a_merge_is_not_this_batchnorms_gap():
    # NASNet cell: the sum of two ReLU -> conv -> BN branches is average-pooled, and
    # the next cell starts with a ReLU.
    net = Net()
    x = net.input()
    bn1 = net.add(nn + "BatchNorm2d", net.add(nn + "Conv2d", net.add(nn + "ReLU", x)))
    bn2 = net.add(nn + "BatchNorm2d", net.add(nn + "Conv2d", net.add(nn + "ReLU", x)))
    pool = net.add(nn + "AvgPool2d", net.add("torch.add", bn1, bn2))
    net.add(nn + "ReLU", net.add("torch.cat", pool, bn1))
    assert at("LL102", net.build()) == []


@pytest.mark.parametrize("stop", [nn + "Conv2d", nn + "BatchNorm2d", nn + "LayerNorm",
                                  "mylib.Unknown", nn + "Softmax"])
def test_ll102_other_layers_end_the_walk(stop):
    graph, _ = chain(nn + "BatchNorm2d", nn + "AvgPool2d", stop, nn + "GELU")
    assert at("LL102", graph) == []


def test_ll102_commuting_gaps_in_a_row_are_silent_and_the_first_bad_one_is_named():
    graph, _ = chain(nn + "BatchNorm2d", nn + "MaxPool2d", nn + "Dropout", nn + "ReLU")
    assert at("LL102", graph) == []
    graph, _ = chain(nn + "BatchNorm2d", nn + "Dropout", nn + "MaxPool2d", nn + "SiLU")
    [finding] = run("LL102", graph)
    assert "dropout `dropout3`" in finding.message


def test_ll102_reports_each_batchnorm_once():
    net = Net()
    bn = net.add(nn + "BatchNorm2d", net.input())
    net.add(nn + "GELU", net.add(nn + "AvgPool2d", bn))
    net.add(nn + "SiLU", net.add(nn + "Dropout", bn))
    assert at("LL102", net.build()) == [2]


# --- LL103 activation-before-batchnorm --------------------------------------------------


def test_ll103_weighted_activation_batchnorm():
    graph, (_, conv, act, bn) = chain(nn + "Conv2d", nn + "ReLU", nn + "BatchNorm2d")
    [finding] = run("LL103", graph)
    assert finding.location == act.location
    assert "`conv2d2` (line 2)" in finding.message and "`batchnorm2d4` (line 4)" in finding.message
    assert get_rule("LL103").default_enabled is False
    assert get_rule("LL103").severity is Severity.INFO


def test_ll103_shape_only_layers_between():
    graph, _ = chain(nn + "Linear", "torch.Tensor.view", F + "relu", "torch.flatten",
                     nn + "BatchNorm1d")
    assert at("LL103", graph) == [4]


@pytest.mark.parametrize("ops", [
    (nn + "Conv2d", nn + "BatchNorm2d", nn + "ReLU"),
    (nn + "BatchNorm2d", nn + "ReLU", nn + "BatchNorm2d"),
    (nn + "Conv2d", nn + "ReLU", nn + "Dropout", nn + "BatchNorm2d"),
    (nn + "Conv2d", nn + "ReLU", nn + "Conv2d"),
])
def test_ll103_silent(ops):
    graph, _ = chain(*ops)
    assert at("LL103", graph) == []


def test_ll103_keras_activation_argument_shares_the_location():
    net = Net("keras")
    dense = net.add("keras.layers.Dense", net.input(), line=7)
    act = net.add("keras.layers.Dense", dense, info=activation_op("relu"), line=7)
    net.add("keras.layers.BatchNormalization", act, line=8)
    assert at("LL103", net.build()) == [7]


# --- LL104 bias-before-batchnorm --------------------------------------------------------


@pytest.mark.parametrize(("attrs", "reported"), [
    ({}, True),
    ({"bias": True}, True),
    ({"bias": False}, False),
    ({"bias": Unresolved("norm_layer is None")}, False),
    ({"**": "kwargs"}, False),  # nn.Conv2d(..., **kwargs): bias may be in kwargs
    ({"**": "kwargs", "bias": True}, True),
])
def test_ll104_torch_bias(attrs, reported):
    graph, _ = chain((nn + "Conv2d", attrs), nn + "BatchNorm2d", nn + "ReLU")
    assert at("LL104", graph) == ([2] if reported else [])


def test_ll104_message_and_fix_by_framework():
    graph, (_, conv, bn, _) = chain(nn + "Conv2d", nn + "BatchNorm2d", nn + "ReLU")
    [finding] = run("LL104", graph)
    assert finding.message == (
        "`conv2d2` (Conv2d) has a bias, but its output goes straight into batchnorm "
        "`batchnorm2d3` (line 3), whose mean subtraction cancels it; create it with "
        "`bias=False`")
    graph, _ = chain("keras.layers.Dense", "keras.layers.BatchNormalization",
                     frontend="keras")
    [finding] = run("LL104", graph)
    assert finding.message.endswith("`use_bias=False`")
    assert (finding.fix.argument, finding.fix.value) == ("use_bias", False)
    # an ONNX bias is a node input, not a constructor argument: nothing to set
    graph, _ = chain(("onnx::Conv", {"bias": True}), "onnx::BatchNormalization",
                     frontend="onnx")
    [finding] = run("LL104", graph)
    assert finding.message.endswith("whose mean subtraction cancels it; drop its bias input")
    assert finding.fix is None


@pytest.mark.parametrize(("attrs", "reported"), [
    ({}, True),
    ({"use_bias": True}, True),
    ({"use_bias": False}, False),
    ({"use_bias": Unresolved("cfg.bias")}, False),
])
def test_ll104_keras_use_bias(attrs, reported):
    graph, _ = chain(("keras.layers.Conv2D", attrs), "keras.layers.BatchNormalization",
                     frontend="keras")
    assert at("LL104", graph) == ([2] if reported else [])


def test_ll104_through_shape_ops_and_to_several_batchnorms():
    net = Net()
    fc = net.add(nn + "Linear", net.input())
    flat = net.add("torch.flatten", fc)
    net.add(nn + "BatchNorm1d", flat)
    net.add(nn + "BatchNorm1d", fc)
    [finding] = run("LL104", net.build())
    assert finding.location == fc.location and len(finding.related) == 2


def test_ll104_bias_is_live_when_output_goes_elsewhere_too():
    net = Net()
    x = net.input()
    conv = net.add(nn + "Conv2d", x)
    bn = net.add(nn + "BatchNorm2d", conv)
    net.add("torch.add", bn, conv)
    assert at("LL104", net.build()) == []
    net = Net()
    conv = net.add(nn + "Conv2d", net.input())
    net.add(nn + "BatchNorm2d", conv)
    assert at("LL104", net.build(conv)) == []  # the conv output is a graph output


def test_ll104_frozen_batchnorm_and_other_consumers():
    graph, _ = chain(nn + "Conv2d", (F + "batch_norm", {"training": False}))
    assert at("LL104", graph) == []
    graph, _ = chain(nn + "Conv2d", nn + "ReLU", nn + "BatchNorm2d")
    assert at("LL104", graph) == []
    graph, _ = chain(nn + "Conv2d", nn + "Dropout", nn + "BatchNorm2d")
    assert at("LL104", graph) == []


# --- LL105 dropout-on-output ------------------------------------------------------------


def test_ll105_dropout_on_model_output():
    graph, (_, fc, drop) = chain(nn + "Linear", nn + "Dropout", role=Role.MODEL)
    [finding] = run("LL105", graph)
    assert finding.location == drop.location
    assert "`linear2` (line 2)" in finding.message
    graph, _ = chain(nn + "Linear", nn + "Dropout", "torch.flatten", role=Role.MODEL)
    assert at("LL105", graph) == [3]


@pytest.mark.parametrize("role", [Role.BLOCK, Role.UNKNOWN])
def test_ll105_output_case_needs_a_model(role):
    graph, _ = chain(nn + "Linear", nn + "Dropout", role=role)
    assert at("LL105", graph) == []


@pytest.mark.parametrize("after", [nn + "Linear", "mylib.Head"])
def test_ll105_weighted_or_opaque_layer_after_dropout(after):
    graph, _ = chain(nn + "Linear", nn + "Dropout", after, role=Role.MODEL)
    assert at("LL105", graph) == []


def test_ll105_input_dropout_and_residual_branch_are_silent():
    graph, _ = chain(nn + "Dropout", role=Role.MODEL)
    assert at("LL105", graph) == []
    net = Net()
    x = net.input()
    drop = net.add(nn + "Dropout", net.add(nn + "ReLU", net.add(nn + "Linear", x)))
    out = net.add("torch.add", x, drop)
    assert at("LL105", net.build(out, role=Role.MODEL)) == []


@pytest.mark.parametrize(("squash", "reported"), [
    (nn + "Softmax", True),
    (F + "log_softmax", True),
    (nn + "Sigmoid", True),
    ("torch.sigmoid", True),
    (nn + "Tanh", False),
    (nn + "Hardsigmoid", False),
])
def test_ll105_dropout_before_softmax_or_sigmoid_in_any_role(squash, reported):
    graph, _ = chain(nn + "Linear", nn + "Dropout", "torch.Tensor.view", squash,
                     nn + "Linear")
    assert at("LL105", graph) == ([3] if reported else [])


def test_ll105_dropout_after_softmax_is_silent():
    graph, _ = chain(nn + "Linear", nn + "Softmax", nn + "Dropout", nn + "Linear",
                     role=Role.MODEL)
    assert at("LL105", graph) == []


def test_ll105_output_reached_only_in_another_configuration():
    # self.head = nn.Linear(...) if num_classes > 0 else nn.Identity()
    net = Net()
    fc = net.add(nn + "Linear", net.input())
    drop = net.add(nn + "Dropout", fc, condition="drop_rate > 0")
    head = net.add(nn + "Linear", drop, condition="drop_rate > 0 and num_classes > 0")
    identity = net.add(nn + "Identity", drop, condition="not (num_classes > 0)")
    assert at("LL105", net.build(head, identity, role=Role.MODEL)) == []
    # The same condition as the dropout's (or none) does not hide the output.
    net = Net()
    fc = net.add(nn + "Linear", net.input())
    drop = net.add(nn + "Dropout", fc, condition="drop_rate > 0")
    out = net.add("torch.flatten", drop, condition="drop_rate > 0")
    [finding] = run("LL105", net.build(out, role=Role.MODEL))
    assert finding.message.endswith("(when drop_rate > 0)")


def test_conditions_are_data_whose_tests_keep_their_own_ands():
    from layerlint.ir.condition import Condition
    from layerlint.rules._common import conjuncts

    condition = Condition(("a > 1",)) & "not (b and c)" & "f(x and y)" & "a > 1"
    assert conjuncts(None) == frozenset()
    assert conjuncts(condition) == {"a > 1", "not (b and c)", "f(x and y)"}
    assert str(condition) == "a > 1 and not (b and c) and f(x and y)"


def test_ll105_inactive_dropout_is_silent():
    graph, _ = chain(nn + "Linear", (nn + "Dropout", {"p": 0.0}), nn + "Softmax",
                     role=Role.MODEL)
    assert at("LL105", graph) == []


# --- LL106 repeated-activation ----------------------------------------------------------


@pytest.mark.parametrize(("first", "second", "redundant"), [
    (nn + "ReLU", F + "relu", True),
    (nn + "ReLU6", nn + "ReLU", True),
    (nn + "Sigmoid", nn + "ReLU", True),
    (nn + "Hardtanh", nn + "Hardtanh", True),
    (nn + "Sigmoid", nn + "Sigmoid", False),
    (nn + "ELU", nn + "ReLU", False),
    (nn + "ReLU", nn + "GELU", False),
    (nn + "Tanh", nn + "Tanh", False),
])
def test_ll106_repeated(first, second, redundant):
    graph, (_, _, a1, a2) = chain(nn + "Linear", first, second)
    [finding] = run("LL106", graph)
    assert finding.location == a2.location
    assert f"activation `{a1.label}` (line 3)" in finding.message
    assert ("redundant" in finding.message) is redundant
    assert ("changes the function" in finding.message) is not redundant


@pytest.mark.parametrize("ops", [
    (nn + "Linear", nn + "ReLU", nn + "Dropout", nn + "ReLU"),
    (nn + "BatchNorm1d", nn + "ReLU"),
    (nn + "ReLU", nn + "Linear", nn + "ReLU"),
    (nn + "ReLU", nn + "Softmax"),
])
def test_ll106_silent(ops):
    graph, _ = chain(*ops)
    assert at("LL106", graph) == []


def test_ll106_composite_self_gated_activation_is_silent():
    # Mish: x * tanh(softplus(x)); the product consumes the pair and its input.
    net = Net()
    x = net.input()
    gate = net.add("torch.Tensor.tanh", net.add(F + "softplus", x))
    net.add("torch.Tensor.mul", x, gate)
    assert at("LL106", net.build()) == []
    # A redundant pair stays reported even inside a gate.
    net = Net()
    x = net.input()
    gate = net.add(F + "relu", net.add(F + "relu", x))
    net.add("torch.Tensor.mul", x, gate)
    assert at("LL106", net.build()) == [3]
    # A product with some other tensor is not a self-gate.
    net = Net()
    x = net.input()
    y = net.add(nn + "Linear", x)
    gate = net.add(nn + "Sigmoid", net.add(nn + "Sigmoid", net.add(nn + "Linear", x)))
    net.add("torch.Tensor.mul", y, gate)
    assert at("LL106", net.build()) == [5]


def test_ll106_through_shape_ops_and_not_after_a_residual_add():
    graph, _ = chain(nn + "ReLU", "torch.flatten", nn + "ReLU")
    assert at("LL106", graph) == [4]
    net = Net()
    x = net.input()
    relu = net.add(nn + "ReLU", net.add(nn + "Conv2d", x), line=9)
    net.add(nn + "ReLU", net.add("torch.add", relu, x), line=9)  # the same module reused
    assert at("LL106", net.build()) == []


def test_ll106_keras_activation_argument_then_activation_layer():
    net = Net("keras")
    dense = net.add("keras.layers.Dense", net.input(), line=4)
    act = net.add("keras.layers.Dense", dense, info=activation_op("relu"), line=4)
    net.add("keras.layers.Activation", act, info=activation_op("relu"), line=5)
    [finding] = run("LL106", net.build())
    assert finding.location.line == 5
    assert finding.message.startswith("`activation5` (relu) is applied directly")


# --- LL107 dropout-with-batchnorm -------------------------------------------------------


def test_ll107_dropout_after_batchnorm():
    graph, (_, _, bn, _, drop, _) = chain(
        nn + "Linear", nn + "BatchNorm1d", nn + "ReLU", nn + "Dropout", nn + "Linear")
    [finding] = run("LL107", graph)
    assert finding.location == drop.location
    assert "`batchnorm1d3` (line 3)" in finding.message
    assert get_rule("LL107").default_enabled is False
    assert get_rule("LL107").severity is Severity.INFO


@pytest.mark.parametrize("ops", [
    (nn + "Linear", nn + "ReLU", nn + "Dropout", nn + "Linear"),
    (nn + "Linear", nn + "Dropout", nn + "BatchNorm1d"),
    (nn + "BatchNorm1d", (nn + "Dropout", {"p": 0.0})),
])
def test_ll107_silent(ops):
    graph, _ = chain(*ops)
    assert at("LL107", graph) == []


def test_ll107_once_per_dropout():
    net = Net()
    x = net.input()
    bn1 = net.add(nn + "BatchNorm1d", x)
    bn2 = net.add(nn + "BatchNorm1d", bn1)
    drop = net.add(nn + "Dropout", net.add("torch.cat", bn1, bn2))
    assert at("LL107", net.build()) == [drop.location.line]


# --- LL301 batchnorm-momentum-convention ------------------------------------------------


@pytest.mark.parametrize(("op", "momentum", "reported"), [
    (nn + "BatchNorm2d", 0.99, True),
    (nn + "BatchNorm2d", 0.9, True),
    (nn + "BatchNorm2d", 0.5, True),
    (nn + "BatchNorm2d", 0.1, False),
    (nn + "BatchNorm2d", 0.01, False),
    (nn + "BatchNorm2d", None, False),
    (nn + "BatchNorm2d", Unresolved("bn_momentum"), False),
    (F + "batch_norm", 0.9, True),
    ("keras.layers.BatchNormalization", 0.1, True),
    ("keras.layers.BatchNormalization", 0.5, True),
    ("keras.layers.BatchNormalization", 0.99, False),
    ("keras.layers.BatchNormalization", 0.9, False),
    ("onnx::BatchNormalization", 0.1, True),
    ("onnx::BatchNormalization", 0.9, False),
    ("mylib.BatchNorm", 0.99, False),
])
def test_ll301_conventions(op, momentum, reported):
    # the convention is the frontend's to declare; a graph without one is not judged
    frontend = {"keras": "keras", "onnx:": "onnx", "torch": "pytorch"}.get(op[:5], "")
    net = Net(frontend)
    info = OpInfo(Kind.BATCHNORM) if op.startswith("mylib.") else None
    net.add(op, net.input(), info=info, momentum=momentum)
    assert at("LL301", net.build()) == ([2] if reported else [])


def test_ll301_message_gives_the_conversion():
    graph, _ = chain((nn + "BatchNorm2d", {"momentum": 0.99}))
    [finding] = run("LL301", graph)
    assert finding.message.startswith("`batchnorm2d2` (BatchNorm2d) has momentum=0.99:")
    assert "use 0.01" in finding.message
    graph, _ = chain(("keras.layers.BatchNormalization", {"momentum": 0.1}), frontend="keras")
    [finding] = run("LL301", graph)
    assert "use 0.9" in finding.message


def test_ll301_unused_momentum_is_silent():
    graph, _ = chain((nn + "BatchNorm2d", {"momentum": 0.9, "track_running_stats": False}),
                     (F + "batch_norm", {"momentum": 0.9, "training": False}))
    assert at("LL301", graph) == []


# --- LL302 dropout-rate-out-of-range ----------------------------------------------------


@pytest.mark.parametrize(("p", "reported"), [
    (1.0, True), (1, True), (1.5, True), (-0.1, True),
    (0.0, False), (0.5, False), (0.999, False), (True, False),
    (Unresolved("1 - keep_prob"), False), (None, False),
])
def test_ll302_rates(p, reported):
    attrs = {} if p is None else {"p": p}
    graph, _ = chain(nn + "Linear", (nn + "Dropout", attrs), nn + "Linear")
    assert at("LL302", graph) == ([3] if reported else [])


def test_ll302_message():
    graph, _ = chain(("keras.layers.Dropout", {"p": 1.0}), frontend="keras")
    [finding] = run("LL302", graph)
    assert finding.message.startswith("`dropout2` (Dropout) has drop probability 1.0")
    assert "zeroes every unit" in finding.message
    assert finding.severity is Severity.ERROR
