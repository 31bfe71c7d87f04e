"""Python source -> training-code facts (``layerlint.ir.code``), for PyTorch and Keras.

A syntactic walk over each function, method and module body, separate from the layer
interpreters so that it can move with them: it records what a training loop does
(gradients computed, optimizer steps, gradients cleared, model modes, stochastic
functional ops, gradient flags, plain containers of layers) in source order inside
the loops around it. Calls to functions and methods found in the file or the project
are inlined (bounded depth), the callee's parameter names replaced by the caller's
argument texts; other calls stay opaque with the names they receive. Nothing is
imported or run.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import libcst as cst

from layerlint.frontends import Project
from layerlint.frontends.python.signatures import positional_parameters
from layerlint.frontends.python.source import PythonModule, canonical, resolve_import
from layerlint.ir import LayerGraph, Location
from layerlint.ir.code import Act, Event, Loop, Routine, RoutineKind, Tri
from layerlint.ir.kinds import Kind, lookup

__all__ = ["build_graphs"]

FRONTEND = "python-training"
_MAX_DEPTH = 4  # inlined call depth

# Functional stochastic ops: the name of their mode argument and its default (None:
# required). Its position comes from ``signatures`` or, for ``torch.*``, is the third.
_STOCHASTIC: dict[str, tuple[str, bool | None]] = {
    **{f"torch.nn.functional.{name}": ("training", True)
       for name in ("dropout", "dropout1d", "dropout2d", "dropout3d")},
    "torch.nn.functional.alpha_dropout": ("training", False),
    "torch.nn.functional.feature_alpha_dropout": ("training", False),
    "torch.dropout": ("train", None),
    "torch.alpha_dropout": ("train", None),
    "torch.feature_dropout": ("train", None),
    "torch.nn.functional.batch_norm": ("training", False),
    # no mode argument: always on (inside a Keras layer's ``call``)
    "tensorflow.nn.dropout": ("", True),
    "keras.random.dropout": ("", True),
}
_BATCH_NORM = "torch.nn.functional.batch_norm"
# Bases whose subclasses are layers or models.
_LAYER_BASES = re.compile(
    r"^(torch\.nn\.|pytorch_lightning\.|lightning\.|keras\.(layers\.Layer|Model|models\.Model)$)")
_TORCH_LAYER_BASES = re.compile(r"^(torch\.nn\.|pytorch_lightning\.|lightning\.)")
_NOT_LAYERS = frozenset({"Parameter", "ParameterList", "ParameterDict", "Buffer",
                         "functional", "init", "utils"})
_MODEL_FACTORIES = re.compile(
    r"^(torchvision\.models\.[a-z]|timm\.create_model$|transformers\..*\.from_pretrained$|"
    r"torch\.hub\.load$)")
_TENSOR_FACTORIES = re.compile(r"^torch\.(zeros|ones|randn?|empty|full|tensor|as_tensor|"
                               r"from_numpy|arange|linspace|eye)(_like)?$")
# Names that say "optimizer" (``opt``, ``optimizer_g``, ``self.optim``) and not a scheduler.
_OPTIMIZER_NAME = re.compile(r"(^|[._])(opt|optim|optimi[sz]er)s?(\d*|_\w*)$", re.I)
_SCHEDULER_NAME = re.compile(r"sched|(^|[._])lr", re.I)
# Attribute names of a model that hold its sub-modules in the common model zoos.
_SUBMODULE_NAME = re.compile(
    r"^(features|classifier|fc\d*|encoder|decoder|backbone|heads?|layer\d+|conv\d*|bn\d*|"
    r"blocks?|layers|stem|base_model|bert|roberta|transformer|lstm|rnn|gru|embeddings|"
    r"pooler|neck|body|trunk)$")
# Names that hold a model when nothing else is known (a function's ``model`` parameter).
_MODEL_NAME = re.compile(r"^(model|net|network|module|backbone|encoder|\w+_model|model_\w+)$")
_PARAMETER_NAME = re.compile(r"(^|_)(weight|bias)$")
_FLAG = "requires_grad"
# The base of the layers whose flags and containers are checked (fixes are spelled by it).
_TORCH_MODULE = "torch.nn.Module"
_CONTEXT_BACKWARD = frozenset({"torch.distributed.autograd.backward"})
# A condition on the module's or the call's mode (``self.training``, ``training``).
_MODE_TEST = re.compile(r"\b(training|is_training|is_train)\b")
# What the walk can turn into an event other than an opaque call, as source text: a
# routine whose text, and the texts of every function it may inline, match none of
# these yields opaque calls at most, which ``build_graphs`` drops, so it is not walked
# (most of a model file). A superset by construction: each alternative is a name that
# ``call``, ``assignment`` or ``statement`` tests (methods follow a dot, possibly on
# the next line; a stochastic op's dotted name starts at an import alias, as
# ``PythonModule.qualified`` requires; a tape's ``gradient`` needs ``GradientTape``).
_ACT_TEXT = re.compile(
    r"\.[\s\\]*(?:(?:manual_)?backward|step|apply_gradients|minimize|zero_grad|zero_|"
    r"detach_|grad|eval|train)\b|GradientTape|train_step")
_STOCHASTIC_TEXT = re.compile(r"\b(?:dropout[123]d|dropout|alpha_dropout|"
                              r"feature_alpha_dropout|feature_dropout|batch_norm)\b")
# the dotted name that ends before a stochastic op's name: its head must be an alias
_DOTTED_BEFORE = re.compile(r"(?<![\w.])([^\W\d]\w*)(?:[\s\\]*\.[\s\\]*[^\W\d]\w*)*"
                            r"[\s\\]*\.[\s\\]*$")
_FLAG_TEXT = re.compile(r"\.[\s\\]*(req\w*)")
_CALLED_TEXT = re.compile(r"(?<!\w)([^\W\d]\w*)[\s\\]*\(")
_BUILTINS = frozenset("print len range enumerate zip isinstance list tuple dict set str int "
                      "float bool min max sum sorted any all getattr hasattr round abs "
                      "super iter next format repr type open".split())


@dataclass
class _Scope:
    """Where a body is walked: its module, class, names and call chain."""

    mod: PythonModule
    cls: cst.ClassDef | None = None
    cls_mod: PythonModule | None = None
    self_name: str | None = None
    renames: dict[str, str] = field(default_factory=dict)  # callee parameter -> caller text
    locals: dict[str, cst.FunctionDef] = field(default_factory=dict)  # nested defs
    kinds: dict[str, str] = field(default_factory=dict)  # name -> "module"/"parameter"/...
    optimizers: frozenset[str] = frozenset()  # names bound to an optimizer
    tapes: frozenset[str] = frozenset()  # names bound to a gradient tape
    recording: bool = False  # under ``tf.GradientTape`` or in a Keras ``train_step``
    mode_guarded: bool = False  # under ``if self.training:`` / ``if training:``
    bindings: dict[str, cst.BaseExpression] = field(default_factory=dict)  # name -> value
    via: tuple[Location, ...] = ()
    stack: tuple[int, ...] = ()  # ids of the functions being inlined (recursion guard)
    direct: bool = True  # not inlined: the code a fix would edit


class _Walker:
    def __init__(self, project: Project) -> None:
        self.project = project
        self._calls: dict[cst.CSTNode, list[cst.Call]] = {}
        self._acts: dict[tuple[int, int], bool] = {}  # (function, class) -> may_act
        self._stochastic_aliases: dict[int, re.Pattern | None] = {}  # module -> its names

    # ----------------------------------------------------------------- the gate
    def may_act(self, func: cst.FunctionDef, mod: PythonModule, cls: cst.ClassDef | None,
                cls_mod: PythonModule | None) -> bool:
        """Whether walking ``func`` (as a method of ``cls``, or a function) can yield an
        event other than an opaque call: its text or that of a function or method it may
        inline names an act (``_ACT_TEXT``). Remembered per function and class."""
        key = (id(func), id(cls))
        known = self._acts.get(key)
        if known is not None:
            return known
        self._acts[key] = False  # a recursive call adds nothing the others do not
        span = mod.statement_span(func)
        found = span is None or func.name.value == "train_step" or self.text_may_act(
            "\n".join(mod.lines[_after_docstring(func, mod, span[0]) - 1:span[2]]), mod, cls,
            cls_mod)
        self._acts[key] = found
        return found

    def text_may_act(self, text: str, mod: PythonModule, cls: cst.ClassDef | None,
                     cls_mod: PythonModule | None) -> bool:
        if _ACT_TEXT.search(text) or any(
                word == _FLAG or _near_flag(word) for word in _FLAG_TEXT.findall(text)):
            return True
        for match in _STOCHASTIC_TEXT.finditer(text):
            start = match.start()
            before = text[max(0, start - 200):start]
            if not before.rstrip(" \t\r\n\f\v\\").endswith("."):
                continue  # a bare name: an alias of the op, found below
            dotted = _DOTTED_BEFORE.search(before)
            if dotted is None or (dotted.start() == 0 and start > 200) or \
                    dotted.group(1) in mod.aliases:
                return True  # ``F.dropout``, or a head not known (``(F).dropout``)
        ops = self._stochastic_aliases.get(id(mod))
        if ops is None:
            names = [re.escape(local) for local, name in mod.aliases.items()
                     if canonical(name) in _STOCHASTIC]
            ops = self._stochastic_aliases[id(mod)] = re.compile(
                r"\b(?:" + "|".join(names) + r")\b") if names else None
        if ops is not None and ops.search(text):
            return True  # ``from torch.nn.functional import dropout as drop``
        for name in dict.fromkeys(_CALLED_TEXT.findall(text)):
            # what ``inline`` may find: nested functions are in ``text`` already
            function = self.find_function(name, mod)
            if function is not None and self.may_act(*function, None, None):
                return True
            method = self.find_method(cls, cls_mod or mod, name) if cls is not None else None
            if method is not None and self.may_act(*method, cls, cls_mod):
                return True
        return False

    # ----------------------------------------------------------------- classes
    def base_names(self, cls: cst.ClassDef, mod: PythonModule) -> Iterator[str]:
        for arg in cls.bases:
            name = mod.qualified(arg.value)
            if name:
                yield name

    def is_layer_class(self, cls: cst.ClassDef, mod: PythonModule, torch_only: bool = False,
                       depth: int = 0) -> bool:
        pattern = _TORCH_LAYER_BASES if torch_only else _LAYER_BASES
        if any(isinstance(s, cst.FunctionDef) and s.name.value == "forward"
               for s in cls.body.body):
            return True
        if depth > 4:
            return False
        for name in self.base_names(cls, mod):
            if pattern.search(name):
                return True
            found = self.find_class(name, mod)
            if found and self.is_layer_class(*found, torch_only, depth + 1):
                return True
        return False

    def find_class(self, name: str, mod: PythonModule) -> tuple[cst.ClassDef, PythonModule] | None:
        node = mod.definitions.get(name)
        if isinstance(node, cst.ClassDef):
            return node, mod
        if "." in name or name.startswith("."):
            try:
                found = resolve_import(mod, name, self.project)
            except RecursionError:
                return None
            if isinstance(found, tuple):  # not a name re-exported from outside
                target, local = found
                node = target.definitions.get(local)
                if isinstance(node, cst.ClassDef):
                    return node, target
        return None

    def find_function(self, name: str, mod: PythonModule
                      ) -> tuple[cst.FunctionDef, PythonModule] | None:
        node = mod.definitions.get(name)
        if isinstance(node, cst.FunctionDef):
            return node, mod
        qualified = mod.aliases.get(name)
        if qualified and qualified != name:
            try:
                found = resolve_import(mod, qualified, self.project)
            except RecursionError:
                return None
            if isinstance(found, tuple):  # not a name re-exported from outside
                target, local = found
                node = target.definitions.get(local)
                if isinstance(node, cst.FunctionDef):
                    return node, target
        return None

    def constructs_layer(self, call: cst.Call, mod: PythonModule) -> str | None:
        """The op name when ``call`` builds a torch layer or a layer class of the project."""
        name = mod.qualified(call.func)
        if name is None and isinstance(call.func, cst.Name):
            name = call.func.value
        if not name:
            return None
        last = name.rsplit(".", 1)[-1]
        if name.startswith("torch.nn.") and name.count(".") == 2 and last[:1].isupper():
            return None if last in _NOT_LAYERS else name
        found = self.find_class(name, mod)
        if found and self.is_layer_class(*found):
            return last
        return None

    # ----------------------------------------------------------------- values
    def kind_of_call(self, call: cst.Call, scope: _Scope) -> str | None:
        """"module", "parameter" or "tensor" for what a call returns, when known."""
        mod = scope.mod
        name = mod.qualified(call.func) or (
            call.func.value if isinstance(call.func, cst.Name) else None)
        if name in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            return "parameter"
        if name and _TENSOR_FACTORIES.search(name):
            return "tensor"
        if name and (_MODEL_FACTORIES.search(name) or self.constructs_layer(call, mod)):
            return "module"
        if isinstance(call.func, cst.Attribute) and call.func.attr.value in (
                "to", "cuda", "cpu", "train", "eval", "float", "double", "half"):
            return self.kind_of(call.func.value, scope)
        return None

    def kind_of(self, node: cst.BaseExpression, scope: _Scope) -> str:
        """What an expression holds: "module", "parameter", "tensor" or "unknown"."""
        if isinstance(node, cst.Name):
            if node.value == scope.self_name and scope.cls is not None and \
                    self.is_layer_class(scope.cls, scope.cls_mod or scope.mod):
                return "module"
            return scope.kinds.get(node.value, "module" if _MODEL_NAME.search(node.value)
                                   else "unknown")
        if isinstance(node, cst.Call):
            return self.kind_of_call(node, scope) or "unknown"
        if isinstance(node, cst.Subscript):
            return "module" if self.kind_of(node.value, scope) == "module" else "unknown"
        if isinstance(node, cst.Attribute):
            owner = node.value
            attr = node.attr.value
            if isinstance(owner, cst.Name) and owner.value == scope.self_name and scope.cls:
                known = self.self_attribute_kind(scope.cls, scope.cls_mod or scope.mod, attr,
                                                 scope)
                if known:
                    return known
            if self.kind_of(owner, scope) == "module":
                if _PARAMETER_NAME.search(attr):
                    return "parameter"
                if _SUBMODULE_NAME.match(attr):
                    return "module"
            if attr in ("data",) and self.kind_of(owner, scope) == "parameter":
                return "tensor"
        return "unknown"

    def self_attribute_kind(self, cls: cst.ClassDef, mod: PythonModule, attr: str,
                            scope: _Scope) -> str | None:
        """What ``self.<attr>`` was assigned in the class's methods."""
        for method in cls.body.body:
            if not isinstance(method, cst.FunctionDef):
                continue
            for stmt in _small_statements(method.body.body):
                if isinstance(stmt, cst.Assign) and isinstance(stmt.value, cst.Call):
                    for target in stmt.targets:
                        t = target.target
                        if isinstance(t, cst.Attribute) and t.attr.value == attr and \
                                isinstance(t.value, cst.Name) and t.value.value == "self":
                            kind = self.kind_of_call(stmt.value, _Scope(mod))
                            if kind:
                                return kind
        return None

    # ----------------------------------------------------------------- routines
    def routine(self, name: str, kind: RoutineKind, node: cst.CSTNode, body: list,
                scope: _Scope, hook: bool = False) -> Routine:
        return Routine(name, kind, scope.mod.location(node) if not isinstance(
            node, cst.Module) else Location(scope.mod.display, 1, 1),
            tuple(self.walk(body, scope, False)), hook)

    def walk(self, body: Iterable[cst.CSTNode], scope: _Scope, conditional: bool
             ) -> Iterator[Event | Loop]:
        for stmt in body:
            yield from self.statement(stmt, scope, conditional)

    def statement(self, stmt: cst.CSTNode, scope: _Scope, conditional: bool
                  ) -> Iterator[Event | Loop]:
        mod = scope.mod
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                yield from self.small(small, scope, conditional)
        elif isinstance(stmt, (cst.For, cst.While)):
            header = stmt.iter if isinstance(stmt, cst.For) else stmt.test
            yield from self.calls(header, stmt, scope, conditional)
            if isinstance(stmt, cst.For):
                self.bind_loop_target(stmt.target, stmt.iter, scope)
            body = list(self.walk(stmt.body.body, scope, False))
            if stmt.orelse is not None:
                body += self.walk(stmt.orelse.body.body, scope, False)
            yield Loop(mod.location(stmt), tuple(body))
        elif isinstance(stmt, cst.If):
            yield from self.calls(stmt.test, stmt, scope, conditional)
            branch = scope
            if not scope.mode_guarded and _MODE_TEST.search(mod.code(stmt.test)):
                branch = replace(scope, mode_guarded=True)  # the mode decides, not a literal
            yield from self.walk(stmt.body.body, branch, True)
            if stmt.orelse is not None:
                orelse = stmt.orelse
                yield from self.walk([orelse] if isinstance(orelse, cst.If)
                                     else orelse.body.body, branch, True)
        elif isinstance(stmt, cst.With):
            for item in stmt.items:
                yield from self.calls(item.item, stmt, scope, conditional)
                if isinstance(item.item, cst.Call) and item.asname is not None and \
                        isinstance(item.asname.name, cst.Name) and \
                        (mod.qualified(item.item.func) or "").endswith("GradientTape"):
                    scope.tapes = scope.tapes | {item.asname.name.value}
            tape = any(isinstance(item.item, cst.Call) and (mod.qualified(
                item.item.func) or "").endswith("GradientTape") for item in stmt.items)
            inner = replace(scope, recording=True) if tape and not scope.recording else scope
            yield from self.walk(stmt.body.body, inner, conditional)
            if inner is not scope:
                scope.tapes = inner.tapes
        elif isinstance(stmt, cst.Try):
            yield from self.walk(stmt.body.body, scope, conditional)
            for handler in stmt.handlers:
                yield from self.walk(handler.body.body, scope, True)
            for extra in (stmt.orelse, stmt.finalbody):
                if extra is not None:
                    yield from self.walk(extra.body.body, scope, conditional)
        elif isinstance(stmt, cst.FunctionDef):
            scope.locals[stmt.name.value] = stmt
        elif isinstance(stmt, cst.ClassDef):
            return
        elif hasattr(stmt, "body") and hasattr(stmt.body, "body"):  # match etc.
            yield from self.walk(stmt.body.body, scope, True)

    def bind_loop_target(self, target: cst.BaseExpression, iterable: cst.BaseExpression,
                         scope: _Scope) -> None:
        call = iterable
        while True:  # ``enumerate(list(model.children())[:-2])``
            if isinstance(call, cst.Subscript):
                call = call.value
            elif isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and \
                    call.func.value in ("enumerate", "list", "reversed", "tuple") and call.args:
                call = call.args[0].value
            else:
                break
        kind = None
        named = False
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute):
            method = call.func.attr.value
            if method in ("modules", "children", "named_modules", "named_children"):
                kind, named = "module", method.startswith("named_")
            elif method in ("parameters", "named_parameters"):
                kind, named = "parameter", method.startswith("named_")
        elif self.kind_of(call, scope) == "module" and isinstance(
                call, (cst.Attribute, cst.Subscript)):
            kind = "module"  # iterating a ModuleList / Sequential
        if kind is None:
            return
        if isinstance(target, cst.Tuple) and target.elements:
            target = target.elements[-1].value
            if isinstance(target, cst.Tuple) and target.elements:  # enumerate(named_...)
                target = target.elements[-1].value
        elif named:
            return
        if isinstance(target, cst.Name):
            scope.kinds[target.value] = kind

    def small(self, small: cst.BaseSmallStatement, scope: _Scope, conditional: bool
              ) -> Iterator[Event]:
        if isinstance(small, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            value = small.value
            if value is not None:
                yield from self.calls(value, small, scope, conditional)
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) \
                else [small.target]
            for target in targets:
                yield from self.assignment(target, value, small, scope, conditional)
        elif isinstance(small, (cst.Expr, cst.Return)):
            if small.value is not None:
                yield from self.calls(small.value, small, scope, conditional)

    def assignment(self, target: cst.BaseExpression, value: cst.BaseExpression | None,
                   stmt: cst.CSTNode, scope: _Scope, conditional: bool) -> Iterator[Event]:
        mod = scope.mod
        if isinstance(target, cst.Name) and value is not None:
            name = target.value
            scope.bindings[name] = value
            if isinstance(value, cst.Call):
                kind = self.kind_of_call(value, scope)
                if kind:
                    scope.kinds[name] = kind
                qualified = mod.qualified(value.func) or ""
                if qualified.startswith("torch.optim.") and "lr_scheduler" not in qualified \
                        or re.search(r"keras\.optimizers\.", qualified):
                    scope.optimizers = scope.optimizers | {name}
            elif isinstance(value, (cst.Name, cst.Attribute)):
                scope.kinds[name] = self.kind_of(value, scope)
            return
        if not isinstance(target, cst.Attribute):
            return
        attr = target.attr.value
        location = mod.location(stmt)
        # ``p.grad = None``: gradients cleared
        if attr == "grad" and isinstance(value, cst.Name) and value.value == "None":
            yield self.event(Act.CLEAR_GRAD, location, target.value, scope, conditional)
            return
        if attr != _FLAG and not _near_flag(attr):
            return
        literal = isinstance(value, cst.Name) and value.value in ("True", "False")
        owner = self.kind_of(target.value, scope)
        self_attribute = isinstance(target.value, cst.Name) and \
            target.value.value == scope.self_name
        yield self.event(Act.FLAG_ASSIGN, location, target.value, scope, conditional, {
            "attribute": attr, "flag": attr == _FLAG, "owner": owner,
            "value": mod.code(value).strip() if value is not None else "",
            "literal": literal, "self_attribute": self_attribute,
            "flag_name": _FLAG, "base": _TORCH_MODULE})

    def event(self, act: Act, location: Location, subject: cst.BaseExpression | str | None,
              scope: _Scope, conditional: bool, facts: dict | None = None) -> Event:
        text = subject if isinstance(subject, str) else (
            self.text(subject, scope) if subject is not None else "")
        return Event(act, location, text, facts or {}, scope.via, conditional)

    def text(self, node: cst.BaseExpression, scope: _Scope) -> str:
        """Source text of a name or dotted name, with the callee's parameters renamed."""
        text = scope.mod.code(node).strip()
        head, dot, rest = text.partition(".")
        if head in scope.renames:
            return scope.renames[head] + dot + rest
        return text

    # ----------------------------------------------------------------- calls
    def calls(self, expr: cst.CSTNode, stmt: cst.CSTNode, scope: _Scope, conditional: bool
              ) -> Iterator[Event | Loop]:
        found = self._calls.get(expr)
        if found is None:  # inlined callees revisit their statements: collect once
            found = self._calls[expr] = _calls_in(expr, skip=cst.Lambda)
        # innermost calls first (``scaler.scale(loss).backward()``), then in source order
        for call in found:
            yield from self.call(call, stmt, scope, conditional)

    def call(self, call: cst.Call, stmt: cst.CSTNode, scope: _Scope, conditional: bool
             ) -> Iterator[Event | Loop]:
        mod = scope.mod
        func = call.func
        qualified = mod.qualified(func)
        if qualified in _STOCHASTIC:
            yield self.stochastic(call, qualified, stmt, scope, conditional)
            return
        if scope.recording:
            applied = self.model_call(call, stmt, scope, conditional)
            if applied is not None:
                yield applied
                return
        inlined = self.inline(call, stmt, scope, conditional)
        if inlined is not None:
            yield from inlined
            return
        # closures passed to a call (``optimizer.step(closure)``) run there
        for arg in call.args:
            if isinstance(arg.value, cst.Name) and arg.value.value in scope.locals:
                yield from self.inline_function(
                    scope.locals[arg.value.value], mod, [], scope, stmt, call, conditional,
                    same_scope=True)
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            owner = func.value
            location = mod.location(call, stmt)
            if method in ("backward", "manual_backward"):
                # distributed autograd keeps each context's gradients apart
                yield self.event(Act.BACKWARD, location, owner, scope, conditional,
                                 {"accumulates": qualified not in _CONTEXT_BACKWARD})
                return
            if method == "gradient" and isinstance(owner, cst.Name) and \
                    owner.value in scope.tapes:
                yield self.event(Act.BACKWARD, location, owner, scope, conditional,
                                 {"accumulates": False})
                return
            if method in ("step", "apply_gradients", "minimize"):
                stepped = owner
                if method == "step" and not self.is_optimizer(owner, scope) and call.args \
                        and self.is_optimizer(call.args[0].value, scope):
                    stepped = call.args[0].value  # ``scaler.step(optimizer)``
                if self.is_optimizer(stepped, scope):
                    yield self.event(Act.STEP, location, stepped, scope, conditional)
                    return
            if method == "zero_grad" or (method in ("zero_", "detach_") and isinstance(
                    owner, cst.Attribute) and owner.attr.value in ("grad", "data")):
                yield self.event(Act.CLEAR_GRAD, location, owner, scope, conditional)
                return
            if method in ("eval", "train") and self.is_mode_switch(call, method, scope):
                on = method == "train" and not _is_false_argument(call)
                yield self.event(Act.TRAIN_MODE if on else Act.EVAL_MODE, location, owner,
                                 scope, conditional)
                return
        elif isinstance(func, cst.Name) and func.value in _BUILTINS:
            return
        names = [self.text(a.value, scope) for a in call.args
                 if isinstance(a.value, (cst.Name, cst.Attribute))]
        receiver = self.text(func.value, scope) if isinstance(func, cst.Attribute) and \
            isinstance(func.value, (cst.Name, cst.Attribute)) else ""
        if receiver and scope.cls is not None and receiver == scope.renames.get(
                scope.self_name or "", scope.self_name) and self.is_stored(func, scope):
            receiver = self.text(func, scope)  # ``self.model(x)`` calls what was stored
        if receiver and receiver.split(".")[0] in scope.mod.aliases:
            receiver = ""  # a function of an imported module (``torch.nn.functional``)
        if names or receiver:
            yield self.event(Act.OPAQUE_CALL, mod.location(call, stmt), receiver, scope,
                             conditional, {"arguments": tuple(names)})

    def model_call(self, call: cst.Call, stmt: cst.CSTNode, scope: _Scope, conditional: bool
                   ) -> Event | None:
        """A Keras model or layer applied under gradient recording, with what it holds."""
        func = call.func
        mod = scope.mod
        holder: cst.CSTNode | None = None  # where its layers are built
        if isinstance(func, cst.Name) and func.value == scope.self_name and scope.cls:
            holder = scope.cls  # ``self(x)`` in ``train_step``
        elif isinstance(func, cst.Name):
            value = scope.bindings.get(func.value) or _module_binding(mod, func.value)
            holder = self.builder_of(value, mod) if value is not None else None
        elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and \
                func.value.value == scope.self_name and scope.cls is not None:
            value = _self_binding(scope.cls, func.attr.value)
            holder = self.builder_of(value, mod) if value is not None else None
        if holder is None:
            return None
        kinds = self.layer_kinds(holder, mod)
        name, index, default = _mode_parameter(holder)
        training: cst.BaseExpression | None = None
        positional = [a for a in call.args if a.keyword is None and not a.star]
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == name:
                training = arg.value
        if training is None and index is not None and len(positional) > index:
            training = positional[index].value  # call(inputs, training)
        if training is None:
            state = Tri.EXPRESSION if any(a.star for a in call.args) else (
                Tri.DEFAULT_ON if _is_true(default) else Tri.DEFAULT_OFF)
        elif isinstance(training, cst.Name) and training.value in ("True", "False"):
            state = Tri.ON if training.value == "True" else Tri.OFF
        else:
            state = Tri.EXPRESSION
        return self.event(Act.MODEL_CALL, mod.location(call, stmt), func, scope, conditional, {
            "training": state, "recording": True, "has_dropout": Kind.DROPOUT in kinds,
            "has_batchnorm": Kind.BATCHNORM in kinds})

    def layer_kinds(self, holder: cst.CSTNode, mod: PythonModule, depth: int = 0,
                    seen: set[int] | None = None) -> set[Kind]:
        """The kinds of the layers ``holder`` builds, also inside the project's layer
        classes it builds (a model of blocks whose dropouts are in the blocks)."""
        seen = set() if seen is None else seen
        seen.add(id(holder))
        kinds: set[Kind] = set()
        for call in _calls_in(holder):
            name = mod.qualified(call.func)
            kind = lookup(name or "").kind
            kinds.add(kind)
            if kind is not Kind.OPAQUE or depth >= 4:
                continue
            local = call.func.value if isinstance(call.func, cst.Name) else None
            found = self.find_class(name or local or "", mod) if name or local else None
            if found is not None and id(found[0]) not in seen:
                kinds |= self.layer_kinds(found[0], found[1], depth + 1, seen)
        return kinds

    def builder_of(self, value: cst.BaseExpression, mod: PythonModule) -> cst.CSTNode | None:
        """The code that builds the Keras model ``value`` evaluates to, if it is one."""
        if not isinstance(value, cst.Call):
            return None
        name = mod.qualified(value.func) or (
            value.func.value if isinstance(value.func, cst.Name) else "")
        if name in ("keras.Sequential", "keras.models.Sequential"):
            return value
        if name in ("keras.Model", "keras.models.Model"):
            return mod.module  # functional: its layers are built around it
        found = self.find_class(name, mod) if name else None
        if found and found[1] is mod and any(
                n.startswith("keras.") for n in self.base_names(found[0], mod)):
            return found[0]
        function = mod.definitions.get(name)
        if isinstance(function, cst.FunctionDef) and "keras" in mod.code(function):
            return function
        return None

    def is_stored(self, func: cst.Attribute, scope: _Scope) -> bool:
        """``self.<name>`` is an attribute the class assigns, not an inherited method."""
        assert scope.cls is not None
        pattern = re.compile(r"\bself\." + re.escape(func.attr.value) + r"\s*(:[^=]*)?=[^=]")
        return bool(pattern.search((scope.cls_mod or scope.mod).code(scope.cls)))

    def is_optimizer(self, node: cst.BaseExpression, scope: _Scope) -> bool:
        text = self.text(node, scope) if isinstance(node, (cst.Name, cst.Attribute)) else ""
        if not text or _SCHEDULER_NAME.search(text):
            return False
        if isinstance(node, cst.Name) and node.value in scope.optimizers:
            return True
        return bool(_OPTIMIZER_NAME.search(text) or _OPTIMIZER_NAME.search(
            scope.mod.code(node).strip()))

    def is_mode_switch(self, call: cst.Call, method: str, scope: _Scope) -> bool:
        """``model.eval()``, ``model.train()``, ``model.train(False)``; not ``trainer.train()``."""
        owner = call.func.value  # type: ignore[attr-defined]
        if method == "eval" and call.args:
            return False
        if len(call.args) > 1:
            return False
        text = self.text(owner, scope) if isinstance(owner, (cst.Name, cst.Attribute)) else ""
        if re.search(r"trainer|engine|runner|learner|fabric|accelerator", text, re.I):
            return False
        return True

    def stochastic(self, call: cst.Call, op: str, stmt: cst.CSTNode, scope: _Scope,
                   conditional: bool) -> Event:
        keyword, default = _STOCHASTIC[op]
        params = positional_parameters(op)
        position = params.index(keyword) if keyword in params else 2 if keyword else 99
        mode: cst.BaseExpression | None = None
        positional = [a for a in call.args if a.keyword is None and not a.star]
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == keyword:
                mode = arg.value
        if mode is None and len(positional) > position:
            mode = positional[position].value
        starred = any(a.star for a in call.args)
        if scope.mode_guarded or _guarded_inline(stmt, call):
            state = Tri.EXPRESSION  # ``F.dropout(x) if self.training else x``
        elif mode is None:
            state = Tri.EXPRESSION if starred or default is None else (
                Tri.DEFAULT_ON if default else Tri.DEFAULT_OFF)
        elif isinstance(mode, cst.Name) and mode.value in ("True", "False"):
            state = Tri.ON if mode.value == "True" else Tri.OFF
        else:
            state = Tri.EXPRESSION
        facts: dict[str, object] = {"op": op, "training": state, "keyword": keyword,
                                    "label": scope.mod.code(call.func).strip(),
                                    "text": scope.mod.code(mode).strip() if mode else ""}
        if op == _BATCH_NORM:
            stats = [a.value for a in call.args if a.keyword is None][1:3] or [
                a.value for a in call.args if a.keyword and a.keyword.value == "running_mean"]
            facts["running_statistics"] = bool(stats) and not (
                isinstance(stats[0], cst.Name) and stats[0].value == "None")
        if scope.direct and scope.self_name and scope.cls is not None and \
                self.is_layer_class(scope.cls, scope.cls_mod or scope.mod, torch_only=True):
            facts["self_name"] = scope.self_name
        return self.event(Act.STOCHASTIC_CALL, scope.mod.location(call, stmt), None, scope,
                          conditional, facts)

    # ----------------------------------------------------------------- inlining
    def inline(self, call: cst.Call, stmt: cst.CSTNode, scope: _Scope, conditional: bool
               ) -> Iterator[Event | Loop] | None:
        """The acts of a function or method that ``call`` runs, if it can be found."""
        func = call.func
        mod = scope.mod
        if isinstance(func, cst.Name):
            if func.value in scope.locals:
                return self.inline_function(scope.locals[func.value], mod, call.args, scope,
                                            stmt, call, conditional, same_scope=True)
            found = self.find_function(func.value, mod)
            if found:
                return self.inline_function(found[0], found[1], call.args, scope, stmt, call,
                                            conditional)
            return None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and \
                func.value.value == scope.self_name and scope.cls is not None:
            method = self.find_method(scope.cls, scope.cls_mod or mod, func.attr.value)
            if method:
                return self.inline_function(method[0], method[1], call.args, scope, stmt, call,
                                            conditional, method=True)
        return None

    def find_method(self, cls: cst.ClassDef, mod: PythonModule, name: str, depth: int = 0
                    ) -> tuple[cst.FunctionDef, PythonModule] | None:
        for stmt in cls.body.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                return stmt, mod
        if depth > 4:
            return None
        for base in self.base_names(cls, mod):
            found = self.find_class(base, mod)
            if found:
                method = self.find_method(found[0], found[1], name, depth + 1)
                if method:
                    return method
        return None

    def inline_function(self, func: cst.FunctionDef, mod: PythonModule, args: Iterable[cst.Arg],
                        scope: _Scope, stmt: cst.CSTNode, call: cst.Call, conditional: bool,
                        *, same_scope: bool = False, method: bool = False
                        ) -> Iterator[Event | Loop]:
        if id(func) in scope.stack or len(scope.stack) >= _MAX_DEPTH:
            return iter(())
        params = [p.name.value for p in func.params.params]
        if method and params:
            params = params[1:]
        renames = dict(scope.renames) if same_scope else {}
        if method and scope.self_name:
            first = func.params.params[0].name.value if func.params.params else "self"
            renames[first] = scope.renames.get(scope.self_name, scope.self_name)
        positional = [a for a in args if a.keyword is None and not a.star]
        for name, arg in zip(params, positional):
            if isinstance(arg.value, (cst.Name, cst.Attribute)):
                renames[name] = self.text(arg.value, scope)
        for arg in args:
            if arg.keyword is not None and isinstance(arg.value, (cst.Name, cst.Attribute)):
                renames[arg.keyword.value] = self.text(arg.value, scope)
        inner = _Scope(
            mod=mod if not same_scope else scope.mod,
            cls=scope.cls if (method or same_scope) else None,
            cls_mod=scope.cls_mod if (method or same_scope) else None,
            self_name=(func.params.params[0].name.value if method and func.params.params
                       else scope.self_name if same_scope else None),
            renames=renames,
            locals=dict(scope.locals) if same_scope else {},
            kinds={**scope.kinds} if same_scope else {
                p: scope.kinds[r] for p, r in renames.items() if r in scope.kinds},
            optimizers=scope.optimizers if same_scope else frozenset(
                p for p, r in renames.items() if r in scope.optimizers),
            tapes=scope.tapes,
            recording=scope.recording,
            via=(*scope.via, scope.mod.location(call, stmt)),
            stack=(*scope.stack, id(func)),
            direct=False,
        )
        return self.walk(func.body.body, inner, conditional)


