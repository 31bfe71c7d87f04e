"""A seeded generator of mutated ONNX models, for fuzz tests.

``cases(seed, count)`` yields ``(name, suffix, data)``: bytes for a ``.onnx`` file or
UTF-8 text for ``.onnxtxt``. The bases are the ONNX fixtures, with values for their
weights, and small models with the structures that broke readers before (nested and
recursive local functions, control flow, a large tensor, invalid UTF-8 names); each case
applies one to three mutations at the protobuf level (a dangling or repeated name, a
cycle, a changed op, attribute or opset, bad dims) or at the byte level (truncation,
flipped, inserted or zeroed bytes). Needs ``onnx`` and numpy (the test extras).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "onnx"
_OPS = ["Relu", "Dropout", "BatchNormalization", "Conv", "Gemm", "MatMul", "Add", "Mul",
        "Sigmoid", "Clip", "If", "Loop", "Scan", "Constant", "Identity", "Softmax", "Log",
        "Fancy", "f0", "f1", "Tanh", "Softplus"]
_OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]


def materialise(graph: onnx.GraphProto) -> None:
    """Turn weights the text format declares without values into initializers."""
    produced = {o for node in graph.node for o in node.output}
    produced |= {t.name for t in graph.initializer} | {v.name for v in graph.input}
    for value in [v for v in graph.value_info if v.name not in produced]:
        tensor_type = value.type.tensor_type
        dims = [d.dim_value or 3 for d in tensor_type.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type or TensorProto.FLOAT)
        values = (np.arange(int(np.prod(dims))) % 7 + 1).astype(dtype).reshape(dims)
        graph.initializer.append(numpy_helper.from_array(values, value.name))
    for node in graph.node:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == AttributeProto.GRAPH else attr.graphs):
                materialise(sub)


def _value(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 4])


def _functions(depth: int, recursive: bool = False) -> onnx.ModelProto:
    functions = [helper.make_function("local", "f0", ["x"], ["y"], [
        helper.make_node("f0" if recursive else "Relu", ["x"], ["y"],
                         domain="local" if recursive else "")], _OPSETS)]
    for d in range(1, depth + 1):
        functions.append(helper.make_function("local", f"f{d}", ["x"], ["y"], [
            helper.make_node(f"f{d - 1}", ["x"], ["h"], domain="local"),
            helper.make_node(f"f{d - 1}", ["h"], ["y"], domain="local")], _OPSETS))
    graph = helper.make_graph([helper.make_node(f"f{depth}", ["x"], ["y"], domain="local",
                                                name="/call/f")],
                              "g", [_value("x")], [_value("y")])
    return helper.make_model(graph, functions=functions, opset_imports=_OPSETS)


def _control_flow() -> onnx.ModelProto:
    then_branch = helper.make_graph(
        [helper.make_node("Dropout", ["x", "ratio", "train"], ["t"], name="/drop/Dropout")],
        "then", [], [_value("t")])
    else_branch = helper.make_graph([helper.make_node("Relu", ["x"], ["e"])], "else", [],
                                    [_value("e")])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Sigmoid", ["carried"], ["next"])], "body",
        [_value("i"), _value("cond_in"), _value("carried")], [_value("cond_out"),
                                                               _value("next")])
    nodes = [helper.make_node("If", ["flag"], ["a"], then_branch=then_branch,
                              else_branch=else_branch, name="/if/If"),
             helper.make_node("Loop", ["", "flag", "a"], ["b"], body=body, name="/loop/Loop"),
             helper.make_node("BatchNormalization", ["b", "s", "s", "s", "s"], ["y"],
                              training_mode=1, name="/bn/BatchNormalization")]
    inits = [helper.make_tensor("ratio", TensorProto.FLOAT, [], [0.3]),
             helper.make_tensor("train", TensorProto.BOOL, [], [True]),
             helper.make_tensor("flag", TensorProto.BOOL, [], [True]),
             numpy_helper.from_array(np.ones(4, dtype=np.float32), "s")]
    graph = helper.make_graph(nodes, "g", [_value("x")], [_value("y")], initializer=inits)
    return helper.make_model(graph, opset_imports=_OPSETS[:1])


def _large_tensor() -> onnx.ModelProto:
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"],
                              name="/conv/Conv"),
             helper.make_node("BatchNormalization", ["c", "s", "s", "s", "s"], ["y"],
                              training_mode=1, name="/bn/BatchNormalization")]
    inits = [numpy_helper.from_array(np.ones((32, 32, 3, 3), dtype=np.float32),
                                     "conv.weight"),
             numpy_helper.from_array(np.zeros(32, dtype=np.float32), "conv.bias"),
             numpy_helper.from_array(np.ones(32, dtype=np.float32), "s")]
    graph = helper.make_graph(nodes, "g", [_value("x")], [_value("y")], initializer=inits)
    return helper.make_model(graph, opset_imports=_OPSETS[:1])


def bases() -> list[onnx.ModelProto]:
    models = []
    for path in sorted(FIXTURES.glob("*.onnxtxt")):
        model = onnx.parser.parse_model(path.read_text())
        materialise(model.graph)
        models.append(model)
    return [*models, _functions(4), _functions(40), _functions(2, recursive=True),
            _control_flow(), _large_tensor()]


# --------------------------------------------------------------------------------------
# Mutations of a ModelProto (in place)


def _all_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    nodes: list[onnx.NodeProto] = []
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            nodes.append(node)
            for attr in node.attribute:
                graphs.extend([attr.g] if attr.type == AttributeProto.GRAPH else attr.graphs)
    for function in model.functions:
        nodes.extend(function.node)
    return nodes


def _names(model: onnx.ModelProto) -> list[str]:
    names = [name for node in _all_nodes(model) for name in (*node.input, *node.output)]
    return [*names, *(t.name for t in model.graph.initializer), "missing"] or ["x"]


def _rename_input(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = [n for n in _all_nodes(model) if n.input]
    if nodes:
        node = rng.choice(nodes)
        node.input[rng.randrange(len(node.input))] = rng.choice(_names(model))


def _rename_output(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = [n for n in _all_nodes(model) if n.output]
    if nodes:
        node = rng.choice(nodes)
        node.output[rng.randrange(len(node.output))] = rng.choice(_names(model))


def _change_op(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = _all_nodes(model)
    if nodes:
        node = rng.choice(nodes)
        node.op_type = rng.choice(_OPS)
        node.domain = "local" if node.op_type.startswith("f") else rng.choice(["", "", "x.y"])


def _drop_or_repeat_node(rng: random.Random, model: onnx.ModelProto) -> None:
    graph = model.graph
    if not graph.node:
        return
    index = rng.randrange(len(graph.node))
    if rng.random() < 0.5:
        del graph.node[index]
    else:
        graph.node.append(graph.node[index])


def _cycle(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = model.graph.node
    if len(nodes) > 1 and nodes[0].input and nodes[-1].output:
        nodes[0].input[0] = nodes[-1].output[0]


def _attribute(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = _all_nodes(model)
    if not nodes:
        return
    node = rng.choice(nodes)
    name = rng.choice(["ratio", "momentum", "training_mode", "is_test", "min", "max",
                       "then_branch", "body", "num_scan_inputs", "value", "kernel_shape"])
    value = rng.choice([
        rng.uniform(-2, 2), rng.randrange(-3, 3), "text", [1.5, -2.0], [1, 2, 3],
        helper.make_tensor("t", TensorProto.FLOAT, [2], [0.0, 6.0]),
        helper.make_graph([], "empty", [], []),
    ])
    attr = helper.make_attribute(name, value)
    if rng.random() < 0.2:
        attr.ref_attr_name = rng.choice(["alpha", "missing"])
    node.attribute.append(attr)


def _opset(rng: random.Random, model: onnx.ModelProto) -> None:
    if rng.random() < 0.5:
        model.opset_import[0].version = rng.choice([0, -1, 1, 6, 11, 12, 999, 2**40])
    else:
        model.ir_version = rng.choice([0, 1, 3, 65, -1])


def _tensor(rng: random.Random, model: onnx.ModelProto) -> None:
    tensors = list(model.graph.initializer)
    if not tensors:
        return
    tensor = rng.choice(tensors)
    choice = rng.randrange(4)
    if choice == 0:
        tensor.dims[:] = [rng.choice([-1, 0, 2**40, 3])]
    elif choice == 1:
        tensor.data_type = rng.choice([0, 8, 10, 16, 17, 99])
    elif choice == 2:
        tensor.raw_data = bytes(rng.randrange(256) for _ in range(rng.randrange(9)))
    else:
        tensor.data_location = TensorProto.EXTERNAL
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", rng.choice(["/dev/zero", "../../etc/passwd"])


def _metadata(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = _all_nodes(model)
    if nodes:
        prop = rng.choice(nodes).metadata_props.add()
        prop.key = rng.choice(["pkg.torch.onnx.name_scopes", "pkg.torch.onnx.stack_trace",
                               "namespace"])
        prop.value = rng.choice(["['', 'a', 'Relu']", "[", "['']" * 50,
                                 'File "/m.py", line 99999999999999999999, in f',
                                 "_native_batch_norm_legit_functional"])


def _subgraph(rng: random.Random, model: onnx.ModelProto) -> None:
    """Wrap the graph's nodes in nested If branches."""
    graph = model.graph
    nodes = list(graph.node)
    outputs = list(graph.output)
    flat = helper.make_graph(nodes, "flat", [], outputs)
    for depth in range(rng.choice([1, 3, 25])):  # protobuf nests at most 100 deep
        branch = helper.make_graph(nodes, f"b{depth}", [], outputs)
        # else: the flat body, so that the size grows with the depth, not 2**depth
        nodes = [helper.make_node("If", ["cond"], [v.name for v in outputs],
                                  then_branch=branch, else_branch=flat)]
    graph.ClearField("node")
    graph.node.extend(nodes)
    graph.input.append(helper.make_tensor_value_info("cond", TensorProto.BOOL, []))


