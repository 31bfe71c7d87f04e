"""PyTorch model source -> layer graphs, by a small abstract interpreter over LibCST.

Nothing is imported or executed. The interpreter follows what real model code
does: modules assigned in ``__init__`` (attributes, ``add_module``, ``setattr``),
``nn.Sequential`` (positional, ``OrderedDict``, ``*layers`` built in loops),
``ModuleList`` loops, helper functions and factories, layer-class parameters
(``norm_layer=nn.BatchNorm2d``, ``functools.partial``), blocks built from other
classes (same file or project imports, resolved by path), conditionals (both
branches, unless the condition folds to a constant), functional and method
forms (``F.relu``, ``torch.relu``, ``x.relu()``). What cannot be resolved
becomes an opaque layer, never a guess.

Values are abstract: constants, tensors (the set of layers whose output they
are), module values (a layer spec, a Sequential, a ModuleList, an instance of a
user class), callables (qualified names, user functions, partials) and lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from layerlint.frontends import Project
from layerlint.frontends._python import PythonModule, canonical, resolve_import
from layerlint.ir import GraphBuilder, Kind, Layer, LayerGraph, Location, OpInfo, Role, Unresolved
from layerlint.ir.kinds import VOCABULARY

__all__ = ["build_graphs"]

FRONTEND = "pytorch"
# Iterations evaluated for ``range`` and unknown iterables: repeated blocks are alike
# after two, and every element of a known list is visited anyway.
# A loop over a known list visits every element, and ``range(n)`` with a known ``n`` runs
# up to _MAX_RANGE times in a model (module paths then match torch's, as the ONNX
# cross-check needs). An unknown iterable runs twice: repeated blocks are alike after two.
_MAX_RANGE = 64
_MAX_LOOP = 8
_MAX_DEPTH = 24  # nested calls/inlining before giving up with an opaque layer
_INPUT = OpInfo(Kind.INPUT)
_CLASS_COUNT = re.compile(r"class|label", re.IGNORECASE)
_MODEL_NAME = re.compile(r"(Net|Model|Classifier|Network|Regressor)\d*$")


# --------------------------------------------------------------------------- values
class Value:
    __slots__ = ()


class _Unknown(Value):
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@dataclass(eq=False)
class Const(Value):
    value: object


@dataclass(eq=False)
class Tensor(Value):
    frontier: frozenset[Layer]


@dataclass(eq=False)
class ListValue(Value):
    items: list[Value]
    names: list[str] | None = None  # OrderedDict / dict keys


@dataclass(eq=False)
class Module(Value):
    """A module value; ``relpath`` is its attribute path inside the owning instance."""

    relpath: str | None = field(default=None, init=False)
    label: str | None = field(default=None, init=False)


@dataclass(eq=False)
class LayerSpec(Module):
    op: str
    attrs: dict[str, object]
    location: Location
    default_label: str
    condition: str | None


@dataclass(eq=False)
class Seq(Module):
    items: list[Value]
    names: list[str]
    condition: str | None = None


@dataclass(eq=False)
class ModList(Module):
    items: list[Value]
    names: list[str]


@dataclass(eq=False)
class OpaqueModule(Module):
    text: str
    location: Location


@dataclass(eq=False)
class Alternatives(Module):
    options: list[Value]


@dataclass(eq=False)
class ClassRef(Value):
    node: cst.ClassDef
    mod: PythonModule


@dataclass(eq=False)
class Instance(Module):
    cls: ClassRef
    attrs: dict[str, Value] = field(default_factory=dict)
    seq_items: Seq | None = None  # subclasses of nn.Sequential
    # Built with no known argument: its graph adds nothing to the class's own.
    open: bool = False


@dataclass(eq=False)
class QualName(Value):
    name: str


@dataclass(eq=False)
class Function(Value):
    node: cst.FunctionDef
    mod: PythonModule
    bound: Instance | None = None
    cls: ClassRef | None = None  # the class whose method this is (for super())


@dataclass(eq=False)
class Partial(Value):
    func: Value
    args: list[Value]
    kwargs: dict[str, Value]


@dataclass(eq=False)
class Range(Value):
    length: int | None


_MODULE_TYPES = (LayerSpec, Seq, ModList, OpaqueModule, Alternatives, Instance)

# Positional parameters of torch layers and functions, for reading literal attributes.
_SIGNATURES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(pattern), params) for pattern, params in (
        (r"^torch\.nn\.(Lazy)?ConvTranspose\dd$",
         ("in_channels", "out_channels", "kernel_size", "stride", "padding",
          "output_padding", "groups", "bias", "dilation")),
        (r"^torch\.nn\.Conv\dd$",
         ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
          "groups", "bias")),
        (r"^torch\.nn\.LazyConv\dd$",
         ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias")),
        (r"^torch\.nn\.Linear$", ("in_features", "out_features", "bias")),
        (r"^torch\.nn\.LazyLinear$", ("out_features", "bias")),
        (r"^torch\.nn\.Bilinear$", ("in1_features", "in2_features", "out_features", "bias")),
        (r"^torch\.nn\.(BatchNorm\dd|SyncBatchNorm)$",
         ("num_features", "eps", "momentum", "affine", "track_running_stats")),
        (r"^torch\.nn\.LazyBatchNorm\dd$", ("eps", "momentum", "affine", "track_running_stats")),
        (r"^torch\.nn\.functional\.batch_norm$",
         ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum",
          "eps")),
        (r"^torch\.nn\.(Feature)?(Alpha)?Dropout(\dd)?$", ("p", "inplace")),
        (r"^torch\.nn\.functional\.(feature_)?(alpha_)?dropout(\dd)?$",
         ("input", "p", "training", "inplace")),
        (r"^torch\.nn\.(Log)?Softmax(2d)?$", ("dim",)),
        (r"^torch\.(nn\.functional\.|special\.)?(log_)?softmax$", ("input", "dim")),
        (r"^torch\.nn\.LeakyReLU$", ("negative_slope", "inplace")),
    )
)


def _signature(op: str) -> tuple[str, ...]:
    for pattern, params in _SIGNATURES:
        if pattern.match(op):
            return params
    return ()


def _literal(value: Value, node: cst.CSTNode | None, mod: PythonModule) -> object:
    if isinstance(value, Const) and isinstance(value.value, (bool, int, float, str, type(None))):
        return value.value
    return Unresolved(" ".join(mod.code(node).split()) if node is not None else "?")


# --------------------------------------------------------------------------- frames
@dataclass
class Frame:
    mod: PythonModule
    env: dict[str, Value]
    self_: Instance | None = None
    cls: ClassRef | None = None
    builder: GraphBuilder | None = None
    condition: str | None = None
    prefix: str = ""  # module path of ``self`` inside the model
    depth: int = 0
    stmt: cst.CSTNode | None = None  # the statement being run, to locate expressions
    zero_defaults: frozenset[str] = frozenset()  # parameters unknown whose default was 0
    returns: list[Value] = field(default_factory=list)
    on_bind: object = None  # callback(name, value) for top-level model discovery

    def child(self, **changes: object) -> Frame:
        values = {
            "mod": self.mod, "env": self.env, "self_": self.self_, "cls": self.cls,
            "builder": self.builder, "condition": self.condition, "prefix": self.prefix,
            "depth": self.depth, "on_bind": None, "stmt": self.stmt,
        }
        values.update(changes)
        return Frame(**values)  # type: ignore[arg-type]


def _join(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


def _and(*conditions: str | None) -> str | None:
    present = list(dict.fromkeys(c for c in conditions if c))
    return " and ".join(present) if present else None


def _label(relpath: str, root: str = "self") -> str:
    text = root
    for part in relpath.split("."):
        text += f"[{part}]" if part.isdigit() else f".{part}"
    return text


def _name_module(value: Value, relpath: str, root: str = "self") -> None:
    """Give a module (and its children) the path it is bound to, once."""
    if not isinstance(value, Module) or value.relpath is not None:
        return
    value.relpath = relpath
    value.label = _label(relpath, root)
    if isinstance(value, (Seq, ModList)):
        for name, item in zip(value.names, value.items):
            _name_module(item, _join(relpath, name), root)
    elif isinstance(value, Alternatives):
        for option in value.options:
            _name_module(option, relpath, root)


def _tensors(values: Iterable[Value]) -> Iterator[Tensor]:
    for value in values:
        if isinstance(value, Tensor):
            yield value
        elif isinstance(value, ListValue):
            yield from _tensors(value.items)


def _union(values: Iterable[Value]) -> Tensor | None:
    frontier: set[Layer] = set()
    found = False
    for tensor in _tensors(values):
        found = True
        frontier |= tensor.frontier
    return Tensor(frozenset(frontier)) if found else None


def _merge(a: Value | None, b: Value | None) -> Value:
    """The value of a name after two branches."""
    if a is None or a is b:
        return b if b is not None else UNKNOWN
    if b is None:
        return a
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return Tensor(a.frontier | b.frontier)
    if isinstance(a, _MODULE_TYPES) and isinstance(b, _MODULE_TYPES):
        return Alternatives([a, b])
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a if isinstance(a, Tensor) else b
    return a if not isinstance(a, _Unknown) else b


# --------------------------------------------------------------------------- evaluator
class Evaluator:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.stack: list[cst.CSTNode] = []
        self.submodule_classes: set[cst.ClassDef] = set()  # classes used inside a module
        self.top_level_classes: set[cst.ClassDef] = set()  # instantiated by plain code
        self._module_consts: dict[int, dict[str, cst.BaseExpression]] = {}
        self._bases: dict[int, list[Value]] = {}
        self._imported: dict[tuple[int, str], Value] = {}
        # Training code (see ``_training_graphs``): a loss is only a training loss
        # outside ``torch.no_grad()`` blocks, evaluation functions and ``model.eval()``.
        self.grad_off = 0
        self.eval_mode = False
        self.range_limit = _MAX_RANGE
        self.training_code = False  # interpreting training code, not a model

    # -- names ------------------------------------------------------------------------
    def lookup(self, name: str, frame: Frame) -> Value:
        if name in frame.env:
            return frame.env[name]
        mod = frame.mod
        definition = mod.definitions.get(name)
        if isinstance(definition, cst.ClassDef):
            return ClassRef(definition, mod)
        if isinstance(definition, cst.FunctionDef):
            return Function(definition, mod)
        consts = self._consts(mod)
        if name in consts and consts[name] not in self.stack:
            self.stack.append(consts[name])
            try:
                value = self.eval(consts[name], Frame(mod, {}))
            finally:
                self.stack.pop()
            _name_loss(value, name)
            return value
        qualified = mod.aliases.get(name)
        if qualified is not None:
            key = (id(mod), name)  # imports resolve the same way every time
            value = self._imported.get(key)
            if value is None:
                value = self._imported[key] = self.resolve_qualified(canonical(qualified), mod)
            return value
        if name in _BUILTIN_CONSTANTS:
            return Const(_BUILTIN_CONSTANTS[name])
        return QualName(f"builtins.{name}")

    def _consts(self, mod: PythonModule) -> dict[str, cst.BaseExpression]:
        """Module-level ``NAME = expr`` assignments, evaluated lazily on use."""
        key = id(mod)
        if key not in self._module_consts:
            consts: dict[str, cst.BaseExpression] = {}
            for stmt in mod.module.body:
                if isinstance(stmt, cst.SimpleStatementLine):
                    for small in stmt.body:
                        if isinstance(small, cst.Assign) and len(small.targets) == 1:
                            target = small.targets[0].target
                            if isinstance(target, cst.Name):
                                consts[target.value] = small.value
            self._module_consts[key] = consts
        return self._module_consts[key]

    def resolve_qualified(self, name: str, mod: PythonModule) -> Value:
        if name.startswith(("torch", "keras", "collections", "functools", "builtins",
                            "typing", "math", "numpy")):
            return QualName(name)
        found = resolve_import(mod, name, self.project)
        if found is None:
            return QualName(name)
        target, local = found
        definition = target.definitions[local]
        if isinstance(definition, cst.ClassDef):
            return ClassRef(definition, target)
        return Function(definition, target)  # type: ignore[arg-type]

    # -- statements -------------------------------------------------------------------
    def run(self, body: Iterable[cst.CSTNode], frame: Frame) -> None:
        for stmt in body:
            self.statement(stmt, frame)

    def statement(self, stmt: cst.CSTNode, frame: Frame) -> None:
        frame.stmt = stmt
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.small_statement(small, frame)
        elif isinstance(stmt, cst.If):
            self.if_statement(stmt, frame)
        elif isinstance(stmt, cst.For):
            self.for_statement(stmt, frame)
        elif isinstance(stmt, cst.While):
            for _ in range(2):
                self.run(stmt.body.body, frame)
        elif isinstance(stmt, cst.With):
            grad_off = False
            for item in stmt.items:
                grad_off = grad_off or _disables_grad(item.item, frame.mod)
                self.eval(item.item, frame)
                if item.asname is not None:
                    self.bind(item.asname.name, UNKNOWN, frame)
            self.grad_off += grad_off
            try:
                self.run(stmt.body.body, frame)
            finally:
                self.grad_off -= grad_off
        elif isinstance(stmt, cst.Try):
            self.run(stmt.body.body, frame)
            if stmt.orelse is not None:
                self.run(stmt.orelse.body.body, frame)
            if stmt.finalbody is not None:
                self.run(stmt.finalbody.body.body, frame)
        elif isinstance(stmt, cst.FunctionDef):
            frame.env[stmt.name.value] = Function(stmt, frame.mod)
        elif isinstance(stmt, cst.ClassDef):
            frame.env[stmt.name.value] = ClassRef(stmt, frame.mod)

    def small_statement(self, small: cst.BaseSmallStatement, frame: Frame) -> None:
        if isinstance(small, cst.Assign):
            value = self.eval(small.value, frame)
            for target in small.targets:
                self.bind(target.target, value, frame)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self.bind(small.target, self.eval(small.value, frame), frame)
        elif isinstance(small, cst.AugAssign):
            current = self.eval(small.target, frame)
            operand = self.eval(small.value, frame)
            if isinstance(current, ListValue) and isinstance(operand, ListValue):
                current.items.extend(operand.items)  # in place, as list += does
                return
            result = self.binary(current, operand, small.operator, small, frame)
            self.bind(small.target, result, frame)
        elif isinstance(small, cst.Expr):
            self.eval(small.value, frame)
        elif isinstance(small, cst.Return):
            frame.returns.append(self.eval(small.value, frame) if small.value else Const(None))

    def if_statement(self, stmt: cst.If, frame: Frame) -> None:
        test = self.eval(stmt.test, frame)
        orelse = stmt.orelse
        if isinstance(test, Const):
            if test.value:
                self.run(stmt.body.body, frame)
            elif isinstance(orelse, cst.If):
                self.if_statement(orelse, frame)
            elif isinstance(orelse, cst.Else):
                self.run(orelse.body.body, frame)
            return
        text = " ".join(frame.mod.code(stmt.test).split())
        env_before = dict(frame.env)
        attrs_before = dict(frame.self_.attrs) if frame.self_ else None
        condition = frame.condition
        frame.condition = _and(condition, text)
        self.run(stmt.body.body, frame)
        env_body, frame.env = frame.env, dict(env_before)
        attrs_body = None
        if frame.self_ is not None and attrs_before is not None:
            attrs_body = frame.self_.attrs
            frame.self_.attrs = dict(attrs_before)
        frame.condition = _and(condition, f"not ({text})")
        if isinstance(orelse, cst.If):
            self.if_statement(orelse, frame)
        elif isinstance(orelse, cst.Else):
            self.run(orelse.body.body, frame)
        else_condition = frame.condition
        frame.condition = condition
        for name in set(env_body) | set(frame.env):
            body_value, else_value = env_body.get(name), frame.env.get(name)
            if body_value is not else_value and isinstance(body_value, Tensor) \
                    and isinstance(else_value, Tensor):
                before = env_before.get(name)
                frame.condition = _and(condition, text)
                body_value = self.branch_value(body_value, before, frame)
                frame.condition = else_condition
                else_value = self.branch_value(else_value, before, frame)
                frame.condition = condition
            frame.env[name] = _merge(body_value, else_value)
        if frame.self_ is not None and attrs_body is not None:
            merged = frame.self_.attrs
            for name in set(attrs_body) | set(merged):
                merged[name] = _merge(attrs_body.get(name), merged.get(name))

    def iterate(self, iterable: Value) -> list[Value]:
        """The items a loop over ``iterable`` binds, or two unknowns when it is opaque."""
        if isinstance(iterable, (ListValue, Seq, ModList)):
            return list(iterable.items)
        if isinstance(iterable, Instance) and iterable.seq_items is not None:
            return list(iterable.seq_items.items)
        if isinstance(iterable, Range) and iterable.length is not None:
            return [Const(i) for i in range(min(iterable.length, self.range_limit))]
        return [UNKNOWN, UNKNOWN]

    def for_statement(self, stmt: cst.For, frame: Frame) -> None:
        for item in self.iterate(self.eval(stmt.iter, frame)):
            self.bind(stmt.target, item, frame)
            self.run(stmt.body.body, frame)
        if stmt.orelse is not None:
            self.run(stmt.orelse.body.body, frame)

    def bind(self, target: cst.BaseExpression, value: Value, frame: Frame) -> None:
        if isinstance(target, cst.Name):
            frame.env[target.value] = value
            _name_loss(value, target.value)
            if frame.on_bind is not None:
                frame.on_bind(target.value, value)  # type: ignore[operator]
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = [el.value for el in target.elements]
            if isinstance(value, ListValue) and len(value.items) == len(elements):
                for element, item in zip(elements, value.items):
                    self.bind(element, item, frame)
            else:
                for element in elements:
                    self.bind(element, value if isinstance(value, Tensor) else UNKNOWN, frame)
        elif isinstance(target, cst.StarredElement):
            self.bind(target.value, UNKNOWN, frame)
        elif isinstance(target, cst.Attribute):
            owner = self.eval(target.value, frame)
            if isinstance(owner, Instance) and (frame.builder is None or frame.self_ is None):
                self.set_attr(owner, target.attr.value, value)
        elif isinstance(target, cst.Subscript):
            owner = self.eval(target.value, frame)
            index = self.subscript_index(target, frame)
            if isinstance(owner, ListValue) and isinstance(index, Const):
                if owner.names is not None and isinstance(index.value, str):
                    if index.value in owner.names:
                        owner.items[owner.names.index(index.value)] = value
                    else:
                        owner.names.append(index.value)
                        owner.items.append(value)

    @staticmethod
    def set_attr(instance: Instance, name: str, value: Value) -> None:
        if instance.seq_items is not None and isinstance(value, _MODULE_TYPES) \
                and name not in instance.attrs:
            # nn.Sequential runs its submodules in registration order, attributes included
            instance.seq_items.items.append(value)
            instance.seq_items.names.append(name)
        instance.attrs[name] = value
        _name_module(value, name)

    # -- expressions ------------------------------------------------------------------
    def eval(self, node: cst.BaseExpression | None, frame: Frame) -> Value:
        if node is None:
            return Const(None)
        kind = type(node)
        method = _EVALUATORS.get(kind)
        if method is None:
            method = _EVALUATORS[kind] = getattr(Evaluator, "eval_" + kind.__name__, None)
        if method is None:
            return UNKNOWN
        return method(self, node, frame)

    def eval_Integer(self, node: cst.Integer, frame: Frame) -> Value:
        return Const(int(node.value.replace("_", ""), 0))

    def eval_Float(self, node: cst.Float, frame: Frame) -> Value:
        return Const(float(node.value.replace("_", "")))

    def eval_SimpleString(self, node: cst.SimpleString, frame: Frame) -> Value:
        value = node.evaluated_value
        return Const(value if isinstance(value, str) else None)

    def eval_Name(self, node: cst.Name, frame: Frame) -> Value:
        return self.lookup(node.value, frame)

    def eval_Tuple(self, node: cst.Tuple, frame: Frame) -> Value:
        return self.sequence(node.elements, frame)

    def eval_List(self, node: cst.List, frame: Frame) -> Value:
        return self.sequence(node.elements, frame)

    def sequence(self, elements: Iterable[cst.BaseElement], frame: Frame) -> ListValue:
        items: list[Value] = []
        for element in elements:
            value = self.eval(element.value, frame)
            if isinstance(element, cst.StarredElement):
                items.extend(self.iterate(value) if not isinstance(value, Tensor) else [value])
            else:
                items.append(value)
        return ListValue(items)

    def eval_Dict(self, node: cst.Dict, frame: Frame) -> Value:
        result = ListValue([], [])
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                key = self.eval(element.key, frame)
                result.names.append(str(key.value) if isinstance(key, Const) else "?")
                result.items.append(self.eval(element.value, frame))
        return result

    def eval_ListComp(self, node: cst.ListComp, frame: Frame) -> Value:
        return self.comprehension(node, frame)

    def eval_GeneratorExp(self, node: cst.GeneratorExp, frame: Frame) -> Value:
        return self.comprehension(node, frame)

    def comprehension(self, node: cst.ListComp | cst.GeneratorExp, frame: Frame) -> Value:
        local = frame.child(env=dict(frame.env))
        items: list[Value] = []

        def loop(comp: cst.CompFor | None) -> None:
            if comp is None:
                items.append(self.eval(node.elt, local))
                return
            for item in self.iterate(self.eval(comp.iter, local)):
                self.bind(comp.target, item, local)
                if all(self.truthy(self.eval(c.test, local)) for c in comp.ifs):
                    loop(comp.inner_for_in)

        loop(node.for_in)
        return ListValue(items)

    @staticmethod
    def truthy(value: Value) -> bool:
        return not (isinstance(value, Const) and not value.value)

    def eval_IfExp(self, node: cst.IfExp, frame: Frame) -> Value:
        test = self.eval(node.test, frame)
        if isinstance(test, Const):
            return self.eval(node.body if test.value else node.orelse, frame)
        # Both alternatives, each under its condition, as for an ``if`` statement.
        text = " ".join(frame.mod.code(node.test).split())
        outer = frame.condition
        frame.condition = _and(outer, text)
        body = self.branch_value(self.eval(node.body, frame), None, frame)
        frame.condition = _and(outer, f"not ({text})")
        orelse = self.branch_value(self.eval(node.orelse, frame), None, frame)
        frame.condition = outer
        return _merge(body, orelse)

    def branch_value(self, value: Value | None, before: Value | None, frame: Frame) -> Value | None:
        """A tensor a conditional branch passes on unchanged goes through an identity layer
        under the branch's condition, so rules can tell that path from the others
        (``x if pre_logits else self.head(x)``: the bare ``x`` is output only then)."""
        if frame.builder is None or not isinstance(value, Tensor) or not frame.condition:
            return value
        if before is not None and value is not before:
            return value
        if any(layer.condition == frame.condition for layer in value.frontier):
            return value  # made in this branch: it already carries the condition
        layer = frame.builder.add(
            "torch.nn.Identity", "(unchanged)", next(iter(value.frontier)).location,
            value.frontier, condition=frame.condition, module_path=frame.prefix or None)
        return Tensor(frozenset({layer}))

    def eval_BooleanOperation(self, node: cst.BooleanOperation, frame: Frame) -> Value:
        left = self.eval(node.left, frame)
        if isinstance(left, Const):
            if isinstance(node.operator, cst.And):
                return self.eval(node.right, frame) if left.value else left
            return left if left.value else self.eval(node.right, frame)
        right = self.eval(node.right, frame)
        if isinstance(node.operator, cst.Or) and isinstance(
                right, (*_MODULE_TYPES, QualName, ClassRef, Partial, Function)):
            # ``norm_layer or nn.BatchNorm2d``: the parameter is unknown; the default is what
            # the code means when nobody passes one.
            return right if not isinstance(left, _MODULE_TYPES) else left
        if isinstance(right, Const) and isinstance(node.operator, cst.And) and not right.value:
            return right
        return UNKNOWN

    def eval_UnaryOperation(self, node: cst.UnaryOperation, frame: Frame) -> Value:
        value = self.eval(node.expression, frame)
        if isinstance(value, Const):
            try:
                if isinstance(node.operator, cst.Not):
                    return Const(not value.value)
                if isinstance(node.operator, cst.Minus):
                    return Const(-value.value)  # type: ignore[operator]
                if isinstance(node.operator, cst.Plus):
                    return value
            except TypeError:
                return UNKNOWN
        return value if isinstance(value, Tensor) else UNKNOWN

    def eval_Comparison(self, node: cst.Comparison, frame: Frame) -> Value:
        left = self.eval(node.left, frame)
        result = True
        for target in node.comparisons:
            right = self.eval(target.comparator, frame)
            op = target.operator
            if isinstance(op, (cst.Is, cst.IsNot)):
                if isinstance(left, Const) and left.value is None and isinstance(right, Const):
                    same = right.value is None
                elif isinstance(right, Const) and right.value is None and not isinstance(
                        left, (Const, _Unknown)):
                    same = False  # a module, a tensor or a class is not None
                elif isinstance(left, Const) and isinstance(right, Const):
                    same = left.value is right.value
                else:
                    return UNKNOWN
                result = result and (same if isinstance(op, cst.Is) else not same)
            elif isinstance(left, Const) and isinstance(right, Const):
                try:
                    result = result and _compare(op, left.value, right.value)
                except TypeError:
                    return UNKNOWN
            else:
                return UNKNOWN
            left = right
        return Const(result)

    def eval_BinaryOperation(self, node: cst.BinaryOperation, frame: Frame) -> Value:
        return self.binary(self.eval(node.left, frame), self.eval(node.right, frame),
                           node.operator, node, frame)

    def binary(self, left: Value, right: Value, operator: cst.CSTNode, node: cst.CSTNode,
               frame: Frame) -> Value:
        if isinstance(left, Const) and isinstance(right, Const):
            try:
                return Const(_arith(operator, left.value, right.value))
            except (TypeError, ValueError, ZeroDivisionError, KeyError, OverflowError):
                return UNKNOWN
        if isinstance(left, ListValue) and isinstance(right, ListValue):
            return ListValue(left.items + right.items)
        if isinstance(left, ListValue) and isinstance(right, Const):  # [block] * n
            return ListValue(left.items * min(int(right.value or 0), _MAX_LOOP)
                             if isinstance(right.value, int) else left.items * 2)
        if isinstance(left, Tensor) and isinstance(right, Tensor):
            if frame.builder is None:
                return UNKNOWN
            if isinstance(operator, (cst.Add, cst.AddAssign, cst.Subtract, cst.SubtractAssign)):
                op = "torch.add"
            elif isinstance(operator, (cst.MatrixMultiply, cst.MatrixMultiplyAssign)):
                op = "torch.matmul"
            else:
                op = "torch.mul"
            return self.functional(op, frame.mod.code(node).split("\n")[0][:40], node,
                                   [left, right], {}, frame)
        # Arithmetic with a scalar keeps the tensor's producers (scaling is transparent).
        if isinstance(left, Tensor):
            return left
        if isinstance(right, Tensor):
            return right
        return UNKNOWN

    def eval_Subscript(self, node: cst.Subscript, frame: Frame) -> Value:
        value = self.eval(node.value, frame)
        index = self.subscript_index(node, frame)
        if isinstance(value, Tensor):
            return value  # indexing and slicing are shape-only
        container = value.seq_items if isinstance(value, Instance) and value.seq_items else value
        if isinstance(container, (ListValue, Seq, ModList)):
            items = container.items
            names = container.names
            if isinstance(index, Const):
                key = index.value
                if isinstance(key, int) and -len(items) <= key < len(items):
                    return items[key]
                if isinstance(key, str) and names and key in names:
                    return items[names.index(key)]
                return UNKNOWN
            if isinstance(index, ListValue) and isinstance(container, Seq):  # a slice
                return container
            modules = [item for item in items if isinstance(item, _MODULE_TYPES)]
            if modules:
                return Alternatives(modules)
        return UNKNOWN

    def subscript_index(self, node: cst.Subscript, frame: Frame) -> Value:
        if len(node.slice) != 1:
            return ListValue([])
        inner = node.slice[0].slice
        if isinstance(inner, cst.Index):
            return self.eval(inner.value, frame)
        return ListValue([])  # a slice

    def eval_Attribute(self, node: cst.Attribute, frame: Frame) -> Value:
        return self.attribute(self.eval(node.value, frame), node.attr.value, frame)

    def attribute(self, owner: Value, name: str, frame: Frame) -> Value:
        if isinstance(owner, QualName):
            return QualName(canonical(f"{owner.name}.{name}"))
        if isinstance(owner, Instance):
            return self.instance_attr(owner, name, frame)
        if isinstance(owner, Tensor):
            return owner if name in ("T", "mT", "data") else UNKNOWN
        if isinstance(owner, (Seq, ModList)) and name in owner.names:
            return owner.items[owner.names.index(name)]
        return UNKNOWN

    def instance_attr(self, instance: Instance, name: str, frame: Frame) -> Value:
        if name in instance.attrs:
            return instance.attrs[name]
        if name == "training" and frame.builder is not None:
            return Const(True)  # rules reason about the training-time graph
        method = self.find_method(instance.cls, name)
        if method is not None:
            return Function(method[0], method[1].mod, instance, method[1])
        found = self.class_attribute(instance.cls, name)
        if found is not None:
            return found
        if instance.seq_items is not None and name in instance.seq_items.names:
            return instance.seq_items.items[instance.seq_items.names.index(name)]
        return UNKNOWN

    # -- classes ----------------------------------------------------------------------
    def bases(self, cls: ClassRef) -> list[Value]:
        cached = self._bases.get(id(cls.node))
        if cached is None:
            frame = Frame(cls.mod, {})
            cached = [self.eval(base.value, frame) for base in cls.node.bases]
            self._bases[id(cls.node)] = cached
        return cached

    def find_method(self, cls: ClassRef, name: str, skip_self: bool = False,
                    seen: frozenset[int] = frozenset()) -> tuple[cst.FunctionDef, ClassRef] | None:
        if id(cls.node) in seen:
            return None
        if not skip_self:
            for stmt in cls.node.body.body:
                if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                    return stmt, cls
        for base in self.bases(cls):
            if isinstance(base, ClassRef):
                found = self.find_method(base, name, seen=seen | {id(cls.node)})
                if found:
                    return found
        return None

    def class_attribute(self, cls: ClassRef, name: str,
                        seen: frozenset[int] = frozenset()) -> Value | None:
        """A value assigned in the class body (``plan = [(64, 0.3), ...]``), inherited too."""
        if id(cls.node) in seen:
            return None
        for stmt in cls.node.body.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    targets = [t.target for t in small.targets] if isinstance(
                        small, cst.Assign) else [small.target] if isinstance(
                        small, cst.AnnAssign) and small.value is not None else []
                    if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                        return self.eval(small.value, Frame(cls.mod, {}, stmt=stmt))
        for base in self.bases(cls):
            if isinstance(base, ClassRef):
                found = self.class_attribute(base, name, seen | {id(cls.node)})
                if found is not None:
                    return found
        return None

    def is_sequential_class(self, cls: ClassRef, seen: frozenset[int] = frozenset()) -> bool:
        if id(cls.node) in seen:
            return False
        for base in self.bases(cls):
            if isinstance(base, QualName) and base.name == "torch.nn.Sequential":
                return True
            if isinstance(base, ClassRef) and self.is_sequential_class(
                    base, seen | {id(cls.node)}):
                return True
        return False

    def is_module_class(self, cls: ClassRef, seen: frozenset[int] = frozenset()) -> bool:
        if id(cls.node) in seen:
            return False
        if any(isinstance(s, cst.FunctionDef) and s.name.value == "forward"
               for s in cls.node.body.body):
            return True
        for base in self.bases(cls):
            if isinstance(base, QualName) and base.name.startswith("torch.nn."):
                return True
            if isinstance(base, ClassRef) and self.is_module_class(base, seen | {id(cls.node)}):
                return True
        return False

    def instantiate(self, cls: ClassRef, args: list[Value], kwargs: dict[str, Value],
                    frame: Frame, configurable: bool = False) -> Value:
        """A new instance; ``__init__`` runs with the arguments given.

        ``configurable`` treats scalar parameter defaults (numbers, booleans, None) as
        unknown: a class analysed on its own may be built with any of them, so
        ``if drop_rate > 0:`` counts as present, under its condition.
        """
        if frame.depth > _MAX_DEPTH or cls.node in self.stack:
            return OpaqueModule(cls.node.name.value, cls.mod.location(cls.node))
        given = [value for key, value in (*enumerate(args), *kwargs.items()) if key != _OPEN]
        instance = Instance(cls, open=all(value is UNKNOWN for value in given))
        if self.is_sequential_class(cls):
            instance.seq_items = Seq([], [])
        init = self.find_method(cls, "__init__")
        if init is not None:
            self.stack.append(cls.node)
            try:
                # ``__init__`` binds modules; it never applies them
                self.call_function(Function(init[0], init[1].mod, instance, init[1]), args,
                                   kwargs, frame.child(builder=None),
                                   configurable or _OPEN in kwargs)
            finally:
                self.stack.pop()
        return instance

    # -- calls ------------------------------------------------------------------------
    def eval_Call(self, node: cst.Call, frame: Frame) -> Value:
        func_node = node.func
        if not isinstance(func_node, cst.Attribute):
            func = self.eval(func_node, frame)
            args, kwargs = self.arguments(node, frame)
            return self.call(func, args, kwargs, node, frame)
        owner_node, method = func_node.value, func_node.attr.value
        if (isinstance(owner_node, cst.Call) and isinstance(owner_node.func, cst.Name)
                and owner_node.func.value == "super" and frame.self_ is not None
                and frame.cls is not None):
            args, kwargs = self.arguments(node, frame)
            return self.call_super(method, args, kwargs, node, frame)
        owner = self.eval(owner_node, frame)  # once: it may apply layers
        args, kwargs = self.arguments(node, frame)
        handled = self.method_call(owner, method, args, kwargs, node, frame)
        if handled is not None:
            return handled
        return self.call(self.attribute(owner, method, frame), args, kwargs, node, frame)

    def arguments(self, node: cst.Call, frame: Frame) -> tuple[list[Value], dict[str, Value]]:
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        for arg in node.args:
            value = self.eval(arg.value, frame)
            if arg.keyword is not None:
                kwargs[arg.keyword.value] = value
            elif arg.star == "*":
                args.extend(self.iterate(value) if not isinstance(value, Tensor) else [value])
            elif arg.star == "**":
                if isinstance(value, ListValue) and value.names is not None:
                    kwargs.update(zip(value.names, value.items))
                else:
                    kwargs[_OPEN] = UNKNOWN  # any keyword may be set: defaults are unknown
            else:
                args.append(value)
        return args, kwargs

    def call_super(self, method: str, args: list[Value], kwargs: dict[str, Value],
                   node: cst.Call, frame: Frame) -> Value:
        instance, cls = frame.self_, frame.cls
        assert instance is not None and cls is not None
        found = self.find_method(cls, method, skip_self=True)
        if found is not None:
            return self.call_function(Function(found[0], found[1].mod, instance, found[1]),
                                      args, kwargs, frame)
        if method == "__init__" and instance.seq_items is not None:
            items = args
            names = [str(i) for i in range(len(items))]
            if len(args) == 1 and isinstance(args[0], ListValue) and args[0].names is not None:
                items, names = args[0].items, args[0].names
            instance.seq_items.items.extend(items)
            instance.seq_items.names.extend(names)
            for name, item in zip(names, items):
                _name_module(item, name)
            return Const(None)
        if method == "forward" and instance.seq_items is not None and args:
            return self.apply(instance.seq_items, args[0], node, frame)
        return UNKNOWN

    def method_call(self, owner: Value, method: str, args: list[Value],
                    kwargs: dict[str, Value], node: cst.Call, frame: Frame) -> Value | None:
        """Calls whose meaning depends on the receiver; None when not one of them."""
        if isinstance(owner, Tensor):
            op = f"torch.Tensor.{method}"
            if op in VOCABULARY:
                return self.functional(op, f".{method}()", node, [owner, *args], kwargs, frame)
            if method in _SCALAR_METHODS:
                return UNKNOWN
            return self.functional(op, f".{method}()", node, [owner, *args], kwargs, frame)
        if owner is UNKNOWN and self.training_code and frame.builder is not None and \
                VOCABULARY.get(f"torch.Tensor.{method}", _INPUT).kind in (Kind.SOFTMAX,
                                                                         Kind.ACTIVATION):
            # ``model(x).sigmoid()`` with an unknown model: an activation method is a
            # tensor's (training code often works on values we cannot follow)
            return self.functional(f"torch.Tensor.{method}", f".{method}()", node, args,
                                   kwargs, frame)
        if method in _MODULE_SELF_METHODS and not (
                isinstance(owner, Instance) and self.find_method(owner.cls, method)):
            if frame.builder is not None and method in ("train", "eval") and not isinstance(
                    owner, LayerSpec):  # ``self.bn.eval()`` freezes one layer, not the model
                flag = args[0] if args else kwargs.get("mode", Const(True))
                self.eval_mode = method == "eval" or (
                    isinstance(flag, Const) and flag.value is False)
            if isinstance(owner, _MODULE_TYPES):
                return owner
        if isinstance(owner, ListValue) and owner.names is not None and method in _DICT_METHODS:
            return self.dict_method(owner, method, args, kwargs)
        if isinstance(owner, ListValue):
            if method == "append" and args:
                owner.items.append(args[0])
                if owner.names is not None:
                    owner.names.append(str(len(owner.items) - 1))
            elif method == "extend" and args:
                owner.items.extend(self.iterate(args[0]))
            elif method == "insert" and len(args) == 2:
                owner.items.insert(args[0].value if isinstance(args[0], Const) and isinstance(
                    args[0].value, int) else len(owner.items), args[1])
            elif method in ("items", "values", "keys"):
                if method == "items" and owner.names is not None:
                    return ListValue([ListValue([Const(n), v]) for n, v in
                                      zip(owner.names, owner.items)])
                if method == "keys" and owner.names is not None:
                    return ListValue([Const(n) for n in owner.names])
                return ListValue(list(owner.items))
            else:
                return None
            return Const(None)
        target = owner.seq_items if isinstance(owner, Instance) and owner.seq_items else owner
        if isinstance(target, (Seq, ModList)) and method in ("append", "add_module", "extend",
                                                               "insert"):
            if method == "add_module" and len(args) >= 2:
                name = args[0].value if isinstance(args[0], Const) else str(len(target.items))
                target.items.append(args[1])
                target.names.append(str(name))
            elif method == "append" and args:
                target.items.append(args[0])
                target.names.append(str(len(target.items) - 1))
            elif method == "extend" and args:
                for item in self.iterate(args[0]):
                    target.items.append(item)
                    target.names.append(str(len(target.items) - 1))
            # Children of an instance's own container are named relative to the instance;
            # a free Sequential names its children when it is bound (or now, if it is).
            base = "" if isinstance(owner, Instance) else target.relpath
            if base is not None:
                for name, item in zip(target.names, target.items):
                    _name_module(item, _join(base, name))
            return Const(None)
        if isinstance(owner, Instance) and method in ("add_module", "register_module") \
                and len(args) >= 2 and frame.builder is None:
            if isinstance(args[0], Const) and isinstance(args[0].value, str):
                self.set_attr(owner, args[0].value, args[1])
            else:
                self.set_attr(owner, f"<{len(owner.attrs)}>", args[1])
            return Const(None)
        if isinstance(owner, (Seq, ModList)) and method in ("children", "modules", "values"):
            return ListValue(list(owner.items))
        if isinstance(owner, ModList) and method == "items":
            return ListValue([ListValue([Const(n), v]) for n, v in zip(owner.names, owner.items)])
        return None

    @staticmethod
    def dict_method(owner: ListValue, method: str, args: list[Value],
                    kwargs: dict[str, Value]) -> Value:
        """``kwargs.setdefault("bias", False)`` and friends, on a dict of known keys."""
        names = owner.names
        assert names is not None
        key = args[0].value if args and isinstance(args[0], Const) else None
        if method == "update":
            source = args[0] if args else ListValue([], [])
            pairs = list(zip(source.names, source.items)) if isinstance(
                source, ListValue) and source.names is not None else []
            for name, value in [*pairs, *kwargs.items()]:
                if name in names:
                    owner.items[names.index(name)] = value
                else:
                    names.append(name)
                    owner.items.append(value)
            return Const(None)
        if not isinstance(key, str):
            return UNKNOWN
        default = args[1] if len(args) > 1 else Const(None)
        if key in names:
            index = names.index(key)
            value = owner.items[index]
            if method == "pop":
                del names[index], owner.items[index]
            return value
        if method == "setdefault":
            names.append(key)
            owner.items.append(default)
        return default

    def call(self, func: Value, args: list[Value], kwargs: dict[str, Value], node: cst.Call,
             frame: Frame) -> Value:
        if isinstance(func, QualName):
            return self.call_qualified(func.name, args, kwargs, node, frame)
        if isinstance(func, ClassRef):
            if frame.builder is None:
                inside_module = any(isinstance(n, cst.ClassDef) for n in self.stack)
                (self.submodule_classes if inside_module else self.top_level_classes).add(
                    func.node)
            return self.instantiate(func, args, kwargs, frame)
        if isinstance(func, Function):
            return self.call_function(func, args, kwargs, frame)
        if isinstance(func, Partial):
            return self.call(func.func, [*func.args, *args], {**func.kwargs, **kwargs}, node,
                             frame)
        if isinstance(func, _MODULE_TYPES):
            if frame.builder is not None and (args or "input" in kwargs):
                return self.apply(func, args[0] if args else kwargs["input"], node, frame)
            return UNKNOWN
        tensor = _union([*args, *kwargs.values()])
        if tensor is not None and frame.builder is not None:
            return self.opaque(frame.mod.code(node.func)[:40], node, [tensor], frame)
        return UNKNOWN

    def call_qualified(self, name: str, args: list[Value], kwargs: dict[str, Value],
                       node: cst.Call, frame: Frame) -> Value:
        short = name.rsplit(".", 1)[-1]
        if name == "torch.nn.Sequential":
            if len(args) == 1 and isinstance(args[0], ListValue) and args[0].names is not None:
                return Seq(list(args[0].items), list(args[0].names), frame.condition)
            return Seq(list(args), [str(i) for i in range(len(args))], frame.condition)
        if name in ("torch.nn.ModuleList", "torch.nn.ModuleDict"):
            source = args[0] if args else ListValue([])
            items = self.iterate(source) if not isinstance(source, ListValue) else source.items
            names = source.names if isinstance(source, ListValue) and source.names else [
                str(i) for i in range(len(items))]
            return ModList(list(items), list(names))
        if name in ("collections.OrderedDict", "builtins.dict"):
            result = ListValue([], [])
            if args and isinstance(args[0], ListValue):
                for pair in args[0].items:
                    if isinstance(pair, ListValue) and len(pair.items) == 2:
                        key = pair.items[0]
                        result.names.append(str(key.value) if isinstance(key, Const) else "?")
                        result.items.append(pair.items[1])
            for key, value in kwargs.items():
                result.names.append(key)
                result.items.append(value)
            return result
        if name == "functools.partial" and args:
            return Partial(args[0], args[1:], kwargs)
        if name in _MODULE_WRAPPERS and args and isinstance(args[0], _MODULE_TYPES):
            return args[0]
        if name.startswith("builtins."):
            return self.call_builtin(short, args, kwargs, frame)
        if name in VOCABULARY or (name.startswith("torch.nn.") and short[:1].isupper()):
            if short[:1].isupper():
                return self.layer_spec(name, args, kwargs, node, frame)
            return self.functional(name, frame.mod.code(node.func), node, args, kwargs, frame)
        tensor = _union([*args, *kwargs.values()])
        if tensor is not None:
            if frame.builder is None:
                return UNKNOWN
            return self.opaque(frame.mod.code(node.func)[:40], node, [tensor], frame)
        if name.startswith(("torch.", "numpy.", "math.", "typing.")):
            return UNKNOWN
        # An unresolvable class or factory (a third-party block): opaque when applied.
        return OpaqueModule(frame.mod.code(node)[:60], frame.mod.location(node, frame.stmt))

    def call_builtin(self, name: str, args: list[Value], kwargs: dict[str, Value],
                     frame: Frame) -> Value:
        if name == "range":
            consts = [a.value for a in args if isinstance(a, Const)]
            if len(consts) == len(args) and all(isinstance(c, int) for c in consts) and consts:
                return Range(len(range(*consts)))  # type: ignore[arg-type]
            return Range(None)
        if name in ("list", "tuple", "reversed", "sorted"):
            return ListValue(self.iterate(args[0])) if args else ListValue([])
        if name == "enumerate" and args:
            return ListValue([ListValue([Const(i), v]) for i, v in
                              enumerate(self.iterate(args[0]))])
        if name == "zip" and args:
            columns = [self.iterate(a) for a in args]
            return ListValue([ListValue(list(row)) for row in zip(*columns)])
        if name == "len" and args and isinstance(args[0], (ListValue, Seq, ModList)):
            return Const(len(args[0].items))
        if name in ("setattr",) and len(args) == 3 and isinstance(args[0], Instance):
            if isinstance(args[1], Const) and isinstance(args[1].value, str):
                self.set_attr(args[0], args[1].value, args[2])
            return Const(None)
        if name == "getattr" and len(args) >= 2 and isinstance(args[0], Instance):
            if isinstance(args[1], Const) and isinstance(args[1].value, str):
                return self.instance_attr(args[0], args[1].value, frame)
            return UNKNOWN
        if name in ("int", "float", "bool", "str", "abs", "round") and args and isinstance(
                args[0], Const):
            try:
                return Const({"int": int, "float": float, "bool": bool, "str": str,
                              "abs": abs, "round": round}[name](args[0].value))
            except (TypeError, ValueError):
                return UNKNOWN
        if name in ("max", "min") and args and all(isinstance(a, Const) for a in args):
            try:
                return Const((max if name == "max" else min)(a.value for a in args))
            except (TypeError, ValueError):
                return UNKNOWN
        if name == "isinstance":
            return UNKNOWN
        tensor = _union(args)
        return tensor if tensor is not None else UNKNOWN

    def call_function(self, func: Function, args: list[Value], kwargs: dict[str, Value],
                      frame: Frame, configurable: bool = False) -> Value:
        if frame.depth > _MAX_DEPTH or func.node in self.stack:
            tensor = _union([*args, *kwargs.values()])
            if tensor is not None and frame.builder is not None:
                return self.opaque(func.node.name.value, func.node, [tensor], frame,
                                   mod=func.mod)
            return UNKNOWN
        zero_defaults: set[str] = set()
        env = self.bind_parameters(func, args, kwargs, configurable or _OPEN in kwargs,
                                   zero_defaults)
        grad_off = frame.builder is not None and _is_evaluation(func.node, func.mod)
        self.grad_off += grad_off
        prefix = frame.prefix
        local = Frame(func.mod, env, self_=func.bound or None, cls=func.cls,
                      builder=frame.builder, condition=frame.condition, prefix=prefix,
                      depth=frame.depth + 1, zero_defaults=frozenset(zero_defaults))
        self.stack.append(func.node)
        try:
            self.run(func.node.body.body, local)
        finally:
            self.stack.pop()
            self.grad_off -= grad_off
        if not local.returns:
            return Const(None)
        result: Value | None = None
        for value in local.returns:
            result = value if result is None else _merge(result, value)
        return result if result is not None else UNKNOWN

    def bind_parameters(self, func: Function, args: list[Value], kwargs: dict[str, Value],
                        configurable: bool = False,
                        zero_defaults: set[str] | None = None) -> dict[str, Value]:
        """Parameters bound to arguments or defaults; ``zero_defaults`` collects the
        parameters left unknown whose default was 0 (``attn_drop=0.``)."""
        params = func.node.params
        env: dict[str, Value] = {}
        kwargs = {k: v for k, v in kwargs.items() if k != _OPEN}
        positional = [*params.posonly_params, *params.params]
        if func.bound is not None and positional:
            env[positional[0].name.value] = func.bound
            positional = positional[1:]
        remaining = list(args)
        default_frame = Frame(func.mod, {})
        for param in positional:
            name = param.name.value
            if remaining:
                env[name] = remaining.pop(0)
            elif name in kwargs:
                env[name] = kwargs.pop(name)
            elif param.default is not None:
                env[name] = self.default(param.default, default_frame, configurable, name,
                                         zero_defaults)
            else:
                env[name] = UNKNOWN
        if isinstance(params.star_arg, cst.Param):
            env[params.star_arg.name.value] = ListValue(remaining)
        for param in params.kwonly_params:
            name = param.name.value
            if name in kwargs:
                env[name] = kwargs.pop(name)
            elif param.default is not None:
                env[name] = self.default(param.default, default_frame, configurable, name,
                                         zero_defaults)
            else:
                env[name] = UNKNOWN
        if params.star_kwarg is not None:
            env[params.star_kwarg.name.value] = UNKNOWN if configurable and not kwargs else \
                ListValue(list(kwargs.values()), list(kwargs))
        return env

    def default(self, node: cst.BaseExpression, frame: Frame, configurable: bool,
                name: str = "", zero_defaults: set[str] | None = None) -> Value:
        value = self.eval(node, frame)
        if configurable and isinstance(value, Const) and (
                value.value is None or isinstance(value.value, (bool, int, float))):
            if zero_defaults is not None and value.value == 0 and value.value is not False:
                zero_defaults.add(name)
            return UNKNOWN
        return value

    def losses_active(self) -> bool:
        return not self.grad_off and not self.eval_mode

    # -- layers -----------------------------------------------------------------------
    def attributes(self, op: str, args: list[Value], kwargs: dict[str, Value],
                   node: cst.Call, frame: Frame) -> dict[str, object]:
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        attrs: dict[str, object] = {}
        for index, (param, value) in enumerate(zip(_signature(op), args)):
            source = positional[index] if index < len(positional) else None
            attrs[param] = _literal(value, source, frame.mod)
        for key, value in kwargs.items():
            if key != _OPEN:
                attrs[key] = _literal(value, keywords.get(key), frame.mod)
        if _OPEN in kwargs:  # absent attributes are unknown, not the framework default
            attrs[_OPEN] = next((frame.mod.code(a.value) for a in node.args if a.star == "**"),
                                "kwargs")
        attrs.pop("input", None)
        return attrs

    def layer_spec(self, op: str, args: list[Value], kwargs: dict[str, Value],
                   node: cst.Call, frame: Frame) -> LayerSpec:
        short = frame.mod.code(node.func)
        attrs = self.attributes(op, args, kwargs, node, frame)
        condition = frame.condition
        rate = attrs.get("p")
        if isinstance(rate, Unresolved) and rate.text in frame.zero_defaults:
            # ``nn.Dropout(attn_drop)`` with ``attn_drop=0.`` by default: present only when
            # someone sets it, which the message should say.
            condition = _and(condition, f"{rate.text} > 0")
        return LayerSpec(op, attrs, frame.mod.location(node, frame.stmt), f"{short}(...)",
                         condition)

    def functional(self, op: str, label: str, node: cst.CSTNode, args: list[Value],
                   kwargs: dict[str, Value], frame: Frame) -> Value:
        is_loss = VOCABULARY.get(op, _INPUT).kind is Kind.LOSS
        if is_loss:
            # only the input is an edge: a softmax *target* (distillation) is fine
            tensor = _union([args[0] if args else kwargs.get("input", UNKNOWN)])
            if frame.builder is None or not self.losses_active():
                return UNKNOWN
        else:
            tensor = _union([*args, *kwargs.values()])
        if frame.builder is None:
            return UNKNOWN if tensor is None else tensor
        attrs = self.attributes(op, args, kwargs, node, frame) if isinstance(
            node, cst.Call) else {}
        layer = frame.builder.add(
            op, label, frame.mod.location(node, frame.stmt), tensor.frontier if tensor else (),
            attrs=attrs, condition=frame.condition, module_path=frame.prefix or None,
        )
        return Tensor(frozenset({layer}))

    def opaque(self, text: str, node: cst.CSTNode | None, inputs: list[Tensor], frame: Frame,
               mod: PythonModule | None = None) -> Value:
        assert frame.builder is not None
        frontier = _union(inputs)
        where = mod or frame.mod
        location = where.location(node, frame.stmt if mod is None else None) if node else \
            Location(where.display, 1, 1)
        layer = frame.builder.add(
            f"opaque:{text}", text, location,
            frontier.frontier if frontier else (), condition=frame.condition,
            module_path=frame.prefix or None,
        )
        return Tensor(frozenset({layer}))

    def apply(self, module: Value, value: Value, node: cst.CSTNode | None,
              frame: Frame) -> Value:
        """Apply a module value to a tensor in ``forward``."""
        builder = frame.builder
        assert builder is not None
        tensor = value if isinstance(value, Tensor) else _union([value])
        frontier = tensor.frontier if tensor else frozenset()
        relpath = module.relpath if isinstance(module, Module) else None
        if isinstance(module, LayerSpec):
            if VOCABULARY.get(module.op, _INPUT).kind is Kind.LOSS and not self.losses_active():
                return UNKNOWN
            layer = builder.add(
                module.op, module.label or module.default_label, module.location, frontier,
                attrs=module.attrs,
                use=frame.mod.location(node, frame.stmt) if node is not None else None,
                condition=_and(module.condition, frame.condition),
                module_path=_join(frame.prefix, relpath) or None,
            )
            return Tensor(frozenset({layer}))
        if isinstance(module, Seq):
            current: Value = Tensor(frontier)
            condition = frame.condition
            frame.condition = _and(condition, module.condition)
            for item in module.items:
                current = self.apply(item, current, node, frame)
            frame.condition = condition
            return current
        if isinstance(module, Alternatives):
            results = [self.apply(option, Tensor(frontier), node, frame)
                       for option in module.options]
            return _union(results) or Tensor(frontier)
        if isinstance(module, Instance):
            prefix = _join(frame.prefix, relpath)
            forward = self.find_method(module.cls, "forward")
            if forward is None and module.seq_items is not None:
                return self.apply(module.seq_items, Tensor(frontier), node,
                                  frame.child(prefix=prefix))
            if forward is None:
                return self.opaque(module.label or module.cls.node.name.value, node,
                                   [Tensor(frontier)], frame)
            self.stack.append(module.cls.node)
            try:
                return self.call_function(
                    Function(forward[0], forward[1].mod, module, forward[1]),
                    [Tensor(frontier)], {}, frame.child(prefix=prefix),
                )
            finally:
                self.stack.pop()
        if isinstance(module, (Function, QualName, Partial)):
            return self.call(module, [Tensor(frontier)], {}, node, frame)  # type: ignore[arg-type]
        label = module.label if isinstance(module, Module) and module.label else (
            module.text if isinstance(module, OpaqueModule) else "?")
        return self.opaque(label, node, [Tensor(frontier)], frame)


_EVALUATORS: dict[type, object] = {}  # node type -> Evaluator.eval_<Type>, found once

_OPEN = "**"  # key in a call's keywords when ``**kwargs`` of unknown content is passed

# ``__name__`` is "__main__" so that ``if __name__ == "__main__":`` is not a condition.
_BUILTIN_CONSTANTS = {"True": True, "False": False, "None": None, "__name__": "__main__"}

# Module methods that return the module itself (``model = Net().to(device)``).
_MODULE_SELF_METHODS = frozenset(
    "to cuda cpu float double half bfloat16 train eval requires_grad_ share_memory "
    "apply to_empty".split()
)
# Calls that wrap a model and behave like it.
_MODULE_WRAPPERS = frozenset({
    "torch.nn.DataParallel", "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.DistributedDataParallel", "torch.compile", "torch.jit.script",
})
_GRAD_OFF = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
                       "torch.autograd.grad_mode.no_grad"})
# Functions whose losses are evaluation metrics, not training losses.
_EVALUATION = re.compile(
    r"(^|_)(predict|prediction|inference|infer|eval|evaluate|evaluation|validate|validation|"
    r"val|valid|test|metrics?)(_|$)", re.I)


def _name_loss(value: Value, name: str) -> None:
    """A loss module bound to a plain name (``criterion = nn.CrossEntropyLoss()``) is
    labelled by it."""
    if isinstance(value, LayerSpec) and value.label is None and \
            VOCABULARY.get(value.op, _INPUT).kind is Kind.LOSS:
        value.label = name


def _disables_grad(node: cst.BaseExpression, mod: PythonModule) -> bool:
    """``torch.no_grad()``, ``torch.inference_mode()``, ``torch.set_grad_enabled(False)``."""
    if not isinstance(node, cst.Call):
        return False
    name = mod.qualified(node.func)
    if name in _GRAD_OFF:
        return True
    if name in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled") and node.args:
        value = node.args[0].value
        return isinstance(value, cst.Name) and value.value == "False"
    return False


def _is_evaluation(func: cst.FunctionDef, mod: PythonModule) -> bool:
    """An evaluation function: by its name, or decorated with ``@torch.no_grad()``."""
    if _EVALUATION.search(func.name.value):
        return True
    for decorator in func.decorators:
        expr = decorator.decorator
        if mod.qualified(expr.func if isinstance(expr, cst.Call) else expr) in _GRAD_OFF:
            return True
    return False


_DICT_METHODS = frozenset({"setdefault", "pop", "get", "update"})

_SCALAR_METHODS = frozenset(
    "size dim numel item tolist shape ndimension get_device nelement element_size "
    "data_ptr is_contiguous stride __len__ numpy cpu_count".split()
)


def _compare(op: cst.BaseCompOp, left: object, right: object) -> bool:
    if isinstance(op, cst.Equal):
        return left == right
    if isinstance(op, cst.NotEqual):
        return left != right
    if isinstance(op, cst.LessThan):
        return left < right  # type: ignore[operator]
    if isinstance(op, cst.LessThanEqual):
        return left <= right  # type: ignore[operator]
    if isinstance(op, cst.GreaterThan):
        return left > right  # type: ignore[operator]
    if isinstance(op, cst.GreaterThanEqual):
        return left >= right  # type: ignore[operator]
    if isinstance(op, cst.In):
        return left in right  # type: ignore[operator]
    if isinstance(op, cst.NotIn):
        return left not in right  # type: ignore[operator]
    raise TypeError(op)


def _arith(op: cst.CSTNode, left: object, right: object) -> object:
    name = type(op).__name__.removesuffix("Assign")
    table = {
        "Add": lambda a, b: a + b, "Subtract": lambda a, b: a - b,
        "Multiply": lambda a, b: a * b, "Divide": lambda a, b: a / b,
        "FloorDivide": lambda a, b: a // b, "Modulo": lambda a, b: a % b,
        "Power": lambda a, b: a ** b if abs(b) < 64 else None,
    }
    if name not in table:
        raise TypeError(name)
    return table[name](left, right)


# --------------------------------------------------------------------------- entry
def _has_class_scores(layers: list[Layer]) -> bool:
    """A weighted layer sized by a class count (``nn.Linear(h, num_classes)``) means the
    graph outputs class scores: it is a whole model, not a block."""
    for layer in layers:
        if layer.kind is Kind.WEIGHTED:
            size = layer.attrs.get("out_features", layer.attrs.get("out_channels"))
            if isinstance(size, Unresolved) and _CLASS_COUNT.search(size.text):
                return True
    return False


def _may_build_models(mod: PythonModule, func: cst.FunctionDef,
                      classes: list[cst.ClassDef]) -> bool:
    """Cheap text test before interpreting a top-level function: does it mention a
    Sequential or a class that could be a model? Most utility functions do not."""
    span = mod.statement_span(func)
    if span is None:
        return True
    text = "\n".join(mod.lines[span[0] - 1:span[2]])
    names = ["Sequential", *(c.name.value for c in classes),
             *(local for local in mod.aliases if local[:1].isupper())]
    return any(name + "(" in text for name in names)


def build_graphs(mod: PythonModule, project: Project) -> list[LayerGraph]:
    """One graph per model-like thing in the file: each nn.Module class, each
    Sequential or model instance bound by module-level or function code."""
    evaluator = Evaluator(project)
    pending: list[tuple[GraphBuilder, tuple[Layer, ...], cst.ClassDef | None, Role]] = []

    def model_graph(name: str, module: Value, role: Role, cls: cst.ClassDef | None,
                    root: str) -> None:
        if isinstance(module, Module) and module.relpath is None and not isinstance(
                module, Instance):
            _name_module(module, "", root)
            module.relpath = None  # the root itself has no path
        builder = GraphBuilder(name, mod.display, FRONTEND)
        frame = Frame(mod, {}, builder=builder)
        start = builder.add("input", "input", Location(mod.display, 1, 1), info=_INPUT)
        try:
            if isinstance(module, Instance):
                forward = evaluator.find_method(module.cls, "forward")
                if forward is not None:
                    env = evaluator.bind_parameters(
                        Function(forward[0], forward[1].mod, module, forward[1]), [], {})
                    for key, value in env.items():
                        if value is UNKNOWN:
                            env[key] = Tensor(frozenset({start}))
                    local = Frame(forward[1].mod, env, self_=module, cls=forward[1],
                                  builder=builder)
                    evaluator.stack.append(module.cls.node)
                    evaluator.run(forward[0].body.body, local)
                    evaluator.stack.pop()
                    result = _union(local.returns)
                else:
                    result = _union([evaluator.apply(module, Tensor(frozenset({start})),
                                                     module.cls.node, frame)])
            else:
                result = _union([evaluator.apply(module, Tensor(frozenset({start})), None,
                                                 frame)])
        except RecursionError:
            builder.notes.append(f"{name}: model nested too deeply to analyse")
            result = None
        outputs = tuple(result.frontier) if result else ()
        pending.append((builder, outputs, cls, role))

    # 1. every nn.Module class, instantiated with its defaults
    classes = [node for node in mod.definitions.values() if isinstance(node, cst.ClassDef)]
    for node in classes:
        ref = ClassRef(node, mod)
        if not evaluator.is_module_class(ref):
            continue
        instance = evaluator.instantiate(ref, [], {}, Frame(mod, {}), configurable=True)
        if isinstance(instance, Instance):
            model_graph(node.name.value, instance, Role.UNKNOWN, node, "self")

    # 2. Sequentials and model instances bound by plain code (module level, functions)
    def discovered(role: Role) -> object:
        def on_bind(name: str, value: Value) -> None:
            if isinstance(value, Seq) or (isinstance(value, Instance) and not value.open):
                model_graph(name, value, role, None, name)
        return on_bind

    top = Frame(mod, {}, on_bind=discovered(Role.MODEL))
    body = [s for s in mod.module.body if not isinstance(s, (cst.ClassDef, cst.FunctionDef))]
    try:
        evaluator.run(body, top)
        for node in mod.definitions.values():
            if isinstance(node, cst.FunctionDef) and _may_build_models(mod, node, classes):
                func = Function(node, mod)
                frame = Frame(mod, evaluator.bind_parameters(func, [], {}, configurable=True),
                              on_bind=discovered(Role.MODEL))
                evaluator.stack.append(node)
                evaluator.run(node.body.body, frame)
                evaluator.stack.pop()
                for value in frame.returns:
                    if isinstance(value, Seq) or (isinstance(value, Instance) and not value.open):
                        model_graph(node.name.value, value, Role.UNKNOWN, None,
                                    node.name.value + "()")
    except RecursionError:
        pass

    training = _training_graphs(mod, evaluator, classes)

    graphs = []
    for builder, outputs, cls, role in pending:
        if cls is not None:
            if cls in evaluator.top_level_classes:
                role = Role.MODEL
            elif cls in evaluator.submodule_classes:
                role = Role.BLOCK
            elif _MODEL_NAME.search(cls.name.value) or _has_class_scores(builder.layers):
                role = Role.MODEL
        graphs.append(builder.build(outputs, role))
    return graphs + training


# --------------------------------------------------------------------------- training code
# Short names of the torch losses: a file that mentions none has no training code to follow.
_LOSS_NAMES = tuple(sorted({
    name.rsplit(".", 1)[-1] for name, info in VOCABULARY.items()
    if info.kind is Kind.LOSS and name.startswith("torch.")
}))
_TRAINING_RANGE = 2  # ``for epoch in range(100)``: two passes show what one step does


def _training_graphs(mod: PythonModule, evaluator: Evaluator,
                     classes: list[cst.ClassDef]) -> list[LayerGraph]:
    """Graphs of the training code in a file: module-level code, functions and methods
    (Lightning's ``training_step``) that apply a model and a loss.

    The model's ``forward`` is inlined where it is called and each loss becomes a LOSS
    layer whose input edge comes from the tensor passed to it, so the graph shows what
    the model's output goes through. Only graphs with a loss are kept.
    """
    if not any(name in mod.text for name in _LOSS_NAMES):
        return []
    graphs: list[LayerGraph] = []

    def run(name: str, body: list[cst.CSTNode], env: dict[str, Value],
            self_: Instance | None = None, cls: ClassRef | None = None,
            node: cst.CSTNode | None = None) -> None:
        builder = GraphBuilder(f"{name} (training code)", mod.display, FRONTEND)
        frame = Frame(mod, env, self_=self_, cls=cls, builder=builder)
        evaluator.eval_mode, evaluator.grad_off = False, 0
        evaluator.range_limit, evaluator.training_code = _TRAINING_RANGE, True
        if node is not None:
            evaluator.stack.append(node)
        try:
            evaluator.run(body, frame)
        except RecursionError:
            return
        finally:
            evaluator.range_limit, evaluator.training_code = _MAX_RANGE, False
            evaluator.eval_mode, evaluator.grad_off = False, 0
            if node is not None:
                evaluator.stack.pop()
        if any(layer.kind is Kind.LOSS for layer in builder.layers):
            graphs.append(builder.build((), Role.UNKNOWN))

    top = [s for s in mod.module.body if not isinstance(s, (cst.ClassDef, cst.FunctionDef))]
    run("<module>", top, {})
    for node in mod.definitions.values():
        if isinstance(node, cst.FunctionDef) and not _is_evaluation(node, mod):
            env = evaluator.bind_parameters(Function(node, mod), [], {})
            run(node.name.value, list(node.body.body), env, node=node)
    for cls_node in classes:
        methods = [stmt for stmt in cls_node.body.body if isinstance(stmt, cst.FunctionDef)
                   and stmt.name.value not in ("__init__", "forward")
                   and not _is_evaluation(stmt, mod)]
        if not methods:
            continue
        ref = ClassRef(cls_node, mod)
        instance = evaluator.instantiate(ref, [], {}, Frame(mod, {}), configurable=True)
        if not isinstance(instance, Instance):
            continue
        for method in methods:
            env = evaluator.bind_parameters(Function(method, mod, instance, ref), [], {})
            run(f"{cls_node.name.value}.{method.name.value}", list(method.body.body), env,
                self_=instance, cls=ref, node=method)
    return graphs


