"""PyTorch source -> layer graphs: which things in a file are models, and its training code.

One graph per model-like thing: each ``nn.Module`` class (instantiated with its
defaults), each Sequential or model instance bound by module-level or function code,
and each piece of training code that applies a model and a loss.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst

from layerlint.frontends import Project
from layerlint.frontends.python.interpreter import Frame
from layerlint.frontends.python.source import PythonModule
from layerlint.frontends.python.torch.semantics import TorchInterpreter, is_evaluation
from layerlint.frontends.python.values import (
    UNKNOWN,
    ClassRef,
    Function,
    Instance,
    Module,
    Seq,
    Tensor,
    Value,
    union,
)
from layerlint.ir import GraphBuilder, Kind, Layer, LayerGraph, Location, OpInfo, Role, Unresolved
from layerlint.ir.kinds import VOCABULARY

__all__ = ["MARKER", "build_graphs"]

MARKER = b"torch"  # a file that never mentions it is not read by this plugin
_INPUT = OpInfo(Kind.INPUT)
_CLASS_COUNT = re.compile(r"class|label", re.IGNORECASE)
_MODEL_NAME = re.compile(r"(Net|Model|Classifier|Network|Regressor)\d*$")
# Short names of the torch losses: a file that mentions none has no training code.
_LOSS_NAMES = tuple(sorted({
    name.rsplit(".", 1)[-1] for name, info in VOCABULARY.items()
    if info.kind is Kind.LOSS and name.startswith("torch.")
}))
_TRAINING_RANGE = 2  # ``for epoch in range(100)``: two passes show what one step does


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


def _is_model_value(interpreter: TorchInterpreter, value: Value) -> bool:
    return isinstance(value, Seq) or (isinstance(value, Instance) and not value.open
                                      and interpreter.is_module_class(value.cls))


def build_graphs(mod: PythonModule, project: Project) -> list[LayerGraph]:
    interpreter = TorchInterpreter(project)
    pending: list[tuple[GraphBuilder, tuple[Layer, ...], cst.ClassDef | None, Role]] = []

    def model_graph(name: str, module: Value, role: Role, cls: cst.ClassDef | None,
                    root: str) -> None:
        if isinstance(module, Module) and module.relpath is None and not isinstance(
                module, Instance):
            interpreter.name_module(module, "", root)
            module.relpath = None  # the root itself has no path
        builder = GraphBuilder(name, mod.display, interpreter.frontend, interpreter.typer)
        start = builder.add("input", "input", Location(mod.display, 1, 1), info=_INPUT)
        saved = interpreter.steps, interpreter.notes
        result = interpreter.analyse(
            name, lambda: _run_model(interpreter, module, builder, start, mod))
        builder.notes.extend(interpreter.notes)
        interpreter.steps, interpreter.notes = saved
        pending.append((builder, tuple(result.frontier) if result else (), cls, role))

    # 1. every nn.Module class, instantiated with its defaults
    classes = [node for node in mod.definitions.values() if isinstance(node, cst.ClassDef)]
    for node in classes:
        ref = ClassRef(node, mod)
        if not interpreter.is_module_class(ref):
            continue
        instance = interpreter.analyse(node.name.value, lambda ref=ref: interpreter.instantiate(
            ref, [], {}, Frame(mod, {}), configurable=True))
        if isinstance(instance, Instance):
            model_graph(node.name.value, instance, Role.UNKNOWN, node, "self")

    # 2. Sequentials and model instances bound by plain code (module level, functions)
    def discovered(role: Role) -> Callable[[str, Value], None]:
        def on_bind(name: str, value: Value) -> None:
            if _is_model_value(interpreter, value):
                model_graph(name, value, role, None, name)
        return on_bind

    def builder_function(node: cst.FunctionDef) -> None:
        func = Function(node, mod)
        frame = Frame(mod, interpreter.bind_parameters(func, [], {}, configurable=True),
                      on_bind=discovered(Role.MODEL))
        interpreter.stack.append(node)
        try:
            interpreter.run_body(node.body.body, frame)
        finally:
            interpreter.stack.pop()
        for value in frame.returns:
            if _is_model_value(interpreter, value):
                model_graph(node.name.value, value, Role.UNKNOWN, None, node.name.value + "()")

    # plain code: the module's statements, then each function that may build a model,
    # each on a budget of its own
    plain_notes: list[str] = []
    body = [s for s in mod.module.body if not isinstance(s, (cst.ClassDef, cst.FunctionDef))]
    top = Frame(mod, {}, on_bind=discovered(Role.MODEL))
    interpreter.analyse("<module>", lambda: interpreter.run_body(body, top))
    plain_notes.extend(interpreter.notes)
    for node in mod.definitions.values():
        if isinstance(node, cst.FunctionDef) and _may_build_models(mod, node, classes):
            interpreter.analyse(node.name.value, lambda node=node: builder_function(node))
            plain_notes.extend(interpreter.notes)
    if plain_notes:  # a limit hit in plain code: say so, on a graph of its own
        notes = GraphBuilder("<module>", mod.display, interpreter.frontend,
                             interpreter.typer)
        notes.notes.extend(dict.fromkeys(plain_notes))
        pending.append((notes, (), None, Role.UNKNOWN))
    training = _training_graphs(mod, interpreter, classes)
    helpers = _helper_graphs(mod, interpreter, classes)

    graphs = []
    for builder, outputs, cls, role in pending:
        if cls is not None:
            # a class nested in another module or container is a block, even when plain
            # code builds it (``def make_block(d): return nn.Sequential(Proj(d), ...)``)
            if cls in interpreter.submodule_classes:
                role = Role.BLOCK
            elif cls in interpreter.top_level_classes:
                role = Role.MODEL
            elif _MODEL_NAME.search(cls.name.value) or _has_class_scores(builder.layers):
                role = Role.MODEL
        graphs.append(builder.build(outputs, role))
    # the helpers last: where a model or training code reaches the same call, the
    # engine keeps that graph's finding (one per code and location)
    return graphs + training + helpers


def _run_model(interpreter: TorchInterpreter, module: Value, builder: GraphBuilder,
               start: Layer, mod: PythonModule) -> Tensor | None:
    frame = Frame(mod, {}, builder=builder)
    if isinstance(module, Instance):
        forward = interpreter.find_method(module.cls, "forward")
        if forward is not None:
            env = interpreter.bind_parameters(
                Function(forward[0], forward[1].mod, module, forward[1]), [], {})
            # each tensor argument is an input of its own (``forward(self, a, b)``: a
            # module applied to ``a`` and to ``b`` sees two inputs, not one)
            first = True
            for key, value in env.items():
                if value is UNKNOWN:
                    source = start if first else builder.add(
                        "input", key, Location(mod.display, 1, 1), info=_INPUT)
                    env[key], first = Tensor(frozenset({source})), False
            local = Frame(forward[1].mod, env, self_=module, cls=forward[1], builder=builder)
            interpreter.stack.append(module.cls.node)
            try:
                interpreter.run_body(forward[0].body.body, local)
            finally:
                interpreter.stack.pop()
            return union(local.returns)
        return union([interpreter.apply(module, Tensor(frozenset({start})), module.cls.node,
                                        frame)])
    return union([interpreter.apply(module, Tensor(frozenset({start})), None, frame)])


def _training_graphs(mod: PythonModule, interpreter: TorchInterpreter,
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
    spent = 0  # steps of all the file's training code: a budget shared by its routines
    skipped: list[str] = []

    def run(name: str, body: list[cst.CSTNode], env: dict[str, Value],
            self_: Instance | None = None, cls: ClassRef | None = None,
            node: cst.CSTNode | None = None) -> None:
        nonlocal spent
        if spent > interpreter.limits.training_steps:
            skipped.append(name)
            return
        builder = GraphBuilder(f"{name} (training code)", mod.display, interpreter.frontend,
                               interpreter.typer)
        frame = Frame(mod, env, self_=self_, cls=cls, builder=builder)
        interpreter.eval_mode, interpreter.grad_off = False, 0
        interpreter.range_limit, interpreter.training_code = _TRAINING_RANGE, True
        if node is not None:
            interpreter.stack.append(node)
        try:
            interpreter.analyse(name, lambda: interpreter.run_body(body, frame))
            builder.notes.extend(interpreter.notes)
            spent += interpreter.steps
        finally:
            interpreter.range_limit = interpreter.limits.unroll
            interpreter.training_code = False
            interpreter.eval_mode, interpreter.grad_off = False, 0
            if node is not None:
                interpreter.stack.pop()
        if any(layer.kind is Kind.LOSS for layer in builder.layers):
            graphs.append(builder.build((), Role.UNKNOWN))

    def parameters(func: Function) -> dict[str, Value]:
        """Parameters left unknown, but a parameter annotated with a model class
        (``def step(model: Net, x, y)``) is that model."""
        env = interpreter.bind_parameters(func, [], {})
        params = func.node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            name = param.name.value
            if env.get(name) is UNKNOWN and param.annotation is not None:
                cls = interpreter.eval(param.annotation.annotation, Frame(func.mod, {}))
                if isinstance(cls, ClassRef) and interpreter.is_module_class(cls):
                    env[name] = interpreter.analyse(name, lambda cls=cls: interpreter.instantiate(
                        cls, [], {}, Frame(func.mod, {}), configurable=True)) or UNKNOWN
        return env

    top = [s for s in mod.module.body if not isinstance(s, (cst.ClassDef, cst.FunctionDef))]
    run("<module>", top, {})
    for node in mod.definitions.values():
        if isinstance(node, cst.FunctionDef) and not is_evaluation(node, mod):
            run(node.name.value, list(node.body.body), parameters(Function(node, mod)),
                node=node)
    for cls_node in classes:
        if not isinstance(cls_node.body, cst.IndentedBlock):
            continue
        methods = [stmt for stmt in cls_node.body.body if isinstance(stmt, cst.FunctionDef)
                   and stmt.name.value not in ("__init__", "forward")
                   and not is_evaluation(stmt, mod)]
        if not methods:
            continue
        ref = ClassRef(cls_node, mod)
        # a trainer built by the file's own code holds the real model (``Trainer(net)``)
        instance = next(iter(interpreter.constructed.get(cls_node, ())), None) or \
            interpreter.analyse(cls_node.name.value, lambda ref=ref: interpreter.instantiate(
                ref, [], {}, Frame(mod, {}), configurable=True))
        if not isinstance(instance, Instance):
            continue
        for method in methods:
            run(f"{cls_node.name.value}.{method.name.value}", list(method.body.body),
                parameters(Function(method, mod, instance, ref)), self_=instance, cls=ref,
                node=method)
    if skipped:
        builder = GraphBuilder("training code", mod.display, interpreter.frontend)
        shown = ", ".join(f"`{name}`" for name in skipped[:3])
        builder.notes.append(
            f"training code too large to analyse in full: {len(skipped)} functions not "
            f"analysed ({shown}{', …' if len(skipped) > 3 else ''})")
        graphs.append(builder.build((), Role.UNKNOWN))
    return graphs


# Functions whose text has one of these may apply a squashing function that the rules
# about how one is called (LL208's implicit axis, LL209's log of it) look at.
_SQUASH_NAMES = re.compile(r"softmax|sigmoid", re.IGNORECASE)


def _helper_graphs(mod: PythonModule, interpreter: TorchInterpreter,
                   classes: list[cst.ClassDef]) -> list[LayerGraph]:
    """Graphs of helper functions and methods that apply a softmax or sigmoid on their
    own arguments (``def predict(self, x): return F.softmax(self(x))``, a hand-written
    ``loss_fn(logits, y)``), whether or not a model or training code calls them.

    Each tensor parameter is an input; ``self`` is the class instantiated with its
    defaults. Only graphs with a softmax or sigmoid are kept. What they apply is not a
    forward pass of the model (no ``Layer.instance``), their losses are not training
    losses (none is added), and they have no outputs, so the rules about a model's
    prediction or its training loss do not read them as one.
    """
    if not _SQUASH_NAMES.search(mod.text):
        return []
    graphs: list[LayerGraph] = []

    def mentions_squash(node: cst.FunctionDef) -> bool:
        span = mod.statement_span(node)
        text = "\n".join(mod.lines[span[0] - 1:span[2]]) if span else mod.code(node)
        return bool(_SQUASH_NAMES.search(text))

    def run(name: str, func: Function, self_: Instance | None, cls: ClassRef | None) -> None:
        builder = GraphBuilder(f"{name} (helper)", mod.display, interpreter.frontend,
                               interpreter.typer)
        env = interpreter.bind_parameters(func, [], {})
        for key, value in env.items():
            if value is UNKNOWN:
                env[key] = Tensor(frozenset({builder.add(
                    "input", key, Location(mod.display, 1, 1), info=_INPUT)}))
        frame = Frame(mod, env, self_=self_, cls=cls, builder=builder)
        interpreter.stack.append(func.node)
        # not a forward pass (no Layer.instance), and its losses are not training losses:
        # training code is read on its own, validation steps are not
        interpreter.speculative += 1
        interpreter.grad_off += 1
        try:
            interpreter.analyse(name, lambda: interpreter.run_body(func.node.body.body, frame))
        finally:
            interpreter.grad_off -= 1
            interpreter.speculative -= 1
            interpreter.stack.pop()
        squashes = {layer.id for layer in builder.layers
                    if layer.kind is Kind.SOFTMAX or layer.info.activation == "sigmoid"}
        if squashes:
            # only the squashing calls and what takes their output: a helper is often
            # plain math (timm's Mish backward, tanh(softplus(x))), not layers in a
            # network, and the architecture rules must not read it as one
            keep = squashes | {dst for src, dst in builder.edges if src in squashes}
            graphs.append(LayerGraph(
                name=builder.name, path=builder.path,
                layers=tuple(lay for lay in builder.layers if lay.id in keep),
                edges=tuple((a, b) for a, b in builder.edges if a in keep and b in keep),
                outputs=(), role=Role.UNKNOWN, frontend=builder.frontend,
                notes=tuple(builder.notes)))

    for node in mod.definitions.values():
        if isinstance(node, cst.FunctionDef) and mentions_squash(node):
            run(node.name.value, Function(node, mod), None, None)
    for cls_node in classes:
        if not isinstance(cls_node.body, cst.IndentedBlock):
            continue
        methods = [stmt for stmt in cls_node.body.body if isinstance(stmt, cst.FunctionDef)
                   and stmt.name.value not in ("__init__", "forward")
                   and mentions_squash(stmt)]
        if not methods:
            continue
        ref = ClassRef(cls_node, mod)
        instance = interpreter.analyse(cls_node.name.value, lambda ref=ref: interpreter.instantiate(
            ref, [], {}, Frame(mod, {}), configurable=True))
        for method in methods:
            if _is_static(method):
                run(f"{cls_node.name.value}.{method.name.value}", Function(method, mod),
                    None, None)
            elif isinstance(instance, Instance):
                run(f"{cls_node.name.value}.{method.name.value}",
                    Function(method, mod, instance, ref), instance, ref)
    return graphs


def _is_static(func: cst.FunctionDef) -> bool:
    return any(isinstance(d.decorator, cst.Name) and d.decorator.value == "staticmethod"
               for d in func.decorators)
