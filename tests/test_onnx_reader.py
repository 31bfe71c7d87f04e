"""The weightless ONNX reader: same model as a full parse, payloads never read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from layerlint.engine import check_paths
from layerlint.frontends import Project
from layerlint.frontends import onnx as onnx_frontend
from layerlint.frontends.onnx import lowering, reader
from layerlint.frontends.onnx.reader import check_header, read_model
from layerlint.ir import LayerGraph
from layerlint.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "onnx"


def _lower(model, name: str = "model.onnx") -> LayerGraph:
    check_header(model)
    return lowering.Lowering(model, name, {}).run()


def _signature(graph: LayerGraph) -> list[tuple]:
    """Everything rules and reports can read from a graph."""
    layers = [(layer.op, layer.label, layer.kind, sorted(map(repr, layer.attrs.items())),
               [p.label for p in graph.predecessors(layer)], layer.condition,
               layer.module_path, layer.location.node, layer.use)
              for layer in graph.layers]
    return [*layers, graph.notes, graph.hidden, [graph.layers[i].label for i in graph.outputs]]


def _findings(graph: LayerGraph) -> list[tuple[str, str]]:
    return sorted((f.code, f.message) for rule in all_rules() for f in rule().check(graph))


def _materialise(graph: onnx.GraphProto) -> None:
    """Turn weights the text format declares without values into initializers."""
    produced = {o for node in graph.node for o in node.output}
    produced |= {t.name for t in graph.initializer} | {v.name for v in graph.input}
    declared = [v for v in graph.value_info if v.name not in produced]
    for value in declared:
        tensor_type = value.type.tensor_type
        dims = [d.dim_value or 3 for d in tensor_type.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type or TensorProto.FLOAT)
        values = (np.arange(int(np.prod(dims))) % 7 + 1).astype(dtype).reshape(dims)
        graph.initializer.append(numpy_helper.from_array(values, value.name))
    for node in graph.node:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else attr.graphs):
                _materialise(sub)


def _text_models() -> list[tuple[str, str]]:
    cases = [(path.name, path.read_text()) for path in sorted(FIXTURES.glob("*.onnxtxt"))]
    for rule in all_rules():
        examples = [e for e in (*rule.invalid, *rule.valid) if e.frontend == "onnx"]
        cases += [(f"{rule.code}-{i}", e.code) for i, e in enumerate(examples)]
    return cases


@pytest.mark.parametrize(("name", "text"), _text_models(), ids=[n for n, _ in _text_models()])
def test_same_graph_as_a_full_parse(tmp_path, monkeypatch, name, text):
    """Every fixture and ONNX rule example, as a binary file with values for its
    weights: the reader's model lowers to the graph a full ``onnx.load`` gives, even
    when every submessage is walked and every tensor above 8 elements is skipped."""
    model = onnx.parser.parse_model(text)
    _materialise(model.graph)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    full = _lower(onnx.load(str(path)))
    monkeypatch.setattr(reader, "WALK_ABOVE", 0)
    monkeypatch.setattr(reader, "MAX_INLINE_ELEMENTS", 8)
    monkeypatch.setattr(lowering, "MAX_INLINE_ELEMENTS", 8)
    stripped = read_model(path)
    weights = [t for t in stripped.graph.initializer if np.prod(t.dims) > 8]
    assert all(not t.raw_data and not t.float_data for t in weights)
    mine = _lower(stripped)
    assert _signature(mine) == _signature(full)
    assert _findings(mine) == _findings(full)


def _big(name: str, shape: tuple[int, ...], value: float = 0.25) -> TensorProto:
    return numpy_helper.from_array(np.full(shape, value, dtype=np.float32), name)


def _vgg_block(tmp_path: Path) -> Path:
    """A training-mode conv -> BN -> ReLU -> Dropout -> Linear export with real weights
    (a 147 KB conv weight, an If whose branch holds a 80 KB initializer and a 80 KB
    Constant) and a conv bias that torch zero-initialised."""
    branch_nodes = [helper.make_node("Constant", [], ["big_const"],
                                     value=_big("c", (20000,))),
                    helper.make_node("Add", ["h", "big_const"], ["then_out"])]
    then_branch = helper.make_graph(
        branch_nodes, "then", [], [helper.make_tensor_value_info("then_out", 1, None)],
        initializer=[_big("branch_w", (20000,))])
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["h"], ["else_out"])], "else", [],
        [helper.make_tensor_value_info("else_out", 1, None)])
    nodes = [
        helper.make_node("Conv", ["x", "features.0.weight", "features.0.bias"], ["c"],
                         name="/features/features.0/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n", "rm", "rv"],
                         name="/features/features.1/BatchNormalization", training_mode=1),
        helper.make_node("Relu", ["n"], ["h"], name="/features/features.2/Relu"),
        helper.make_node("If", ["flag"], ["r"], name="/branch/If",
                         then_branch=then_branch, else_branch=else_branch),
        helper.make_node("Flatten", ["r"], ["f"], name="/Flatten"),
        helper.make_node("Dropout", ["f", "ratio", "train"], ["d", "mask"],
                         name="/classifier/classifier.0/Dropout"),
        helper.make_node("Gemm", ["d", "classifier.1.weight", "classifier.1.bias"], ["y"],
                         name="/classifier/classifier.1/Gemm", transB=1),
    ]
    inits = [_big("features.0.weight", (64, 64, 3, 3)),
             _big("features.0.bias", (64,), 0.0),
             *(_big(n, (64,), 1.0) for n in "sbmv"),
             _big("classifier.1.weight", (10, 64 * 4 * 4)), _big("classifier.1.bias", (10,)),
             helper.make_tensor("ratio", TensorProto.FLOAT, [], [0.3]),
             helper.make_tensor("train", TensorProto.BOOL, [], [True]),
             helper.make_tensor("flag", TensorProto.BOOL, [], [True])]
    graph = helper.make_graph(
        nodes, "vgg", [helper.make_tensor_value_info("x", 1, [1, 64, 4, 4])],
        [helper.make_tensor_value_info("y", 1, [1, 10])], initializer=inits)
    path = tmp_path / "vgg.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              str(path))
    return path


def test_large_payloads_are_skipped_small_constants_kept(tmp_path):
    path = _vgg_block(tmp_path)
    model = read_model(path)
    assert path.stat().st_size > 300_000 and model.ByteSize() < 50_000
    by_name = {t.name: t for t in model.graph.initializer}
    assert not by_name["features.0.weight"].raw_data
    assert list(by_name["features.0.weight"].dims) == [64, 64, 3, 3]
    assert reader.tensor_values(by_name["ratio"]) == pytest.approx([0.3])
    assert reader.tensor_values(by_name["features.0.bias"]) == [0.0] * 64  # small: read
    (branch,) = [a.g for a in model.graph.node[3].attribute if a.name == "then_branch"]
    assert not branch.initializer[0].raw_data and not branch.node[0].attribute[0].t.raw_data
    assert _signature(_lower(model)) == _signature(_lower(onnx.load(str(path))))


def test_zero_valued_named_bias_is_a_bias(tmp_path, monkeypatch):
    """torch zero-initialises conv biases: ``features.0.bias`` is one whatever its values."""
    monkeypatch.chdir(tmp_path)
    result = check_paths([_vgg_block(tmp_path)], all_rules())
    (ll104,) = [f for f in result.findings if f.code == "LL104"]
    assert "features.0" in ll104.message and ll104.location.node.startswith("/features/")


def test_truncated_inside_a_skipped_payload_is_ll001(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _vgg_block(tmp_path).read_bytes()
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(data[: len(data) // 2])  # inside the conv weight's raw_data
    (finding,) = check_paths([bad], all_rules()).findings
    assert finding.code == "LL001" and "truncated or corrupt" in finding.message


@pytest.mark.parametrize("data", [b"", b"\x0a", b"\x3a\xff\xff\xff\xff\x0f", b"\x0b\x0c",
                                  b"\x08" + b"\xff" * 11])
def test_garbage_is_ll001(tmp_path, monkeypatch, data):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(data)
    (finding,) = check_paths([bad], all_rules()).findings
    assert finding.code == "LL001" and "not an ONNX model" in finding.message


def test_external_data_is_never_opened(tmp_path):
    """An audit hook sees every file the process opens: never the weights file."""
    weight = TensorProto(name="fc.weight", data_type=TensorProto.FLOAT, dims=[4, 4])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", "64")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "fc.weight"], ["y"], name="/fc/MatMul")], "g",
        [helper.make_tensor_value_info("x", 1, [1, 4])],
        [helper.make_tensor_value_info("y", 1, [1, 4])], initializer=[weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              str(tmp_path / "model.onnx"))
    (tmp_path / "weights.bin").write_bytes(b"\0" * 64)
    code = (
        "import sys; opened = []\n"
        "sys.addaudithook(lambda e, a: opened.append(str(a[0])) if e == 'open' else None)\n"
        "from pathlib import Path\n"
        "from layerlint.engine import check_paths\n"
        "from layerlint.registry import all_rules\n"
        "result = check_paths([Path('model.onnx')], all_rules())\n"
        "assert not result.internal_errors, result.internal_errors\n"
        "assert [f.code for f in result.findings] == ['LL002'], result.findings\n"
        "assert any(p.endswith('model.onnx') for p in opened), opened\n"
        "assert not [p for p in opened if 'weights.bin' in p], opened\n"
        "assert 'onnx' not in sys.modules and 'numpy' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_node_names_that_are_not_utf8(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nodes = [helper.make_node("Dropout", ["x", "r", "t"], ["d"], name="/dropAA/Dropout"),
             helper.make_node("BatchNormalization", ["d", "s", "b", "m", "v"], ["y"],
                              name="/bn/BatchNormalization", training_mode=1)]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", 1, [1, 4])],
        [helper.make_tensor_value_info("y", 1, [1, 4])],
        initializer=[helper.make_tensor("r", TensorProto.FLOAT, [], [0.5]),
                     helper.make_tensor("t", TensorProto.BOOL, [], [True]),
                     *(_big(n, (4,), 1.0) for n in "sbmv")])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "latin1.onnx"
    path.write_bytes(data.SerializeToString().replace(b"AA", b"\xe9\xff"))
    result = check_paths([path], all_rules())
    assert not result.internal_errors
    (ll101,) = [f for f in result.findings if f.code == "LL101"]
    assert "drop\\xe9\\xff" in ll101.message
    assert ll101.location.node == "/drop\\xe9\\xff/Dropout (#0)"


def test_project_run_reads_without_onnx(tmp_path):
    """``load_graphs`` on a binary file: the same graph as lowering ``onnx.load``."""
    path = _vgg_block(tmp_path)
    (graph,) = onnx_frontend.load_graphs(path, Project([path], str))
    assert _signature(graph) == _signature(_lower(onnx.load(str(path)), str(path)))


def test_result_cache_keys_a_model_by_its_structure(tmp_path, monkeypatch):
    """The cache digests what a check reads: a changed weight is the same result (and
    its bytes are never read), a changed dropout ratio is checked again."""
    from layerlint.cache import ResultCache

    monkeypatch.chdir(tmp_path)
    path = _vgg_block(tmp_path)
    cache = ResultCache(tmp_path / "cache", all_rules())
    first = check_paths([path], all_rules(), cache=cache)
    data = bytearray(path.read_bytes())
    weight = bytes(np.full((64, 64, 3, 3), 0.25, dtype=np.float32))
    start = data.index(weight)
    data[start:start + 4] = np.float32(7.0).tobytes()  # another weight value
    path.write_bytes(bytes(data))

    def fresh(*args, **kwargs):
        raise AssertionError("a cached result must be used")

    with monkeypatch.context() as patch:
        patch.setattr(onnx_frontend, "load_graphs", fresh)
        again = check_paths([path], all_rules(), cache=ResultCache(tmp_path / "cache",
                                                                   all_rules()))
    assert not again.internal_errors
    assert [f.message for f in again.findings] == [f.message for f in first.findings]
    ratio = helper.make_tensor("ratio", TensorProto.FLOAT, [], [0.3]).SerializeToString()
    path.write_bytes(bytes(data).replace(
        ratio, helper.make_tensor("ratio", TensorProto.FLOAT, [], [1.0]).SerializeToString()))
    changed = check_paths([path], all_rules(), cache=ResultCache(tmp_path / "cache",
                                                                 all_rules()))
    assert "LL302" in {f.code for f in changed.findings} - {f.code for f in first.findings}