def _small_statements(body: Iterable[cst.CSTNode]) -> Iterator[cst.BaseSmallStatement]:
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            yield from stmt.body
        else:
            for name in ("body", "orelse", "finalbody"):
                block = getattr(stmt, name, None)
                inner = getattr(block, "body", None)
                if isinstance(inner, cst.BaseSuite):
                    inner = inner.body
                if isinstance(inner, (list, tuple)):
                    yield from _small_statements(inner)
                elif isinstance(block, cst.If):
                    yield from _small_statements([block])


def _guarded_inline(stmt: cst.CSTNode, call: cst.Call) -> bool:
    """``call`` is a branch of an ``x if <mode> else y`` in ``stmt``."""
    found = False

    class _IfExps(cst.CSTVisitor):
        def visit_IfExp(self, node: cst.IfExp) -> None:
            nonlocal found
            test = cst.Module([]).code_for_node(node.test)
            if _MODE_TEST.search(test) and call in _calls_in(node.body) + _calls_in(
                    node.orelse):
                found = True

    stmt.visit(_IfExps())
    return found


_FIELDS: dict[type, tuple[str, ...]] = {}  # node type -> its field names


def _calls_in(node: cst.CSTNode, skip: type | None = None) -> list[cst.Call]:
    """The calls in ``node``, outer before inner, in source order (as a visitor sees
    them), not looking inside ``skip`` nodes. A read-only walk over the node's fields:
    LibCST's visitors and ``children`` rebuild each node they pass."""
    found: list[cst.Call] = []
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if skip is not None and isinstance(current, skip):
            continue
        if type(current) is cst.Call:
            found.append(current)
        children: list[cst.CSTNode] = []
        names = _FIELDS.get(type(current))
        if names is None:
            names = _FIELDS[type(current)] = tuple(f.name for f in dataclasses.fields(current))
        for name in names:
            value = getattr(current, name)
            if isinstance(value, cst.CSTNode):
                children.append(value)
            elif isinstance(value, (list, tuple)):
                children.extend(item for item in value if isinstance(item, cst.CSTNode))
        stack.extend(reversed(children))
    return found


