"""The layer graph: layers (one per application), data-flow edges, reachability."""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from layerlint.ir.attrs import BatchNorm, Dropout, LayerAttrs, Softmax, Unresolved, Weighted
from layerlint.ir.condition import Condition
from layerlint.ir.kinds import Kind, OpInfo, lookup

if TYPE_CHECKING:
    from layerlint.ir.code import Routine

# How a frontend turns a layer's raw arguments into typed attributes.
AttrsTyper = Callable[[str, OpInfo, Mapping[str, object]], "LayerAttrs | None"]


class Role(str, enum.Enum):
    """What the graph is known to be: its outputs are model outputs only for MODEL."""

    MODEL = "model"
    BLOCK = "block"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class NodeRef:
    """An ONNX node as data: its name, its index in its graph body (None for a graph
    input), and the nodes whose subgraph or function body holds it, outermost first:
    (name, index, attribute), the attribute None for a function body."""

    name: str
    index: int | None = None
    subgraph: tuple[tuple[str, int, str | None], ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "index": self.index,
                "subgraph": [{"node": name, "index": index, "attribute": attribute}
                             for name, index, attribute in self.subgraph] or None}


@dataclass(frozen=True, slots=True)
class Location:
    path: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None
    node: str | None = None  # ONNX node name and index, e.g. "bn1 (#7)", as displayed
    cell: int | None = None  # notebook cell, 1-based
    node_ref: NodeRef | None = None  # the same node as data (JSON)

    def sort_key(self) -> tuple:
        return (self.path, self.cell or 0, self.line, self.column)


_EMPTY: Mapping[str, object] = MappingProxyType({})
_UNKNOWN_DROPOUT = Dropout()
_UNKNOWN_BATCHNORM = BatchNorm()
_UNKNOWN_WEIGHTED = Weighted()
_UNKNOWN_SOFTMAX = Softmax(axis=Unresolved("?"))


@dataclass(frozen=True, slots=True, eq=False)
class Layer:
    """One application of an operator in the forward pass.

    ``location`` is where the layer is defined (the constructor call); ``use`` is
    where it is applied (the call in ``forward``), when that differs. ``attrs`` are
    the raw arguments as the frontend read them (for frontends and the fixer); rules
    read the typed, framework-neutral ``dropout``, ``batchnorm`` and ``weighted``.
    """

    id: int
    op: str
    info: OpInfo
    label: str
    location: Location
    attrs: Mapping[str, object] = field(default_factory=lambda: _EMPTY)
    use: Location | None = None
    condition: Condition | None = None  # the tests under which the layer exists
    module_path: str | None = None
    typed: LayerAttrs | None = None
    # Which module or layer object this is an application of: layers with the same
    # number apply one object (one set of parameters and running statistics) in one
    # forward pass. None where the frontend cannot tell, or is not sure that the
    # application happens in the same pass (a later pass of a loop of unknown length,
    # training code that calls the model once per step).
    instance: int | None = None

    @property
    def kind(self) -> Kind:
        return self.info.kind

    # Typed attributes; a layer of another kind, or one its frontend did not type,
    # reads as all unknown.
    @property
    def dropout(self) -> Dropout:
        return self.typed if isinstance(self.typed, Dropout) else _UNKNOWN_DROPOUT

    @property
    def batchnorm(self) -> BatchNorm:
        return self.typed if isinstance(self.typed, BatchNorm) else _UNKNOWN_BATCHNORM

    @property
    def weighted(self) -> Weighted:
        return self.typed if isinstance(self.typed, Weighted) else _UNKNOWN_WEIGHTED

    @property
    def softmax(self) -> Softmax:
        return self.typed if isinstance(self.typed, Softmax) else _UNKNOWN_SOFTMAX

    def __repr__(self) -> str:
        return f"<Layer #{self.id} {self.op} {self.label!r} line {self.location.line}>"


@dataclass(frozen=True, slots=True)
class Hidden:
    """Layers the frontend's input may hide: an eval-mode export removes dropout and
    folds batchnorm. The engine reports (LL002) the selected rules that need them."""

    kinds: frozenset[Kind]
    why: str  # what the input looks like: "graph looks like an eval-mode export: ..."
    remedy: str  # how to give a complete input: "export in training mode: ..."


