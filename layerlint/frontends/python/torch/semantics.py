"""PyTorch semantics over the shared interpreter: ``nn.Module`` classes, ``nn.Sequential``,
``ModuleList``/``ModuleDict``, functional and tensor-method forms, losses in training code.
"""

from __future__ import annotations

import re

import libcst as cst

from layerlint.frontends import Project
from layerlint.frontends.attributes import pytorch_attrs
from layerlint.frontends.python.interpreter import Frame, Interpreter, Limits
from layerlint.frontends.python.signatures import positional_parameters
from layerlint.frontends.python.source import PythonModule
from layerlint.frontends.python.values import (
    UNKNOWN,
    ClassRef,
    Const,
    Function,
    Instance,
    LayerSpec,
    ListValue,
    ModList,
    OpaqueModule,
    Seq,
    Tensor,
    Value,
    is_module,
    union,
)
from layerlint.ir import Kind, OpInfo, Unresolved
from layerlint.ir.kinds import VOCABULARY

__all__ = ["GRAD_OFF", "TorchInterpreter", "disables_grad", "is_evaluation", "kind_of"]

_INPUT = OpInfo(Kind.INPUT)

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
GRAD_OFF = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
                      "torch.autograd.grad_mode.no_grad"})
# Functions whose losses are evaluation metrics, not training losses.
_EVALUATION = re.compile(
    r"(^|_)(predict|prediction|inference|infer|eval|evaluate|evaluation|validate|validation|"
    r"val|valid|test|metrics?)(_|$)", re.I)
_SCALAR_METHODS = frozenset(
    "size dim numel item tolist shape ndimension get_device nelement element_size "
    "data_ptr is_contiguous stride __len__ numpy cpu_count".split()
)


# Names a snippet uses without importing them, which can only mean one thing.
_IMPLICIT = {"nn": "torch.nn", "F": "torch.nn.functional", "torch": "torch"}


def kind_of(op: str) -> Kind:
    return VOCABULARY.get(op, _INPUT).kind