def _module_binding(mod: PythonModule, name: str) -> cst.BaseExpression | None:
    """The value last assigned to ``name`` at the top level of the module."""
    found = None
    for stmt in _small_statements(mod.module.body):
        if isinstance(stmt, cst.Assign) and any(
                isinstance(t.target, cst.Name) and t.target.value == name for t in stmt.targets):
            found = stmt.value
    return found


def _self_binding(cls: cst.ClassDef, attr: str) -> cst.BaseExpression | None:
    for method in cls.body.body:
        if isinstance(method, cst.FunctionDef):
            for stmt in _small_statements(method.body.body):
                if isinstance(stmt, cst.Assign) and any(
                        isinstance(t.target, cst.Attribute) and t.target.attr.value == attr
                        and _is_self(t.target.value) for t in stmt.targets):
                    return stmt.value
    return None


def _near_flag(attr: str) -> bool:
    """A misspelling of ``requires_grad`` (``require_grad``, ``requires_grads``)."""
    return attr != _FLAG and attr.startswith("req") and \
        difflib.SequenceMatcher(None, attr, _FLAG).ratio() >= 0.85


def _mode_parameter(holder: cst.CSTNode
                    ) -> tuple[str, int | None, cst.BaseExpression | None]:
    """The parameter that sets a Keras model's mode: ``training``, or, in a subclassed
    model, the parameter its ``call`` passes on as ``training=`` (``def call(self, x,
    is_training=False)`` calling ``self.bn(x, training=is_training)``), with its position
    after the inputs' first (None: keyword-only) and its default."""
    method = next((s for s in holder.body.body if isinstance(s, cst.FunctionDef)
                   and s.name.value == "call"), None) if isinstance(holder, cst.ClassDef) \
        else None
    if method is None:
        return "training", 1, None
    passed_on = {a.value.value for c in _calls_in(method) for a in c.args
                 if a.keyword is not None and a.keyword.value == "training"
                 and isinstance(a.value, cst.Name)}
    params = method.params
    for index, param in enumerate([*params.posonly_params, *params.params][1:]):
        if param.name.value == "training" or param.name.value in passed_on:
            return param.name.value, index, param.default
    for param in params.kwonly_params:
        if param.name.value == "training" or param.name.value in passed_on:
            return param.name.value, None, param.default
    return "training", 1, None