@dataclass(eq=False)
class LayerGraph:
    """A model lowered to layers and edges; indexes are built once."""

    name: str
    path: str
    layers: tuple[Layer, ...]
    edges: tuple[tuple[int, int], ...]
    outputs: tuple[int, ...] = ()
    role: Role = Role.UNKNOWN
    frontend: str = ""
    # Things the frontend saw but could not analyse (reported as LL002).
    notes: tuple[str, ...] = ()
    hidden: Hidden | None = None
    # Training-code facts (``layerlint.ir.code.Routine``) of the file, for the rules
    # about how a model is trained rather than how it is built.
    code: tuple[Routine, ...] = ()
    _succ: dict[int, list[Layer]] = field(init=False, repr=False)
    _pred: dict[int, list[Layer]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_id = {layer.id: layer for layer in self.layers}
        self._succ = {layer.id: [] for layer in self.layers}
        self._pred = {layer.id: [] for layer in self.layers}
        for src, dst in dict.fromkeys(self.edges):
            self._succ[src].append(by_id[dst])
            self._pred[dst].append(by_id[src])

    def of_kind(self, *kinds: Kind) -> Iterator[Layer]:
        return (layer for layer in self.layers if layer.kind in kinds)

    def successors(self, layer: Layer) -> list[Layer]:
        return self._succ[layer.id]

    def predecessors(self, layer: Layer) -> list[Layer]:
        return self._pred[layer.id]

    def is_output(self, layer: Layer) -> bool:
        return layer.id in self.outputs

    def reachable(
        self, start: Layer, through: Callable[[Layer], bool] = lambda _: True
    ) -> Iterator[Layer]:
        """Layers downstream of ``start`` in breadth-first order (nearest first).

        A layer for which ``through`` is false is yielded but not walked past.
        """
        return self._walk(start, self._succ, through)

    def upstream(
        self, start: Layer, through: Callable[[Layer], bool] = lambda _: True
    ) -> Iterator[Layer]:
        """Layers upstream of ``start`` in breadth-first order (nearest first)."""
        return self._walk(start, self._pred, through)

    @staticmethod
    def _walk(start: Layer, neighbours: dict[int, list[Layer]],
              through: Callable[[Layer], bool]) -> Iterator[Layer]:
        seen = {start.id}
        queue = deque(neighbours[start.id])
        while queue:
            layer = queue.popleft()
            if layer.id in seen:
                continue
            seen.add(layer.id)
            yield layer
            if through(layer):
                queue.extend(neighbours[layer.id])

    def first_reachable(
        self, start: Layer, kind: Kind, through: Callable[[Layer], bool] = lambda _: True
    ) -> Layer | None:
        return next((lay for lay in self.reachable(start, through) if lay.kind is kind), None)

    def next_layers(self, layer: Layer, skip: Iterable[Kind] = (Kind.SHAPE,)) -> list[Layer]:
        """The nearest downstream layers, looking through layers of the ``skip`` kinds."""
        skipped = frozenset(skip)
        return [
            lay for lay in self.reachable(layer, lambda lay: lay.kind in skipped)
            if lay.kind not in skipped
        ]

    def previous_layers(self, layer: Layer, skip: Iterable[Kind] = (Kind.SHAPE,)) -> list[Layer]:
        """The nearest upstream layers, looking through layers of the ``skip`` kinds."""
        skipped = frozenset(skip)
        found: list[Layer] = []
        seen = {layer.id}
        stack = list(self._pred[layer.id])
        while stack:
            lay = stack.pop()
            if lay.id in seen:
                continue
            seen.add(lay.id)
            if lay.kind in skipped:
                stack.extend(self._pred[lay.id])
            else:
                found.append(lay)
        return sorted(found, key=lambda lay: lay.id)


class GraphBuilder:
    """Mutable construction helper used by frontends.

    ``typer`` gives each added layer its typed attributes from its raw ``attrs`` (the
    frontend's reading of its framework's arguments and defaults).
    """

    def __init__(self, name: str, path: str, frontend: str,
                 typer: AttrsTyper | None = None) -> None:
        self.name = name
        self.path = path
        self.frontend = frontend
        self.typer = typer
        self.layers: list[Layer] = []
        self.edges: list[tuple[int, int]] = []
        self.notes: list[str] = []
        self.hidden: Hidden | None = None

    def add(
        self,
        op: str,
        label: str,
        location: Location,
        inputs: Iterable[Layer] = (),
        *,
        info: OpInfo | None = None,
        attrs: Mapping[str, object] | None = None,
        use: Location | None = None,
        condition: Condition | str | None = None,
        module_path: str | None = None,
        typed: LayerAttrs | None = None,
        instance: int | None = None,
    ) -> Layer:
        if isinstance(condition, str):
            condition = Condition((condition,))
        condition = condition or None
        info = info or lookup(op)
        if typed is None and self.typer is not None:
            typed = self.typer(op, info, attrs or _EMPTY)
        layer = Layer(
            id=len(self.layers),
            op=op,
            info=info,
            label=label,
            location=location,
            attrs=MappingProxyType(dict(attrs)) if attrs else _EMPTY,
            use=use,
            condition=condition,
            module_path=module_path,
            typed=typed,
            instance=instance,
        )
        self.layers.append(layer)
        # Frontends pass sets of producers: order edges by layer id, so walks (and
        # so which layer a message names first) are the same on every run.
        self.edges.extend((src.id, layer.id) for src in sorted(inputs, key=lambda lay: lay.id)
                          if self.built(src))
        return layer

    def connect(self, src: Layer, dst: Layer) -> None:
        if self.built(src) and self.built(dst):
            self.edges.append((src.id, dst.id))

    def built(self, layer: Layer) -> bool:
        """Whether ``layer`` is one of this graph's: a tensor one method stores on an
        object and another reads (``self.logs["loss"]``) was built in the first
        method's graph, and is no input here (its id may name another layer here)."""
        return layer.id < len(self.layers) and self.layers[layer.id] is layer

    def build(self, outputs: Iterable[Layer] = (), role: Role = Role.UNKNOWN) -> LayerGraph:
        return LayerGraph(
            name=self.name,
            path=self.path,
            layers=tuple(self.layers),
            edges=tuple(self.edges),
            outputs=tuple(dict.fromkeys(layer.id for layer in outputs)),
            role=role,
            frontend=self.frontend,
            notes=tuple(self.notes),
            hidden=self.hidden,
        )
