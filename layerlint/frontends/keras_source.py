"""Keras / tf.keras source -> layer graphs, by abstract interpretation of the LibCST tree.

The four ways Keras models are written all lower to the same graph:

- ``keras.Sequential([...])`` and ``model.add(...)`` chains (lists and models may be
  built in loops and helper functions: values are followed, not just syntax);
- the functional API: tensors flow through ``layer(x)`` calls, ``keras.Input`` and
  ``keras.Model(inputs, outputs)``; helper block functions are inlined where called;
- subclassed ``keras.layers.Layer`` / ``keras.Model``: ``__init__`` binds ``self.<attr>``
  to layers, ``call`` applies them.

Sugar is lowered here (``activation=`` becomes an activation layer after the weighted
one, at the same location). A value that cannot be followed becomes an opaque layer,
never a guess. Nothing is imported or run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import libcst as cst

from layerlint.frontends import Project, _python
from layerlint.frontends._python import PythonModule, dotted_name, resolve_import
from layerlint.ir import GraphBuilder, Kind, Layer, LayerGraph, Location, OpInfo, Role, Unresolved
from layerlint.ir.kinds import activation_op, lookup

__all__ = ["build_graphs"]

FRONTEND = "keras"
_MAX_DEPTH = 12  # nested inlined calls / instances
_MAX_ITEMS = 64  # literal iterations followed one by one
_UNROLL = 2  # iterations of a loop over an unknown iterable: enough to join i to i+1
_LABEL_WIDTH = 48

_SEQUENTIAL = frozenset({"keras.Sequential", "keras.models.Sequential"})
_FUNCTIONAL = frozenset({
    "keras.Model", "keras.models.Model", "keras.models.Functional",
    "keras.models.functional.Functional", "keras.engine.functional.Functional",
    "keras.engine.training.Model",
})
_INPUT = frozenset({"keras.Input", "keras.layers.Input"})
_FRAMEWORKS = ("keras", "tensorflow", "tf_keras", "keras_core")
_ACTIVATION_MODULES = ("keras.activations.", "keras.ops.", "tensorflow.nn.",
                       "tensorflow.math.")
_KNOWN = _SEQUENTIAL | _FUNCTIONAL | _INPUT
_TIGHT = re.compile(r"(?<=[(\[{]) |\s(?=[)\]}])")
_TRAILING_COMMA = re.compile(r",\s*([)\]}])")
_CALLED_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*\(")
_NO_ACTIVATION = frozenset({"linear", "None", ""})
# Loss classes given to ``compile(loss=...)``: what their input is, with
# ``from_logits=True`` and without. A binary loss without it records no expectation:
# after a sigmoid that is the Keras idiom (the TensorFlow backend recovers the
# logits from the sigmoid op), not torch's BCELoss pitfall.
_LOSSES: dict[str, tuple[str, str | None]] = {
    "CategoricalCrossentropy": ("logits", "probs"),
    "SparseCategoricalCrossentropy": ("logits", "probs"),
    "CategoricalFocalCrossentropy": ("logits", "probs"),
    "BinaryCrossentropy": ("binary_logits", None),
    "BinaryFocalCrossentropy": ("binary_logits", None),
}

# Positional parameter names of the layers whose arguments rules read (Keras 3 and
# tf.keras 2 agree on these orders).
_CONV = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
         "groups", "activation", "use_bias")
_SIGNATURES: dict[str, tuple[str, ...]] = {
    "Dense": ("units", "activation", "use_bias"),
    "EinsumDense": ("equation", "output_shape", "activation", "bias_axes"),
    **{f"Conv{d}D": _CONV for d in (1, 2, 3)},
    **{f"Convolution{d}D": _CONV for d in (1, 2, 3)},
    **{f"Conv{d}DTranspose": ("filters", "kernel_size", "strides", "padding",
                              "output_padding", "data_format", "dilation_rate",
                              "activation", "use_bias") for d in (1, 2, 3)},
    **{f"DepthwiseConv{d}D": ("kernel_size", "strides", "padding", "depth_multiplier",
                              "data_format", "dilation_rate", "activation", "use_bias")
       for d in (1, 2)},
    **{f"SeparableConv{d}D": ("filters", "kernel_size", "strides", "padding", "data_format",
                              "dilation_rate", "depth_multiplier", "activation", "use_bias")
       for d in (1, 2)},
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "Activation": ("activation",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "LeakyReLU": ("negative_slope",),
    "ELU": ("alpha",),
    **{name: ("rate",) for name in (
        "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
        "GaussianDropout", "AlphaDropout")},
}


# --------------------------------------------------------------------------- values


class _Unknown:
    """A value the interpreter does not follow."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class _Literal:
    value: object


@dataclass(frozen=True)
class _Ref:
    """A framework name used as a value: ``norm_layer=layers.BatchNormalization``."""

    name: str


@dataclass(frozen=True)
class _Tensor:
    """A symbolic tensor: the layers whose output it may be (several after an ``if``)."""

    heads: tuple[Layer, ...] = ()


@dataclass
class _List:
    """A Python list or tuple (mutable by identity, as lists of layers are built)."""

    items: list[object]


@dataclass
class _Spec:
    """A layer constructed but not yet applied."""

    op: str
    label: str
    location: Location
    attrs: dict[str, object]
    info: OpInfo | None = None
    # the fused activation of ``activation=``: (op, info, attrs) or None
    activation: tuple[str, OpInfo, dict[str, object]] | None = None
    condition: tuple[str, ...] = ()  # the ``if`` tests it was created under
    named: bool = False  # the label is a bound name, not the constructor's code


@dataclass
class _Seq:
    """A ``keras.Sequential`` model: its layers so far (``add`` appends)."""

    items: list[object]
    label: str
    location: Location
    consumed: bool = False  # nested in or applied by another model
    compiled: bool = False
    named: bool = False
    loss: _Loss | None = None  # given to ``compile``


@dataclass
class _FunctionalModel:
    label: str
    location: Location
    # where its graph is, so that ``compile(loss=...)`` can add the loss to it
    builder: GraphBuilder | None = None
    heads: tuple[Layer, ...] = ()
    index: int | None = None


@dataclass(frozen=True)
class _Loss:
    """A loss object (``keras.losses.CategoricalCrossentropy(from_logits=True)``)."""

    op: str
    label: str
    location: Location
    from_logits: object
    expects: str | None


@dataclass
class _Choice:
    """One of several layer-like values (after ``if``/``else``): applied in parallel."""

    options: tuple[object, ...]


@dataclass
class _Function:
    module: PythonModule
    node: cst.FunctionDef
    bound: _Instance | None = None


@dataclass
class _Class:
    module: PythonModule
    node: cst.ClassDef
    role: Role  # MODEL for keras.Model subclasses, BLOCK for layers


@dataclass
class _Instance:
    """An instance of a project-defined Keras layer/model class (after ``__init__``)."""

    cls: _Class
    attrs: dict[str, object]
    label: str
    location: Location
    condition: tuple[str, ...] = ()
    named: bool = False


@dataclass
class _Bound:
    """A method looked up on a value, e.g. ``model.add`` or ``layers_list.append``."""

    target: object
    name: str


_LayerLike = (_Spec, _Seq, _Instance, _Choice, _FunctionalModel)


# --------------------------------------------------------------------------- helpers


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _LABEL_WIDTH:
        return text
    return text[: _LABEL_WIDTH - 4].rstrip(", ") + ", …)" if "(" in text else text[:_LABEL_WIDTH]


def _join(*conditions: str | tuple[str, ...] | None) -> str | None:
    """The condition text of a layer from the ``if`` tests around it, each once."""
    parts: list[str] = []
    for condition in conditions:
        if isinstance(condition, tuple):
            parts.extend(condition)
        elif condition:
            parts.append(condition)
    return " and ".join(dict.fromkeys(parts)) if parts else None


