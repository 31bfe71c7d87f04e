"""Keras semantics over the shared interpreter: ``Sequential`` and ``add``, the functional
API (``Input``, layers applied to tensors, ``Model(inputs, outputs)``), subclassed
``Layer``/``Model`` with ``call``, ``activation=`` lowered to a layer, and ``compile``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import replace

import libcst as cst

from layerlint.frontends import Project
from layerlint.frontends.attributes import keras_attrs
from layerlint.frontends.python.interpreter import (
    UNRESOLVED_MODULE,
    Frame,
    Interpreter,
    Limits,
    source_text,
)
from layerlint.frontends.python.signatures import positional_parameters
from layerlint.frontends.python.source import canonical, dotted_name
from layerlint.frontends.python.values import (
    UNKNOWN,
    Alternatives,
    ClassRef,
    Const,
    GraphModel,
    Instance,
    LayerSpec,
    ListValue,
    QualName,
    Seq,
    Tensor,
    Value,
    is_module,
    tensors_in,
    union,
)
from layerlint.ir import GraphBuilder, Kind, Layer, LayerGraph, Location, OpInfo, Role, Unresolved
from layerlint.ir.kinds import activation_op, lookup

__all__ = ["KerasInterpreter", "output_heads"]

_SEQUENTIAL = frozenset({"keras.Sequential", "keras.models.Sequential"})
_FUNCTIONAL = frozenset({
    "keras.Model", "keras.models.Model", "keras.models.Functional",
    "keras.models.functional.Functional", "keras.engine.functional.Functional",
    "keras.engine.training.Model",
})
_INPUT = frozenset({"keras.Input", "keras.layers.Input"})
_KNOWN = _SEQUENTIAL | _FUNCTIONAL | _INPUT
_ACTIVATION_MODULES = ("keras.activations.", "keras.ops.", "tensorflow.nn.",
                       "tensorflow.math.")
_NO_ACTIVATION = frozenset({"linear", "None", ""})
_LABEL_WIDTH = 48
_TIGHT = re.compile(r"(?<=[(\[{]) |\s(?=[)\]}])")
_TRAILING_COMMA = re.compile(r",\s*([)\]}])")
# Loss classes given to ``compile(loss=...)``: what their input is, with
# ``from_logits=True`` and without. A binary loss without it expects clipped
# probabilities: after a sigmoid that is the Keras idiom (the TensorFlow backend
# recovers the logits from the sigmoid op), not torch's BCELoss pitfall (LL203).
_LOSSES: dict[str, tuple[str, str]] = {
    "CategoricalCrossentropy": ("logits", "probs"),
    "SparseCategoricalCrossentropy": ("logits", "probs"),
    "CategoricalFocalCrossentropy": ("logits", "probs"),
    "BinaryCrossentropy": ("binary_logits", "binary_probs_clipped"),
    "BinaryFocalCrossentropy": ("binary_logits", "binary_probs_clipped"),
}
# ``compile(loss="...")`` names of those losses (never from logits).
_LOSS_NAMES = {name: cls for cls in _LOSSES for name in (
    cls, re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower())}


def short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _LABEL_WIDTH:
        return text
    return text[: _LABEL_WIDTH - 4].rstrip(", ") + ", …)" if "(" in text else text[:_LABEL_WIDTH]


class KerasInterpreter(Interpreter):
    frontend = "keras"
    typer = staticmethod(keras_attrs)
    external_prefixes = ("keras", "tensorflow", "tf_keras", "keras_core", "torch")
    apply_method = "call"
    identity_op = "keras.layers.Identity"
    model_op = "keras.Model"

    def __init__(self, project: Project, limits: Limits | None = None) -> None:
        super().__init__(project, limits)
        self.graphs: list[LayerGraph] = []
        self.sequentials: list[Seq] = []
        self.functional_outputs = 0
        self._texts: dict[int, str] = {}

    def opaque_op(self, text: str) -> str:
        return "<unresolved>"

    # -- source text ----------------------------------------------------------------------
    def text(self, frame: Frame, node: cst.CSTNode) -> str:
        """A node's source, on one line, tight inside brackets."""
        found = self._texts.get(id(node))
        if found is None:
            found = _TIGHT.sub("", _TRAILING_COMMA.sub(r"\1", source_text(frame.mod, node)))
            self._texts[id(node)] = found
        return found

    def label(self, node: cst.Call, frame: Frame) -> tuple[str, bool]:
        """How messages name a layer: its ``name=`` (an f-string without its quotes), else
        its constructor, shortened at an argument (``Conv2D(64, 3, padding="same", …)``).
        The flag says whether it is a name."""
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "name":
                value = arg.value
                if type(value) is cst.SimpleString:
                    text = self.eval(value, frame)
                    if isinstance(text, Const) and isinstance(text.value, str):
                        return text.value, True
                if type(value) is cst.FormattedString:
                    return "".join(self.text(frame, part) for part in value.parts), True
        func = dotted_name(node.func).rsplit(".", 1)[-1] or self.text(frame, node.func)
        parts: list[str] = []
        width = len(func) + 2
        for arg in node.args:
            text = self.text(frame, arg.value)
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

    # -- naming ---------------------------------------------------------------------------
    def on_name_bound(self, name: str, value: Value, frame: Frame) -> None:
        _name(value, name)

    def name_module(self, value: Value, relpath: str, root: str = "self",
                    seen: set[int] | None = None) -> None:
        if "." not in relpath and relpath:
            _name(value, f"self.{relpath}")

    def module_path(self, spec: LayerSpec, frame: Frame) -> str | None:
        return spec.label if spec.named else None

    def instance_label_root(self, module: Instance, frame: Frame) -> str:
        return module.label or "self"

    def instance_attr(self, instance: Instance, name: str, frame: Frame) -> Value:
        value = super().instance_attr(instance, name, frame)
        root = frame.label_root
        if root == "self" or instance is not frame.self_:
            return value
        # ``self.bn`` of an instance bound to ``self.block1`` is ``self.block1.bn``
        if isinstance(value, (LayerSpec, Instance)) and value.label and \
                value.label.startswith("self.") and (value.named or isinstance(value, Instance)):
            copy = replace(value)
            copy.label, copy.named, copy.relpath = root + value.label[4:], value.named, \
                value.relpath
            return copy
        return value

    # -- classes ----------------------------------------------------------------------------
    def keras_role(self, cls: ClassRef) -> Role | None:
        """MODEL for Keras Model subclasses, BLOCK for layers, None for other classes."""
        names = self.external_bases(cls)
        lasts = {name.rsplit(".", 1)[-1] for name in names if name.startswith("keras.")}
        if lasts & {"Model", "Sequential"}:
            return Role.MODEL
        if "Layer" in lasts:
            return Role.BLOCK
        return None

    def init_builder(self, frame: Frame) -> GraphBuilder | None:
        return frame.builder  # functional subclasses apply layers in ``__init__``

    def binds_attribute(self, owner: Instance, frame: Frame) -> bool:
        return True

    def construct(self, cls: ClassRef, args: list[Value], kwargs: dict[str, Value],
                  node: cst.Call, frame: Frame) -> Value:
        instance = self.instantiate(cls, args, kwargs, frame, node=node)
        if isinstance(instance, Instance):
            instance.label = self.label(node, frame)[0]
            for value in instance.attrs.values():
                self.consume(value)
        return instance

    def framework_super(self, instance: Instance, method: str, args: list[Value],
                        kwargs: dict[str, Value], node: cst.Call, frame: Frame) -> Value:
        """``super().__init__(inputs=..., outputs=x)``: a functional model built in a
        subclass."""
        if method != "__init__" or frame.builder is None:
            return UNKNOWN
        outputs = kwargs.get("outputs", args[1] if len(args) > 1 else None)
        heads = output_heads(outputs)
        if heads:
            label = _name_kwarg(kwargs) or frame.builder.name
            self.graphs.append(self.graph(frame.builder, label, heads, Role.MODEL))
            self.functional_outputs += 1
        return Const(None)

    # -- calls ------------------------------------------------------------------------------
    def implicit_name(self, name: str) -> str | None:
        if name in ("keras", "layers", "Sequential", "Model", "Input"):
            return {"keras": "keras", "layers": "keras.layers"}.get(name, f"keras.{name}")
        candidate = f"keras.layers.{name}"
        return candidate if name[:1].isupper() and self.knows_name(candidate) else None

    def knows_name(self, qualified: str) -> bool:
        return qualified.startswith("keras.") and (
            lookup(qualified).kind is not Kind.OPAQUE or qualified in _KNOWN
            or bool(positional_parameters(qualified)))

    def call(self, func: Value, args: list[Value], kwargs: dict[str, Value], node: cst.Call,
             frame: Frame) -> Value:
        if is_module(func) and _forces_inference(node):
            frame = frame.child(inference=True)
        result = super().call(func, args, kwargs, node, frame)
        if result is UNKNOWN and isinstance(func, QualName) and \
                dotted_name(node.func).rsplit(".", 1)[-1][:1].isupper():
            # ``CustomLayer(3)`` from outside the project: a layer we cannot see into
            label, named = self.label(node, frame)
            spec = LayerSpec("<unresolved>", {UNRESOLVED_MODULE: label},
                             frame.mod.location(node, frame.stmt), label,
                             frame.condition, info=OpInfo(Kind.OPAQUE))
            spec.label, spec.named = label, named
            return spec
        return result

    def call_framework(self, name: str, args: list[Value], kwargs: dict[str, Value],
                       node: cst.Call, frame: Frame) -> Value | None:
        if name.startswith("tensorflow."):
            return self.function_op(name, args, kwargs, node, frame)
        if not name.startswith("keras."):
            return None
        location = frame.mod.location(node, frame.stmt)
        last = name.rsplit(".", 1)[-1]
        if name in _SEQUENTIAL:
            items = args[0] if args else kwargs.get("layers")
            label = _name_kwarg(kwargs)
            seq = Seq(list(items.items) if isinstance(items, ListValue) else [], [],
                      location=location)
            seq.label, seq.named = label or "Sequential", label is not None
            if items is not None and not isinstance(items, ListValue) and \
                    not (isinstance(items, Const) and items.value is None):
                seq.items.append(items)  # not followed: becomes an opaque layer
            self.consume(ListValue(seq.items))
            self.sequentials.append(seq)
            return seq
        if name in _FUNCTIONAL:
            outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
            if outputs is None or frame.builder is None:
                return UNKNOWN  # ``super().__init__`` style or a subclass: not a graph here
            label = _name_kwarg(kwargs) or frame.builder.name
            heads = output_heads(outputs)
            model = GraphModel(location)
            model.label = label
            if heads:
                model.builder, model.heads, model.index = frame.builder, heads, len(self.graphs)
                self.graphs.append(self.graph(frame.builder, label, heads, Role.MODEL))
                self.functional_outputs += 1
            return model
        if name.startswith("keras.losses.") and last in _LOSSES:
            from_logits = kwargs.get("from_logits", args[0] if args else Const(False))
            flag = from_logits.value if isinstance(from_logits, Const) and isinstance(
                from_logits.value, bool) else None
            with_logits, without = _LOSSES[last]
            expects = with_logits if flag is True else without if flag is False else None
            spec = LayerSpec(name, {"from_logits": flag if flag is not None else Unresolved(
                self.text(frame, node))}, location, self.label(node, frame)[0],
                info=OpInfo(Kind.LOSS, expects=expects))
            return spec
        if name in _INPUT:
            if frame.builder is None:
                return UNKNOWN
            layer = frame.builder.add(name, _name_kwarg(kwargs) or "Input", location,
                                      condition=frame.condition or None)
            return Tensor(frozenset({layer}))
        if name.startswith("keras.layers.") and last[:1].isupper():
            return self.spec(name, args, kwargs, node, frame)
        if name.startswith(("keras.layers.", "keras.ops.", "keras.activations.",
                            "keras.backend.")):
            return self.function_op(name, args, kwargs, node, frame)
        if name.startswith("keras.applications.") and last[:1].isupper():
            # a pretrained base model: opaque when applied
            label, named = self.label(node, frame)
            spec = LayerSpec(name, {}, location, label, frame.condition)
            spec.label, spec.named = label, named
            return spec
        return UNKNOWN

    def call_external(self, name: str, args: list[Value], kwargs: dict[str, Value],
                      node: cst.Call, frame: Frame) -> Value:
        if frame.builder is not None and any(True for _ in tensors_in([*args,
                                                                        *kwargs.values()])):
            return self.keras_opaque(node, [*args, *kwargs.values()], frame)
        return UNKNOWN

    call_unknown = call_external  # type: ignore[assignment]

    def framework_method(self, owner: Value, method: str, args: list[Value],
                         kwargs: dict[str, Value], node: cst.Call, frame: Frame
                         ) -> Value | None:
        if method == "compile" and isinstance(owner, (GraphModel, Instance, Seq)):
            loss = kwargs.get("loss", args[1] if len(args) > 1 else None)
            if isinstance(loss, Const) and isinstance(loss.value, str) and \
                    loss.value in _LOSS_NAMES:
                # a loss named by a string: located at the ``compile`` call
                cls = _LOSS_NAMES[loss.value]
                loss = LayerSpec(f"keras.losses.{cls}", {"from_logits": False},
                                 frame.mod.location(node, frame.stmt), f'"{loss.value}"',
                                 info=OpInfo(Kind.LOSS, expects=_LOSSES[cls][1]))
            loss = loss if isinstance(loss, LayerSpec) else None
            if isinstance(owner, Seq):
                owner.compiled = True
                owner.loss = loss or owner.loss
            elif loss is not None:
                self.compile(owner, loss, frame)
            return Const(None)
        if isinstance(owner, Seq) and method in ("__call__", "call"):
            if frame.builder is None:
                return UNKNOWN
            return self.apply(owner, args[0] if args else UNKNOWN, node, frame)
        if isinstance(owner, Tensor):
            # tensor methods are backend ops we do not model: opaque, never a guess
            if frame.builder is None:
                return UNKNOWN
            return self.keras_opaque(node, [owner], frame)
        if isinstance(owner, (LayerSpec, Instance, Alternatives)) and \
                method in ("__call__", "call"):
            if frame.builder is None:
                return UNKNOWN
            return self.apply(owner, args[0] if args else UNKNOWN, node, frame)
        return None

    def tensor_binary(self, left: Tensor, right: Tensor, operator: cst.CSTNode,
                      node: cst.CSTNode, frame: Frame) -> Value:
        if isinstance(operator, (cst.Add, cst.AddAssign)):
            return self.add_layer("keras.ops.add", short(self.text(frame, node)), node,
                                  [left, right], frame)
        return self.keras_opaque(node, [left, right], frame)

    def tensor_subscript(self, value: Tensor, node: cst.Subscript, frame: Frame) -> Value:
        if frame.builder is None:
            return value
        return self.keras_opaque(node, [value], frame, op="keras.ops.getitem")

    def keras_opaque(self, node: cst.CSTNode, inputs: list[Value], frame: Frame,
                     op: str = "<unresolved>") -> Tensor:
        return self.add_layer(op, short(self.text(frame, node)), node, inputs, frame,
                              info=OpInfo(Kind.OPAQUE))

    def function_op(self, name: str, args: list[Value], kwargs: dict[str, Value],
                    node: cst.Call, frame: Frame) -> Value:
        """``layers.add([a, b])``, ``tf.nn.relu(x)``, ``keras.ops.concatenate(...)``..."""
        inputs = [*args, *kwargs.values()]
        if frame.builder is None or union(inputs) is None:
            return UNKNOWN
        info = lookup(name)
        if info.kind is Kind.OPAQUE and name.startswith(_ACTIVATION_MODULES):
            info = activation_op(name.rsplit(".", 1)[-1]) or info
        attrs = self.attributes(positional_parameters(name), args, kwargs, node, frame)
        return self.add_layer(name, short(self.text(frame, node)), node, inputs, frame,
                              info=info, attrs=attrs)

    # -- layers ---------------------------------------------------------------------------
    def spec(self, name: str, args: list[Value], kwargs: dict[str, Value], node: cst.Call,
             frame: Frame) -> LayerSpec:
        cls = name.rsplit(".", 1)[-1]
        signature = positional_parameters(name)
        params = dict(zip(signature, args, strict=False))
        params.update(kwargs)
        exprs: dict[str, cst.BaseExpression] = {}
        positional = iter(signature)
        for arg in node.args:
            if arg.keyword is not None:
                exprs[arg.keyword.value] = arg.value
            elif not arg.star:
                param = next(positional, None)
                if param is not None:
                    exprs[param] = arg.value
        label, named = self.label(node, frame)
        spec = LayerSpec(name, {}, frame.mod.location(node, frame.stmt), label,
                         frame.condition)
        spec.label, spec.named = label, named
        info = lookup(name)
        attrs = spec.attrs

        def attr(key: str, param: str) -> None:
            if param not in params:
                return
            value = params[param]
            literal = self.literal(value, exprs.get(param), frame.mod)
            if isinstance(literal, Unresolved) and param not in exprs:
                literal = Unresolved(param)
            attrs[key] = literal

        if info.kind is Kind.DROPOUT:
            attr("p", "rate")
        elif info.kind is Kind.BATCHNORM:
            attr("momentum", "momentum")
            attr("epsilon", "epsilon")
        elif info.kind is Kind.WEIGHTED:
            if cls == "EinsumDense":  # no bias unless bias_axes is given
                bias = params.get("bias_axes")
                attrs["use_bias"] = bias is not None and not (
                    isinstance(bias, Const) and bias.value is None)
            else:
                attrs["use_bias"] = True
                attr("use_bias", "use_bias")
            attr("units", "units")  # LL206: a one-unit layer
            attr("filters", "filters")
            spec.activation = self.activation_of(params.get("activation"),
                                                 exprs.get("activation"), frame)
        elif cls == "Softmax":
            attr("axis", "axis")
        elif cls == "Activation":
            act = self.activation_of(params.get("activation"), exprs.get("activation"), frame)
            if act is None:
                spec.info = lookup("keras.layers.Identity")
            else:
                spec.info, spec.attrs = act[1], act[2]
        elif cls == "ReLU":
            max_value = _const(params.get("max_value", Const(None)))
            slope = _const(params.get("negative_slope", Const(0.0)))
            if "max_value" in params and max_value is None and \
                    not isinstance(params["max_value"], Const):
                spec.info = OpInfo(Kind.OPAQUE)
            elif isinstance(max_value, (int, float)) and max_value == 6 and slope == 0:
                spec.info = activation_op("relu6")
            elif max_value is not None or not isinstance(slope, (int, float)):
                spec.info = OpInfo(Kind.OPAQUE)  # a clipped or unknown ReLU variant
            elif slope > 0:
                spec.info = activation_op("leaky_relu")
        return spec

    def activation_of(self, value: Value | None, expr: cst.BaseExpression | None,
                      frame: Frame) -> tuple[str, OpInfo, dict[str, object]] | None:
        """The fused activation of an ``activation=`` argument, or None when linear."""
        if value is None or (isinstance(value, Const) and value.value is None):
            return None
        if isinstance(value, Const) and isinstance(value.value, str):
            name = value.value
            if name in _NO_ACTIVATION:
                return None
            info = activation_op(name) or OpInfo(Kind.OPAQUE)
            return ("keras.activations." + name, info, {"activation": name})
        if isinstance(value, LayerSpec):  # activation=layers.LeakyReLU(0.1)
            return (value.op, value.info or lookup(value.op), dict(value.attrs))
        if isinstance(value, QualName):
            qualified = canonical(value.name)
            name = qualified.rsplit(".", 1)[-1]
            if name == "linear":
                return None
            info = lookup(qualified)
            if info.kind is Kind.OPAQUE and qualified.startswith(_ACTIVATION_MODULES):
                info = activation_op(name) or info
            return (qualified, info, {"activation": name})
        text = self.text(frame, expr) if expr is not None else "activation"
        return ("keras.activations.<unresolved>", OpInfo(Kind.OPAQUE),
                {"activation": Unresolved(text)})

    def apply_opaque(self, module: Value, frontier: frozenset[Layer], node: cst.CSTNode | None,
                     frame: Frame) -> Value:
        if isinstance(module, GraphModel):
            if module.builder is not None and module.heads:
                if module.index is not None:  # used as a layer: its output is not final
                    graph = self.graphs[module.index]
                    self.graphs[module.index] = dataclasses.replace(graph, role=Role.BLOCK)
                return self.inline_model(module, frontier, frame)
            return super().apply_opaque(module, frontier, node, frame)
        assert frame.builder is not None
        label = short(self.text(frame, node)) if node is not None else "unresolved layer"
        location = frame.mod.location(node, frame.stmt) if node is not None else \
            Location(frame.mod.display, 1, 1)
        layer = frame.builder.add("<unresolved>", label, location, frontier,
                                  info=OpInfo(Kind.OPAQUE), condition=frame.condition or None)
        return Tensor(frozenset({layer}))

    def inline_model(self, model: GraphModel, frontier: frozenset[Layer], frame: Frame
                     ) -> Tensor:
        """A functional model used as a layer (``encoder(x)``): its layers, again, fed by
        ``frontier`` where its inputs were."""
        assert frame.builder is not None and model.builder is not None
        source = model.builder
        preds: dict[int, list[int]] = {}
        for src, dst in source.edges:
            preds.setdefault(dst, []).append(src)
        keep: set[int] = set()
        stack = [layer.id for layer in model.heads]
        while stack:
            lid = stack.pop()
            if lid not in keep:
                keep.add(lid)
                stack.extend(preds.get(lid, ()))
        copies: dict[int, Layer] = {}
        fed: frozenset[Layer] = frontier
        for layer in source.layers:
            if layer.id not in keep:
                continue
            if layer.op in _INPUT:
                copies[layer.id] = None  # type: ignore[assignment]
                continue
            inputs = [copies[p] for p in preds.get(layer.id, ()) if copies.get(p) is not None]
            if any(copies.get(p, 0) is None for p in preds.get(layer.id, ())):
                inputs.extend(fed)
            attrs = self.in_mode(layer.attrs, layer.info, frame)
            copies[layer.id] = frame.builder.add(
                layer.op, layer.label, layer.location, inputs, info=layer.info,
                attrs=dict(attrs), use=layer.use,
                condition=(frame.condition & layer.condition) or None,
                module_path=layer.module_path,
                typed=layer.typed if attrs is layer.attrs else None,
                instance=self.instance(
                    None if layer.instance is None else ("copy", layer.instance)))
        return Tensor(frozenset(copies[h.id] for h in model.heads if copies.get(h.id)))

    def apply_instance(self, module: Instance, tensor: Tensor, node: cst.CSTNode | None,
                       frame: Frame) -> Value:
        if self.find_method(module.cls, "call") is None or frame.depth > self.limits.depth:
            assert frame.builder is not None
            label = module.label or module.cls.node.name.value
            layer = frame.builder.add(
                module.cls.node.name.value, label,
                module.location or module.cls.mod.location(module.cls.node), tensor.frontier,
                info=OpInfo(Kind.OPAQUE), attrs={UNRESOLVED_MODULE: label},
                condition=(frame.condition & module.condition) or None)
            return Tensor(frozenset({layer}))
        result = super().apply_instance(module, tensor, node, frame)
        return result if isinstance(result, Tensor) and result.frontier else tensor

    def apply_as_self(self, instance: Instance, frame: Frame) -> Value:
        """A model's own forward pass, its layers named from ``self``."""
        label, instance.label = instance.label, None
        try:
            return self.apply_instance(instance, Tensor(frozenset()), None, frame)
        finally:
            instance.label = label

    # -- models and losses ------------------------------------------------------------------
    def graph(self, builder: GraphBuilder, name: str, outputs: tuple[Layer, ...], role: Role,
              subset: bool = True, also: tuple[Layer, ...] = ()) -> LayerGraph:
        """The part of ``builder`` that reaches ``outputs`` (and ``also``)."""
        outputs = tuple(dict.fromkeys(outputs))
        layers: list[Layer] = builder.layers
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
            outputs=tuple(lay.id for lay in outputs), role=role, frontend=self.frontend,
            notes=tuple(builder.notes),
        )

    def add_loss(self, builder: GraphBuilder, loss: LayerSpec, heads: tuple[Layer, ...],
                 condition: object = None) -> Layer:
        return builder.add(loss.op, loss.label or loss.default_label, loss.location, heads,
                           info=loss.info, attrs=loss.attrs, condition=condition or None)

    def compile(self, model: GraphModel | Instance, loss: LayerSpec, frame: Frame) -> None:
        """The model's graph gains its loss after its outputs (the outputs stay outputs)."""
        if isinstance(model, GraphModel):
            if model.builder is None or model.index is None:
                return
            layer = self.add_loss(model.builder, loss, model.heads, frame.condition)
            self.graphs[model.index] = self.graph(model.builder, model.label or "model",
                                                  model.heads, Role.MODEL, also=(layer,))
            return
        # a subclassed model: its forward pass, applied here, then the loss
        builder = GraphBuilder(model.label or "model", frame.mod.display, self.frontend,
                               self.typer)
        out = self.apply_as_self(model, Frame(frame.mod, {}, builder=builder))
        heads = tuple(out.frontier) if isinstance(out, Tensor) else ()
        if heads:
            layer = self.add_loss(builder, loss, heads, frame.condition)
            self.graphs.append(self.graph(builder, model.label or "model", heads,
                                          Role.MODEL, also=(layer,)))

    def emit_sequential(self, seq: Seq, frame: Frame, role: Role = Role.MODEL) -> None:
        builder = GraphBuilder(seq.label or "Sequential", frame.mod.display, self.frontend,
                               self.typer)
        out = self.apply(seq, Tensor(frozenset()), None,
                         Frame(frame.mod, {}, builder=builder))
        heads = tuple(out.frontier) if isinstance(out, Tensor) else ()
        if seq.loss is not None and heads:
            self.add_loss(builder, seq.loss, heads)
        if builder.layers:
            self.graphs.append(self.graph(builder, seq.label or "Sequential", heads, role,
                                          subset=False))


