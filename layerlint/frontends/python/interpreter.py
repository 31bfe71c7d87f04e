"""An abstract interpreter for Python source over LibCST, shared by the framework plugins.

It runs statements, control flow, calls and parameter binding, classes and instances,
containers and constants, the same way for every framework; what a framework name
means (``nn.Conv2d``, ``keras.layers.Dense``, ``Sequential.add``) is decided by the
plugin, a subclass that overrides the hooks at the end of this class. Nothing is
imported or run: values are abstract (see ``values``), and what cannot be followed
becomes unknown or an opaque layer, never a guess.

Every budget is in ``Limits``. Past one, a value becomes unknown, an inlined call an
opaque step, or the model's analysis stops with a note (reported as LL002) — never
an exception, a hang or a memory spike.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import libcst as cst

from layerlint.frontends import Project
from layerlint.frontends.python.source import (
    PythonModule,
    canonical,
    dotted_name,
    resolve_import,
)
from layerlint.frontends.python.values import (
    UNKNOWN,
    Alternatives,
    ClassRef,
    Const,
    Function,
    GraphModel,
    Instance,
    LayerSpec,
    ListValue,
    ModList,
    Module,
    OpaqueModule,
    Partial,
    QualName,
    Range,
    Seq,
    Tensor,
    Value,
    is_module,
    merge,
    tensors_in,
    union,
)
from layerlint.ir import (
    UNEXPANDED_KWARGS,
    GraphBuilder,
    Kind,
    Layer,
    Location,
    OpInfo,
    Unresolved,
    lookup,
)
from layerlint.ir.condition import ALWAYS, Condition, negate
from layerlint.ir.graph import AttrsTyper

__all__ = ["OPEN_KWARGS", "UNRESOLVED_MODULE", "BudgetExceeded", "Frame", "Interpreter", "Limits"]

T = TypeVar("T")

# Attribute of an opaque layer that is a module we could not see into (a third-party
# block, an unknown class), as opposed to a function call outside the vocabulary.
UNRESOLVED_MODULE = "unresolved_module"

# Key in a call's keywords when ``**kwargs`` of unknown content is passed: any keyword
# may then be set, so absent attributes are unknown rather than the framework default.
OPEN_KWARGS = UNEXPANDED_KWARGS


@dataclass(frozen=True)
class Limits:
    """Every analysis budget, in one place."""

    depth: int = 24  # nested calls, instances and inlined functions
    unroll: int = 64  # iterations of ``range(n)`` with a known n
    unknown_passes: int = 2  # passes over a loop whose items are unknown
    items: int = 4096  # elements of a list built by ``*`` or a loop
    repeat: int = 8  # ``[block] * n`` copies
    int_bits: int = 256  # larger integers are unknown (``9 ** 63 ** 63``)
    string: int = 10_000  # longer computed strings are unknown
    steps: int = 200_000  # statements and calls per model
    # statements and calls of all the training code of one file together (each routine
    # also has ``steps``): a file of many large helpers is not re-run routine by routine
    training_steps: int = 400_000


class BudgetExceeded(Exception):
    """The step budget of one model ran out: its analysis stops with a note."""


class _Return(Exception):
    """``return`` ends the function body."""


class _LoopExit(Exception):
    """``break`` / ``continue`` end this pass over a loop body."""


@dataclass
class Frame:
    mod: PythonModule
    env: dict[str, Value]
    self_: Instance | None = None
    cls: ClassRef | None = None
    builder: GraphBuilder | None = None  # where applied layers go; None while only binding
    condition: Condition = ALWAYS
    prefix: str = ""  # module path of ``self`` inside the model
    depth: int = 0
    stmt: cst.CSTNode | None = None  # the statement being run, to locate expressions
    zero_defaults: frozenset[str] = frozenset()  # parameters left unknown whose default was 0
    returns: list[Value] = field(default_factory=list)
    on_bind: object = None  # callback(name, value): model discovery in plain code
    label_root: str = "self"  # how ``self`` is named in labels (plugins that relabel)
    # the call being run forced inference mode (Keras ``layer(x, training=False)``): its
    # dropouts never drop and its batchnorms normalise with their fixed statistics
    inference: bool = False

    def child(self, **changes: object) -> Frame:
        values = {
            "mod": self.mod, "env": self.env, "self_": self.self_, "cls": self.cls,
            "builder": self.builder, "condition": self.condition, "prefix": self.prefix,
            "depth": self.depth, "stmt": self.stmt, "label_root": self.label_root,
            "inference": self.inference,
        }
        values.update(changes)
        return Frame(**values)  # type: ignore[arg-type]


# ``__name__`` is "__main__" so that ``if __name__ == "__main__":`` is not a condition.
_BUILTIN_CONSTANTS = {"True": True, "False": False, "None": None, "__name__": "__main__"}
_BUILTINS = frozenset(dir(builtins))
_EXTERNAL = ("collections", "functools", "builtins", "typing", "math", "numpy")
_OPAQUE = OpInfo(Kind.OPAQUE)
_EVALUATORS: dict[type, object] = {}  # node type -> Interpreter.eval_<Type>, found once


def join_path(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


def source_text(mod: PythonModule, node: cst.CSTNode) -> str:
    """A node's source on one line."""
    return " ".join(mod.code(node).split())