class TorchInterpreter(Interpreter):
    frontend = "pytorch"
    typer = staticmethod(pytorch_attrs)
    external_prefixes = ("torch", "keras")
    apply_method = "forward"
    identity_op = "torch.nn.Identity"

    def __init__(self, project: Project, limits: Limits | None = None) -> None:
        super().__init__(project, limits)
        self.submodule_classes: set[cst.ClassDef] = set()  # classes used inside a module
        # instances the file's plain code builds with arguments, by class
        self.constructed: dict[cst.ClassDef, list[Instance]] = {}
        self.top_level_classes: set[cst.ClassDef] = set()  # instantiated by plain code
        # Training code: a loss is only a training loss outside ``torch.no_grad()``
        # blocks, evaluation functions and ``model.eval()``.
        self.grad_off = 0
        self.eval_mode = False

    def losses_active(self) -> bool:
        return not self.grad_off and not self.eval_mode

    # -- classes ------------------------------------------------------------------------
    def is_sequential_class(self, cls: ClassRef) -> bool:
        return "torch.nn.Sequential" in self.external_bases(cls)

    def is_module_class(self, cls: ClassRef) -> bool:
        for ancestor in self.ancestors(cls):
            if isinstance(ancestor.node.body, cst.IndentedBlock) and any(
                    isinstance(s, cst.FunctionDef) and s.name.value == "forward"
                    for s in ancestor.node.body.body):
                return True
        return any(name.startswith("torch.nn.") for name in self.external_bases(cls))

    def construct(self, cls: ClassRef, args: list[Value], kwargs: dict[str, Value],
                  node: cst.Call, frame: Frame) -> Value:
        inside_module = any(isinstance(n, cst.ClassDef) for n in self.stack)
        if frame.builder is None:
            (self.submodule_classes if inside_module else self.top_level_classes).add(cls.node)
        instance = self.instantiate(cls, args, kwargs, frame, node=node)
        if not inside_module and isinstance(instance, Instance) and not instance.open:
            self.constructed.setdefault(cls.node, []).append(instance)
        return instance

    def consume(self, value: Value) -> None:
        super().consume(value)
        self.nested(value)

    def nested(self, value: Value) -> None:
        """Instances inside a container are parts of a bigger model."""
        for item in self.flatten([value]):
            if isinstance(item, Instance):
                self.submodule_classes.add(item.cls.node)

    def set_attr(self, instance: Instance, name: str, value: Value, frame: Frame) -> None:
        super().set_attr(instance, name, value, frame)
        if self.is_module_class(instance.cls):
            self.nested(value)

    def framework_super(self, instance: Instance, method: str, args: list[Value],
                        kwargs: dict[str, Value], node: cst.Call, frame: Frame) -> Value:
        if method == "__init__" and instance.seq_items is not None:
            items = args
            names = [str(i) for i in range(len(items))]
            if len(args) == 1 and isinstance(args[0], ListValue) and args[0].names is not None:
                items, names = args[0].items, args[0].names
            instance.seq_items.items.extend(items)
            instance.seq_items.names.extend(names)
            for name, item in zip(names, items):
                self.name_module(item, name)
            return Const(None)
        if method == "forward" and instance.seq_items is not None and args:
            return self.apply(instance.seq_items, args[0], node, frame)
        return UNKNOWN

    # -- statements -----------------------------------------------------------------------
    def with_statement(self, stmt: cst.With, frame: Frame) -> None:
        grad_off = any(disables_grad(item.item, frame.mod) for item in stmt.items)
        self.grad_off += grad_off
        try:
            super().with_statement(stmt, frame)
        finally:
            self.grad_off -= grad_off

    def entering_function(self, func: Function, caller: Frame):  # noqa: ANN201
        return _GradOff(self, caller.builder is not None and is_evaluation(func.node, func.mod))

    def on_name_bound(self, name: str, value: Value, frame: Frame) -> None:
        """A loss module bound to a plain name (``criterion = nn.CrossEntropyLoss()``) is
        labelled by it."""
        if isinstance(value, LayerSpec) and value.label is None and kind_of(value.op) is Kind.LOSS:
            value.label = name

    # -- calls ----------------------------------------------------------------------------
    def implicit_name(self, name: str) -> str | None:
        return _IMPLICIT.get(name)

    def knows_name(self, qualified: str) -> bool:
        return qualified in VOCABULARY or qualified.startswith("torch.nn.")

    def call_framework(self, name: str, args: list[Value], kwargs: dict[str, Value],
                       node: cst.Call, frame: Frame) -> Value | None:
        short = name.rsplit(".", 1)[-1]
        if name == "torch.nn.Sequential":
            if len(args) == 1 and isinstance(args[0], ListValue) and args[0].names is not None:
                seq = Seq(list(args[0].items), list(args[0].names), frame.condition)
            else:
                seq = Seq(list(args), [str(i) for i in range(len(args))], frame.condition)
            self.consume(ListValue(seq.items))
            return seq
        if name in ("torch.nn.ModuleList", "torch.nn.ModuleDict"):
            source = args[0] if args else ListValue([])
            items = self.iterate(source) if not isinstance(source, ListValue) else source.items
            names = source.names if isinstance(source, ListValue) and source.names else [
                str(i) for i in range(len(items))]
            self.nested(ListValue(list(items)))
            return ModList(list(items), list(names))
        if name in _MODULE_WRAPPERS and args and is_module(args[0]):
            return args[0]
        if name in VOCABULARY or (name.startswith("torch.nn.") and short[:1].isupper()):
            if short[:1].isupper():
                return self.layer_spec(name, args, kwargs, node, frame)
            return self.functional(name, frame.mod.code(node.func), node, args, kwargs, frame)
        return None

    def call_external(self, name: str, args: list[Value], kwargs: dict[str, Value],
                      node: cst.Call, frame: Frame) -> Value:
        if union([*args, *kwargs.values()]) is not None:
            return super().call_external(name, args, kwargs, node, frame)
        if name.startswith(("torch.", "numpy.", "math.", "typing.", "keras.")):
            return UNKNOWN
        # An unresolvable class or factory (a third-party block): opaque when applied.
        return OpaqueModule(frame.mod.code(node)[:60], frame.mod.location(node, frame.stmt))

    def framework_method(self, owner: Value, method: str, args: list[Value],
                         kwargs: dict[str, Value], node: cst.Call, frame: Frame
                         ) -> Value | None:
        if isinstance(owner, Tensor):
            op = f"torch.Tensor.{method}"
            if op not in VOCABULARY and method in _SCALAR_METHODS:
                return UNKNOWN
            return self.functional(op, f".{method}()", node, [owner, *args], kwargs, frame)
        if owner is UNKNOWN and self.training_code and frame.builder is not None and \
                kind_of(f"torch.Tensor.{method}") in (Kind.SOFTMAX, Kind.ACTIVATION):
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
            if is_module(owner):
                return owner
        return None

    def tensor_binary(self, left: Tensor, right: Tensor, operator: cst.CSTNode,
                      node: cst.CSTNode, frame: Frame) -> Value:
        if isinstance(operator, (cst.Add, cst.AddAssign, cst.Subtract, cst.SubtractAssign)):
            op = "torch.add"
        elif isinstance(operator, (cst.MatrixMultiply, cst.MatrixMultiplyAssign)):
            op = "torch.matmul"
        else:
            op = "torch.mul"
        return self.functional(op, frame.mod.code(node).split("\n")[0][:40], node,
                               [left, right], {}, frame)

    # -- layers ---------------------------------------------------------------------------
    def layer_attributes(self, op: str, args: list[Value], kwargs: dict[str, Value],
                         node: cst.Call, frame: Frame) -> dict[str, object]:
        attrs = self.attributes(positional_parameters(op), args, kwargs, node, frame)
        attrs.pop("input", None)
        return attrs

    def layer_spec(self, op: str, args: list[Value], kwargs: dict[str, Value],
                   node: cst.Call, frame: Frame) -> LayerSpec:
        attrs = self.layer_attributes(op, args, kwargs, node, frame)
        condition = frame.condition
        rate = attrs.get("p")
        if isinstance(rate, Unresolved) and rate.text in frame.zero_defaults:
            # ``nn.Dropout(attn_drop)`` with ``attn_drop=0.`` by default: present only when
            # someone sets it, which the message should say.
            condition = condition & f"{rate.text} > 0"
        return LayerSpec(op, attrs, frame.mod.location(node, frame.stmt),
                         f"{frame.mod.code(node.func)}(...)", condition)

    def functional(self, op: str, label: str, node: cst.CSTNode, args: list[Value],
                   kwargs: dict[str, Value], frame: Frame) -> Value:
        if kind_of(op) is Kind.LOSS:
            # only the input is an edge: a softmax *target* (distillation) is fine
            inputs = [args[0] if args else kwargs.get("input", UNKNOWN)]
            if frame.builder is None or not self.losses_active():
                return UNKNOWN
        else:
            inputs = [*args, *kwargs.values()]
        if frame.builder is None:
            tensor = union(inputs)
            return UNKNOWN if tensor is None else tensor
        attrs = self.layer_attributes(op, args, kwargs, node, frame) if isinstance(
            node, cst.Call) else {}
        return self.add_layer(op, label, node, inputs, frame, attrs=attrs)

    def apply_spec(self, spec: LayerSpec, frontier, node, frame: Frame) -> Value:  # noqa: ANN001
        if kind_of(spec.op) is Kind.LOSS and not self.losses_active():
            return UNKNOWN
        return super().apply_spec(spec, frontier, node, frame)


class _GradOff:
    """Inside an evaluation function, losses are not training losses."""

    def __init__(self, interpreter: TorchInterpreter, active: bool) -> None:
        self.interpreter, self.active = interpreter, active

    def __enter__(self) -> None:
        self.interpreter.grad_off += self.active

    def __exit__(self, *exc: object) -> None:
        self.interpreter.grad_off -= self.active


def disables_grad(node: cst.BaseExpression, mod: PythonModule) -> bool:
    """``torch.no_grad()``, ``torch.inference_mode()``, ``torch.set_grad_enabled(False)``."""
    if not isinstance(node, cst.Call):
        return False
    name = mod.qualified(node.func)
    if name in GRAD_OFF:
        return True
    if name in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled") and node.args:
        value = node.args[0].value
        return isinstance(value, cst.Name) and value.value == "False"
    return False


def is_evaluation(func: cst.FunctionDef, mod: PythonModule) -> bool:
    """An evaluation function: by its name, or decorated with ``@torch.no_grad()``."""
    if _EVALUATION.search(func.name.value):
        return True
    for decorator in func.decorators:
        expr = decorator.decorator
        if mod.qualified(expr.func if isinstance(expr, cst.Call) else expr) in GRAD_OFF:
            return True
    return False