def _name(value: Value, name: str) -> None:
    """A layer bound to a name is labelled by it (``self.bn``) unless it has ``name=``."""
    if isinstance(value, (LayerSpec, Seq, Instance)) and (
            not value.named or name.startswith("self.")):
        value.label = name
        value.named = True


def output_heads(value: Value | None) -> tuple[Layer, ...]:
    """The layers a value (tensor, list of tensors) flows from, in order."""
    if value is None:
        return ()
    found: list[Layer] = []
    for tensor in tensors_in([value]):
        found.extend(sorted(tensor.frontier, key=lambda lay: lay.id))
    return tuple(dict.fromkeys(found))


def _forces_inference(call: cst.Call) -> bool:
    """``layer(x, training=False)`` written literally: the layer runs in inference mode
    (dropout off, batchnorm on its moving statistics) even inside ``fit``. A variable
    (``training=training``) follows the caller's mode, so only the literal counts."""
    return any(arg.keyword is not None and arg.keyword.value == "training"
               and isinstance(arg.value, cst.Name) and arg.value.value == "False"
               for arg in call.args)


def _const(value: Value | None) -> object:
    return value.value if isinstance(value, Const) else None


def _name_kwarg(kwargs: dict[str, Value]) -> str | None:
    name = kwargs.get("name")
    if isinstance(name, Const) and isinstance(name.value, str):
        return name.value
    return None