class Interpreter:
    """Generic Python semantics; a framework plugin subclasses it."""

    frontend = ""
    # How the framework's layer arguments become typed attributes (GraphBuilder's typer).
    typer: AttrsTyper | None = None
    # Qualified-name prefixes that are never project code.
    external_prefixes: tuple[str, ...] = ()
    # The method a module runs when applied (``forward``, ``call``).
    apply_method = "forward"

    def __init__(self, project: Project, limits: Limits | None = None) -> None:
        self.project = project
        self.limits = limits or Limits()
        self.stack: list[cst.CSTNode] = []  # functions and classes being run (recursion)
        self.notes: list[str] = []  # limits hit while analysing the current model
        self.steps = 0
        self.range_limit = self.limits.unroll
        self._module_consts: dict[int, dict[str, cst.BaseExpression]] = {}
        self._bases: dict[int, list[Value]] = {}
        self._imported: dict[tuple[int, str], Value] = {}
        self._stars: dict[int, list[str]] = {}
        self._strings: dict[cst.SimpleString, Value] = {}  # string literals by node
        # Which applications are of one layer object in one forward pass (Layer.instance):
        # ``speculative`` counts the enclosing later passes of loops of unknown length,
        # ``forward_pass`` numbers the runs of a model on data (``model(batch)`` in a loop).
        self.speculative = 0
        self.forward_pass = self._passes = 0
        self.in_forward = 0  # depth of module applications being run
        self.alternative: list[tuple[int, int]] = []  # options of Alternatives being applied
        self.training_code = False
        self._instances: dict[tuple[Hashable, int, tuple[tuple[int, int], ...]], int] = {}

    # -- budgets ----------------------------------------------------------------------
    def start_model(self) -> None:
        self.steps = 0
        self.notes = []

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.steps:
            raise BudgetExceeded

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def analyse(self, name: str, action: Callable[[], T]) -> T | None:
        """Run one model's analysis on a fresh budget; a limit hit becomes a note."""
        self.start_model()
        try:
            return action()
        except RecursionError:
            self.note(f"{name}: model nested too deeply to analyse")
        except BudgetExceeded:
            self.note(f"{name}: model too large to analyse in full")
        return None

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
            self.on_name_bound(name, value, frame)
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
        star = self.star_name(mod, name)
        if star is not None:
            return star
        implicit = self.implicit_name(name)
        if implicit is not None:  # a snippet that never imports it
            return QualName(implicit)
        # an undefined name (a star import we cannot read, a typo) is not a builtin
        return QualName(f"builtins.{name}") if name in _BUILTINS else UNKNOWN

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
        if name.startswith(self.external_prefixes + _EXTERNAL):
            return QualName(name)
        found = resolve_import(mod, name, self.project)
        if found is None:
            return QualName(name)
        if isinstance(found, str):  # re-exported by a project module
            return QualName(found)
        target, local = found
        definition = target.definitions[local]
        if isinstance(definition, cst.ClassDef):
            return ClassRef(definition, target)
        return Function(definition, target)  # type: ignore[arg-type]

    def star_name(self, mod: PythonModule, name: str) -> Value | None:
        """A name brought by ``from package import *``: a framework name when the
        plugin knows it there, else a definition of a star-imported project module."""
        stars = self._stars.get(id(mod))
        if stars is None:
            stars = self._stars[id(mod)] = [
                ("." * len(stmt.relative)) + (dotted_name(stmt.module) if stmt.module else "")
                for line in mod.module.body if isinstance(line, cst.SimpleStatementLine)
                for stmt in line.body
                if isinstance(stmt, cst.ImportFrom) and isinstance(stmt.names, cst.ImportStar)
            ]
        for star in stars:
            qualified = canonical(f"{star}.{name}") if not star.endswith(".") else star + name
            if qualified.startswith(self.external_prefixes):
                if self.knows_name(qualified):
                    return QualName(qualified)
                continue
            value = self.resolve_qualified(qualified, mod)
            if not isinstance(value, QualName):
                return value
        return None

    # -- statements -------------------------------------------------------------------
    def run(self, body: Iterable[cst.CSTNode], frame: Frame) -> None:
        for stmt in body:
            self.statement(stmt, frame)

    def run_block(self, block: cst.BaseSuite, frame: Frame) -> None:
        if isinstance(block, cst.IndentedBlock):
            self.run(block.body, frame)
        elif isinstance(block, cst.SimpleStatementSuite):
            for small in block.body:
                self.small_statement(small, frame)

    def run_body(self, body: Iterable[cst.CSTNode], frame: Frame) -> None:
        """A function's body: ``return`` ends it."""
        try:
            self.run(body, frame)
        except (_Return, _LoopExit):
            pass

    def statement(self, stmt: cst.CSTNode, frame: Frame) -> None:
        self.step()
        frame.stmt = stmt
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.small_statement(small, frame)
        elif isinstance(stmt, cst.If):
            self.if_statement(stmt, frame)
        elif isinstance(stmt, cst.For):
            self.for_statement(stmt, frame)
        elif isinstance(stmt, cst.While):
            for index in range(self.limits.unknown_passes):
                with self.loop_pass(index > 0):
                    try:
                        self.run_block(stmt.body, frame)
                    except _LoopExit:
                        pass
        elif isinstance(stmt, cst.With):
            self.with_statement(stmt, frame)
        elif isinstance(stmt, cst.Try):
            self.run_block(stmt.body, frame)
            if stmt.orelse is not None:
                self.run_block(stmt.orelse.body, frame)
            if stmt.finalbody is not None:
                self.run_block(stmt.finalbody.body, frame)
        elif isinstance(stmt, cst.FunctionDef):
            frame.env[stmt.name.value] = Function(stmt, frame.mod, closure=frame.env)
        elif isinstance(stmt, cst.ClassDef):
            frame.env[stmt.name.value] = ClassRef(stmt, frame.mod)

    def with_statement(self, stmt: cst.With, frame: Frame) -> None:
        for item in stmt.items:
            self.eval(item.item, frame)
            if item.asname is not None:
                self.bind(item.asname.name, UNKNOWN, frame)
        self.run_block(stmt.body, frame)

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
            if isinstance(current, ListValue) and isinstance(operand, ListValue) and \
                    isinstance(small.operator, cst.AddAssign):
                if len(current.items) + len(operand.items) <= self.limits.items:
                    current.items.extend(operand.items)  # in place, as list += does
                return
            result = self.binary(current, operand, small.operator, small, frame)
            self.bind(small.target, result, frame)
        elif isinstance(small, cst.Expr):
            self.eval(small.value, frame)
        elif isinstance(small, cst.Return):
            frame.returns.append(self.eval(small.value, frame) if small.value else Const(None))
            raise _Return
        elif isinstance(small, (cst.Break, cst.Continue)):
            raise _LoopExit

    def if_statement(self, stmt: cst.If, frame: Frame) -> None:
        test = self.eval(stmt.test, frame)
        orelse = stmt.orelse
        if isinstance(test, Const):
            if test.value:
                self.run_block(stmt.body, frame)
            elif isinstance(orelse, cst.If):
                self.statement(orelse, frame)
            elif isinstance(orelse, cst.Else):
                self.run_block(orelse.body, frame)
            return
        text = source_text(frame.mod, stmt.test)
        outer = frame.condition
        env_before = dict(frame.env)
        instance = frame.self_
        attrs_before = dict(instance.attrs) if instance is not None else None

        def branch(block: cst.CSTNode | None, condition: Condition
                   ) -> tuple[dict[str, Value], dict[str, Value] | None, type | None]:
            frame.env = dict(env_before)
            if instance is not None and attrs_before is not None:
                instance.attrs = dict(attrs_before)
            frame.condition = condition
            ended: type | None = None
            try:
                if isinstance(block, cst.If):
                    self.statement(block, frame)
                elif isinstance(block, cst.Else):
                    self.run_block(block.body, frame)
                elif block is not None:
                    self.run_block(block, frame)  # type: ignore[arg-type]
            except (_Return, _LoopExit) as exit_:
                ended = type(exit_)
            finally:
                frame.condition = outer
            return frame.env, (instance.attrs if instance is not None else None), ended

        body_condition, else_condition = outer & text, outer & negate(text)
        env_body, attrs_body, body_exit = branch(stmt.body, body_condition)
        env_else, attrs_else, else_exit = branch(orelse, else_condition)
        if body_exit is not None and else_exit is not None:
            frame.env = env_body
            raise _Return if _Return in (body_exit, else_exit) else _LoopExit
        if body_exit is not None or else_exit is not None:
            # one branch left the function or the loop: what follows sees the other one
            frame.env = env_else if body_exit is not None else env_body
            if instance is not None:
                instance.attrs = (attrs_else if body_exit is not None else attrs_body) or {}
            if _Return in (body_exit, else_exit):
                # the rest of the function runs only when the returning branch did not
                # (``if cond: return self.main(x)`` then ``return self.main(x) + ...``)
                frame.condition = else_condition if body_exit is not None else body_condition
            return
        merged: dict[str, Value] = {}
        for name in dict.fromkeys((*env_body, *env_else)):
            body_value, else_value = env_body.get(name), env_else.get(name)
            if body_value is not else_value and isinstance(body_value, Tensor) \
                    and isinstance(else_value, Tensor):
                before = env_before.get(name)
                body_value = self.branch_value(body_value, before, frame, body_condition)
                else_value = self.branch_value(else_value, before, frame, else_condition)
            merged[name] = merge(body_value, else_value)
        frame.env = merged
        if instance is not None and attrs_body is not None and attrs_else is not None:
            instance.attrs = {name: merge(attrs_body.get(name), attrs_else.get(name))
                              for name in dict.fromkeys((*attrs_body, *attrs_else))}

    def branch_value(self, value: Value | None, before: Value | None, frame: Frame,
                     condition: Condition) -> Value | None:
        """A tensor a conditional branch passes on unchanged goes through an identity layer
        under the branch's condition, so rules can tell that path from the others
        (``x if pre_logits else self.head(x)``: the bare ``x`` is output only then)."""
        if frame.builder is None or not isinstance(value, Tensor) or not condition \
                or not value.frontier:
            return value
        if before is not None and value is not before:
            return value
        if any(layer.condition == condition for layer in value.frontier):
            return value  # made in this branch: it already carries the condition
        first = min(value.frontier, key=lambda lay: lay.id)
        layer = frame.builder.add(
            self.identity_op, "(unchanged)", first.location, value.frontier,
            condition=condition, module_path=frame.prefix or None)
        return Tensor(frozenset({layer}))

    @contextlib.contextmanager
    def loop_pass(self, is_speculative: bool) -> Iterator[None]:
        """One pass over a loop body; a later pass over items of unknown number may not
        happen at all, so what it applies is not known to be a second application."""
        self.speculative += is_speculative
        try:
            yield
        finally:
            self.speculative -= is_speculative

    def instance(self, identity: Hashable | None) -> int | None:
        """``Layer.instance`` of an application here of the layer object ``identity``
        (a ``LayerSpec.identity``, or a token for a layer copied from another graph)."""
        if identity is None or self.speculative or self.training_code:
            return None
        key = (identity, self.forward_pass, tuple(self.alternative))
        return self._instances.setdefault(key, len(self._instances))

    def iterate(self, iterable: Value) -> list[Value]:
        """The items a loop over ``iterable`` binds, or unknowns when it is opaque."""
        if isinstance(iterable, (ListValue, Seq, ModList)):
            return list(iterable.items)
        if isinstance(iterable, Instance) and iterable.seq_items is not None:
            return list(iterable.seq_items.items)
        if isinstance(iterable, Range) and iterable.length is not None:
            return [Const(i) for i in range(min(iterable.length, self.range_limit))]
        return [UNKNOWN] * self.limits.unknown_passes

    def for_statement(self, stmt: cst.For, frame: Frame) -> None:
        items = self.iterate(self.eval(stmt.iter, frame))
        if len(items) > 1 and all(item is UNKNOWN for item in items) \
                and _dispatches_on(stmt.body, _names(stmt.target)):
            # ``for section in cfg: if section == "conv": ... elif ...``: which layer
            # follows which is in the data; joining one pass to the next would be a guess.
            items = items[:1]
        for index, item in enumerate(items):
            self.bind(stmt.target, item, frame)
            with self.loop_pass(index > 0 and item is UNKNOWN):
                try:
                    self.run_block(stmt.body, frame)
                except _LoopExit:
                    pass
        if stmt.orelse is not None:
            self.run_block(stmt.orelse.body, frame)

    def bind(self, target: cst.BaseExpression, value: Value, frame: Frame) -> None:
        if isinstance(target, cst.Name):
            frame.env[target.value] = value
            self.on_name_bound(target.value, value, frame)
            if frame.on_bind is not None:
                frame.on_bind(target.value, value)  # type: ignore[operator]
        elif isinstance(target, (cst.Tuple, cst.List)):
            self.bind_sequence([el for el in target.elements], value, frame)
        elif isinstance(target, cst.StarredElement):
            self.bind(target.value, UNKNOWN, frame)
        elif isinstance(target, cst.Attribute):
            owner = self.eval(target.value, frame)
            if isinstance(owner, Instance) and self.binds_attribute(owner, frame):
                self.set_attr(owner, target.attr.value, value, frame)
        elif isinstance(target, cst.Subscript):
            owner = self.eval(target.value, frame)
            index = self.subscript_index(target, frame)
            # a dict, a list, or a ModuleDict/ModuleList (``self.blocks["a"] = layer``),
            # whose names are its keys (a ModuleList's are its indices)
            if isinstance(owner, (ListValue, ModList)) and isinstance(index, Const):
                if owner.names is not None and isinstance(index.value, str):
                    if index.value in owner.names:
                        owner.items[owner.names.index(index.value)] = value
                    else:
                        owner.names.append(index.value)
                        owner.items.append(value)
                elif (owner.names is None or isinstance(owner, ModList)) and \
                        type(index.value) is int and \
                        -len(owner.items) <= index.value < len(owner.items):
                    owner.items[index.value] = value
                if isinstance(owner, ModList) and owner.relpath is not None:
                    self.name_module(value, join_path(owner.relpath, str(index.value)))

    def bind_sequence(self, elements: list[cst.BaseElement], value: Value, frame: Frame) -> None:
        """``a, b = value`` and ``a, *rest, b = value``."""
        star = next((i for i, el in enumerate(elements) if isinstance(el, cst.StarredElement)),
                    None)
        if isinstance(value, Instance) and value.seq_items is not None:
            value = value.seq_items
        # ``for attn, ff in self.layers``: a pair of modules unpacks like a tuple
        items = value.items if isinstance(value, (ListValue, Seq, ModList)) else None
        if items is not None and star is None and len(items) == len(elements):
            for element, item in zip(elements, items):
                self.bind(element.value, item, frame)
            return
        if items is not None and star is not None and len(items) >= len(elements) - 1:
            after = len(elements) - star - 1
            for element, item in zip(elements[:star], items[:star]):
                self.bind(element.value, item, frame)
            rest = items[star:len(items) - after]
            self.bind(elements[star].value.value, ListValue(list(rest)), frame)  # type: ignore
            for element, item in zip(elements[star + 1:], items[len(items) - after:]):
                self.bind(element.value, item, frame)
            return
        # unpacking a tensor (``q, k, v = x.chunk(3)``), or a tuple whose length is not
        # known (``q, k, v = (self.to_q(x), *self.to_kv(x).chunk(2))``), keeps the
        # producers of the tensors in it
        fill = value if isinstance(value, Tensor) else (
            union([value]) or UNKNOWN) if isinstance(value, ListValue) else UNKNOWN
        for element in elements:
            target = element.value
            if isinstance(element, cst.StarredElement):
                target = element.value
            self.bind(target, fill, frame)

    def set_attr(self, instance: Instance, name: str, value: Value, frame: Frame) -> None:
        if instance.seq_items is not None and is_module(value) and name not in instance.attrs:
            # a sequential container runs its submodules in registration order
            instance.seq_items.items.append(value)
            instance.seq_items.names.append(name)
        instance.attrs[name] = value
        self.name_module(value, name)

    # -- expressions ------------------------------------------------------------------
    def eval(self, node: cst.BaseExpression | None, frame: Frame) -> Value:
        if node is None:
            return Const(None)
        kind = type(node)
        method = _EVALUATORS.get(kind)
        if method is None:
            method = _EVALUATORS[kind] = getattr(Interpreter, "eval_" + kind.__name__, None)
        if method is None:
            return UNKNOWN
        return method(self, node, frame)

    def eval_Integer(self, node: cst.Integer, frame: Frame) -> Value:
        return Const(int(node.value.replace("_", ""), 0))

    def eval_Float(self, node: cst.Float, frame: Frame) -> Value:
        return Const(float(node.value.replace("_", "")))

    def eval_Imaginary(self, node: cst.Imaginary, frame: Frame) -> Value:
        return UNKNOWN

    def eval_SimpleString(self, node: cst.SimpleString, frame: Frame) -> Value:
        # cached: LibCST evaluates a string literal by compiling it, and loops and
        # inlined calls revisit the same literals
        found = self._strings.get(node)
        if found is None:
            value = _plain_string(node.value)
            try:
                if value is None:
                    value = node.evaluated_value
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                value = None
            found = self._strings[node] = Const(value) if isinstance(value, str) \
                else UNKNOWN
        return found

    def eval_ConcatenatedString(self, node: cst.ConcatenatedString, frame: Frame) -> Value:
        left, right = self.eval(node.left, frame), self.eval(node.right, frame)
        if isinstance(left, Const) and isinstance(right, Const) and \
                isinstance(left.value, str) and isinstance(right.value, str):
            return Const(left.value + right.value)
        return UNKNOWN

    def eval_Name(self, node: cst.Name, frame: Frame) -> Value:
        return self.lookup(node.value, frame)

    def eval_Tuple(self, node: cst.Tuple, frame: Frame) -> Value:
        return self.sequence(node.elements, frame)

    def eval_List(self, node: cst.List, frame: Frame) -> Value:
        return self.sequence(node.elements, frame)

    def eval_Set(self, node: cst.Set, frame: Frame) -> Value:
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
                result.names.append(str(key.value) if isinstance(key, Const) else "?")  # type: ignore[union-attr]
                result.items.append(self.eval(element.value, frame))
            elif isinstance(element, cst.StarredDictElement):
                other = self.eval(element.value, frame)
                if isinstance(other, ListValue) and other.names is not None:
                    result.names.extend(other.names)  # type: ignore[union-attr]
                    result.items.extend(other.items)
        return result

    def eval_ListComp(self, node: cst.ListComp, frame: Frame) -> Value:
        return self.comprehension(node, frame)

    def eval_GeneratorExp(self, node: cst.GeneratorExp, frame: Frame) -> Value:
        return self.comprehension(node, frame)

    def eval_SetComp(self, node: cst.SetComp, frame: Frame) -> Value:
        return self.comprehension(node, frame)

    def comprehension(self, node: cst.ListComp | cst.GeneratorExp | cst.SetComp,
                      frame: Frame) -> Value:
        local = frame.child(env=dict(frame.env), on_bind=None)
        items: list[Value] = []

        def loop(comp: cst.CompFor | None) -> None:
            if comp is None:
                if len(items) < self.limits.items:
                    items.append(self.eval(node.elt, local))
                return
            for index, item in enumerate(self.iterate(self.eval(comp.iter, local))):
                self.step()
                self.bind(comp.target, item, local)
                with self.loop_pass(index > 0 and item is UNKNOWN):
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
        text = source_text(frame.mod, node.test)
        outer = frame.condition
        body_condition, else_condition = outer & text, outer & negate(text)
        frame.condition = body_condition
        body = self.branch_value(self.eval(node.body, frame), None, frame, body_condition)
        frame.condition = else_condition
        orelse = self.branch_value(self.eval(node.orelse, frame), None, frame, else_condition)
        frame.condition = outer
        # a layer built on one side only exists under that side's test
        if isinstance(body, LayerSpec) and not is_module(orelse):
            body.condition = body.condition & text
        elif isinstance(orelse, LayerSpec) and not is_module(body):
            orelse.condition = orelse.condition & negate(text)
        return merge(body, orelse)

    def eval_BooleanOperation(self, node: cst.BooleanOperation, frame: Frame) -> Value:
        left = self.eval(node.left, frame)
        if isinstance(left, Const):
            if isinstance(node.operator, cst.And):
                return self.eval(node.right, frame) if left.value else left
            return left if left.value else self.eval(node.right, frame)
        right = self.eval(node.right, frame)
        if isinstance(node.operator, cst.Or) and (
                is_module(right) or isinstance(right, (QualName, ClassRef, Partial, Function))):
            # ``norm_layer or nn.BatchNorm2d``: the parameter is unknown; the default is what
            # the code means when nobody passes one.
            return left if is_module(left) else right
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
                elif isinstance(right, Const) and right.value is None and \
                        left is not UNKNOWN and not isinstance(left, Const):
                    same = False  # a module, a tensor or a class is not None
                elif isinstance(left, Const) and isinstance(right, Const):
                    same = left.value is right.value
                else:
                    return UNKNOWN
                result = result and (same if isinstance(op, cst.Is) else not same)
            elif isinstance(left, Const) and isinstance(right, Const):
                try:
                    result = result and _compare(op, left.value, right.value)
                except (TypeError, ValueError):
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
            return self.arith(operator, left.value, right.value)
        if isinstance(left, ListValue) and isinstance(right, ListValue) and \
                isinstance(operator, (cst.Add, cst.AddAssign)):
            if len(left.items) + len(right.items) > self.limits.items:
                return UNKNOWN
            return ListValue(left.items + right.items)
        if isinstance(left, ListValue) and isinstance(right, Const) and \
                isinstance(operator, (cst.Multiply, cst.MultiplyAssign)):  # [block] * n
            count = right.value if isinstance(right.value, int) else 2
            return ListValue(left.items * max(0, min(count, self.limits.repeat)))
        if isinstance(left, Tensor) and isinstance(right, Tensor):
            if frame.builder is None:
                return UNKNOWN
            return self.tensor_binary(left, right, operator, node, frame)
        # Arithmetic with a scalar keeps the tensor's producers (scaling is transparent);
        # adding one is remembered, as ``log(p + eps)`` is a guarded log
        tensor, other = (left, right) if isinstance(left, Tensor) else (right, left)
        if not isinstance(tensor, Tensor):
            return UNKNOWN
        if isinstance(operator, (cst.Add, cst.AddAssign, cst.Subtract, cst.SubtractAssign)) \
                and not (isinstance(other, Const) and other.value == 0):
            return Tensor(tensor.frontier, shifted=True)
        return tensor

    def arith(self, operator: cst.CSTNode, left: object, right: object) -> Value:
        """Constant arithmetic within the budgets: a result too large is unknown."""
        name = type(operator).__name__.removesuffix("Assign")
        limits = self.limits
        try:
            if name == "Power":
                if not isinstance(left, (int, float)) or not isinstance(right, (int, float)) \
                        or abs(right) > 64 or (isinstance(left, int) and isinstance(right, int)
                                               and left.bit_length() * abs(right)
                                               > limits.int_bits):
                    return UNKNOWN
                result = left ** right
            elif name == "Multiply" and isinstance(left, (str, bytes, list, tuple)) or \
                    name == "Multiply" and isinstance(right, (str, bytes, list, tuple)):
                count, text = (right, left) if isinstance(right, int) else (left, right)
                if not isinstance(count, int) or len(text) * count > limits.string:
                    return UNKNOWN
                result = text * count
            elif name == "LeftShift":
                if not isinstance(right, int) or right > limits.int_bits:
                    return UNKNOWN
                result = left << right  # type: ignore[operator]
            else:
                function = _ARITH.get(name)
                if function is None:
                    return UNKNOWN
                result = function(left, right)
        except (TypeError, ValueError, ZeroDivisionError, KeyError, OverflowError,
                MemoryError, IndexError):
            return UNKNOWN
        if isinstance(result, int) and result.bit_length() > limits.int_bits:
            return UNKNOWN
        if isinstance(result, str) and len(result) > limits.string:
            return UNKNOWN
        return Const(result)

    def eval_Subscript(self, node: cst.Subscript, frame: Frame) -> Value:
        value = self.eval(node.value, frame)
        index = self.subscript_index(node, frame)
        if isinstance(value, Tensor):
            return self.tensor_subscript(value, node, frame)
        container = value.seq_items if isinstance(value, Instance) and value.seq_items else value
        if isinstance(container, (ListValue, Seq, ModList)):
            items = container.items
            names = container.names
            if isinstance(index, Const):
                key = index.value
                if isinstance(key, int) and not isinstance(key, bool) and \
                        -len(items) <= key < len(items):
                    return items[key]
                if isinstance(key, str) and names and key in names:
                    return items[names.index(key)]
                modules = [item for item in items if is_module(item)]
                if modules and len(modules) == len(items) and not isinstance(key, (int, str)):
                    return Alternatives(modules)
                return UNKNOWN
            if isinstance(index, _Slice):
                bounds = self.slice_bounds(node, frame)
                if bounds is None:
                    return container if isinstance(container, Seq) else UNKNOWN
                picked = items[slice(*bounds)]
                if isinstance(container, ListValue):
                    return ListValue(picked)
                return Seq(picked, names[slice(*bounds)], container.condition) \
                    if isinstance(container, Seq) else UNKNOWN
            modules = [item for item in items if is_module(item)]
            if modules and len(modules) == len(items):
                return Alternatives(modules)
        return UNKNOWN

    def slice_bounds(self, node: cst.Subscript, frame: Frame
                     ) -> tuple[int | None, int | None, int | None] | None:
        """``[1:]``, ``[:-1]``, ``[::2]`` with constant bounds; None when one is unknown."""
        inner = node.slice[0].slice if len(node.slice) == 1 else None
        if not isinstance(inner, cst.Slice):
            return None
        bounds: list[int | None] = []
        for part in (inner.lower, inner.upper, inner.step):
            value = self.eval(part, frame) if part is not None else Const(None)
            if not isinstance(value, Const) or not (value.value is None or (
                    isinstance(value.value, int) and not isinstance(value.value, bool))):
                return None
            bounds.append(value.value)  # type: ignore[arg-type]
        if bounds[2] == 0:
            return None
        return bounds[0], bounds[1], bounds[2]

    def subscript_index(self, node: cst.Subscript, frame: Frame) -> Value:
        if len(node.slice) != 1:
            return _SLICE
        inner = node.slice[0].slice
        if isinstance(inner, cst.Index):
            return self.eval(inner.value, frame)
        return _SLICE

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
        if isinstance(owner, ClassRef):
            found = self.class_attribute(owner, name)
            if found is not None:
                return found
            method = self.find_method(owner, name)
            if method is not None:
                return Function(method[0], method[1].mod, None, method[1])
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
            self._bases[id(cls.node)] = []  # a class that names itself as its base
            frame = Frame(cls.mod, {})
            cached = [self.eval(base.value, frame) for base in cls.node.bases]
            self._bases[id(cls.node)] = cached
        return cached

    def ancestors(self, cls: ClassRef) -> list[ClassRef]:
        """The class and its project bases, depth first, each once (cycles are cut)."""
        found: list[ClassRef] = []
        seen: set[int] = set()
        stack = [cls]
        while stack:
            current = stack.pop()
            if id(current.node) in seen:
                continue
            seen.add(id(current.node))
            found.append(current)
            stack.extend(reversed([b for b in self.bases(current) if isinstance(b, ClassRef)]))
        return found

    def external_bases(self, cls: ClassRef) -> list[str]:
        """Qualified names of the non-project classes a class derives from."""
        return [base.name for ancestor in self.ancestors(cls) for base in self.bases(ancestor)
                if isinstance(base, QualName)]

    def find_method(self, cls: ClassRef, name: str, skip_self: bool = False
                    ) -> tuple[cst.FunctionDef, ClassRef] | None:
        for ancestor in self.ancestors(cls)[1 if skip_self else 0:]:
            if not isinstance(ancestor.node.body, cst.IndentedBlock):
                continue
            for stmt in ancestor.node.body.body:
                if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                    return stmt, ancestor
        return None

    def class_attribute(self, cls: ClassRef, name: str) -> Value | None:
        """A value assigned in the class body (``plan = [(64, 0.3), ...]``), inherited too."""
        for ancestor in self.ancestors(cls):
            if not isinstance(ancestor.node.body, cst.IndentedBlock):
                continue
            for stmt in ancestor.node.body.body:
                if isinstance(stmt, cst.SimpleStatementLine):
                    for small in stmt.body:
                        targets = [t.target for t in small.targets] if isinstance(
                            small, cst.Assign) else [small.target] if isinstance(
                            small, cst.AnnAssign) and small.value is not None else []
                        if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                            if small.value in self.stack:
                                return UNKNOWN
                            self.stack.append(small.value)
                            try:
                                return self.eval(small.value, Frame(ancestor.mod, {}, stmt=stmt))
                            finally:
                                self.stack.pop()
        return None

    def instantiate(self, cls: ClassRef, args: list[Value], kwargs: dict[str, Value],
                    frame: Frame, configurable: bool = False, node: cst.CSTNode | None = None
                    ) -> Value:
        """A new instance; ``__init__`` runs with the arguments given.

        ``configurable`` treats scalar parameter defaults (numbers, booleans, None) as
        unknown: a class analysed on its own may be built with any of them, so
        ``if drop_rate > 0:`` counts as present, under its condition.
        """
        if frame.depth > self.limits.depth or cls.node in self.stack:
            if frame.depth > self.limits.depth:
                self.note(f"{cls.node.name.value}: nested too deeply to analyse")
            return OpaqueModule(cls.node.name.value, cls.mod.location(cls.node))
        given = [value for key, value in (*enumerate(args), *kwargs.items())
                 if key != OPEN_KWARGS]
        location = frame.mod.location(node, frame.stmt) if node is not None else \
            cls.mod.location(cls.node)
        instance = Instance(cls, open=all(value is UNKNOWN for value in given),
                            condition=frame.condition, location=location)
        if self.is_sequential_class(cls):
            instance.seq_items = Seq([], [])
        init = self.find_method(cls, "__init__")
        if init is not None:
            self.stack.append(cls.node)
            try:
                # ``__init__`` binds modules; it never applies them
                self.call_function(Function(init[0], init[1].mod, instance, init[1]), args,
                                   kwargs, frame.child(builder=self.init_builder(frame),
                                                       condition=ALWAYS, on_bind=None),
                                   configurable or OPEN_KWARGS in kwargs)
            finally:
                self.stack.pop()
        return instance

    # -- calls ------------------------------------------------------------------------
    def eval_Call(self, node: cst.Call, frame: Frame) -> Value:
        self.step()
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
                    kwargs[OPEN_KWARGS] = UNKNOWN
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
        return self.framework_super(instance, method, args, kwargs, node, frame)

    def method_call(self, owner: Value, method: str, args: list[Value],
                    kwargs: dict[str, Value], node: cst.Call, frame: Frame) -> Value | None:
        """Calls whose meaning depends on the receiver; None when not one of them."""
        handled = self.framework_method(owner, method, args, kwargs, node, frame)
        if handled is not None:
            return handled
        if isinstance(owner, ListValue) and owner.names is not None and method in _DICT_METHODS:
            return self.dict_method(owner, method, args, kwargs)
        if isinstance(owner, ListValue):
            return self.list_method(owner, method, args)
        target = owner.seq_items if isinstance(owner, Instance) and owner.seq_items else owner
        if isinstance(target, (Seq, ModList)) and method in ("append", "add_module", "extend",
                                                               "insert", "add"):
            if method == "add_module" and len(args) >= 2:
                name = args[0].value if isinstance(args[0], Const) else str(len(target.items))
                target.items.append(args[1])
                target.names.append(str(name))
            elif method in ("append", "add") and args:
                self.consume(args[0])
                target.items.append(args[0])
                target.names.append(str(len(target.items) - 1))
            elif method == "extend" and args:
                for item in self.iterate(args[0]):
                    target.items.append(item)
                    target.names.append(str(len(target.items) - 1))
            elif method == "insert" and len(args) == 2:
                at = args[0].value if isinstance(args[0], Const) and isinstance(
                    args[0].value, int) else len(target.items)
                target.items.insert(at, args[1])  # type: ignore[arg-type]
                target.names.insert(at, str(len(target.items) - 1))  # type: ignore[arg-type]
            # Children of an instance's own container are named relative to the instance;
            # a free container names its children when it is bound (or now, if it is).
            base = "" if isinstance(owner, Instance) else target.relpath
            if base is not None:
                for name, item in zip(target.names, target.items):
                    self.name_module(item, join_path(base, name))
            return Const(None)
        if isinstance(target, (Seq, ModList)) and method == "pop" and target.items:
            target.names.pop()
            return target.items.pop()
        if isinstance(owner, Instance) and method in ("add_module", "register_module") \
                and len(args) >= 2 and frame.builder is None:
            if isinstance(args[0], Const) and isinstance(args[0].value, str):
                self.set_attr(owner, args[0].value, args[1], frame)
            else:
                self.set_attr(owner, f"<{len(owner.attrs)}>", args[1], frame)
            return Const(None)
        if isinstance(owner, (Seq, ModList)) and method in ("children", "modules", "values"):
            return ListValue(list(owner.items))
        if isinstance(owner, ModList) and method == "items":
            return ListValue([ListValue([Const(n), v]) for n, v in zip(owner.names, owner.items)])
        if isinstance(owner, Const) and isinstance(owner.value, str):
            return self.string_method(owner.value, method, args)
        return None

    def list_method(self, owner: ListValue, method: str, args: list[Value]) -> Value | None:
        if method == "append" and args:
            if len(owner.items) < self.limits.items:
                owner.items.append(args[0])
                if owner.names is not None:
                    owner.names.append(str(len(owner.items) - 1))
        elif method == "extend" and args:
            items = self.iterate(args[0])
            if len(owner.items) + len(items) <= self.limits.items:
                owner.items.extend(items)
        elif method == "insert" and len(args) == 2:
            owner.items.insert(args[0].value if isinstance(args[0], Const) and isinstance(
                args[0].value, int) else len(owner.items), args[1])
        elif method == "pop" and owner.names is None:
            return owner.items.pop() if owner.items else UNKNOWN
        elif method in ("items", "values", "keys"):
            if method == "items" and owner.names is not None:
                return ListValue([ListValue([Const(n), v]) for n, v in
                                  zip(owner.names, owner.items)])
            if method == "keys" and owner.names is not None:
                return ListValue([Const(n) for n in owner.names])
            return ListValue(list(owner.items))
        elif method == "copy":
            return ListValue(list(owner.items), list(owner.names) if owner.names else None)
        else:
            return None
        return Const(None)

    def string_method(self, text: str, method: str, args: list[Value]) -> Value | None:
        consts = [a.value for a in args if isinstance(a, Const)]
        if len(consts) != len(args) or method not in _STRING_METHODS:
            return UNKNOWN
        try:
            result = getattr(text, method)(*consts)
        except (TypeError, ValueError, OverflowError, MemoryError, KeyError, IndexError):
            return UNKNOWN
        if isinstance(result, list):
            return ListValue([Const(item) for item in result[:self.limits.items]])
        if isinstance(result, str) and len(result) > self.limits.string:
            return UNKNOWN  # ``"a".replace("a", "a" * 10**4)``
        return Const(result)

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
            return self.construct(func, args, kwargs, node, frame)
        if isinstance(func, Function):
            return self.call_function(func, args, kwargs, frame)
        if isinstance(func, Partial):
            return self.call(func.func, [*func.args, *args], {**func.kwargs, **kwargs}, node,
                             frame)
        if is_module(func):
            inputs = args[0] if args else kwargs.get("input", kwargs.get("inputs"))
            if frame.builder is not None and inputs is not None:
                return self.apply(func, inputs, node, frame)
            return UNKNOWN
        return self.call_unknown(func, args, kwargs, node, frame)

    def construct(self, cls: ClassRef, args: list[Value], kwargs: dict[str, Value],
                  node: cst.Call, frame: Frame) -> Value:
        return self.instantiate(cls, args, kwargs, frame, node=node)

    def call_qualified(self, name: str, args: list[Value], kwargs: dict[str, Value],
                       node: cst.Call, frame: Frame) -> Value:
        handled = self.call_framework(name, args, kwargs, node, frame)
        if handled is not None:
            return handled
        if name in ("collections.OrderedDict", "builtins.dict"):
            result = ListValue([], [])
            if args and isinstance(args[0], ListValue):
                source = args[0]
                pairs = zip(source.names, source.items) if source.names is not None else (
                    (pair.items[0], pair.items[1]) for pair in source.items
                    if isinstance(pair, ListValue) and len(pair.items) == 2)
                for key, value in pairs:
                    key_text = key if isinstance(key, str) else (
                        str(key.value) if isinstance(key, Const) else "?")
                    result.names.append(key_text)  # type: ignore[union-attr]
                    result.items.append(value)
            for key, value in kwargs.items():
                if key != OPEN_KWARGS:
                    result.names.append(key)  # type: ignore[union-attr]
                    result.items.append(value)
            return result
        if name == "functools.partial" and args:
            return Partial(args[0], args[1:], kwargs)
        if name.startswith("builtins."):
            return self.call_builtin(name.rsplit(".", 1)[-1], args, kwargs, node, frame)
        return self.call_external(name, args, kwargs, node, frame)

    def call_builtin(self, name: str, args: list[Value], kwargs: dict[str, Value],
                     node: cst.Call, frame: Frame) -> Value:
        if name == "range":
            consts = [a.value for a in args if isinstance(a, Const)]
            if len(consts) == len(args) and consts and all(
                    isinstance(c, int) and not isinstance(c, bool) for c in consts):
                try:
                    return Range(len(range(*consts)))  # type: ignore[arg-type]
                except (ValueError, OverflowError):
                    return Range(None)  # a zero step, or more items than a size can hold
            return Range(None)
        if name in ("list", "tuple", "reversed", "sorted", "set", "frozenset"):
            if args and isinstance(args[0], Tensor):
                return args[0]
            return ListValue(self.iterate(args[0])) if args else ListValue([])
        if name == "dict":
            return self.call_qualified("collections.OrderedDict", args, kwargs, node, frame)
        if name == "enumerate" and args:
            return ListValue([ListValue([Const(i), v]) for i, v in
                              enumerate(self.iterate(args[0]))])
        if name == "zip" and args:
            columns = [self.iterate(a) for a in args]
            return ListValue([ListValue(list(row)) for row in zip(*columns)])
        if name == "len" and args and isinstance(args[0], (ListValue, Seq, ModList)):
            return Const(len(args[0].items))
        if name == "len" and args and isinstance(args[0], Const) and \
                isinstance(args[0].value, str):
            return Const(len(args[0].value))
        if name == "setattr" and len(args) == 3 and isinstance(args[0], Instance):
            if isinstance(args[1], Const) and isinstance(args[1].value, str):
                self.set_attr(args[0], args[1].value, args[2], frame)
            return Const(None)
        if name == "getattr" and len(args) >= 2:
            if isinstance(args[1], Const) and isinstance(args[1].value, str) and \
                    isinstance(args[0], (Instance, QualName)):
                found = self.attribute(args[0], args[1].value, frame)
                if found is UNKNOWN and len(args) > 2:
                    return args[2]
                return found
            return UNKNOWN
        if name in ("int", "float", "bool", "str", "abs", "round") and args and isinstance(
                args[0], Const):
            try:
                value = {"int": int, "float": float, "bool": bool, "str": str,
                         "abs": abs, "round": round}[name](args[0].value)
            except (TypeError, ValueError, OverflowError):
                return UNKNOWN
            if isinstance(value, int) and value.bit_length() > self.limits.int_bits:
                return UNKNOWN  # ``int("9" * 5000)``
            return Const(value)
        if name in ("max", "min") and args and all(isinstance(a, Const) for a in args):
            try:
                return Const((max if name == "max" else min)(a.value for a in args))  # type: ignore
            except (TypeError, ValueError):
                return UNKNOWN
        if name == "isinstance":
            return UNKNOWN
        tensor = union(args)
        return tensor if tensor is not None else UNKNOWN

    def call_function(self, func: Function, args: list[Value], kwargs: dict[str, Value],
                      frame: Frame, configurable: bool = False) -> Value:
        if frame.depth > self.limits.depth or func.node in self.stack:
            if frame.depth > self.limits.depth:
                self.note(f"{func.node.name.value}: calls nested too deeply to analyse")
            tensor = union([*args, *kwargs.values()])
            if tensor is not None and frame.builder is not None:
                return self.opaque(func.node.name.value, func.node, [tensor], frame,
                                   mod=func.mod)
            return UNKNOWN
        zero_defaults: set[str] = set()
        env = self.bind_parameters(func, args, kwargs, configurable or OPEN_KWARGS in kwargs,
                                   zero_defaults)
        if func.closure:  # a nested function sees the names of the one that defined it
            env = {**func.closure, **env}
        local = Frame(func.mod, env, self_=func.bound or None, cls=func.cls,
                      builder=frame.builder, condition=frame.condition, prefix=frame.prefix,
                      depth=frame.depth + 1, zero_defaults=frozenset(zero_defaults),
                      label_root=frame.label_root if func.bound is frame.self_ else "self",
                      inference=frame.inference)
        self.stack.append(func.node)
        try:
            with self.entering_function(func, frame):
                self.run_body(func.node.body.body, local)
        finally:
            self.stack.pop()
        if not local.returns:
            return Const(None)
        result: Value | None = None
        for value in local.returns:
            result = value if result is None else merge(result, value)
        return result if result is not None else UNKNOWN

    def bind_parameters(self, func: Function, args: list[Value], kwargs: dict[str, Value],
                        configurable: bool = False,
                        zero_defaults: set[str] | None = None) -> dict[str, Value]:
        """Parameters bound to arguments or defaults; ``zero_defaults`` collects the
        parameters left unknown whose default was 0 (``attn_drop=0.``)."""
        params = func.node.params
        env: dict[str, Value] = {}
        kwargs = {k: v for k, v in kwargs.items() if k != OPEN_KWARGS}
        positional = [*params.posonly_params, *params.params]
        if func.bound is not None and positional:
            env[positional[0].name.value] = func.bound
            positional = positional[1:]
        elif func.cls is not None and positional and _is_classmethod(func.node):
            env[positional[0].name.value] = func.cls
            positional = positional[1:]
        remaining = list(args)
        default_frame = Frame(func.mod, {})

        def bind_one(param: cst.Param, by_position: bool) -> None:
            name = param.name.value
            if by_position and remaining:
                env[name] = remaining.pop(0)
            elif name in kwargs:
                env[name] = kwargs.pop(name)
            elif param.default is not None:
                env[name] = self.default(param.default, default_frame, configurable, name,
                                         zero_defaults)
            else:
                env[name] = UNKNOWN

        for param in positional:
            bind_one(param, True)
        if isinstance(params.star_arg, cst.Param):
            env[params.star_arg.name.value] = ListValue(remaining)
        for param in params.kwonly_params:
            bind_one(param, False)
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

    # -- layers -----------------------------------------------------------------------
    def literal(self, value: Value, node: cst.CSTNode | None, mod: PythonModule) -> object:
        """A layer attribute: the literal, else the expression's text as Unresolved."""
        if isinstance(value, Const) and isinstance(value.value,
                                                   (bool, int, float, str, type(None))):
            return value.value
        if isinstance(value, ListValue) and value.names is None and all(
                isinstance(i, Const) and isinstance(i.value, (bool, int, float, str))
                for i in value.items):
            return tuple(i.value for i in value.items)  # type: ignore[union-attr]
        return Unresolved(source_text(mod, node) if node is not None else "?")

    def attributes(self, signature: tuple[str, ...], args: list[Value],
                   kwargs: dict[str, Value], node: cst.Call, frame: Frame) -> dict[str, object]:
        """Literal attributes of a call, positional ones named by ``signature``."""
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        attrs: dict[str, object] = {}
        for index, (param, value) in enumerate(zip(signature, args)):
            source = positional[index] if index < len(positional) else None
            attrs[param] = self.literal(value, source, frame.mod)
        for key, value in kwargs.items():
            if key != OPEN_KWARGS:
                attrs[key] = self.literal(value, keywords.get(key), frame.mod)
        if OPEN_KWARGS in kwargs:
            attrs[OPEN_KWARGS] = next(
                (frame.mod.code(a.value) for a in node.args if a.star == "**"), "kwargs")
        return attrs

    def add_layer(self, op: str, label: str, node: cst.CSTNode | None, inputs: Iterable[Value],
                  frame: Frame, *, info: OpInfo | None = None,
                  attrs: dict[str, object] | None = None,
                  mod: PythonModule | None = None) -> Tensor:
        """A layer applied here (a function or an operator), fed by ``inputs``."""
        assert frame.builder is not None
        inputs = list(inputs)
        frontier = union(inputs)
        resolved = info or lookup(op)
        if resolved.function == "log" and any(t.shifted for t in tensors_in(inputs)):
            # ``log(p + eps)``: not the two-step log of a probability that underflows
            info = dataclasses.replace(resolved, function="guarded_log")
        where = mod or frame.mod
        location = where.location(node, frame.stmt if mod is None else None) if node else \
            Location(where.display, 1, 1)
        layer = frame.builder.add(
            op, label, location, frontier.frontier if frontier else (), info=info,
            attrs=self.in_mode(attrs or {}, info or resolved, frame) or None,
            condition=frame.condition or None, module_path=frame.prefix or None)
        return Tensor(frozenset({layer}))

    @staticmethod
    def in_mode(attrs: Mapping[str, object], info: OpInfo, frame: Frame
                ) -> Mapping[str, object]:
        """A layer's raw arguments as applied in ``frame``: under a call that forced
        inference mode, a dropout or batchnorm is applied with ``training=False``."""
        if frame.inference and info.kind in (Kind.DROPOUT, Kind.BATCHNORM):
            return {**attrs, "training": False}
        return attrs

    def opaque(self, text: str, node: cst.CSTNode | None, inputs: list[Value], frame: Frame,
               mod: PythonModule | None = None) -> Tensor:
        return self.add_layer(self.opaque_op(text), text, node, inputs, frame,
                              info=_OPAQUE, mod=mod)

    def apply(self, module: Value, value: Value, node: cst.CSTNode | None,
              frame: Frame) -> Value:
        """Apply a module value to a tensor."""
        builder = frame.builder
        assert builder is not None
        tensor = value if isinstance(value, Tensor) else union([value])
        frontier = tensor.frontier if tensor else frozenset()
        if not frontier and not self.in_forward and isinstance(module, (Seq, Instance,
                                                                        GraphModel)):
            # a model run on data by plain code, not on a tensor of the graph being built:
            # each run (``for batch in data: model(batch)``) is a forward pass of its own
            outer, self._passes = self.forward_pass, self._passes + 1
            self.forward_pass = self._passes
            try:
                return self.apply_module(module, frontier, node, frame)
            finally:
                self.forward_pass = outer
        return self.apply_module(module, frontier, node, frame)

    def apply_module(self, module: Value, frontier: frozenset[Layer],
                     node: cst.CSTNode | None, frame: Frame) -> Value:
        if isinstance(module, LayerSpec):
            return self.apply_spec(module, frontier, node, frame)
        if isinstance(module, Seq):
            module.consumed = True
            current: Value = Tensor(frontier)
            outer = frame.condition
            frame.condition = outer & module.condition
            try:
                for item in self.flatten(module.items):
                    if isinstance(item, Tensor):
                        continue  # an input at the head of a sequential list
                    current = self.apply(item, current, node, frame)
            finally:
                frame.condition = outer
            return current
        if isinstance(module, Alternatives):
            # only one option runs: the same layer reached through two of them is not
            # applied twice (``net = Residual(net) if cond else net``)
            results = []
            for index, option in enumerate(module.options):
                self.alternative.append((module.identity, index))
                try:
                    results.append(self.apply(option, Tensor(frontier), node, frame))
                finally:
                    self.alternative.pop()
            return union(results) or Tensor(frontier)
        if isinstance(module, Instance):
            return self.apply_instance(module, Tensor(frontier), node, frame)
        if isinstance(module, (Function, QualName, Partial)):
            return self.call(module, [Tensor(frontier)], {}, node, frame)  # type: ignore[arg-type]
        return self.apply_opaque(module, frontier, node, frame)

    def apply_spec(self, spec: LayerSpec, frontier: frozenset[Layer], node: cst.CSTNode | None,
                   frame: Frame) -> Value:
        assert frame.builder is not None
        use = frame.mod.location(node, frame.stmt) if node is not None else None
        if use is not None and (use.path, use.line, use.column) == (
                spec.location.path, spec.location.line, spec.location.column):
            use = None  # applied where it is built
        condition = spec.condition & frame.condition
        module_path = self.module_path(spec, frame)
        layer = frame.builder.add(
            spec.op, spec.label or spec.default_label, spec.location, frontier,
            info=spec.info, attrs=self.in_mode(spec.attrs, spec.info or lookup(spec.op), frame),
            use=use, condition=condition or None, module_path=module_path,
            instance=self.instance(spec.identity))
        if spec.activation is not None:
            op, info, attrs = spec.activation
            layer = frame.builder.add(
                op, f"{spec.label or spec.default_label}.activation", spec.location, [layer],
                info=info, attrs=attrs, use=use, condition=condition or None,
                module_path=module_path)
        return Tensor(frozenset({layer}))

    def apply_instance(self, module: Instance, tensor: Tensor, node: cst.CSTNode | None,
                       frame: Frame) -> Value:
        prefix = join_path(frame.prefix, module.relpath)
        forward = self.find_method(module.cls, self.apply_method)
        if forward is None and module.seq_items is not None:
            return self.apply(module.seq_items, tensor, node, frame.child(
                prefix=prefix, condition=frame.condition & module.condition))
        if forward is None or frame.depth > self.limits.depth:
            return self.opaque(module.label or module.cls.node.name.value, node, [tensor],
                               frame)
        self.stack.append(module.cls.node)
        self.in_forward += 1
        try:
            return self.call_function(
                Function(forward[0], forward[1].mod, module, forward[1]), [tensor], {},
                frame.child(prefix=prefix, condition=frame.condition & module.condition,
                            self_=module, label_root=self.instance_label_root(module, frame)))
        finally:
            self.in_forward -= 1
            self.stack.pop()

    def apply_opaque(self, module: Value, frontier: frozenset[Layer], node: cst.CSTNode | None,
                     frame: Frame) -> Value:
        if isinstance(module, GraphModel):
            assert frame.builder is not None
            layer = frame.builder.add(self.model_op, module.label or "model", module.location,
                                      frontier, info=_OPAQUE,
                                      condition=frame.condition or None)
            return Tensor(frozenset({layer}))
        label = module.label if isinstance(module, Module) and module.label else (
            module.text if isinstance(module, OpaqueModule) else "?")
        return self.add_layer(self.opaque_op(label), label, node, [Tensor(frontier)], frame,
                              info=_OPAQUE, attrs={UNRESOLVED_MODULE: label})

    def flatten(self, items: Iterable[Value]) -> list[Value]:
        """Items of nested lists, in order, each list once (a list may contain itself)."""
        found: list[Value] = []
        seen: set[int] = set()
        stack = list(items)[::-1]
        while stack:
            current = stack.pop()
            if isinstance(current, ListValue):
                if id(current) in seen:
                    continue
                seen.add(id(current))
                stack.extend(reversed(current.items))
            else:
                found.append(current)
        return found

    def consume(self, value: Value) -> None:
        """A sequential container nested in another is part of it, not a model of its own."""
        for item in self.flatten([value]):
            if isinstance(item, Seq):
                item.consumed = True

    def name_module(self, value: Value, relpath: str, root: str = "self",
                    seen: set[int] | None = None) -> None:
        """Give a module (and its children) the path it is bound to, once."""
        if not isinstance(value, Module) or value.relpath is not None:
            return
        seen = seen if seen is not None else set()
        if id(value) in seen:
            return
        seen.add(id(value))
        value.relpath = relpath
        value.label = _label(relpath, root)
        if isinstance(value, LayerSpec):
            value.named = True
        if isinstance(value, (Seq, ModList)):
            for name, item in zip(value.names, value.items):
                self.name_module(item, join_path(relpath, name), root, seen)
        elif isinstance(value, Alternatives):
            for option in value.options:
                self.name_module(option, relpath, root, seen)

    # -- hooks for framework plugins ----------------------------------------------------
    identity_op = "identity"
    model_op = "model"

    def opaque_op(self, text: str) -> str:
        return f"opaque:{text}"

    def init_builder(self, frame: Frame) -> GraphBuilder | None:
        """Where layers applied in ``__init__`` go (nowhere: it only binds modules)."""
        return None

    def binds_attribute(self, owner: Instance, frame: Frame) -> bool:
        """Whether ``owner.x = value`` here sets a module attribute (in ``forward`` it
        only caches a tensor on ``self``)."""
        return frame.builder is None or frame.self_ is None or owner is not frame.self_

    def implicit_name(self, name: str) -> str | None:
        """The framework name an undefined name can only mean (``nn`` in a snippet
        without imports), or None."""
        return None

    def knows_name(self, qualified: str) -> bool:
        """Whether a star import brings this framework name (plugins know their names)."""
        return False

    def call_framework(self, name: str, args: list[Value], kwargs: dict[str, Value],
                       node: cst.Call, frame: Frame) -> Value | None:
        """A call of a framework name; None when the plugin does not handle it."""
        return None

    def call_external(self, name: str, args: list[Value], kwargs: dict[str, Value],
                      node: cst.Call, frame: Frame) -> Value:
        """A call of a name from outside the project that nothing above handled."""
        tensor = union([*args, *kwargs.values()])
        if tensor is not None:
            if frame.builder is None:
                return UNKNOWN
            # node is None when a module value is applied, not called in the source
            text = frame.mod.code(node.func)[:40] if node is not None else name
            return self.opaque(text, node, [tensor], frame)
        return UNKNOWN

    def call_unknown(self, func: Value, args: list[Value], kwargs: dict[str, Value],
                     node: cst.Call, frame: Frame) -> Value:
        tensor = union([*args, *kwargs.values()])
        if tensor is not None and frame.builder is not None:
            text = frame.mod.code(node.func)[:40] if node is not None else "call"
            return self.opaque(text, node, [tensor], frame)
        return UNKNOWN

    def framework_method(self, owner: Value, method: str, args: list[Value],
                         kwargs: dict[str, Value], node: cst.Call, frame: Frame
                         ) -> Value | None:
        return None

    def framework_super(self, instance: Instance, method: str, args: list[Value],
                        kwargs: dict[str, Value], node: cst.Call, frame: Frame) -> Value:
        return UNKNOWN

    def tensor_binary(self, left: Tensor, right: Tensor, operator: cst.CSTNode,
                      node: cst.CSTNode, frame: Frame) -> Value:
        return self.opaque(frame.mod.code(node).split("\n")[0][:40], node, [left, right], frame)

    def tensor_subscript(self, value: Tensor, node: cst.Subscript, frame: Frame) -> Value:
        return value  # indexing and slicing are shape-only

    def is_sequential_class(self, cls: ClassRef) -> bool:
        return False

    def module_path(self, spec: LayerSpec, frame: Frame) -> str | None:
        return join_path(frame.prefix, spec.relpath) or None

    def instance_label_root(self, module: Instance, frame: Frame) -> str:
        return "self"

    def on_name_bound(self, name: str, value: Value, frame: Frame) -> None:
        """A value bound to a plain name (plugins name layers by it)."""

    def entering_function(self, func: Function, caller: Frame):  # noqa: ANN201
        """A context manager around a call (training code tracks gradient modes)."""
        return _NO_CONTEXT