def _is_true(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"


def _is_false_argument(call: cst.Call) -> bool:
    return bool(call.args) and isinstance(call.args[0].value, cst.Name) and \
        call.args[0].value.value == "False"


# --------------------------------------------------------------------------- containers
def _plain_containers(walker: _Walker, cls: cst.ClassDef, mod: PythonModule
                      ) -> Iterator[Event]:
    """``self.x = [layers]`` (or a tuple, dict, or a list appended to) in a torch layer
    class, unless the class registers it (``nn.ModuleList(self.x)``, ``add_module``)."""
    if not walker.is_layer_class(cls, mod, torch_only=True):
        return
    smalls = [(method, s) for method in cls.body.body if isinstance(method, cst.FunctionDef)
              for s in _small_statements(method.body.body)]
    local_layers: dict[tuple[int, str], list[str]] = {}  # (method, local) -> layers appended
    appended: dict[str, list[str]] = {}  # self attribute -> layers appended
    # locals a method binds to a plain container (``layers = []``), and to anything else
    # (``extra = nn.ModuleList(...)``, whose ``insert`` registers what it takes)
    plain: set[tuple[int, str]] = set()
    other: set[tuple[int, str]] = set()
    for method, small in smalls:
        if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None:
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) \
                else [small.target]
            for target in targets:
                if isinstance(target, cst.Name):
                    (plain if _plain_container(small.value) else other).add(
                        (id(method), target.value))
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            call = small.value
            if isinstance(call.func, cst.Attribute) and call.func.attr.value in (
                    "append", "extend", "insert") and call.args:
                layers = _layers_in(walker, call.args[-1].value, mod)
                owner = call.func.value
                if layers and isinstance(owner, cst.Attribute) and _is_self(owner.value):
                    appended.setdefault(owner.attr.value, []).extend(layers)
                elif layers and isinstance(owner, cst.Name):
                    local_layers.setdefault((id(method), owner.value), []).extend(layers)
    text: str | None = None
    for method, small in smalls:
        if not isinstance(small, (cst.Assign, cst.AnnAssign)) or small.value is None:
            continue
        targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) \
            else [small.target]
        for target in targets:
            if not (isinstance(target, cst.Attribute) and _is_self(target.value)):
                continue
            attr = target.attr.value
            value = small.value
            container = _container_kind(value)
            layers: list[str] = []
            if container:
                layers = _layers_in(walker, value, mod) + appended.get(attr, [])
            elif isinstance(value, cst.Name) and (id(method), value.value) in local_layers \
                    and (id(method), value.value) in plain - other:
                container, layers = "list", local_layers[(id(method), value.value)]
            if not container or not layers:
                continue
            if text is None:  # the class's code, regenerated only for a container of layers
                text = mod.code(cls)
                if "add_module" in text or "register_module" in text or "setattr(" in text:
                    return
            if re.search(r"\(\s*\*?\s*self\." + re.escape(attr) + r"\s*[,)]", text):
                continue  # passed to a registering container (or elsewhere): not a guess
            yield Event(Act.PLAIN_CONTAINER, mod.location(small), f"self.{attr}", {
                "container": container, "layers": tuple(dict.fromkeys(layers)),
                "attribute": attr, "base": _TORCH_MODULE})


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


