"""The ONNX frontend: lowering, locations, eval-mode notes and malformed input (LL001)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from layerlint.engine import check_paths
from layerlint.frontends import Project
from layerlint.frontends.onnx import load_graphs
from layerlint.frontends.onnx.provenance import module_path_from_name, source_location
from layerlint.ir import Kind, LayerGraph, Unresolved
from layerlint.registry import all_rules, select_rules
from layerlint.reporting import render_json, render_text
from layerlint.rule import Example, Rule, Severity

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "onnx"
HEADER = '<ir_version: 8, opset_import: ["" : 17]>'


def _graph(path: Path) -> LayerGraph:
    graphs = load_graphs(path, Project([path], str))
    assert len(graphs) == 1
    return graphs[0]


def _text_graph(tmp_path: Path, body: str, header: str = HEADER) -> LayerGraph:
    path = tmp_path / "model.onnxtxt"
    path.write_text(header + "\n" + body)
    return _graph(path)


def _by_op(graph: LayerGraph, op: str):
    return [layer for layer in graph.layers if layer.op == op]


def _edges(graph: LayerGraph) -> set[tuple[str, str]]:
    return {(p.label, layer.label) for layer in graph.layers for p in graph.predecessors(layer)}


def _save(tmp_path: Path, nodes, inputs, outputs, initializers=(), name="model.onnx",
          opset=17, **model_kw) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              **model_kw)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _value(name: str, shape=(1, 4)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _weight(name: str, shape=(4, 4)):
    return helper.make_tensor(name, TensorProto.FLOAT, list(shape),
                              [0.5] * int(__import__("math").prod(shape)))


# --- lowering ---------------------------------------------------------------------------

def test_text_locations_module_paths_and_attributes():
    graph = _graph(FIXTURES / "cnn_train_export.onnxtxt")
    conv, bn = _by_op(graph, "onnx::Conv")[0], _by_op(graph, "onnx::BatchNormalization")[1]
    assert (conv.location.line, conv.location.column) == (10, 4)
    assert conv.location.node == "/conv1/Conv (#0)"
    assert conv.label == conv.module_path == "conv1" and conv.attrs["bias"] is True
    assert bn.module_path == "layer1.2" and bn.location.line == 17
    assert bn.attrs["momentum"] == 0.9 and bn.attrs["momentum_torch"] == 0.1
    assert bn.attrs["training_mode"] is True
    drops = _by_op(graph, "onnx::Dropout")
    assert [(d.attrs["p"], d.attrs["training_mode"]) for d in drops] == [(0.2, True), (0.5, True)]
    assert [lay.label for lay in graph.previous_layers(bn)] == ["layer1.1"]
    assert graph.role.value == "model"
    assert [graph.layers[i].label for i in graph.outputs] == ["drop"]
    assert not graph.notes  # a training export hides nothing


@pytest.mark.parametrize(("name", "path"), [
    ("/layer1/layer1.0/bn1/BatchNormalization", "layer1.0.bn1"),
    ("/layer1/layer1.0/inner/inner.1/inner.1.0/Dropout", "layer1.0.inner.1.0"),
    ("/features/features.3/Conv", "features.3"),
    ("/conv/conv/Conv", "conv.conv"),
    ("/Relu", None),
    ("Conv_12", None),
    ("StatefulPartitionedCall/model/dense/MatMul", None),
])
def test_module_path_from_torchscript_node_names(name, path):
    assert module_path_from_name(name) == path


def test_module_called_twice_keeps_its_path():
    scopes = frozenset({"mlp", "mlp/drop", "mlp/drop_1", "mlp/fc_1"})
    assert module_path_from_name("/mlp/drop_1/Dropout", scopes) == "mlp.drop"
    assert module_path_from_name("/mlp/fc_1/Conv", scopes) == "mlp.fc_1"  # a real name


def test_module_path_from_parameter_names(tmp_path):
    # Older exporters name nodes Conv_0; the parameters keep torch's module paths.
    graph = _text_graph(tmp_path, """
        g (float[N, 3, 8, 8] x) => (float[N, 4, 6, 6] y)
        <float[4, 3, 3, 3] "features.0.weight", float[4, 3, 3, 3] "onnx::Conv_7"> {
            ["Conv_0"] h = Conv (x, "features.0.weight")
            ["Conv_1"] y = Conv (h, "onnx::Conv_7")
        }""")
    assert [c.label for c in _by_op(graph, "onnx::Conv")] == ["features.0", "Conv_1"]


def test_source_location_skips_library_frames():
    trace = ('File "/home/me/model.py", line 8, in forward\n    x = self.bn(x)\n'
             '  File "/venv/lib/python3.11/site-packages/torch/nn/modules/batchnorm.py", '
             'line 210, in forward')
    location = source_location({"pkg.torch.onnx.stack_trace": trace})
    assert (location.path, location.line) == ("/home/me/model.py", 8)
    only_library = trace.split("\n  ", 1)[1]
    assert source_location({"pkg.torch.onnx.stack_trace": only_library}) is None


def test_dynamo_metadata_gives_module_path_and_source(tmp_path, monkeypatch):
    node = helper.make_node("Relu", ["x"], ["y"], name="node_relu")
    for key, value in {
        "pkg.torch.onnx.name_scopes": "['', 'head', 'head.act', 'relu']",
        "pkg.torch.onnx.stack_trace": 'File "/src/net.py", line 42, in forward\n    y = f(x)',
    }.items():
        prop = node.metadata_props.add()
        prop.key, prop.value = key, value
    path = _save(tmp_path, [node], [_value("x")], [_value("y")])
    relu = _by_op(_graph(path), "onnx::Relu")[0]
    assert relu.module_path == relu.label == "head.act"
    assert (relu.use.path, relu.use.line) == ("/src/net.py", 42)
    assert (relu.location.line, relu.location.column, relu.location.node) == (1, 1,
                                                                              "node_relu (#0)")


@pytest.mark.parametrize(("bounds", "activation"), [
    ("lo6, hi6", "relu6"), ("lo6", "relu"), ("neg, one", "hardtanh"), ("x, hi6", None),
])
def test_clip_lowering(tmp_path, bounds, activation):
    graph = _text_graph(tmp_path, f"""
        g (float[N] x) => (float[N] y)
        <float lo6 = {{0}}, float hi6 = {{6}}, float neg = {{-1}}, float one = {{1}}> {{
            y = Clip (x, {bounds})
        }}""")
    clip = _by_op(graph, "onnx::Clip")[0]
    assert clip.info.activation == activation
    assert clip.kind is (Kind.ACTIVATION if activation else Kind.OPAQUE)


def test_clip_attributes_before_opset_11(tmp_path):
    graph = _text_graph(tmp_path, """
        g (float[N] x) => (float[N] y) {
            y = Clip <min: float = 0.0, max: float = 6.0> (x)
        }""", header='<ir_version: 6, opset_import: ["" : 10]>')
    assert _by_op(graph, "onnx::Clip")[0].info.activation == "relu6"


def test_matmul_bias_and_activation_patterns(tmp_path):
    graph = _text_graph(tmp_path, """
        g (float[N, 4] x, float[N, 4] q) => (float[N, 4] y, float[N, 4] s, float[N, 4] t)
        <float[4, 4] w, float[4] b> {
            h = MatMul (x, w)
            hb = Add (h, b)
            sig = Sigmoid (hb)
            act = Mul (hb, sig)
            u = MatMul (act, w)
            sp = Softplus (u)
            th = Tanh (sp)
            y = Mul (u, th)
            s = MatMul (x, q)
            lg = Sigmoid (q)
            t = Log (lg)
        }""")
    weighted = _by_op(graph, "onnx::MatMul")
    assert [(lay.kind, lay.attrs.get("bias")) for lay in weighted] == [
        (Kind.WEIGHTED, True), (Kind.WEIGHTED, False), (Kind.OPAQUE, None)]
    assert [lay.info.activation for lay in graph.of_kind(Kind.ACTIVATION)] == [
        "silu", "mish", "logsigmoid"]
    assert not _by_op(graph, "onnx::Add") and not _by_op(graph, "onnx::Mul")
    silu = _by_op(graph, "onnx::SiLU")[0]
    assert graph.previous_layers(silu) == [weighted[0]]
    assert graph.next_layers(silu) == [weighted[1]]


def test_shared_weighted_output_keeps_the_add(tmp_path):
    graph = _text_graph(tmp_path, """
        g (float[N, 4] x) => (float[N, 4] y, float[N, 4] h) <float[4, 4] w, float[4] b> {
            h = MatMul (x, w)
            y = Add (h, b)
        }""")
    assert _by_op(graph, "onnx::MatMul")[0].attrs["bias"] is False
    assert len(_by_op(graph, "onnx::Add")) == 1


def test_zero_bias_built_from_constants_is_no_bias(tmp_path):
    # The dynamo exporter gives a bias-free conv a bias of Expand(CastLike(0, x), shape).
    graph = _text_graph(tmp_path, """
        g (float[N, 3, 8, 8] x) => (float[N, 4, 6, 6] y, float[N, 4, 6, 6] z)
        <float[4, 3, 3, 3] w, float[4] b> {
            shape = Shape <end: int = 1> (w)
            zero = Constant <value: tensor = float {0}> ()
            cast = CastLike (zero, x)
            bias = Expand (cast, shape)
            y = Conv (x, w, bias)
            z = Conv (x, w, b)
        }""")
    assert [c.attrs["bias"] for c in _by_op(graph, "onnx::Conv")] == [False, True]
    assert len(graph.layers) == 3  # the input and the two convs: no layer for shape arithmetic


def test_shape_arithmetic_creates_no_data_path(tmp_path):
    graph = _text_graph(tmp_path, """
        g (float[N, 8] x, float[N, 8] other) => (float[N, 8] y)
        <float ratio = {0.5}, bool train = {1}, float[8] s, float[8] b, float[8] m, float[8] v> {
            d, mask = Dropout (x, ratio, train)
            shp = Shape (d)
            r = Reshape (other, shp)
            y, rm, rv = BatchNormalization <training_mode: int = 1> (r, s, b, m, v)
        }""")
    dropout = _by_op(graph, "onnx::Dropout")[0]
    assert graph.first_reachable(dropout, Kind.BATCHNORM) is None


def test_dropout_and_batchnorm_attribute_forms(tmp_path):
    graph = _text_graph(tmp_path, """
        g (float[N, 8] x, float ratio) => (float[N, 8] y)
        <float[8] s, float[8] b, float[8] m, float[8] v> {
            a = Dropout (x)
            c = Dropout (a, ratio)
            y = BatchNormalization <momentum: float = 0.99> (c, s, b, m, v)
        }""")
    first, second = _by_op(graph, "onnx::Dropout")
    assert first.attrs == {"p": 0.5, "training_mode": False}
    assert isinstance(second.attrs["p"], Unresolved)
    bn = _by_op(graph, "onnx::BatchNormalization")[0]
    assert bn.attrs["momentum"] == 0.99 and bn.attrs["momentum_torch"] == 0.01
    assert bn.attrs["training_mode"] is False


def test_legacy_dropout_ratio_attribute(tmp_path):
    graph = _text_graph(tmp_path, """
        g (float[N] x) => (float[N] y) {
            y = Dropout <ratio: float = 0.25> (x)
        }""", header='<ir_version: 6, opset_import: ["" : 10]>')
    assert _by_op(graph, "onnx::Dropout")[0].attrs["p"] == 0.25


def test_if_branches_carry_conditions_and_reach_consumers():
    graph = _graph(FIXTURES / "control_flow_and_functions.onnxtxt")
    dropout = _by_op(graph, "onnx::Dropout")[0]
    assert str(dropout.condition) == "`If_1` takes its then branch"
    assert (dropout.location.line, dropout.location.column) == (10, 10)
    assert dropout.location.node == "If_1 (#1) / then_branch / Dropout_0 (#0)"
    bn = graph.first_reachable(dropout, Kind.BATCHNORM)
    assert bn is not None and bn.condition is None
    # Both calls of the local function are inlined, each an application of its own.
    matmuls = _by_op(graph, "onnx::MatMul")
    assert [m.label for m in matmuls] == ["LinearBlock_0/MatMul_0", "LinearBlock_3/MatMul_0"]
    assert {m.location.line for m in matmuls} == {22}
    assert graph.first_reachable(bn, Kind.WEIGHTED) is matmuls[1]


def test_loop_body_gets_back_edges(tmp_path):
    graph = _text_graph(tmp_path, """
        g (float[N, 8] x, int64 trips) => (float[N, 8] y)
        <float ratio = {0.5}, bool train = {1}, bool keep = {1},
         float[8] s, float[8] b, float[8] m, float[8] v> {
            y = Loop (trips, keep, x) <body = step (int64 i, bool c, float[N, 8] h)
                                               => (bool c2, float[N, 8] h2) {
                c2 = Identity (c)
                n, rm, rv = BatchNormalization <training_mode: int = 1> (h, s, b, m, v)
                h2, mask = Dropout (n, ratio, train)
            }>
        }""")
    dropout = _by_op(graph, "onnx::Dropout")[0]
    bn = graph.first_reachable(dropout, Kind.BATCHNORM)
    assert bn is not None and bn.op == "onnx::BatchNormalization"  # the next iteration
    assert [graph.layers[i].op for i in graph.outputs] == ["onnx::Loop"]


def test_scan_body_is_followed(tmp_path):
    graph = _text_graph(tmp_path, """
        g (float[8] init, float[N, 8] xs) => (float[8] last, float[N, 8] ys) {
            last, ys = Scan <num_scan_inputs: int = 1,
                             body = step (float[8] acc, float[8] x)
                                         => (float[8] acc2, float[8] out) {
                acc2 = Add (acc, x)
                out = Relu (acc2)
            }> (init, xs)
        }""")
    relu = _by_op(graph, "onnx::Relu")[0]
    add = _by_op(graph, "onnx::Add")[0]
    assert {p.op for p in graph.predecessors(add)} == {"input", "onnx::Scan"}
    assert relu.id in graph.outputs


def _nested_functions(depth: int, calls: int = 2, top_calls: int = 1):
    """``f<d>`` calls ``f<d-1>`` ``calls`` times; ``f0`` is one Relu: 2**depth Relus."""
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    functions = [helper.make_function("local", "f0", ["x"], ["y"],
                                      [helper.make_node("Relu", ["x"], ["y"])], opsets)]
    for d in range(1, depth + 1):
        names = ["x", *(f"h{c}" for c in range(calls))]
        nodes = [helper.make_node(f"f{d - 1}", [a], [b], domain="local")
                 for a, b in zip(names, names[1:])]
        nodes.append(helper.make_node("Identity", [names[-1]], ["y"]))
        functions.append(helper.make_function("local", f"f{d}", ["x"], ["y"], nodes, opsets))
    names = ["x", *(f"t{c}" for c in range(top_calls - 1)), "y"]
    main = [helper.make_node(f"f{depth}", [a], [b], domain="local", name=f"call{i}")
            for i, (a, b) in enumerate(zip(names, names[1:]))]
    graph = helper.make_graph(main, "g", [_value("x")], [_value("y")])
    return helper.make_model(graph, functions=functions, opset_imports=opsets)


def test_function_expansion_is_bounded(tmp_path):
    """30 levels of two calls would inline 2**30 nodes from a 2 KB file: the call is
    one opaque layer instead, and LL002 says what was not checked."""
    path = tmp_path / "nested.onnx"
    onnx.save(_nested_functions(30), str(path))
    graph = _graph(path)
    assert [(layer.op, layer.kind) for layer in graph.layers] == [
        ("input", Kind.INPUT), ("local::f30", Kind.OPAQUE)]
    (note,) = graph.notes
    assert note.startswith("model-local function local.f30 was not expanded at 1 call: "
                           "expanding it would create more than 20000 nodes")


def test_function_calls_expand_until_the_budget(tmp_path, monkeypatch):
    from layerlint.frontends.onnx import lowering

    monkeypatch.setattr(lowering, "INLINE_BUDGET", 16)
    path = tmp_path / "calls.onnx"
    onnx.save(_nested_functions(2, top_calls=5), str(path))  # 7 nodes per call
    graph = _graph(path)
    assert len(_by_op(graph, "onnx::Relu")) == 2 * 4  # two calls expanded
    assert [layer.label for layer in _by_op(graph, "local::f2")] == [
        "call2", "call3", "call4"]
    assert graph.notes == ("model-local function local.f2 was not expanded at 3 calls: "
                           "its 7 nodes would exceed the 16 nodes that all of a model's "
                           "function calls may expand to; the layers inside were not "
                           "checked",)
    callers = [p.label for layer in _by_op(graph, "local::f2")
               for p in graph.predecessors(layer)]
    assert callers[0].startswith("call1/") and callers[1:] == ["call2", "call3"]


def test_recursive_function_is_ll001(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    loop = helper.make_function("local", "f", ["x"], ["y"], [
        helper.make_node("Relu", ["x"], ["h"]),
        helper.make_node("f", ["h"], ["y"], domain="local")], opsets)
    graph = helper.make_graph([helper.make_node("f", ["x"], ["y"], domain="local")], "g",
                              [_value("x")], [_value("y")])
    path = tmp_path / "recursive.onnx"
    onnx.save(helper.make_model(graph, functions=[loop], opset_imports=opsets), str(path))
    assert "local.f calls itself" in _ll001(tmp_path, path)


def test_unknown_ops_and_declared_domains_are_opaque(tmp_path):
    graph = _text_graph(tmp_path, """
        g (float[N] x) => (float[N] y) {
            a = com.vendor.FancyAct (x)
            b = NonZeroish (a)
            y = Relu (b)
        }""", header='<ir_version: 8, opset_import: ["" : 17, "com.vendor" : 1]>')
    assert [lay.kind for lay in graph.layers] == [Kind.INPUT, Kind.OPAQUE, Kind.OPAQUE,
                                                 Kind.ACTIVATION]
    assert graph.layers[1].op == "com.vendor::FancyAct"


# --- eval-mode exports (LL002) -----------------------------------------------------------

def test_eval_mode_export_declares_what_it_hides():
    graph = _graph(FIXTURES / "resnet_stem_eval_export.onnxtxt")
    assert graph.hidden.kinds == {Kind.DROPOUT, Kind.BATCHNORM} and not graph.notes
    assert "eval-mode export" in graph.hidden.why and "BatchNorm folded" in graph.hidden.why
    assert "TrainingMode.TRAINING" in graph.hidden.remedy


@pytest.mark.parametrize(("select", "named"), [
    (["ALL"], "LL101, LL102, LL103, LL104, LL105, LL107, LL301, LL302"),
    (["LL002", "LL104", "LL203"], "LL104"),  # only the selected rules that need them
    (["LL002", "LL203"], None),  # no selected rule is blind: nothing to say
])
def test_eval_mode_ll002_names_only_selected_rules_that_need_hidden_layers(
        tmp_path, monkeypatch, select, named):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "eval.onnxtxt"
    target.write_text((FIXTURES / "resnet_stem_eval_export.onnxtxt").read_text())
    findings = [f for f in check_paths([target], select_rules(select)).findings
                if f.code == "LL002"]
    if named is None:
        assert findings == []
        return
    (finding,) = findings
    assert finding.message.startswith("graph looks like an eval-mode export: ")
    assert f"; {named} could not be checked. To check them, export in training mode: " \
        in finding.message
    # the diagnostic's name and severity are the registered rule's (SARIF agrees)
    assert (finding.name, finding.severity) == ("incomplete-analysis", Severity.ERROR)


@pytest.mark.parametrize(("body", "expect"), [
    # inference BN kept (training_mode 0), no dropout: only the dropout rules are blind
    ("""c = Conv (x, w)
        y = BatchNormalization (c, s, b, m, v)""", ["no Dropout node"]),
    # conv without any BN: BN may have been folded, dropout removed
    ("y = Conv (x, w)", ["no Dropout node", "no BatchNormalization node"]),
    # a training-mode BN: nothing hidden
    ("""c = Conv (x, w)
        y, rm, rv = BatchNormalization <training_mode: int = 1> (c, s, b, m, v)""", []),
    # no weighted layer: nothing an export would have folded
    ("y = Relu (x)", []),
])
def test_eval_mode_heuristic(tmp_path, body, expect):
    graph = _text_graph(tmp_path, f"""
        g (float[N, 3, 8, 8] x) => (float[N, 4, 6, 6] y)
        <float[4, 3, 3, 3] w, float[4] s, float[4] b, float[4] m, float[4] v> {{
            {body}
        }}""")
    why = graph.hidden.why if graph.hidden else ""
    for phrase in expect:
        assert phrase in why
    assert bool(graph.hidden) == bool(expect) and not graph.notes
    if expect == ["no Dropout node"]:
        assert graph.hidden.kinds == {Kind.DROPOUT}


def test_eval_note_is_reported_as_ll002(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = FIXTURES / "resnet_stem_eval_export.onnxtxt"
    target = tmp_path / source.name
    target.write_text(source.read_text())
    findings = check_paths([target], select_rules(["LL002", "LL101"])).findings
    assert [(f.code, f.location.line) for f in findings] == [("LL002", 1)]


# --- malformed input (LL001) -------------------------------------------------------------

def _ll001(tmp_path: Path, path: Path) -> str:
    good = tmp_path / "good.onnxtxt"
    good.write_text((FIXTURES / "resnet_stem_eval_export.onnxtxt").read_text())
    result = check_paths([path, good], select_rules(["LL001", "LL002", "LL101"]))
    assert not result.internal_errors
    by_file = {}
    for finding in result.findings:
        by_file.setdefault(Path(finding.location.path).name, []).append(finding)
    assert [f.code for f in by_file["good.onnxtxt"]] == ["LL002"]  # the run went on
    (finding,) = by_file[path.name]
    assert finding.code == "LL001"
    return finding.message


def _valid_model(tmp_path: Path) -> Path:
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    return _save(tmp_path, [node], [_value("x")], [_value("y")], name="valid.onnx")


def test_truncated_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _valid_model(tmp_path).read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 2])
    assert "not an ONNX model" in _ll001(tmp_path, bad)


def test_random_bytes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "random.onnx"
    bad.write_bytes(bytes(range(256)) * 8 + os.urandom(512))
    assert "not an ONNX model" in _ll001(tmp_path, bad)


@pytest.mark.parametrize("message", [
    helper.make_tensor("t", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0]),
    helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [], []),
    helper.make_node("Relu", ["x"], ["y"]),
])
def test_protobuf_that_is_not_a_model(tmp_path, monkeypatch, message):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "other.onnx"
    bad.write_bytes(message.SerializeToString())
    assert "not an ONNX model" in _ll001(tmp_path, bad)


def test_dangling_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    node = helper.make_node("Relu", ["nowhere"], ["y"], name="act")
    bad = _save(tmp_path, [node], [_value("x")], [_value("y")], name="dangling.onnx")
    message = _ll001(tmp_path, bad)
    assert "dangling input" in message and "'nowhere'" in message and "'act' (#0)" in message


def test_cycle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second")]
    bad = _save(tmp_path, nodes, [_value("x")], [_value("b")], name="cycle.onnx")
    assert "cycle" in _ll001(tmp_path, bad)


def test_value_produced_twice(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nodes = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Sigmoid", ["x"], ["y"])]
    bad = _save(tmp_path, nodes, [_value("x")], [_value("y")], name="twice.onnx")
    assert "produced twice" in _ll001(tmp_path, bad)


def test_unknown_opset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    node = helper.make_node("Relu", ["x"], ["y"])
    bad = _save(tmp_path, [node], [_value("x")], [_value("y")], name="future.onnx", opset=999)
    assert "unknown ONNX opset 999" in _ll001(tmp_path, bad)


def test_undeclared_domain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    node = helper.make_node("Fancy", ["x"], ["y"], domain="com.nowhere")
    bad = _save(tmp_path, [node], [_value("x")], [_value("y")], name="domain.onnx")
    assert "domain 'com.nowhere'" in _ll001(tmp_path, bad)


def test_text_syntax_error_has_a_position(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "broken.onnxtxt"
    bad.write_text(HEADER + "\ng (float x) => (float y) {\n  y = Relu x\n}\n")
    result = check_paths([bad], select_rules(["LL001"]))
    (finding,) = result.findings
    assert "syntax error" in finding.message and finding.location.line == 3


def test_text_dangling_input_points_at_the_node(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "dangling.onnxtxt"
    bad.write_text(HEADER + "\ng (float x) => (float y) {\n  a = Relu (x)\n  y = Add (a, q)\n}\n")
    (finding,) = check_paths([bad], select_rules(["LL001"])).findings
    assert "'q'" in finding.message and (finding.location.line, finding.location.column) == (4, 3)


def test_text_that_is_not_utf8(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "latin1.onnxtxt"
    bad.write_bytes(b"\xff\xfe g (float x) => (float y) { y = Relu (x) }")
    assert "UTF-8" in _ll001(tmp_path, bad)


# --- external data: never opened ------------------------------------------------------------

def _external_model(tmp_path: Path, location: str) -> Path:
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 4])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "64")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="/fc/MatMul"),
             helper.make_node("Relu", ["h"], ["y"], name="/act/Relu")]
    return _save(tmp_path, nodes, [_value("x")], [_value("y")], [weight])


@pytest.mark.parametrize("location", ["missing.bin", "../../../../etc/passwd", "huge.bin"])
def test_external_data_is_never_read(tmp_path, monkeypatch, location):
    monkeypatch.chdir(tmp_path)
    if location == "huge.bin":
        with open(tmp_path / "huge.bin", "wb") as handle:  # sparse: costs no disk
            handle.truncate(3 * 2**30)
    path = _external_model(tmp_path, location)

    def refuse(*args, **kwargs):
        raise AssertionError("external data must never be loaded")

    monkeypatch.setattr(onnx.external_data_helper, "load_external_data_for_model", refuse)
    monkeypatch.setattr(onnx.external_data_helper, "load_external_data_for_tensor", refuse)
    result = check_paths([path], all_rules())
    assert not result.internal_errors
    assert [f.code for f in result.findings] == ["LL002"]
    graph = _graph(path)
    assert [lay.label for lay in graph.of_kind(Kind.WEIGHTED)] == ["fc"]


# --- reporting -----------------------------------------------------------------------------

class _EveryActivation(Rule):
    """Reports every activation (a probe for locations and JSON)."""

    code = "LL999"
    name = "every-activation"
    message = "activation `{label}`"

    def check(self, graph):
        for layer in graph.of_kind(Kind.ACTIVATION):
            yield self.report(layer, label=layer.label)


def test_json_output_fills_node_and_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    node = helper.make_node("Relu", ["x"], ["y"], name="/head/act/Relu")
    prop = node.metadata_props.add()
    prop.key, prop.value = "pkg.torch.onnx.stack_trace", 'File "/src/net.py", line 7, in forward'
    binary = _save(tmp_path, [node], [_value("x")], [_value("y")])
    findings = check_paths([binary], [_EveryActivation]).findings
    (row,) = json.loads(render_json(findings))
    assert (row["path"], row["line"], row["node"]) == (
        "model.onnx", 1, {"name": "/head/act/Relu", "index": 0, "subgraph": None})
    assert row["message"] == "activation `head.act`"
    assert [(r["path"], r["line"]) for r in row["related"]] == [("/src/net.py", 7)]
    assert "(node /head/act/Relu (#0))" in render_text(findings, 1)


def test_check_never_imports_torch(tmp_path):
    path = tmp_path / "m.onnxtxt"
    path.write_text((FIXTURES / "cnn_train_export.onnxtxt").read_text())
    code = ("import sys; from pathlib import Path; from layerlint.engine import check_paths; "
            "from layerlint.registry import all_rules; "
            f"check_paths([Path({str(path)!r})], all_rules()); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


# --- fixtures: markers against the rules that exist ----------------------------------------

@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.onnxtxt")), ids=lambda p: p.name)
def test_onnx_fixture_markers(fixture, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / fixture.name
    target.write_text(fixture.read_text())
    rules = all_rules()
    codes = {rule.code for rule in rules if rule.default_enabled}
    expected = {(line, code) for line, code in Example("onnx", fixture.read_text()).expected()
                if code in codes}
    result = check_paths([target], [r for r in rules if r.default_enabled])
    assert not result.internal_errors
    found = {(f.location.line, f.code) for f in result.findings}
    assert found == expected, "\n".join(f"{f.location.line}: {f.code} {f.message}"
                                        for f in result.findings)