class _NoContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_CONTEXT = _NoContext()


class _Slice(Value):
    pass


_SLICE = _Slice()


def _label(relpath: str, root: str = "self") -> str:
    text = root
    for part in relpath.split("."):
        if not part:
            continue
        text += f"[{part}]" if part.isdigit() else f".{part}"
    return text


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


def _is_classmethod(func: cst.FunctionDef) -> bool:
    return any(isinstance(d.decorator, cst.Name) and d.decorator.value == "classmethod"
               for d in func.decorators)


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


_ARITH = {
    "Add": lambda a, b: a + b, "Subtract": lambda a, b: a - b,
    "Multiply": lambda a, b: a * b, "Divide": lambda a, b: a / b,
    "FloorDivide": lambda a, b: a // b, "Modulo": lambda a, b: a % b,
    "BitOr": lambda a, b: a | b, "BitAnd": lambda a, b: a & b,
    "RightShift": lambda a, b: a >> b,
}
_DICT_METHODS = frozenset({"setdefault", "pop", "get", "update"})
_STRING_METHODS = frozenset({"lower", "upper", "strip", "split", "startswith", "endswith",
                             "replace"})


def _plain_string(literal: str) -> str | None:
    """The value of a string literal without escapes (most of them) without compiling it,
    as LibCST's ``evaluated_value`` does; None for the others (escapes, bytes, f-strings,
    a carriage return, which Python's tokenizer would translate)."""
    quote = literal[-1:]
    start = literal.find(quote)
    prefix = literal[:start].lower()
    if prefix not in ("", "u", "r") or "\r" in literal or (
            prefix != "r" and "\\" in literal):
        return None
    width = 3 if literal[start:start + 3] == quote * 3 and len(literal) - start >= 6 else 1
    return literal[start + width:len(literal) - width]