def _plain_container(node: cst.BaseExpression) -> bool:
    """A literal container, or ``list()``/``dict()``/``tuple()``."""
    return _container_kind(node) is not None or (
        isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
        and node.func.value in ("list", "dict", "tuple"))


def _container_kind(node: cst.BaseExpression) -> str | None:
    if isinstance(node, (cst.List, cst.ListComp)):
        return "list"
    if isinstance(node, cst.Tuple):
        return "tuple"
    if isinstance(node, (cst.Dict, cst.DictComp)):
        return "dict"
    return None


def _layers_in(walker: _Walker, node: cst.BaseExpression, mod: PythonModule) -> list[str]:
    """Layers constructed by the elements of a literal container or comprehension."""
    if isinstance(node, cst.Call):
        op = walker.constructs_layer(node, mod)
        return [op] if op else []
    if isinstance(node, (cst.List, cst.Tuple)):
        return [op for e in node.elements if not isinstance(e, cst.StarredElement)
                for op in _layers_in(walker, e.value, mod)]
    if isinstance(node, (cst.ListComp, cst.GeneratorExp)):
        return _layers_in(walker, node.elt, mod)
    if isinstance(node, cst.Dict):
        return [op for e in node.elements if isinstance(e, cst.DictElement)
                for op in _layers_in(walker, e.value, mod)]
    if isinstance(node, cst.DictComp):
        return _layers_in(walker, node.value, mod)
    return []