def _flatten(value: object, choices: bool = True) -> list[object]:
    """The items of a value and of the lists (and choices) nested in it, each list once
    (a list may contain itself)."""
    found: list[object] = []
    seen: set[int] = set()
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, _List) or (choices and isinstance(current, _Choice)):
            if id(current) in seen:
                continue
            seen.add(id(current))
            items = current.items if isinstance(current, _List) else current.options
            stack.extend(reversed(items))
        else:
            found.append(current)
    return found


def _heads(value: object) -> tuple[Layer, ...]:
    """The layers a value (tensor, list of tensors) flows from."""
    if isinstance(value, _Tensor):
        return value.heads
    if isinstance(value, _List):
        return tuple(h for item in _flatten(value) if isinstance(item, _Tensor)
                     for h in item.heads)
    return ()


def _is_tensorish(value: object) -> bool:
    if isinstance(value, _Tensor):
        return True
    return isinstance(value, _List) and any(isinstance(i, _Tensor) for i in _flatten(value))


def _merge(a: object, b: object) -> object:
    """The value of a name after an ``if`` whose branches left ``a`` and ``b``."""
    if a is b:
        return a
    if isinstance(a, _Tensor) and isinstance(b, _Tensor):
        return _Tensor(tuple(dict.fromkeys((*a.heads, *b.heads))))
    if isinstance(a, _Tensor) or isinstance(b, _Tensor):
        return a if isinstance(a, _Tensor) else b
    a_layer, b_layer = isinstance(a, _LayerLike), isinstance(b, _LayerLike)
    if a_layer and b_layer:
        return _Choice((a, b))
    if a_layer or b_layer:
        return a if a_layer else b
    if isinstance(a, _Literal) and isinstance(b, _Literal) and a.value == b.value:
        return a
    if isinstance(a, _List) and isinstance(b, _List):
        return a  # same list mutated in place in both branches, or a fresh one
    return UNKNOWN


def _literal(value: object) -> object:
    """The Python value of a literal, else ``Unresolved`` with its text."""
    if isinstance(value, _Literal):
        return value.value
    if isinstance(value, _List) and all(isinstance(i, _Literal) for i in value.items):
        return tuple(i.value for i in value.items)  # type: ignore[union-attr]
    return None


# --------------------------------------------------------------------------- interpreter


