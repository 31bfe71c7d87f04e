"""The abstract values of the Python interpreter, shared by every framework plugin.

Values are abstract: constants, tensors (the set of layers whose output they may
be), containers, callables (framework names, user functions and classes, partials),
and module values (a layer built but not applied, a sequential container, a list of
modules, an instance of a user class, alternatives after an ``if``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from layerlint.frontends.python.source import PythonModule
from layerlint.ir import GraphBuilder, Layer, Location, OpInfo
from layerlint.ir.condition import ALWAYS, Condition

__all__ = [
    "UNKNOWN", "Alternatives", "ClassRef", "Const", "Function", "GraphModel", "Instance",
    "LayerSpec", "ListValue", "ModList", "Module", "OpaqueModule", "Partial", "QualName",
    "Range", "Seq", "Tensor", "Value", "is_module", "merge", "tensors_in", "union",
]


_IDENTITIES = itertools.count()


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
    # a constant was added to it (``p + eps``): a log of it is guarded against log(0)
    shifted: bool = False


@dataclass(eq=False)
class ListValue(Value):
    """A list, tuple or dict (``names`` holds a dict's keys, in insertion order)."""

    items: list[Value]
    names: list[str] | None = None


@dataclass(eq=False)
class Range(Value):
    length: int | None


@dataclass(eq=False)
class QualName(Value):
    """A name from outside the project (a framework class or function, a builtin)."""

    name: str


@dataclass(eq=False)
class ClassRef(Value):
    node: cst.ClassDef
    mod: PythonModule


@dataclass(eq=False)
class Module(Value):
    """A module value. ``relpath`` is its attribute path inside the owning instance,
    ``label`` how messages name it; both are given when it is first bound."""

    relpath: str | None = field(default=None, init=False)
    label: str | None = field(default=None, init=False)
    named: bool = field(default=False, init=False)  # its label is a name from the source


@dataclass(eq=False)
class LayerSpec(Module):
    """A framework layer constructed but not yet applied."""

    op: str
    attrs: dict[str, object]
    location: Location
    default_label: str
    condition: Condition = ALWAYS
    info: OpInfo | None = None  # when the op name alone does not say (``Activation("relu")``)
    # A fused activation (``Dense(8, activation="relu")``): (op, info, attrs)
    activation: tuple[str, OpInfo, dict[str, object]] | None = None
    # The layer object this value is: a relabelled copy of the value keeps it, a layer
    # constructed again (another instance of a block) gets a new one.
    identity: int = field(default_factory=lambda: next(_IDENTITIES))


@dataclass(eq=False)
class Seq(Module):
    """A sequential container: its items run in order."""

    items: list[Value]
    names: list[str]
    condition: Condition = ALWAYS
    location: Location | None = None
    consumed: bool = False  # nested in or applied by another model
    loss: LayerSpec | None = None  # given to ``compile``
    compiled: bool = False


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
    """One of several module values (after ``if``/``else``): applied in parallel."""

    options: list[Value]
    identity: int = field(default_factory=lambda: next(_IDENTITIES))


@dataclass(eq=False)
class Instance(Module):
    cls: ClassRef
    attrs: dict[str, Value] = field(default_factory=dict)
    seq_items: Seq | None = None  # subclasses of a sequential container
    open: bool = False  # built with no known argument: adds nothing to its class's graph
    condition: Condition = ALWAYS  # the tests it was constructed under
    location: Location | None = None


@dataclass(eq=False)
class GraphModel(Module):
    """A model whose graph was built where it was defined (a functional model); applying
    it elsewhere is one opaque step, and a loss given later extends its graph."""

    location: Location
    builder: GraphBuilder | None = None
    heads: tuple[Layer, ...] = ()
    index: int | None = None  # of its graph in the plugin's output


@dataclass(eq=False)
class Function(Value):
    node: cst.FunctionDef
    mod: PythonModule
    bound: Instance | None = None
    cls: ClassRef | None = None  # the class whose method this is (for super())
    closure: dict[str, Value] | None = None  # the names of the function that defined it


@dataclass(eq=False)
class Partial(Value):
    func: Value
    args: list[Value]
    kwargs: dict[str, Value]


MODULE_TYPES = (LayerSpec, Seq, ModList, OpaqueModule, Alternatives, Instance, GraphModel)


def is_module(value: object) -> bool:
    return isinstance(value, MODULE_TYPES)


def tensors_in(values: Iterable[Value]) -> Iterator[Tensor]:
    """The tensors in ``values`` and in the containers nested in them, each container
    once (a list may contain itself)."""
    seen: set[int] = set()
    stack = list(values)[::-1]
    while stack:
        value = stack.pop()
        if isinstance(value, Tensor):
            yield value
        elif isinstance(value, ListValue) and id(value) not in seen:
            seen.add(id(value))
            stack.extend(reversed(value.items))


def union(values: Iterable[Value]) -> Tensor | None:
    frontier: set[Layer] = set()
    found = False
    for tensor in tensors_in(values):
        found = True
        frontier |= tensor.frontier
    return Tensor(frozenset(frontier)) if found else None


def merge(a: Value | None, b: Value | None) -> Value:
    """The value of a name after two branches that left ``a`` and ``b``."""
    if a is None or a is b:
        return b if b is not None else UNKNOWN
    if b is None:
        return a
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return Tensor(a.frontier | b.frontier)
    if is_module(a) and is_module(b):
        return Alternatives([a, b])
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a if isinstance(a, Tensor) else b
    if is_module(a) or is_module(b):
        return a if is_module(a) else b
    if isinstance(a, Const) and isinstance(b, Const):
        return a if type(a.value) is type(b.value) and a.value == b.value else UNKNOWN
    if isinstance(a, ListValue) and isinstance(b, ListValue):
        return a  # the same list mutated in place in both branches, or a fresh one
    # ``if norm is None: norm = nn.BatchNorm2d`` with an unknown ``norm``: the value the
    # code gives is what it means when nobody passes one
    return b if a is UNKNOWN else a