# --------------------------------------------------------------------------- entry
def build_graphs(mod: PythonModule, project: Project) -> list[LayerGraph]:
    """One graph with no layers whose ``code`` holds the file's routines."""
    walker = _Walker(project)
    routines: list[Routine] = []
    top = [s for s in mod.module.body if not isinstance(s, (cst.ClassDef, cst.FunctionDef))]
    try:
        if walker.text_may_act(_statements_text(mod, top), mod, None, None):
            routines.append(walker.routine("<module>", RoutineKind.MODULE, mod.module, top,
                                           _Scope(mod)))
        for node in mod.definitions.values():
            if isinstance(node, cst.FunctionDef):
                if walker.may_act(node, mod, None, None):
                    routines.append(walker.routine(node.name.value, RoutineKind.FUNCTION,
                                                   node, list(node.body.body), _Scope(mod)))
            elif isinstance(node, cst.ClassDef):
                routines.extend(_class_routines(walker, node, mod))
    except RecursionError:
        return []
    # a routine with nothing but calls not followed says nothing about training
    routines = [r for r in routines if any(e.act is not Act.OPAQUE_CALL for e in r.events())]
    if not routines:
        return []
    return [LayerGraph(name=f"{mod.display} (training code)", path=mod.display, layers=(),
                       edges=(), frontend=FRONTEND, code=tuple(routines))]