def _names(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        return {n for element in target.elements for n in _names(element.value)}
    return set()


def _mentions(node: cst.CSTNode, names: set[str]) -> bool:
    """Whether an expression uses one of ``names`` (a shallow, visitor-free walk)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if type(current) is cst.Name and current.value in names:
            return True
        stack.extend(current.children)
    return False


def _dispatches_on(body: cst.BaseSuite, names: set[str]) -> bool:
    """An ``if``/``elif`` chain in a loop body that branches on the loop variable."""
    statements = body.body if isinstance(body, cst.IndentedBlock) else ()
    return bool(names) and any(
        type(stmt) is cst.If and type(stmt.orelse) is cst.If and _mentions(stmt.test, names)
        for stmt in statements
    )


def _is_super_init(node: cst.Call) -> bool:
    func = node.func
    return (isinstance(func, cst.Attribute) and func.attr.value == "__init__"
            and isinstance(func.value, cst.Call) and isinstance(func.value.func, cst.Name)
            and func.value.func.value == "super")


class _Return(Exception):
    """A ``return`` ends the function body."""


class _LoopExit(Exception):
    """``break`` / ``continue`` end this pass over a loop body."""


@dataclass
class _Frame:
    """One function (or module, or class method) being interpreted."""

    module: PythonModule
    env: dict[str, object]
    returns: list[object] = field(default_factory=list)
    stmt: cst.CSTNode | None = None  # the statement being run (positions are found in it)


class _Interpreter:
    def __init__(self, module: PythonModule, project: Project) -> None:
        self.module = module
        self.project = project
        self.graphs: list[LayerGraph] = []
        self.builder = GraphBuilder(module.display, module.display, FRONTEND)
        self.conditions: list[str] = []
        self.depth = 0
        self.sequentials: list[_Seq] = []
        self.functional_outputs = 0
        self._classes: dict[tuple[Path, str], _Class | None] = {}
        self._imports: dict[tuple, object] = {}
        self._texts: dict[cst.CSTNode, str] = {}
        self._literals: dict[cst.CSTNode, object] = {}
        self._called: Counter[str] | None = None
        self._stars: dict[Path, list[str]] = {}
        self._active: list[cst.FunctionDef] = []  # inlined functions, to stop recursion

    # ---- entry points -------------------------------------------------------------

    def run(self) -> list[LayerGraph]:
        module = self.module
        self._scope(module.display, lambda: self._exec_module(), Role.MODEL)
        for name, node in module.definitions.items():
            if isinstance(node, cst.ClassDef):
                cls = self._class(module, node)
                if cls is not None:
                    self._scope(name, lambda c=cls: self._standalone_class(c), cls.role)
                else:
                    self._plain_class_methods(name, node)
            elif isinstance(node, cst.FunctionDef) and not self._is_called(name):
                self._scope(name, lambda n=node: self._standalone_function(n), Role.BLOCK)
        return self.graphs

    def _plain_class_methods(self, name: str, node: cst.ClassDef) -> None:
        """Methods of a class that is not a Keras layer, each on its own: an agent's
        ``_build_model(self)`` or a builder's ``block(self, x)`` use the Keras API too."""
        if not isinstance(node.body, cst.IndentedBlock):
            return
        for stmt in node.body.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value != "__init__":
                self._scope(f"{name}.{stmt.name.value}",
                            lambda n=stmt: self._standalone_function(n), Role.BLOCK)

    def _is_called(self, name: str) -> bool:
        """Whether the file calls a top-level function besides defining it: it is then
        analysed where it is called, with its real arguments, and not on its own."""
        if self._called is None:
            text = getattr(self.module, "text", None)
            if not isinstance(text, str):
                text = self.module.source.decode("utf-8", "replace")
            self._called = Counter(_CALLED_NAME.findall(text))
        return self._called[name] > 1  # its ``def name(`` is one

    def _scope(self, name: str, body, role: Role) -> None:
        """Interpret ``body`` with a fresh builder and emit what it built."""
        self.builder = GraphBuilder(name, self.module.display, FRONTEND)
        self.sequentials = []
        self.functional_outputs = 0
        self.conditions = []
        result = body()
        for seq in self.sequentials:
            if not seq.consumed and (seq is not result or seq.compiled or role is Role.MODEL):
                self._emit_sequential(seq)
        built = any(layer.kind is not Kind.INPUT for layer in self.builder.layers)
        if built and not self.functional_outputs:
            outputs = _heads(result)
            self.graphs.append(self._graph(self.builder, name, outputs, role if outputs else
                                           Role.UNKNOWN, subset=False))

    def _exec_module(self) -> object:
        frame = _Frame(self.module, {})
        self._exec(self.module.module.body, frame)
        return None

    def _standalone_function(self, node: cst.FunctionDef) -> object:
        frame = _Frame(self.module, {})
        self._bind_params(node, frame, args=(), kwargs={}, bound=None)
        self._active.append(node)
        try:
            return self._run_body(node, frame)
        finally:
            self._active.pop()

    def _standalone_class(self, cls: _Class) -> object:
        location = self._loc(_Frame(self.module, {}, stmt=cls.node), cls.node)
        instance = self._instantiate(cls, (), {}, cls.node.name.value, location)
        if instance is None:
            return None
        return self._apply_instance(instance, _Tensor(), use=None, self_label="self")

    # ---- graphs -------------------------------------------------------------------

    def _graph(self, builder: GraphBuilder, name: str, outputs: Iterable[Layer], role: Role,
               subset: bool = True, also: Iterable[Layer] = ()) -> LayerGraph:
        outputs = tuple(dict.fromkeys(outputs))
        layers: Sequence[Layer] = builder.layers
        edges = builder.edges
        if subset:
            preds: dict[int, list[int]] = {}
            for src, dst in edges:
                preds.setdefault(dst, []).append(src)
            keep: set[int] = set()
            stack = [lay.id for lay in (*outputs, *also)]
            while stack:
                lid = stack.pop()
                if lid not in keep:
                    keep.add(lid)
                    stack.extend(preds.get(lid, ()))
            layers = [lay for lay in layers if lay.id in keep]
            edges = [(s, d) for s, d in edges if s in keep and d in keep]
        return LayerGraph(
            name=name, path=builder.path, layers=tuple(layers), edges=tuple(edges),
            outputs=tuple(lay.id for lay in outputs), role=role, frontend=FRONTEND,
            notes=tuple(builder.notes),
        )

    def _emit_sequential(self, seq: _Seq) -> None:
        saved = self.builder, self.conditions
        self.builder = GraphBuilder(seq.label, self.module.display, FRONTEND)
        self.conditions = []
        out = self._apply_sequence(seq.items, _Tensor(), use=None, where=seq.location)
        if seq.loss is not None and out.heads:
            self._add_loss(self.builder, seq.loss, out.heads)
        if self.builder.layers:
            self.graphs.append(self._graph(self.builder, seq.label, out.heads, Role.MODEL,
                                           subset=False))
        self.builder, self.conditions = saved

    # ---- source text and positions ------------------------------------------------

    def _text(self, frame: _Frame, node: cst.CSTNode) -> str:
        """A node's source, on one line (cached: loops and inlining revisit nodes)."""
        text = self._texts.get(node)
        if text is None:
            text = " ".join(frame.module.code(node).split())
            text = self._texts[node] = _TIGHT.sub("", _TRAILING_COMMA.sub(r"\1", text))
        return text

    def _loc(self, frame: _Frame, node: cst.CSTNode) -> Location:
        return frame.module.location(node, frame.stmt)

    # ---- statements ---------------------------------------------------------------

    def _exec(self, body: Sequence[cst.CSTNode], frame: _Frame) -> None:
        for stmt in body:
            self._stmt(stmt, frame)

    def _stmt(self, stmt: cst.CSTNode, frame: _Frame) -> None:
        frame.stmt = stmt
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self._small(small, frame)
        elif isinstance(stmt, cst.If):
            self._if(stmt, frame)
        elif isinstance(stmt, cst.For):
            self._for(stmt, frame)
        elif isinstance(stmt, cst.While):
            self._while(stmt, frame)
        elif isinstance(stmt, (cst.With,)):
            self._block(stmt.body, frame)
        elif isinstance(stmt, cst.Try):
            self._block(stmt.body, frame)
            if stmt.finalbody is not None:
                self._block(stmt.finalbody.body, frame)
        elif isinstance(stmt, cst.FunctionDef):
            frame.env[stmt.name.value] = _Function(frame.module, stmt)
        elif isinstance(stmt, cst.ClassDef):
            cls = self._class(frame.module, stmt)
            frame.env[stmt.name.value] = cls if cls is not None else UNKNOWN

    def _block(self, block: cst.BaseSuite, frame: _Frame) -> None:
        if isinstance(block, cst.IndentedBlock):
            self._exec(block.body, frame)
        elif isinstance(block, cst.SimpleStatementSuite):
            for small in block.body:
                self._small(small, frame)

    def _small(self, small: cst.BaseSmallStatement, frame: _Frame) -> None:
        frame.stmt = small
        if isinstance(small, cst.Assign):
            value = self._eval(small.value, frame)
            for target in small.targets:
                self._assign(target.target, value, frame)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self._assign(small.target, self._eval(small.value, frame), frame)
        elif isinstance(small, cst.AugAssign):
            self._augassign(small, frame)
        elif isinstance(small, cst.Expr):
            self._eval(small.value, frame)
        elif isinstance(small, cst.Return):
            value = self._eval(small.value, frame) if small.value is not None else None
            frame.returns.append(value)
            raise _Return
        elif isinstance(small, (cst.Break, cst.Continue)):
            raise _LoopExit

    def _if(self, stmt: cst.If, frame: _Frame) -> None:
        test = self._text(frame, stmt.test)
        if test in ('__name__ == "__main__"', "__name__ == '__main__'"):
            self._block(stmt.body, frame)
            return
        before = dict(frame.env)
        body_env, body_exit = self._branch(stmt.body, frame, test, before)
        other: cst.BaseSuite | None = None
        if isinstance(stmt.orelse, cst.If):
            other = cst.IndentedBlock(body=[stmt.orelse])
        elif isinstance(stmt.orelse, cst.Else):
            other = stmt.orelse.body
        else_env, else_exit = before, None
        if other is not None:
            else_env, else_exit = self._branch(other, frame, f"not ({test})", before)
        if body_exit is not None and else_exit is not None:
            frame.env = body_env
            raise _Return if _Return in (body_exit, else_exit) else _LoopExit
        if body_exit is not None:
            frame.env = else_env
        elif else_exit is not None:
            frame.env = body_env
        else:
            frame.env = {
                key: _merge(body_env.get(key, UNKNOWN), else_env.get(key, UNKNOWN))
                for key in dict.fromkeys((*body_env, *else_env))
            }

    def _branch(self, block: cst.BaseSuite, frame: _Frame, condition: str,
                before: dict[str, object]) -> tuple[dict[str, object], type | None]:
        """Run one branch of an ``if``; also say how it ended early, if it did."""
        frame.env = dict(before)
        self.conditions.append(condition)
        ended: type | None = None
        try:
            self._block(block, frame)
        except (_Return, _LoopExit) as exit_:
            ended = type(exit_)
        finally:
            self.conditions.pop()
        return frame.env, ended

    def _loop_items(self, iterable: object) -> list[object]:
        if isinstance(iterable, _List) and len(iterable.items) <= _MAX_ITEMS:
            return list(iterable.items)
        if isinstance(iterable, _Literal) and isinstance(iterable.value, range):
            return [_Literal(i) for i in list(iterable.value)[:_UNROLL]]
        return [UNKNOWN] * _UNROLL

    def _for(self, stmt: cst.For, frame: _Frame) -> None:
        iterable = self._eval(stmt.iter, frame)
        items = self._loop_items(iterable)
        if len(items) > 1 and all(item is UNKNOWN for item in items) \
                and _dispatches_on(stmt.body, _names(stmt.target)):
            # ``for section in cfg: if section == "conv": ... elif ...``: which layer
            # follows which is in the data; joining one pass to the next would be a guess.
            items = items[:1]
        for item in items:
            self._assign(stmt.target, item, frame)
            try:
                self._block(stmt.body, frame)
            except _LoopExit:
                pass
        if stmt.orelse is not None:
            self._block(stmt.orelse.body, frame)

    def _while(self, stmt: cst.While, frame: _Frame) -> None:
        test = self._text(frame, stmt.test)
        self.conditions.append(test)
        try:
            for _ in range(_UNROLL):
                try:
                    self._block(stmt.body, frame)
                except _LoopExit:
                    pass
        finally:
            self.conditions.pop()

    def _assign(self, target: cst.BaseExpression, value: object, frame: _Frame) -> None:
        if isinstance(target, cst.Name):
            self._name(value, target.value)
            frame.env[target.value] = value
        elif isinstance(target, cst.Attribute):
            key = self._attr_key(target)
            if key is not None:
                self._name(value, key)
                frame.env[key] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = [e.value for e in target.elements]
            items: list[object]
            if isinstance(value, _List) and len(value.items) == len(elements):
                items = list(value.items)
            else:
                items = [UNKNOWN] * len(elements)
            for element, item in zip(elements, items, strict=False):
                if isinstance(element, cst.StarredElement):
                    element = element.value
                self._assign(element, item, frame)
        elif isinstance(target, cst.Subscript):
            base = self._eval(target.value, frame)
            if isinstance(base, _List):
                base.items.append(value)

    @staticmethod
    def _name(value: object, name: str) -> None:
        """A layer bound to a name is labelled by it (``self.bn``) unless it has ``name=``."""
        if isinstance(value, (_Spec, _Seq, _Instance)) and (
                not value.named or name.startswith("self.")):
            value.label = name
            value.named = True

    def _attr_key(self, node: cst.Attribute) -> str | None:
        if isinstance(node.value, cst.Name) and node.value.value == "self":
            return f"self.{node.attr.value}"
        return None

    def _augassign(self, node: cst.AugAssign, frame: _Frame) -> None:
        current = self._eval(node.target, frame)
        value = self._eval(node.value, frame)
        if isinstance(current, _List) and isinstance(node.operator, cst.AddAssign):
            current.items.extend(value.items if isinstance(value, _List) else [UNKNOWN])
            return
        result = self._binary(current, value, node.operator, node, frame)
        self._assign(node.target, result, frame)

    # ---- expressions --------------------------------------------------------------

    def _eval(self, node: cst.BaseExpression, frame: _Frame) -> object:
        # dispatch on the exact type: isinstance against LibCST's ABCs is slow
        handler = _EVAL.get(type(node))
        return handler(self, node, frame) if handler is not None else UNKNOWN

    def _eval_literal(self, node: cst.BaseExpression, frame: _Frame) -> object:
        value = self._literals.get(node)
        if value is None:
            try:
                value = self._literals[node] = _Literal(node.evaluated_value)  # type: ignore
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                value = self._literals[node] = UNKNOWN
        return value

    def _eval_unary(self, node: cst.UnaryOperation, frame: _Frame) -> object:
        operand = self._eval(node.expression, frame)
        if isinstance(node.operator, cst.Minus) and isinstance(operand, _Literal) \
                and isinstance(operand.value, (int, float)):
            return _Literal(-operand.value)
        return operand if isinstance(operand, _Tensor) else UNKNOWN

    def _eval_sequence(self, node: cst.List | cst.Tuple, frame: _Frame) -> object:
        items: list[object] = []
        for element in node.elements:
            value = self._eval(element.value, frame)
            if type(element) is cst.StarredElement:
                items.extend(value.items if isinstance(value, _List) else [UNKNOWN])
            else:
                items.append(value)
        return _List(items)

    def _eval_binary(self, node: cst.BinaryOperation, frame: _Frame) -> object:
        return self._binary(self._eval(node.left, frame), self._eval(node.right, frame),
                            node.operator, node, frame)

    def _eval_boolean(self, node: cst.BooleanOperation, frame: _Frame) -> object:
        left, right = self._eval(node.left, frame), self._eval(node.right, frame)
        if isinstance(node.operator, cst.Or):
            # ``norm_layer or layers.BatchNormalization``: the side that is given
            if isinstance(left, _Literal) and not left.value:
                return right
            if isinstance(left, (_Ref, *_LayerLike)):
                return left
        return UNKNOWN

    def _lookup(self, node: cst.Name, frame: _Frame) -> object:
        name = node.value
        if name in frame.env:
            return frame.env[name]
        if name in ("True", "False", "None"):
            return _Literal({"True": True, "False": False, "None": None}[name])
        qualified = frame.module.aliases.get(name)
        if qualified is not None and qualified.startswith(_FRAMEWORKS):
            return _Ref(_python.canonical(qualified))
        return self._global(frame.module, name)

    def _global(self, module: PythonModule, name: str) -> object:
        """A top-level function or Keras class of this file, or one imported from the project."""
        definition = module.definitions.get(name)
        if isinstance(definition, cst.FunctionDef):
            return _Function(module, definition)
        if isinstance(definition, cst.ClassDef):
            return self._class(module, definition) or UNKNOWN
        qualified = module.aliases.get(name)
        if qualified is None or "." not in qualified:
            return UNKNOWN
        if qualified.split(".")[0] in ("keras", "tensorflow", "tf_keras", "torch", "numpy"):
            return UNKNOWN
        key = ("keras-import", module.path, qualified)
        if key not in self._imports:
            found = resolve_import(module, qualified, self.project)
            value: object = UNKNOWN
            if found is not None:
                target, tname = found
                tnode = target.definitions[tname]
                if isinstance(tnode, cst.FunctionDef):
                    value = _Function(target, tnode)
                elif isinstance(tnode, cst.ClassDef):
                    value = self._class(target, tnode) or UNKNOWN
            self._imports[key] = value
        return self._imports[key]

    def _attribute(self, node: cst.Attribute, frame: _Frame) -> object:
        key = self._attr_key(node)
        if key is not None:
            if key in frame.env:
                return frame.env[key]
            instance = frame.env.get("self")
            if isinstance(instance, _Instance):
                method = self._method(instance.cls, node.attr.value)
                if method is not None:
                    return _Function(method[0], method[1], bound=instance)
            return UNKNOWN
        base = self._eval(node.value, frame)
        if isinstance(base, _Unknown):
            return UNKNOWN
        if isinstance(base, _Ref):
            return _Ref(_python.canonical(f"{base.name}.{node.attr.value}"))
        return _Bound(base, node.attr.value)

    def _qualified(self, node: cst.BaseExpression, frame: _Frame) -> str | None:
        """The canonical framework name of a dotted expression, unless a local shadows it."""
        head = node
        while isinstance(head, cst.Attribute):
            head = head.value
        if not isinstance(head, cst.Name) or head.value in frame.env:
            return None
        qualified = frame.module.qualified(node)
        if qualified is None and head.value not in frame.module.definitions:
            qualified = self._star_name(frame.module, node)
        return qualified

    def _star_name(self, module: PythonModule, node: cst.BaseExpression) -> str | None:
        """``Dense`` after ``from keras.layers import *``."""
        stars = self._stars.get(module.path)
        if stars is None:
            stars = self._stars[module.path] = [
                _python.canonical(dotted_name(stmt.module))
                for line in module.module.body if isinstance(line, cst.SimpleStatementLine)
                for stmt in line.body
                if isinstance(stmt, cst.ImportFrom) and isinstance(stmt.names, cst.ImportStar)
                and stmt.module is not None
            ]
        if not stars:
            return None
        dotted = dotted_name(node)
        for star in stars:
            candidate = _python.canonical(f"{star}.{dotted}")
            if candidate.startswith("keras.") and (
                    lookup(candidate).kind is not Kind.OPAQUE or candidate in _KNOWN
                    or candidate.rsplit(".", 1)[-1] in _SIGNATURES):
                return candidate
        return None

    def _comprehension(self, node: cst.ListComp | cst.GeneratorExp, frame: _Frame) -> _List:
        result: list[object] = []
        saved = dict(frame.env)

        def loop(fors: cst.CompFor | None) -> None:
            if fors is None:
                result.append(self._eval(node.elt, frame))
                return
            for item in self._loop_items(self._eval(fors.iter, frame)):
                self._assign(fors.target, item, frame)
                loop(fors.inner_for_in)

        loop(node.for_in)
        frame.env = saved
        return _List(result)

    def _ifexp(self, node: cst.IfExp, frame: _Frame) -> object:
        test = self._text(frame, node.test)
        self.conditions.append(test)
        body = self._eval(node.body, frame)
        self.conditions[-1] = f"not ({test})"
        orelse = self._eval(node.orelse, frame)
        self.conditions.pop()
        if isinstance(body, _Spec) and not isinstance(orelse, _LayerLike):
            return replace(body, condition=(*body.condition, test))
        if isinstance(orelse, _Spec) and not isinstance(body, _LayerLike):
            return replace(orelse, condition=(*orelse.condition, f"not ({test})"))
        return _merge(body, orelse)

    def _subscript(self, node: cst.Subscript, frame: _Frame) -> object:
        base = self._eval(node.value, frame)
        if isinstance(base, _List) and len(node.slice) == 1:
            index = node.slice[0].slice
            if isinstance(index, cst.Index):
                value = self._eval(index.value, frame)
                if isinstance(value, _Literal) and isinstance(value.value, int) \
                        and -len(base.items) <= value.value < len(base.items):
                    return base.items[value.value]
                layerish = [i for i in base.items if isinstance(i, _LayerLike)]
                if layerish and len(layerish) == len(base.items):
                    return _Choice(tuple(layerish))
                if isinstance(value, _Literal) and isinstance(value.value, int):
                    return UNKNOWN
            elif isinstance(index, cst.Slice):
                return _List(list(base.items))  # a slice of a list: keep its items, in order
        if isinstance(base, _Tensor):
            return self._opaque(node, [base], frame, op="keras.ops.getitem")
        return UNKNOWN

    def _binary(self, left: object, right: object, operator: cst.CSTNode,
                node: cst.CSTNode, frame: _Frame) -> object:
        if isinstance(left, _List) and isinstance(right, _List) and \
                isinstance(operator, (cst.Add, cst.AddAssign)):
            return _List([*left.items, *right.items])
        if isinstance(left, _List) and isinstance(right, _Literal) and \
                isinstance(operator, cst.Multiply) and isinstance(right.value, int):
            return _List(left.items * min(right.value, _UNROLL))
        tensors = [v for v in (left, right) if isinstance(v, _Tensor)]
        if not tensors:
            if isinstance(left, _Literal) and isinstance(right, _Literal):
                try:
                    return _Literal(_ARITH[type(operator)](left.value, right.value))
                except (KeyError, TypeError, ArithmeticError, ValueError):
                    return UNKNOWN
            return UNKNOWN
        if len(tensors) == 2 and isinstance(operator, (cst.Add, cst.AddAssign)):
            return self._add_layer("keras.ops.add", _short(self._text(frame, node)), node,
                                   tensors, frame)
        return self._opaque(node, tensors, frame)

    # ---- calls --------------------------------------------------------------------

    def _call(self, node: cst.Call, frame: _Frame) -> object:
        if _is_super_init(node):
            return self._super_init(node, frame)
        qualified = self._qualified(node.func, frame)
        if qualified is not None and qualified.startswith(("keras.", "tensorflow.")):
            args, kwargs = self._args(node, frame)
            return self._keras_call(qualified, args, kwargs, node, frame)
        if isinstance(node.func, cst.Name) and node.func.value == "range":
            args = [self._eval(a.value, frame) for a in node.args]
            if args and all(isinstance(a, _Literal) and isinstance(a.value, int) for a in args):
                return _Literal(range(*[a.value for a in args]))  # type: ignore[union-attr]
            return UNKNOWN
        if isinstance(node.func, cst.Name) and node.func.value in ("list", "tuple") \
                and len(node.args) == 1:
            value = self._eval(node.args[0].value, frame)
            return _List(list(value.items)) if isinstance(value, _List) else UNKNOWN
        if isinstance(node.func, cst.Name) and node.func.value in ("enumerate", "zip"):
            return self._builtin_iter(node, frame)
        callee = self._eval(node.func, frame)
        args, kwargs = self._args(node, frame)
        result = self._invoke(callee, args, kwargs, node, frame)
        if isinstance(result, _Unknown) and isinstance(callee, _Unknown) \
                and dotted_name(node.func).rsplit(".", 1)[-1][:1].isupper():
            # ``CustomLayer(3)`` from outside the project: a layer we cannot see into
            label, named = self._label(node, frame)
            return _Spec("<unresolved>", label, self._loc(frame, node), {},
                         info=OpInfo(Kind.OPAQUE), condition=tuple(self.conditions),
                         named=named)
        return result

    def _super_init(self, node: cst.Call, frame: _Frame) -> object:
        """``super().__init__(inputs=..., outputs=x)``: a functional model built in a subclass."""
        args, kwargs = self._args(node, frame)
        outputs = kwargs.get("outputs", args[1] if len(args) > 1 else None)
        heads = _heads(outputs)
        if heads:
            label = self._name_kwarg(kwargs) or self.builder.name
            self.graphs.append(self._graph(self.builder, label, heads, Role.MODEL))
            self.functional_outputs += 1
        return _Literal(None)

    def _builtin_iter(self, node: cst.Call, frame: _Frame) -> object:
        values = [self._eval(a.value, frame) for a in node.args if not a.keyword]
        lists = [self._loop_items(v) for v in values]
        if not lists:
            return UNKNOWN
        if node.func.value == "enumerate":  # type: ignore[union-attr]
            return _List([_List([_Literal(i), item]) for i, item in enumerate(lists[0])])
        return _List([_List(list(group)) for group in zip(*lists, strict=False)])

    def _args(self, node: cst.Call, frame: _Frame) -> tuple[list[object], dict[str, object]]:
        args: list[object] = []
        kwargs: dict[str, object] = {}
        for arg in node.args:
            value = self._eval(arg.value, frame)
            if arg.keyword is not None:
                kwargs[arg.keyword.value] = value
            elif arg.star == "*":
                args.extend(value.items if isinstance(value, _List) else [UNKNOWN])
            elif arg.star == "**":
                continue
            else:
                args.append(value)
        return args, kwargs

    def _invoke(self, callee: object, args: list[object], kwargs: dict[str, object],
                node: cst.Call, frame: _Frame) -> object:
        if isinstance(callee, _Ref):
            return self._keras_call(callee.name, args, kwargs, node, frame)
        if isinstance(callee, _Function):
            return self._inline(callee, args, kwargs, node, frame)
        if isinstance(callee, _Class):
            label = self._label(node, frame)[0]
            return self._instantiate(callee, args, kwargs, label, self._loc(frame, node)) \
                or UNKNOWN
        if isinstance(callee, _Bound):
            return self._method_call(callee, args, kwargs, node, frame)
        if isinstance(callee, _LayerLike):
            inputs = args[0] if args else kwargs.get("inputs", UNKNOWN)
            # ``layers.Dense(8)(x)`` is applied where it is built: no separate use site
            use = None if type(node.func) is cst.Call else self._loc(frame, node)
            return self._apply(callee, inputs, use, node, frame)
        tensors = [v for v in (*args, *kwargs.values()) if _is_tensorish(v)]
        if tensors:
            return self._opaque(node, tensors, frame)
        return UNKNOWN

    def _method_call(self, bound: _Bound, args: list[object], kwargs: dict[str, object],
                     node: cst.Call, frame: _Frame) -> object:
        target, name = bound.target, bound.name
        if name == "compile" and isinstance(target, (_FunctionalModel, _Instance)):
            loss = self._compiled_loss(args, kwargs)
            if loss is not None:
                self._compile(target, loss)
            return _Literal(None)
        if isinstance(target, _Seq):
            if name == "add" and args:
                self._consume(args[0])
                target.items.append(args[0])
                return _Literal(None)
            if name == "pop" and target.items:
                target.items.pop()
                return UNKNOWN
            if name == "compile":
                target.compiled = True
                loss = self._compiled_loss(args, kwargs)
                target.loss = loss or target.loss
                return _Literal(None)
            if name in ("__call__", "call"):
                return self._apply(target, args[0] if args else UNKNOWN,
                                   self._loc(frame, node), node)
            return UNKNOWN
        if isinstance(target, _List):
            if name == "append" and args:
                target.items.append(args[0])
            elif name == "extend" and args:
                target.items.extend(args[0].items if isinstance(args[0], _List) else [UNKNOWN])
            elif name == "insert" and len(args) == 2:
                index = args[0].value if isinstance(args[0], _Literal) else None
                if isinstance(index, int):
                    target.items.insert(index, args[1])
                else:
                    target.items.append(args[1])
            return _Literal(None)
        if isinstance(target, _Tensor):
            # tensor methods are backend ops we do not model: opaque, never a guess
            return self._opaque(node, [target], frame)
        if isinstance(target, (_Spec, _Instance, _Choice)) and name in ("__call__", "call"):
            return self._apply(target, args[0] if args else UNKNOWN,
                               self._loc(frame, node), node)
        tensors = [v for v in (*args, *kwargs.values()) if _is_tensorish(v)]
        if tensors:
            return self._opaque(node, tensors, frame)
        return UNKNOWN

    @staticmethod
    def _compiled_loss(args: list[object], kwargs: dict[str, object]) -> _Loss | None:
        """The loss object of ``compile(optimizer, loss)`` (one loss for the model)."""
        loss = kwargs.get("loss", args[1] if len(args) > 1 else None)
        return loss if isinstance(loss, _Loss) else None

    def _add_loss(self, builder: GraphBuilder, loss: _Loss, heads: Sequence[Layer]) -> Layer:
        return builder.add(loss.op, loss.label, loss.location, heads,
                           info=OpInfo(Kind.LOSS, expects=loss.expects),
                           attrs={"from_logits": loss.from_logits},
                           condition=_join(*self.conditions))

    def _compile(self, model: _FunctionalModel | _Instance, loss: _Loss) -> None:
        """The model's graph gains its loss after its outputs (the outputs stay outputs)."""
        if isinstance(model, _FunctionalModel):
            if model.builder is None or model.index is None:
                return
            layer = self._add_loss(model.builder, loss, model.heads)
            self.graphs[model.index] = self._graph(model.builder, model.label, model.heads,
                                                   Role.MODEL, also=(layer,))
            return
        # a subclassed model: its forward pass, applied here, then the loss
        builder, self.builder = self.builder, GraphBuilder(model.label, self.module.display,
                                                           FRONTEND)
        try:
            out = self._apply_instance(model, _Tensor(), use=None, self_label="self")
            if out.heads:
                layer = self._add_loss(self.builder, loss, out.heads)
                self.graphs.append(self._graph(self.builder, model.label, out.heads,
                                               Role.MODEL, also=(layer,)))
        finally:
            self.builder = builder

    def _consume(self, value: object) -> None:
        for item in _flatten(value):
            if isinstance(item, _Seq):
                item.consumed = True

    # ---- Keras names --------------------------------------------------------------

    def _keras_call(self, qualified: str, args: list[object], kwargs: dict[str, object],
                    node: cst.Call, frame: _Frame) -> object:
        if not qualified.startswith("keras."):
            return self._function_op(qualified, args, kwargs, node, frame)
        location = self._loc(frame, node)
        if qualified in _SEQUENTIAL:
            items = args[0] if args else kwargs.get("layers")
            name = self._name_kwarg(kwargs)
            seq = _Seq(list(items.items) if isinstance(items, _List) else [],
                       name or "Sequential", location, named=name is not None)
            if items is not None and not isinstance(items, _List) and \
                    not (isinstance(items, _Literal) and items.value is None):
                seq.items.append(items)  # not followed: becomes an opaque layer
            self._consume(_List(seq.items))
            self.sequentials.append(seq)
            return seq
        if qualified in _FUNCTIONAL:
            inputs = args[0] if args else kwargs.get("inputs")
            outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
            if outputs is None:
                return UNKNOWN  # ``super().__init__`` style or a subclass: not a graph here
            label = self._name_kwarg(kwargs) or self.builder.name
            heads = _heads(outputs)
            model = _FunctionalModel(label, location)
            if heads:
                model.builder, model.heads, model.index = self.builder, heads, len(self.graphs)
                self.graphs.append(self._graph(self.builder, label, heads, Role.MODEL))
                self.functional_outputs += 1
            del inputs
            return model
        last = qualified.rsplit(".", 1)[-1]
        if qualified.startswith("keras.losses.") and last in _LOSSES:
            from_logits = kwargs.get("from_logits", args[0] if args else _Literal(False))
            flag = _literal(from_logits)
            with_logits, without = _LOSSES[last]
            expects = with_logits if flag is True else without if flag is False else None
            return _Loss(qualified, self._label(node, frame)[0], location,
                         flag if isinstance(flag, bool) else Unresolved(
                             self._text(frame, node)), expects)
        if qualified in _INPUT:
            layer = self.builder.add(qualified, self._name_kwarg(kwargs) or "Input", location,
                                     condition=_join(*self.conditions))
            return _Tensor((layer,))
        last = qualified.rsplit(".", 1)[-1]
        if qualified.startswith("keras.layers.") and last[:1].isupper():
            return self._spec(qualified, args, kwargs, node, frame)
        if qualified.startswith(("keras.layers.", "keras.ops.", "keras.activations.",
                                 "keras.backend.")):
            return self._function_op(qualified, args, kwargs, node, frame)
        if qualified.startswith("keras.applications.") and last[:1].isupper():
            # a pretrained base model: opaque when applied
            label, named = self._label(node, frame)
            return _Spec(qualified, label, location, {}, condition=tuple(self.conditions),
                         named=named)
        return UNKNOWN

    def _function_op(self, qualified: str, args: list[object], kwargs: dict[str, object],
                     node: cst.Call, frame: _Frame) -> object:
        """``layers.add([a, b])``, ``tf.nn.relu(x)``, ``keras.ops.concatenate(...)``..."""
        tensors = [v for v in (*args, *kwargs.values()) if _is_tensorish(v)]
        if not tensors:
            return UNKNOWN
        info = lookup(qualified)
        if info.kind is Kind.OPAQUE and qualified.startswith(_ACTIVATION_MODULES):
            info = activation_op(qualified.rsplit(".", 1)[-1]) or info
        label = _short(self._text(frame, node))
        layer = self.builder.add(qualified, label, self._loc(frame, node),
                                 [h for t in tensors for h in _heads(t)], info=info,
                                 condition=_join(*self.conditions))
        return _Tensor((layer,))

    @staticmethod
    def _name_kwarg(kwargs: dict[str, object]) -> str | None:
        name = kwargs.get("name")
        if isinstance(name, _Literal) and isinstance(name.value, str):
            return name.value
        return None

    def _spec(self, qualified: str, args: list[object], kwargs: dict[str, object],
              node: cst.Call, frame: _Frame) -> _Spec:
        cls = qualified.rsplit(".", 1)[-1]
        signature = _SIGNATURES.get(cls, ())
        params = dict(zip(signature, args, strict=False))
        params.update(kwargs)
        exprs: dict[str, cst.BaseExpression] = {}
        positional = iter(signature)
        for arg in node.args:
            if arg.keyword is not None:
                exprs[arg.keyword.value] = arg.value
            elif not arg.star:
                name = next(positional, None)
                if name is not None:
                    exprs[name] = arg.value
        label, named = self._label(node, frame)
        spec = _Spec(qualified, label, self._loc(frame, node), {},
                     condition=tuple(self.conditions), named=named)
        info = lookup(qualified)
        attrs = spec.attrs

        def attr(key: str, name: str) -> None:
            if name not in params:
                return
            value = _literal(params[name])
            if value is None:
                text = self._text(frame, exprs[name]) if name in exprs else name
                attrs[key] = Unresolved(text)
            else:
                attrs[key] = value

        if info.kind is Kind.DROPOUT:
            attr("p", "rate")
        elif info.kind is Kind.BATCHNORM:
            attr("momentum", "momentum")
            attr("epsilon", "epsilon")
            attrs["momentum_convention"] = "keras"
        elif info.kind is Kind.WEIGHTED:
            if cls == "EinsumDense":  # no bias unless bias_axes is given
                bias = params.get("bias_axes")
                attrs["use_bias"] = bias is not None and not (
                    isinstance(bias, _Literal) and bias.value is None)
            else:
                attrs["use_bias"] = True
                attr("use_bias", "use_bias")
            spec.activation = self._activation_of(params.get("activation"),
                                                  exprs.get("activation"), frame)
        elif cls == "Activation":
            act = self._activation_of(params.get("activation"), exprs.get("activation"), frame)
            if act is None:
                spec.info = lookup("keras.layers.Identity")
            else:
                spec.info, spec.attrs = act[1], act[2]
        elif cls == "ReLU":
            max_value = _literal(params.get("max_value", _Literal(None)))
            slope = _literal(params.get("negative_slope", _Literal(0.0)))
            if "max_value" in params and max_value is None and \
                    not (isinstance(params["max_value"], _Literal)):
                spec.info = OpInfo(Kind.OPAQUE)
            elif isinstance(max_value, (int, float)) and max_value == 6 and slope == 0:
                spec.info = activation_op("relu6")
            elif max_value is not None or not isinstance(slope, (int, float)):
                spec.info = OpInfo(Kind.OPAQUE)  # a clipped or unknown ReLU variant
            elif slope > 0:
                spec.info = activation_op("leaky_relu")
        return spec

    def _label(self, node: cst.Call, frame: _Frame) -> tuple[str, bool]:
        """How messages name a layer: its ``name=`` (an f-string without its quotes), else
        its constructor, shortened at an argument (``Conv2D(64, 3, padding="same", …)``).
        The flag says whether it is a name."""
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "name":
                value = arg.value
                if type(value) is cst.SimpleString:
                    text = self._eval_literal(value, frame)
                    if isinstance(text, _Literal) and isinstance(text.value, str):
                        return text.value, True
                if type(value) is cst.FormattedString:
                    return "".join(self._text(frame, part) for part in value.parts), True
        func = dotted_name(node.func).rsplit(".", 1)[-1] or self._text(frame, node.func)
        parts: list[str] = []
        width = len(func) + 2
        for arg in node.args:
            text = self._text(frame, arg.value)
            if arg.keyword is not None:
                text = f"{arg.keyword.value}={text}"
            elif arg.star:
                text = arg.star + text
            width += len(text) + 2
            if width > _LABEL_WIDTH and parts:
                parts.append("…")
                break
            parts.append(text)
        return f"{func}({', '.join(parts)})", False

    def _activation_of(self, value: object, expr: cst.BaseExpression | None, frame: _Frame
                       ) -> tuple[str, OpInfo, dict[str, object]] | None:
        """The fused activation of an ``activation=`` argument, or None when linear."""
        if value is None or (isinstance(value, _Literal) and value.value is None):
            return None
        if isinstance(value, _Literal) and isinstance(value.value, str):
            name = value.value
            if name in _NO_ACTIVATION:
                return None
            info = activation_op(name) or OpInfo(Kind.OPAQUE)
            return ("keras.activations." + name, info, {"activation": name})
        if isinstance(value, _Spec):  # activation=layers.LeakyReLU(0.1)
            return (value.op, value.info or lookup(value.op), dict(value.attrs))
        qualified = value.name if isinstance(value, _Ref) else None
        if qualified is not None:
            name = qualified.rsplit(".", 1)[-1]
            if name == "linear":
                return None
            info = lookup(qualified)
            if info.kind is Kind.OPAQUE and qualified.startswith(_ACTIVATION_MODULES):
                info = activation_op(name) or info
            return (qualified, info, {"activation": name})
        text = self._text(frame, expr) if expr is not None else "activation"
        return ("keras.activations.<unresolved>", OpInfo(Kind.OPAQUE),
                {"activation": Unresolved(text)})

    # ---- applying layers ----------------------------------------------------------

    def _apply(self, value: object, inputs: object, use: Location | None,
               node: cst.CSTNode | None = None, frame: _Frame | None = None,
               where: Location | None = None) -> _Tensor:
        heads = _heads(inputs)
        if isinstance(value, _Spec):
            return self._apply_spec(value, heads, use)
        if isinstance(value, _Seq):
            value.consumed = True
            return self._apply_sequence(value.items, _Tensor(heads), use, value.location)
        if isinstance(value, _Instance):
            return self._apply_instance(value, _Tensor(heads), use, value.label)
        if isinstance(value, _Choice):
            outs: list[Layer] = []
            for option in value.options:
                outs.extend(self._apply(option, _Tensor(heads), use, node, frame, where).heads)
            return _Tensor(tuple(dict.fromkeys(outs)))
        if isinstance(value, _Tensor):
            return value  # a Sequential list may start with ``keras.Input``
        label = value.label if isinstance(value, _FunctionalModel) else (
            _short(self._text(frame, node)) if node is not None and frame is not None
            else "unresolved layer")
        location = value.location if isinstance(value, _FunctionalModel) else (
            use or where or Location(self.module.display, 1, 1))
        op = "keras.Model" if isinstance(value, _FunctionalModel) else "<unresolved>"
        layer = self.builder.add(op, label, location, heads, info=OpInfo(Kind.OPAQUE),
                                 condition=_join(*self.conditions))
        return _Tensor((layer,))

    def _apply_spec(self, spec: _Spec, heads: tuple[Layer, ...], use: Location | None) -> _Tensor:
        if use is not None and (use.line, use.column) == (spec.location.line,
                                                           spec.location.column):
            use = None
        condition = _join(spec.condition, *self.conditions)
        layer = self.builder.add(spec.op, spec.label, spec.location, heads, info=spec.info,
                                 attrs=spec.attrs, use=use, condition=condition,
                                 module_path=spec.label if spec.named else None)
        if spec.activation is not None:
            op, info, attrs = spec.activation
            layer = self.builder.add(op, f"{spec.label}.activation", spec.location, [layer],
                                     info=info, attrs=attrs, use=use, condition=condition,
                                     module_path=spec.label if spec.named else None)
        return _Tensor((layer,))

    def _apply_sequence(self, items: Sequence[object], tensor: _Tensor,
                        use: Location | None, where: Location | None = None) -> _Tensor:
        for item in _flatten(_List(list(items)), choices=False):  # a choice is parallel
            if isinstance(item, _Tensor):
                continue  # ``keras.Input`` at the head of a Sequential list
            tensor = self._apply(item, tensor, use, where=where)
        return tensor

    # ---- user classes and functions -----------------------------------------------

    def _class(self, module: PythonModule, node: cst.ClassDef) -> _Class | None:
        """A project class that subclasses a Keras Layer or Model, else None."""
        key = (module.path, node.name.value)
        if key in self._classes:
            return self._classes[key]
        self._classes[key] = None  # guards cyclic bases
        role: Role | None = None
        for base in node.bases:
            qualified = module.qualified(base.value)
            if qualified is not None and qualified.startswith("keras."):
                last = qualified.rsplit(".", 1)[-1]
                if last in ("Model", "Sequential"):
                    role = Role.MODEL
                elif last == "Layer":
                    role = role or Role.BLOCK
            elif isinstance(base.value, cst.Name):
                parent = module.definitions.get(base.value.value)
                if isinstance(parent, cst.ClassDef):
                    parent_cls = self._class(module, parent)
                    if parent_cls is not None:
                        role = role or parent_cls.role
        result = _Class(module, node, role) if role is not None else None
        self._classes[key] = result
        return result

    def _method(self, cls: _Class, name: str) -> tuple[PythonModule, cst.FunctionDef] | None:
        seen: set[str] = set()
        current: _Class | None = cls
        while current is not None and current.node.name.value not in seen:
            seen.add(current.node.name.value)
            for stmt in current.node.body.body:
                if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                    return current.module, stmt
            parent = None
            for base in current.node.bases:
                if isinstance(base.value, cst.Name):
                    pnode = current.module.definitions.get(base.value.value)
                    if isinstance(pnode, cst.ClassDef):
                        parent = self._class(current.module, pnode)
                        break
            current = parent
        return None

    def _instantiate(self, cls: _Class, args: Sequence[object], kwargs: dict[str, object],
                     label: str, location: Location) -> _Instance | None:
        instance = _Instance(cls, {}, label, location, condition=tuple(self.conditions))
        init = self._method(cls, "__init__")
        if init is None or self.depth >= _MAX_DEPTH:
            return instance
        frame = _Frame(init[0], {"self": instance})
        self._bind_params(init[1], frame, args, kwargs, bound=instance)
        self.depth += 1
        saved = self.conditions
        self.conditions = []
        try:
            self._run_body(init[1], frame)
        finally:
            self.depth -= 1
            self.conditions = saved
        instance.attrs = {k[5:]: v for k, v in frame.env.items() if k.startswith("self.")}
        for value in instance.attrs.values():
            self._consume(value)
        return instance

    def _apply_instance(self, instance: _Instance, tensor: _Tensor, use: Location | None,
                        self_label: str) -> _Tensor:
        call = self._method(instance.cls, "call")
        if call is None or self.depth >= _MAX_DEPTH:
            layer = self.builder.add(
                instance.cls.node.name.value, instance.label, instance.location, tensor.heads,
                info=OpInfo(Kind.OPAQUE), use=use, condition=_join(*self.conditions))
            return _Tensor((layer,))
        frame = _Frame(call[0], {"self": instance})
        for key, value in instance.attrs.items():
            frame.env[f"self.{key}"] = self._relabel(value, self_label)
        self._bind_params(call[1], frame, [tensor], {}, bound=instance)
        self.conditions.extend(instance.condition)
        self.depth += 1
        try:
            result = self._run_body(call[1], frame)
        finally:
            self.depth -= 1
            del self.conditions[len(self.conditions) - len(instance.condition):]
        out = _heads(result)
        return _Tensor(out) if out else tensor

    def _relabel(self, value: object, prefix: str) -> object:
        """``self.bn`` of an instance bound to ``self.block1`` is ``self.block1.bn``."""
        if prefix == "self":
            return value
        if isinstance(value, _Spec) and value.named and value.label.startswith("self."):
            return replace(value, label=prefix + value.label[4:])
        if isinstance(value, _Instance) and value.label.startswith("self."):
            return replace(value, label=prefix + value.label[4:])
        return value

    def _inline(self, function: _Function, args: Sequence[object], kwargs: dict[str, object],
                node: cst.Call, caller: _Frame) -> object:
        if self.depth >= _MAX_DEPTH or function.node in self._active:
            tensors = [v for v in (*args, *kwargs.values()) if _is_tensorish(v)]
            return self._opaque(node, tensors, caller) if tensors else UNKNOWN
        frame = _Frame(function.module, {})
        if function.bound is not None:
            frame.env["self"] = function.bound
            for key, value in function.bound.attrs.items():
                frame.env[f"self.{key}"] = value
        self._bind_params(function.node, frame, args, kwargs, bound=function.bound)
        self.depth += 1
        self._active.append(function.node)
        try:
            return self._run_body(function.node, frame)
        finally:
            self.depth -= 1
            self._active.pop()

    def _bind_params(self, node: cst.FunctionDef, frame: _Frame, args: Sequence[object],
                     kwargs: dict[str, object], bound: _Instance | None) -> None:
        params = node.params
        positional = [*params.posonly_params, *params.params]
        if bound is not None and positional:
            positional = positional[1:]  # self
        remaining = list(args)
        for param in positional:
            name = param.name.value
            if remaining:
                frame.env[name] = remaining.pop(0)
            elif name in kwargs:
                frame.env[name] = kwargs[name]
            elif param.default is not None:
                frame.env[name] = self._eval(param.default, frame)
            else:
                frame.env[name] = UNKNOWN
        for param in params.kwonly_params:
            name = param.name.value
            if name in kwargs:
                frame.env[name] = kwargs[name]
            elif param.default is not None:
                frame.env[name] = self._eval(param.default, frame)
            else:
                frame.env[name] = UNKNOWN
        if isinstance(params.star_arg, cst.Param):
            frame.env[params.star_arg.name.value] = _List(remaining)
        if params.star_kwarg is not None:
            frame.env[params.star_kwarg.name.value] = UNKNOWN

    def _run_body(self, node: cst.FunctionDef, frame: _Frame) -> object:
        try:
            self._block(node.body, frame)
        except (_Return, _LoopExit):
            pass
        result: object = None
        for value in frame.returns:
            result = value if result is None else _merge(result, value)
        return result

    # ---- layers for ops we do not model -------------------------------------------

    def _opaque(self, node: cst.CSTNode, inputs: Sequence[object], frame: _Frame,
                op: str = "<unresolved>") -> _Tensor:
        heads = [h for value in inputs for h in _heads(value)]
        layer = self.builder.add(op, _short(self._text(frame, node)), self._loc(frame, node),
                                 heads, info=OpInfo(Kind.OPAQUE), condition=_join(*self.conditions))
        return _Tensor((layer,))

    def _add_layer(self, op: str, label: str, node: cst.CSTNode, inputs: Sequence[object],
                   frame: _Frame) -> _Tensor:
        heads = [h for value in inputs for h in _heads(value)]
        layer = self.builder.add(op, label, self._loc(frame, node), heads,
                                 condition=_join(*self.conditions))
        return _Tensor((layer,))


_ARITH = {
    cst.Add: lambda a, b: a + b,
    cst.Subtract: lambda a, b: a - b,
    cst.Multiply: lambda a, b: a * b,
    cst.Divide: lambda a, b: a / b,
    cst.FloorDivide: lambda a, b: a // b,
}


_EVAL = {
    cst.Name: _Interpreter._lookup,
    cst.Integer: _Interpreter._eval_literal,
    cst.Float: _Interpreter._eval_literal,
    cst.SimpleString: _Interpreter._eval_literal,
    cst.UnaryOperation: _Interpreter._eval_unary,
    cst.List: _Interpreter._eval_sequence,
    cst.Tuple: _Interpreter._eval_sequence,
    cst.ListComp: _Interpreter._comprehension,
    cst.GeneratorExp: _Interpreter._comprehension,
    cst.Attribute: _Interpreter._attribute,
    cst.Call: _Interpreter._call,
    cst.BinaryOperation: _Interpreter._eval_binary,
    cst.IfExp: _Interpreter._ifexp,
    cst.Subscript: _Interpreter._subscript,
    cst.BooleanOperation: _Interpreter._eval_boolean,
}


def build_graphs(module: PythonModule, project: Project) -> list[LayerGraph]:
    """Every model, subclassed layer and block function of a Keras source file."""
    return _Interpreter(module, project).run()