_MODEL_MUTATIONS: list[Callable[[random.Random, onnx.ModelProto], None]] = [
    _rename_input, _rename_output, _change_op, _drop_or_repeat_node, _cycle, _attribute,
    _opset, _tensor, _metadata, _subgraph,
]


# --------------------------------------------------------------------------------------
# Mutations of bytes


def _bytes(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    choice = rng.randrange(5)
    at = rng.randrange(len(data))
    if choice == 0:
        return data[:at]
    if choice == 1:
        flipped = bytearray(data)
        for _ in range(rng.randrange(1, 9)):
            flipped[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(flipped)
    if choice == 2:
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16))) \
            + data[at:]
    if choice == 3:
        return data[:at] + bytes(min(64, len(data) - at)) + data[at + 64:]
    # invalid UTF-8 in every name that contains "/"
    return data.replace(b"/", b"\xff", rng.randrange(1, 4))


def cases(seed: int, count: int) -> Iterator[tuple[str, str, bytes]]:
    """``count`` mutated models: (name, suffix, data), the same for the same seed."""
    rng = random.Random(seed)
    models = bases()
    for index in range(count):
        model = onnx.ModelProto()
        model.CopyFrom(rng.choice(models))
        applied = []
        try:
            for _ in range(rng.randint(1, 3)):
                mutate = rng.choice(_MODEL_MUTATIONS)
                mutate(rng, model)
                applied.append(mutate.__name__.strip("_"))
            data = model.SerializeToString()
        except Exception:  # noqa: BLE001 - a mutation the protobuf cannot encode
            continue
        if rng.random() < 0.4:
            data = _bytes(rng, data)
            applied.append("bytes")
        if rng.random() < 0.15:
            try:
                text = onnx.printer.to_text(model)
            except Exception:  # noqa: BLE001 - not every mutant prints
                continue
            yield f"{index}-{'-'.join(applied)}-text", ".onnxtxt", text.encode()
            continue
        yield f"{index}-{'-'.join(applied)}", ".onnx", data
