"""Lowering an ONNX model to the layer graph.

- Values are *dynamic* when they depend on a graph input; nodes that only compute on
  initializers, ``Constant`` nodes or shapes (``Shape``/``Size``) are static and become no
  layer, so shape arithmetic never creates data-flow paths between layers.
- Op kinds come from the vocabulary (``onnx::Op`` keys in ``layerlint.ir.kinds``);
  patterns (Clip as ReLU6, x * Sigmoid(x) as SiLU, MatMul + Add) are in ``patterns``.
- ``If`` branches, ``Loop`` and ``Scan`` bodies and model-local functions are inlined
  (branch layers carry a condition; loop-carried values get back edges); function calls
  expand to at most ``INLINE_BUDGET`` nodes per model.
- Attributes use the PyTorch frontend's names: ``p`` (dropout probability), ``bias``,
  ``momentum``. ONNX BatchNormalization momentum is Keras-style (``running = running *
  momentum + batch * (1 - momentum)``; torch's default 0.1 exports as 0.9). ``momentum``
  keeps the ONNX value, as written in the file, typed with its convention
  (``layerlint.frontends.attributes.onnx_attrs``); ``momentum_torch``
  is the same setting in torch's convention (``1 - momentum``).
  ``training_mode`` (Dropout, BatchNormalization) is the export's mode, not the
  model's: an inference export still describes layers that train, so it is not
  stored as ``training``, which rules read as "never active".
- Module paths and source lines come from ``provenance``; eval-mode exports declare
  the layers they hide (``graph.hidden``, from ``eval_export``), and the engine reports
  the selected rules that need them (LL002).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from layerlint.frontends import InputError
from layerlint.frontends.attributes import onnx_attrs
from layerlint.frontends.onnx.eval_export import Evidence, eval_mode_hidden
from layerlint.frontends.onnx.patterns import Patterns
from layerlint.frontends.onnx.provenance import (
    PARAMETER,
    metadata,
    module_path_from_metadata,
    module_path_from_name,
    module_path_from_parameters,
    source_location,
    torch_scopes,
)
from layerlint.frontends.onnx.reader import (
    DEFAULT_DOMAINS,
    MAX_INLINE_ELEMENTS,
    NodeKey,
    proto,
    tensor_values,
)
from layerlint.ir import (
    GraphBuilder,
    Kind,
    LayerGraph,
    Location,
    NodeRef,
    OpInfo,
    Role,
    Unresolved,
    lookup,
)

_pb = proto()
AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto = (
    _pb.AttributeProto, _pb.GraphProto, _pb.ModelProto, _pb.NodeProto, _pb.TensorProto)

__all__ = ["INLINE_BUDGET", "Body", "Lowering", "Record"]

# Nodes whose outputs carry no data of the model (shapes, constants, random draws).
_STATIC_OPS = frozenset({
    "Constant", "ConstantOfShape", "Shape", "Size", "RandomNormal", "RandomUniform",
    "EyeLike", "Range",
})
# Ops through which a constant is looked up (Clip bounds, Dropout ratio, zero biases).
_PASS_THROUGH = frozenset({"Identity", "Cast", "CastLike", "Reshape", "Squeeze", "Unsqueeze",
                           "Expand"})
# Kinds whose only data input is input 0 (the rest are parameters or options).
_FIRST_INPUT_KINDS = frozenset({
    Kind.WEIGHTED, Kind.BATCHNORM, Kind.NORM, Kind.DROPOUT, Kind.ACTIVATION, Kind.POOL,
    Kind.SHAPE, Kind.SOFTMAX,
})
_BIAS_INPUT = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2}
# Data inputs of first-input kinds whose data may come second (a weight may be A or B).
_DATA_INPUTS = {"MatMul": (0, 1), "Gemm": (0, 1)}
_FUNCTION_DEPTH = 32
# Nodes that inlining model-local functions may create in one model (about 2 s).
INLINE_BUDGET = 20_000
_EMPTY: tuple[int, ...] = ()


def _tensor_values(tensor: TensorProto | list[float]) -> list[float] | None:
    """Values of a small inline constant; None when external, large or not numeric."""
    return tensor if isinstance(tensor, list) else tensor_values(tensor)


def _attribute_values(attr: AttributeProto) -> list[float] | None:
    if attr.type == AttributeProto.FLOAT:
        return [attr.f]
    if attr.type == AttributeProto.INT:
        return [float(attr.i)]
    if attr.type == AttributeProto.FLOATS:
        return list(attr.floats)
    if attr.type == AttributeProto.INTS:
        return [float(v) for v in attr.ints]
    if attr.type == AttributeProto.TENSOR:
        return _tensor_values(attr.t)
    return None


@dataclass
class Record:
    """A layer under construction (mutable until the graph is built)."""

    op: str
    info: OpInfo
    label: str
    location: Location
    inputs: list[int]
    attrs: dict[str, object] = field(default_factory=dict)
    condition: str | None = None
    module_path: str | None = None
    use: Location | None = None
    removed: bool = False
    instance: int | None = None


@dataclass
class Body:
    """One graph body being lowered: the main graph, a subgraph or a function body."""

    values: dict[str, tuple[int, ...]]  # name -> producing records (empty: static)
    parent: Body | None
    producers: dict[str, NodeProto]
    consumers: dict[str, int]
    key: NodeKey
    node_prefix: str = ""
    # the enclosing nodes, as NodeRef.subgraph: (name, index, attribute or None)
    scope: tuple[tuple[str, int, str | None], ...] = ()
    condition: str | None = None
    attr_env: dict[str, AttributeProto] | None = None
    caller_module: str | None = None
    caller_use: Location | None = None
    label_prefix: str = ""  # inlined function bodies: "<caller>/"
    constants: dict[str, TensorProto | list[float]] = field(default_factory=dict)
    declared: frozenset[str] = frozenset()

    def lookup(self, name: str) -> tuple[int, ...] | None:
        body: Body | None = self
        while body is not None:
            if name in body.values:
                return body.values[name]
            body = body.parent
        return None

    def producer(self, name: str) -> tuple[NodeProto | None, Body | None]:
        body: Body | None = self
        while body is not None:
            if name in body.producers:
                return body.producers[name], body
            if name in body.constants or name in body.values:
                return None, body
            body = body.parent
        return None, None

    def constant(self, name: str) -> TensorProto | list[float] | None:
        body: Body | None = self
        while body is not None:
            if name in body.constants:
                return body.constants[name]
            body = body.parent
        return None


class Lowering(Patterns):
    """One model to one LayerGraph: each body's nodes in dependency order become
    records (layers under construction), then ``_build`` makes the graph."""

    def __init__(self, model: ModelProto, path: str,
                 positions: dict[NodeKey, tuple[int, int]]) -> None:
        self.model = model
        self.path = path
        self.positions = positions
        self.records: list[Record] = []
        self.evidence = Evidence()
        self.notes: list[str] = []
        self.statistics: dict[tuple[str, ...], int] = {}  # running-statistics owners
        self.imported = {o.domain: o.version for f in model.functions for o in f.opset_import}
        self.imported.update({o.domain: o.version for o in model.opset_import})
        self.functions = {(f.domain, f.name): (i, f) for i, f in enumerate(model.functions)}
        self.is_text = bool(positions) or path.endswith(".onnxtxt")
        self.scopes = torch_scopes(model)
        self.expanded: dict[tuple[str, str], int] = {}  # function -> nodes once inlined
        self.inlined = 0  # nodes created by inlining so far, out of INLINE_BUDGET
        self.not_inlined: dict[tuple[str, str], int] = {}  # function -> calls left opaque

    def run(self) -> LayerGraph:
        graph = self.model.graph
        body = self._new_body(graph, None, ("graph",), declared=self.is_text)
        for value in graph.input:
            if value.name in body.values or value.name in body.constants:
                continue  # an initializer also listed as input (old exporters): static
            record = self._add(Record(
                op="input", info=OpInfo(Kind.INPUT), label=value.name,
                location=Location(self.path, 1, 1, node=f"input {value.name}",
                                  node_ref=NodeRef(value.name)), inputs=[]))
            body.values[value.name] = (record,)
        self._lower_nodes(graph.node, body, (v.name for v in graph.output))
        outputs: list[int] = []
        for value in graph.output:
            produced = body.lookup(value.name)
            if produced is None:
                raise InputError(f"graph output {value.name!r} is not produced by any node, "
                                 "input or initializer")
            outputs.extend(produced)
        return self._build(graph.name or Path(self.path).stem, outputs)

    def _build(self, name: str, outputs: list[int]) -> LayerGraph:
        builder = GraphBuilder(name, self.path, "onnx", onnx_attrs)
        built: dict[int, object] = {}
        for index, rec in enumerate(self.records):
            if rec.removed:
                continue
            built[index] = builder.add(
                rec.op, rec.label, rec.location,
                [built[i] for i in dict.fromkeys(rec.inputs) if i in built],
                info=rec.info, attrs=rec.attrs, use=rec.use, condition=rec.condition,
                module_path=rec.module_path, instance=rec.instance)
        # Back edges (loop-carried values) point at later records.
        for index, rec in enumerate(self.records):
            if rec.removed:
                continue
            for src in dict.fromkeys(rec.inputs):
                if src >= index and src in built:
                    builder.connect(built[src], built[index])
        builder.hidden = eval_mode_hidden(self.evidence)
        builder.notes.extend(self.notes)
        for (domain, name), calls in self.not_inlined.items():
            size = self.expanded[domain, name]
            builder.notes.append(
                f"model-local function {domain}.{name} was not expanded at {calls} "
                f"call{'s' if calls > 1 else ''}: "
                + (f"expanding it would create more than {INLINE_BUDGET} nodes"
                   if size > INLINE_BUDGET else
                   f"its {size} nodes would exceed the {INLINE_BUDGET} nodes")
                + " that all of a model's function calls may expand to; the layers "
                "inside were not checked")
        return builder.build([built[i] for i in dict.fromkeys(outputs) if i in built],
                             role=Role.MODEL)

    def _add(self, record: Record) -> int:
        self.records.append(record)
        return len(self.records) - 1

    def _new_body(self, graph: GraphProto, parent: Body | None, key: NodeKey,
                  declared: bool = False, **extra: object) -> Body:
        body = Body(values={}, parent=parent, producers={}, consumers={}, key=key,
                     **extra)  # type: ignore[arg-type]
        for tensor in graph.initializer:
            body.constants[tensor.name] = tensor
            body.values[tensor.name] = _EMPTY
        for sparse in graph.sparse_initializer:
            body.values[sparse.values.name] = _EMPTY
        if declared:
            # ONNX text declares weights without values as value_info (`<float[4] w>`).
            body.declared = frozenset(v.name for v in graph.value_info)
        return body

    def _lower_nodes(self, nodes: Sequence[NodeProto], body: Body,
                     outputs: Iterable[str]) -> None:
        for node in nodes:
            for name in node.output:
                if not name:
                    continue
                if name in body.producers:
                    raise InputError(
                        f"value {name!r} is produced twice (by {self._describe(node, body)})",
                        *self._line(body, node, nodes))
                body.producers[name] = node
        reads = [list(_all_inputs(node)) for node in nodes]
        for name in [*(n for names in reads for n in names), *outputs]:
            body.consumers[name] = body.consumers.get(name, 0) + 1
        for name in body.declared:
            if name not in body.producers and body.lookup(name) is None:
                body.values[name] = _EMPTY
        index_of = {id(n): i for i, n in enumerate(nodes)}
        for node in self._toposort(nodes, body, reads):
            self._lower_node(node, index_of[id(node)], body)

    def _toposort(self, nodes: Sequence[NodeProto], body: Body,
                  reads: list[list[str]]) -> list[NodeProto]:
        """Nodes in dependency order; dangling inputs and cycles are input errors."""
        producer_index = {name: i for i, n in enumerate(nodes) for name in n.output if name}
        deps: list[set[int]] = []
        for i, node in enumerate(nodes):
            needs: set[int] = set()
            for name in reads[i]:
                if name in producer_index:
                    needs.add(producer_index[name])
                elif body.lookup(name) is None and name not in body.declared:
                    raise InputError(
                        f"dangling input: node {self._describe(node, body, i)} reads "
                        f"{name!r}, which no node, graph input or initializer produces",
                        *self._line(body, node, nodes, i))
            deps.append(needs)
        waiting = [len(d) for d in deps]
        users: list[list[int]] = [[] for _ in nodes]
        for i, needs in enumerate(deps):
            for j in needs:
                users[j].append(i)
        # Kahn's algorithm, smallest index first: file order whenever that order is valid.
        ready = [i for i, count in enumerate(waiting) if count == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for user in users[i]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, user)
        if len(order) < len(nodes):
            stuck = [i for i in range(len(nodes)) if waiting[i] > 0]
            names = ", ".join(self._describe(nodes[i], body, i) for i in stuck[:4])
            raise InputError(f"the graph has a cycle through nodes {names}",
                             *self._line(body, nodes[stuck[0]], nodes, stuck[0]))
        return [nodes[i] for i in order]

    def _line(self, body: Body, node: NodeProto, nodes: Sequence[NodeProto],
              index: int | None = None) -> tuple[int, int]:
        if index is None:
            index = next(i for i, n in enumerate(nodes) if n is node or n == node)
        return self.positions.get((*body.key, index), (1, 1))

    def _describe(self, node: NodeProto, body: Body, index: int | None = None) -> str:
        name = node.name or node.op_type
        if index is not None:
            name = node.name or f"{node.op_type}_{index}"
        return f"{body.node_prefix}{name!r}" + (f" (#{index})" if index is not None else "")

    def _lower_node(self, node: NodeProto, index: int, body: Body) -> None:
        domain = "" if node.domain in DEFAULT_DOMAINS else node.domain
        if (node.domain, node.op_type) in self.functions:
            if self._may_inline(node, body):
                self._inline_function(node, index, body)
            else:
                self._lower_opaque_call(node, index, body)
            return
        if domain and domain not in self.imported:
            raise InputError(
                f"node {self._describe(node, body, index)} uses domain {domain!r}, "
                "which the model does not import (opset_import)",
                *self.positions.get((*body.key, index), (1, 1)))
        op = node.op_type
        if not domain and op == "Constant":
            self._record_constant(node, body)
            return
        if not domain and op in ("If", "Loop", "Scan"):
            self._lower_control_flow(node, index, body)
            return
        dynamic = [(i, name) for i, name in enumerate(node.input)
                   if name and body.lookup(name)]
        if (not domain and op in _STATIC_OPS) or not dynamic:
            for name in node.output:
                if name:
                    body.values[name] = _EMPTY
            return
        if self._try_fuse(node, index, body, dynamic):
            return
        key = f"onnx::{op}" if not domain else f"{domain}::{op}"
        info = lookup(key)
        attrs: dict[str, object] = {}
        if not domain:
            info, attrs, dynamic = self._specialise(node, body, info, dynamic)
        if any(self._subgraphs(node)):
            self.notes.append(
                f"the subgraphs of {self._describe(node, body, index)} ({op}) were not "
                "followed; patterns inside them could not be checked")
        if info.kind in _FIRST_INPUT_KINDS:
            data = _DATA_INPUTS.get(op, (0,)) if not domain else (0,)
            dynamic = [(i, n) for i, n in dynamic if i in data]
            if not dynamic:  # e.g. CastLike(constant, x): only x's dtype is read
                for name in node.output:
                    if name:
                        body.values[name] = _EMPTY
                return
        sources = [src for _, name in dynamic for src in body.lookup(name) or ()]
        record = self._add(self._record(node, index, body, key, info, sources, attrs))
        for name in node.output:
            if name:
                body.values[name] = (record,)

    def _record(self, node: NodeProto, index: int, body: Body, op: str, info: OpInfo,
                sources: list[int], attrs: dict[str, object]) -> Record:
        meta = metadata(node)
        module = (module_path_from_metadata(meta)
                  or module_path_from_name(node.name, self.scopes)
                  or module_path_from_parameters(node, info, body) or body.caller_module)
        name = node.name or f"{node.op_type}_{index}"
        line, column = self.positions.get((*body.key, index), (1, 1))
        location = Location(self.path, line, column, node=f"{body.node_prefix}{name} (#{index})",
                            node_ref=NodeRef(name, index, body.scope))
        return Record(op=op, info=info, label=module or f"{body.label_prefix}{name}",
                       location=location,
                       inputs=sources, attrs=attrs, condition=body.condition,
                       module_path=module, use=source_location(meta) or body.caller_use,
                       instance=self._statistics_owner(node, info, body))

    def _statistics_owner(self, node: NodeProto, info: OpInfo, body: Body) -> int | None:
        """One number per pair of running-statistics initializers: BatchNormalization
        nodes that read the same mean and variance are one layer applied twice. Only in
        the main graph, where a name is one initializer (a function body's names are
        its parameters)."""
        if info.kind is not Kind.BATCHNORM or node.op_type != "BatchNormalization" or \
                body.parent is not None or len(node.input) < 5:
            return None
        stats = tuple(node.input[3:5])
        if not all(body.constant(name) is not None or name in body.declared
                   for name in stats):
            return None
        return self.statistics.setdefault(stats, len(self.statistics))

    def _record_constant(self, node: NodeProto, body: Body) -> None:
        for name in node.output:
            if name:
                body.values[name] = _EMPTY
        attr = next(iter(node.attribute), None)
        if attr is None or not node.output:
            return
        attr = self._resolve_attr(attr, body)
        if attr is None:
            return
        if attr.type == AttributeProto.TENSOR:
            body.constants[node.output[0]] = attr.t
        else:
            values = _attribute_values(attr)
            if values is not None and len(values) <= MAX_INLINE_ELEMENTS:
                body.constants[node.output[0]] = values

    def _resolve_attr(self, attr: AttributeProto, body: Body) -> AttributeProto | None:
        if attr.ref_attr_name:
            env = body.attr_env or {}
            return env.get(attr.ref_attr_name)
        return attr

    def _attr(self, node: NodeProto, name: str, body: Body) -> AttributeProto | None:
        for attr in node.attribute:
            if attr.name == name:
                return self._resolve_attr(attr, body)
        return None

    def _attr_number(self, node: NodeProto, name: str, body: Body) -> float | None:
        attr = self._attr(node, name, body)
        values = _attribute_values(attr) if attr is not None else None
        return values[0] if values and len(values) == 1 else None

    def _values(self, name: str, body: Body, depth: int = 0) -> list[float] | None:
        """Inline values of a static value, following pass-through ops; None if unknown."""
        if not name or depth > 16:
            return None
        tensor = body.constant(name)
        if tensor is not None:
            return _tensor_values(tensor)
        node, owner = body.producer(name)
        if node is None or owner is None:
            return None
        if node.op_type == "Constant":
            self._record_constant(node, owner)
            tensor = owner.constants.get(name)
            return _tensor_values(tensor) if tensor is not None else None
        if node.op_type in _PASS_THROUGH and node.input:
            return self._values(node.input[0], owner, depth + 1)
        return None

    def _scalar(self, name: str, body: Body) -> float | None:
        values = self._values(name, body)
        return values[0] if values and len(set(values)) == 1 else None

    def _is_static_zero(self, name: str, body: Body) -> bool:
        values = self._values(name, body)
        return values is not None and all(v == 0 for v in values)

    def _specialise(self, node: NodeProto, body: Body, info: OpInfo,
                    dynamic: list[tuple[int, str]]
                    ) -> tuple[OpInfo, dict[str, object], list[tuple[int, str]]]:
        op = node.op_type
        attrs: dict[str, object] = {}
        if op in ("MatMul", "Gemm") and len([i for i, _ in dynamic if i < 2]) != 1:
            return OpInfo(Kind.OPAQUE), attrs, dynamic  # activations x activations
        if op == "MatMul":
            attrs["bias"] = False
        elif op in _BIAS_INPUT:
            position = _BIAS_INPUT[op]
            bias = node.input[position] if len(node.input) > position else ""
            # A named parameter (``features.0.bias``) is a bias whatever its values: torch
            # zero-initialises conv biases, and one before a training BN stays zero.
            attrs["bias"] = bool(bias) and (PARAMETER.fullmatch(bias) is not None
                                            or not self._is_static_zero(bias, body))
        elif op == "Clip":
            info = self._clip_info(node, body)
        elif op == "Dropout":
            attrs.update(self._dropout_attrs(node, body))
        elif op == "BatchNormalization":
            attrs.update(self._batchnorm_attrs(node, body))
        if info.kind is Kind.WEIGHTED:
            self.evidence.weighted += 1
            self.evidence.convs += op in ("Conv", "ConvTranspose")
            if op == "Conv" and len(node.input) > 1 and node.input[1].startswith("onnx::Conv_"):
                # TorchScript renames a Conv weight it folded a BatchNorm into.
                self.evidence.folded_batchnorm = True
        meta = metadata(node)
        if "FuseBatchNorm" in meta.get("pkg.onnxscript.rewriter.rule_name", ""):
            self.evidence.folded_batchnorm = True
        if "_native_batch_norm_legit_functional" in meta.get("namespace", ""):
            self.evidence.training = True  # dynamo exporter, training-mode batchnorm
        return info, attrs, dynamic

    def _opset(self) -> int:
        return self.imported.get("", self.imported.get("ai.onnx", 1))

    def _dropout_attrs(self, node: NodeProto, body: Body) -> dict[str, object]:
        self.evidence.dropouts += 1
        attrs: dict[str, object] = {}
        if self._opset() >= 12:
            ratio_name = node.input[1] if len(node.input) > 1 else ""
            mode_name = node.input[2] if len(node.input) > 2 else ""
            ratio = self._scalar(ratio_name, body) if ratio_name else 0.5
            attrs["p"] = _rounded(ratio) if ratio is not None else Unresolved(ratio_name)
            if mode_name:
                mode = self._scalar(mode_name, body)
                attrs["training_mode"] = bool(mode) if mode is not None else Unresolved(
                    mode_name)
            else:
                attrs["training_mode"] = False
        else:
            ratio = self._attr_number(node, "ratio", body)
            attrs["p"] = _rounded(ratio) if ratio is not None else 0.5
            is_test = self._attr_number(node, "is_test", body)
            attrs["training_mode"] = is_test == 0 if is_test is not None else False
        if attrs["training_mode"] is True:
            self.evidence.training = True
        return attrs

    def _batchnorm_attrs(self, node: NodeProto, body: Body) -> dict[str, object]:
        self.evidence.batchnorms += 1
        momentum = self._attr_number(node, "momentum", body)
        momentum = 0.9 if momentum is None and self._attr(node, "momentum", body) is None \
            else momentum
        attrs: dict[str, object] = {}
        if momentum is not None:
            attrs["momentum"] = _rounded(momentum)  # ONNX (Keras) convention
            attrs["momentum_torch"] = _rounded(1 - _rounded(momentum))
            if self.model.producer_name == "pytorch":  # written in torch's convention
                attrs["exported_from"] = "pytorch"
        training = self._attr_number(node, "training_mode", body)
        is_test = self._attr_number(node, "is_test", body)
        attrs["training_mode"] = bool(training) if training is not None else is_test == 0
        if "_native_batch_norm_legit_functional" in metadata(node).get("namespace", ""):
            attrs["training_mode"] = True  # the dynamo exporter leaves the attribute out
        if attrs["training_mode"]:
            self.evidence.training = True
        return attrs

    @staticmethod
    def _subgraphs(node: NodeProto) -> Iterator[tuple[str, GraphProto]]:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                yield attr.name, attr.g
            elif attr.type == AttributeProto.GRAPHS:
                for k, sub in enumerate(attr.graphs):
                    yield f"{attr.name}[{k}]", sub

    def _sub_body(self, node: NodeProto, index: int, body: Body, attr: str,
                  graph: GraphProto, condition: str | None = None) -> Body:
        name = node.name or f"{node.op_type}_{index}"
        return self._new_body(
            graph, body, (*body.key, index, attr), declared=self.is_text,
            node_prefix=f"{body.node_prefix}{name} (#{index}) / {attr} / ",
            scope=(*body.scope, (name, index, attr)),
            condition=_join(body.condition, condition), attr_env=body.attr_env,
            caller_module=body.caller_module, caller_use=body.caller_use,
            label_prefix=body.label_prefix)

    def _lower_control_flow(self, node: NodeProto, index: int, body: Body) -> None:
        graphs = dict(self._subgraphs(node))
        label = node.name or f"{node.op_type}_{index}"
        if node.op_type == "If":
            produced: list[list[int]] = [[] for _ in node.output]
            for attr, branch in (("then_branch", "then"), ("else_branch", "else")):
                graph = graphs.get(attr)
                if graph is None:
                    continue
                sub = self._sub_body(node, index, body, attr, graph,
                                     condition=f"`{label}` takes its {branch} branch")
                self._lower_nodes(graph.node, sub, (v.name for v in graph.output))
                for k, value in enumerate(graph.output[:len(node.output)]):
                    produced[k].extend(self._output(sub, value.name, node))
            for name, sources in zip(node.output, produced, strict=False):
                if name:
                    body.values[name] = tuple(dict.fromkeys(sources))
            return
        graph = graphs.get("body")
        if graph is None:
            raise InputError(f"{node.op_type} node {self._describe(node, body, index)} has "
                             "no body")
        sub = self._sub_body(node, index, body, "body", graph)
        if node.op_type == "Loop":
            # body inputs: iteration, condition, carried...; outputs: condition, carried, scans
            carried_in = [v.name for v in graph.input[2:]]
            initial = list(node.input[2:])
            carried_out = [v.name for v in graph.output[1:1 + len(carried_in)]]
            scan_out = [v.name for v in graph.output[1 + len(carried_in):]]
            for value in graph.input[:2]:
                sub.values[value.name] = _EMPTY
        else:  # Scan: body inputs: state..., scan elements...; outputs: state..., scans...
            states = len(graph.input) - int(self._attr_number(node, "num_scan_inputs", body)
                                            or 0)
            carried_in = [v.name for v in graph.input[:states]]
            outer = list(node.input[1:] if self._opset() < 9 else node.input)
            initial = outer[:states]
            carried_out = [v.name for v in graph.output[:states]]
            scan_out = [v.name for v in graph.output[states:]]
            for value, outer_name in zip(graph.input[states:], outer[states:], strict=False):
                sub.values[value.name] = body.lookup(outer_name) or _EMPTY
        carriers: list[int] = []
        for name, init in zip(carried_in, initial, strict=False):
            sources = list(body.lookup(init) or ()) if init else []
            carrier = self._add(Record(
                op=f"onnx::{node.op_type}", info=OpInfo(Kind.SHAPE),
                label=f"{label} carried `{name}`",
                location=Location(self.path, *self.positions.get((*body.key, index), (1, 1)),
                                  node=f"{body.node_prefix}{label} (#{index})",
                                  node_ref=NodeRef(label, index, body.scope)),
                inputs=sources, condition=body.condition))
            sub.values[name] = (carrier,)
            carriers.append(carrier)
        self._lower_nodes(graph.node, sub, (v.name for v in graph.output))
        for carrier, name in zip(carriers, carried_out, strict=False):
            self.records[carrier].inputs.extend(self._output(sub, name, node))
        finals = [(carrier,) for carrier in carriers]
        scans = [tuple(self._output(sub, name, node)) for name in scan_out]
        for name, sources in zip(node.output, [*finals, *scans], strict=False):
            if name:
                body.values[name] = sources

    def _output(self, sub: Body, name: str, node: NodeProto) -> list[int]:
        produced = sub.lookup(name)
        if produced is None:
            raise InputError(f"subgraph output {name!r} of {node.op_type} node "
                             f"{node.name or node.op_type!r} is not produced")
        return list(produced)

    def _may_inline(self, node: NodeProto, body: Body) -> bool:
        """Whether inlining this call stays within INLINE_BUDGET for the whole model.

        Each call is inlined in full (its layers are distinct, as the calls are), so
        nested calls multiply: 30 levels of two calls would be 2**30 nodes. A call made
        from the main graph is charged its whole expansion (nested calls included) and
        inlined only if that fits; calls inside an inlined body were charged with it.
        """
        if body.key[0] == "function":
            return True
        size = self._expanded_size((node.domain, node.op_type), ())
        if self.inlined + size > INLINE_BUDGET:
            key = (node.domain, node.op_type)
            self.not_inlined[key] = self.not_inlined.get(key, 0) + 1
            return False
        self.inlined += size
        return True

    def _expanded_size(self, key: tuple[str, str], active: tuple[tuple[str, str], ...]
                       ) -> int:
        """Nodes that inlining function ``key`` creates, its own calls expanded."""
        if key in self.expanded:
            return self.expanded[key]
        if key in active or len(active) >= _FUNCTION_DEPTH:
            raise InputError(f"model-local function {key[0]}.{key[1]} calls itself"
                             if key in active else
                             f"model-local functions call each other more than "
                             f"{_FUNCTION_DEPTH} levels deep ({key[0]}.{key[1]})")
        total = 0
        pending = list(self.functions[key][1].node)
        while pending:
            node = pending.pop()
            callee = (node.domain, node.op_type)
            total += (self._expanded_size(callee, (*active, key))
                      if callee in self.functions else 1)
            pending.extend(sub_node for _, graph in self._subgraphs(node)
                           for sub_node in graph.node)
            if total > INLINE_BUDGET:
                break  # too large already: the exact figure does not matter
        self.expanded[key] = total
        return total

    def _lower_opaque_call(self, node: NodeProto, index: int, body: Body) -> None:
        """A call left out of the expansion: one opaque layer from its inputs."""
        sources = [src for name in node.input if name for src in body.lookup(name) or ()]
        record = self._add(self._record(node, index, body, f"{node.domain}::{node.op_type}",
                                        OpInfo(Kind.OPAQUE), sources, {})) if sources else None
        for name in node.output:
            if name:
                body.values[name] = (record,) if record is not None else _EMPTY

    def _inline_function(self, node: NodeProto, index: int, body: Body,
                         depth: int = 0) -> None:
        f_index, function = self.functions[(node.domain, node.op_type)]
        if body.node_prefix.count(" > ") >= _FUNCTION_DEPTH:
            raise InputError(f"model-local function {node.domain}.{node.op_type} calls itself")
        env = {a.name: a for a in function.attribute_proto}
        env.update({a.name: resolved for a in node.attribute
                    if (resolved := self._resolve_attr(a, body)) is not None})
        meta = metadata(node)
        name = node.name or f"{node.op_type}_{index}"
        caller_module = (module_path_from_metadata(meta)
                         or module_path_from_name(node.name, self.scopes) or body.caller_module)
        sub = Body(values={}, parent=None, producers={}, consumers={},
                    key=("function", f_index), condition=body.condition, attr_env=env,
                    node_prefix=f"{body.node_prefix}{name} (#{index}) > ",
                    scope=(*body.scope, (name, index, None)),
                    caller_module=caller_module, label_prefix=f"{caller_module or name}/",
                    caller_use=source_location(meta) or body.caller_use)
        for formal, actual in zip(function.input, node.input, strict=False):
            sub.values[formal] = body.lookup(actual) or _EMPTY if actual else _EMPTY
            if actual and body.constant(actual) is not None:
                sub.constants[formal] = body.constant(actual)  # type: ignore[assignment]
        for formal in function.input[len(node.input):]:
            sub.values[formal] = _EMPTY
        self._lower_nodes(function.node, sub, function.output)
        for formal, actual in zip(function.output, node.output, strict=False):
            if actual:
                body.values[actual] = tuple(self._output(sub, formal, node))


def _all_inputs(node: NodeProto) -> Iterable[str]:
    """The node's inputs and the outer names its subgraphs read."""
    yield from (name for name in node.input if name)
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == AttributeProto.GRAPH else (
            list(attr.graphs) if attr.type == AttributeProto.GRAPHS else [])
        for graph in graphs:
            yield from _free_names(graph)


def _free_names(graph: GraphProto) -> set[str]:
    defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    defined |= {s.values.name for s in graph.sparse_initializer}
    used: set[str] = set()
    for node in graph.node:
        used.update(_all_inputs(node))
        defined.update(name for name in node.output if name)
    used.update(v.name for v in graph.output)
    return used - defined


def _join(first: str | None, second: str | None) -> str | None:
    return " and ".join(c for c in (first, second) if c) or None


def _rounded(value: float) -> float:
    """ONNX stores float32: 0.1 reads back as 0.10000000149; keep 6 significant digits."""
    return float(f"{value:.6g}")