def _class_routines(walker: _Walker, cls: cst.ClassDef, mod: PythonModule) -> Iterator[Routine]:
    is_layer = walker.is_layer_class(cls, mod)
    kind = RoutineKind.LAYER_METHOD if is_layer else RoutineKind.METHOD
    containers = tuple(_plain_containers(walker, cls, mod))
    for stmt in cls.body.body:
        if not isinstance(stmt, cst.FunctionDef):
            continue
        params = stmt.params.params
        decorators = {walker_name(d.decorator) for d in stmt.decorators}
        self_name = params[0].name.value if params and not (
            decorators & {"staticmethod", "classmethod"}) else None
        name = stmt.name.value
        if not walker.may_act(stmt, mod, cls if self_name else None, mod) and not (
                name == "__init__" and containers):
            continue  # opaque calls at most: dropped by ``build_graphs``
        scope = _Scope(mod, cls, mod, self_name, recording=name == "train_step" and any(
            n.startswith("keras.") for n in walker.base_names(cls, mod)))
        routine = walker.routine(f"{cls.name.value}.{name}", kind, stmt, list(stmt.body.body),
                                 scope, hook=name in ("training_step", "train_step"))
        if name == "__init__" and containers:
            routine = replace(routine, body=(*routine.body, *containers))
            containers = ()
        yield routine
    if containers:  # no __init__: the containers are set elsewhere in the class
        yield Routine(f"{cls.name.value}", kind, mod.location(cls), containers)


def _after_docstring(func: cst.FunctionDef, mod: PythonModule, first: int) -> int:
    """The first line of ``func`` after its docstring (whose examples often call
    ``model.eval()``), else ``first``."""
    body = func.body.body
    if isinstance(func.body, cst.IndentedBlock) and body and isinstance(
            body[0], cst.SimpleStatementLine) and len(body[0].body) == 1 and isinstance(
            body[0].body[0], cst.Expr) and isinstance(
            body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
        span = mod.statement_span(body[0])
        if span is not None:
            return span[2] + 1
    return first


def _statements_text(mod: PythonModule, body: Iterable[cst.CSTNode]) -> str:
    """The source lines of top-level statements (all of the file if one is not found)."""
    parts = []
    for stmt in body:
        span = mod.statement_span(stmt)
        if span is None:
            return mod.text
        parts.append("\n".join(mod.lines[span[0] - 1:span[2]]))
    return "\n".join(parts)


def walker_name(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Call):
        node = node.func
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return node.value if isinstance(node, cst.Name) else ""

