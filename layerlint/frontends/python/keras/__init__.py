"""Keras / tf.keras source -> layer graphs.

The four ways Keras models are written all lower to the same graph: ``Sequential([...])``
and ``model.add(...)`` chains, the functional API (helper block functions are inlined
where called), and subclassed ``Layer``/``Model`` (``__init__`` binds layers, ``call``
applies them). Each scope of a file is analysed with a graph of its own: module-level
code, each Keras class, each function the file does not call itself (one it calls is
analysed where it is called, with its real arguments), and the methods of other classes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import libcst as cst

from layerlint.frontends import Project
from layerlint.frontends.python.interpreter import Frame
from layerlint.frontends.python.keras.semantics import KerasInterpreter, output_heads
from layerlint.frontends.python.source import PythonModule
from layerlint.frontends.python.values import (
    ClassRef,
    Function,
    Instance,
    Value,
    merge,
)
from layerlint.ir import GraphBuilder, Kind, LayerGraph, Role

__all__ = ["MARKER", "build_graphs"]

MARKER = b"keras"
_CALLED_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*\(")


def build_graphs(module: PythonModule, project: Project) -> list[LayerGraph]:
    """Every model, subclassed layer and block function of a Keras source file."""
    interpreter = KerasInterpreter(project)
    called = Counter(_CALLED_NAME.findall(module.text))

    def scope(name: str, body: Callable[[Frame], Value | None], role: Role) -> None:
        """Interpret ``body`` with a fresh builder and emit what it built."""
        builder = GraphBuilder(name, module.display, interpreter.frontend, interpreter.typer)
        frame = Frame(module, {}, builder=builder)
        interpreter.sequentials, interpreter.functional_outputs = [], 0
        result = interpreter.analyse(name, lambda: body(frame))
        builder.notes.extend(interpreter.notes)
        for seq in interpreter.sequentials:
            if not seq.consumed:
                # a model a builder function returns may be a block of a bigger one
                interpreter.emit_sequential(seq, frame, Role.UNKNOWN if (
                    seq is result and role is Role.BLOCK and not seq.compiled) else Role.MODEL)
        built = any(layer.kind is not Kind.INPUT for layer in builder.layers)
        if built and not interpreter.functional_outputs:
            outputs = output_heads(result)
            interpreter.graphs.append(interpreter.graph(
                builder, name, outputs, role if outputs else Role.UNKNOWN, subset=False))
        elif builder.notes and not built:
            interpreter.graphs.append(interpreter.graph(builder, name, (), Role.UNKNOWN,
                                                        subset=False))

    def module_code(frame: Frame) -> None:
        interpreter.run_body(module.module.body, frame)
        return None

    def function(node: cst.FunctionDef, bound: Instance | None = None,
                 cls: ClassRef | None = None) -> Callable[[Frame], Value | None]:
        def run(frame: Frame) -> Value | None:
            func = Function(node, module, bound, cls)
            frame.env = interpreter.bind_parameters(func, [], {}, configurable=True)
            frame.self_, frame.cls = bound, cls
            interpreter.stack.append(node)
            try:
                interpreter.run_body(node.body.body, frame)
            finally:
                interpreter.stack.pop()
            result = None
            for value in frame.returns:
                result = value if result is None else merge(result, value)
            return result
        return run

    def keras_class(ref: ClassRef) -> Callable[[Frame], Value | None]:
        def run(frame: Frame) -> Value | None:
            instance = interpreter.instantiate(ref, [], {}, frame.child(stmt=ref.node),
                                               configurable=True)
            if not isinstance(instance, Instance):
                return None
            return interpreter.apply_as_self(instance, frame)
        return run

    scope(module.display, module_code, Role.MODEL)
    for name, node in module.definitions.items():
        if isinstance(node, cst.ClassDef):
            ref = ClassRef(node, module)
            role = interpreter.keras_role(ref)
            if role is not None:
                scope(name, keras_class(ref), role)
            elif isinstance(node.body, cst.IndentedBlock):
                # methods of a class that is not a Keras layer, each on its own: an agent's
                # ``_build_model(self)`` or a builder's ``block(self, x)`` use the Keras API
                instance = Instance(ref)
                for stmt in node.body.body:
                    if isinstance(stmt, cst.FunctionDef) and stmt.name.value != "__init__":
                        scope(f"{name}.{stmt.name.value}", function(stmt, instance, ref),
                              Role.BLOCK)
        elif isinstance(node, cst.FunctionDef) and called[name] <= 1:
            scope(name, function(node), Role.BLOCK)
    return interpreter.graphs

