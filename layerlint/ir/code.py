"""Training-code facts: what the code around a model does, beside its layer graph.

A frontend lowers each function, method and module body to a ``Routine``: the acts
that matter for training (gradients computed, an optimizer step, gradients cleared,
a model switched between training and inference mode, a stochastic op's mode, an
attribute holding layers in a plain container, a gradient flag set) in source order,
with the loops around them. Calls into functions the frontend could follow are
inlined (each inlined act records the call site in ``via``); calls it could not
follow are kept as ``Act.OPAQUE_CALL`` with the names passed, so a rule can stay
silent rather than guess. Rules read only this, never a framework's names.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from layerlint.ir.graph import Location

__all__ = ["Act", "Event", "Loop", "Routine", "RoutineKind", "Tri", "innermost_loops"]

_EMPTY: Mapping[str, object] = MappingProxyType({})


class Act(str, enum.Enum):
    BACKWARD = "backward"  # gradients computed from a loss (``loss.backward()``, a tape's gradient)
    STEP = "step"  # an optimizer applies the gradients
    CLEAR_GRAD = "clear-grad"  # gradients cleared (``zero_grad``, ``p.grad = None``)
    EVAL_MODE = "eval-mode"  # a model switched to inference mode
    TRAIN_MODE = "train-mode"  # a model switched (back) to training mode
    OPAQUE_CALL = "opaque-call"  # a call not followed; facts["arguments"]: the names passed
    # a functional dropout / batchnorm; facts: "op", "training" (a Tri), "text" (its
    # expression when not literal), "self_name" (in a layer's own method: its ``self``)
    STOCHASTIC_CALL = "stochastic-call"
    # a model or layer applied; facts: "training" (a Tri), "has_dropout", "has_batchnorm"
    # (True/False/None: unknown), "recording" (under gradient recording)
    MODEL_CALL = "model-call"
    # layers kept in a plain container attribute; facts: "container" ("list", "tuple",
    # "dict"), "layers" (their op names), "base" (the qualified base class of the owner)
    PLAIN_CONTAINER = "plain-container"
    # an attribute assigned on a model or a parameter that names a gradient flag;
    # facts: "attribute" (as written), "flag" (the exact flag name: True; a near miss:
    # False), "owner" ("module", "parameter", "unknown"), "value" (source text),
    # "flag_name" (the flag meant), "base" (the qualified base class of a module owner)
    FLAG_ASSIGN = "flag-assign"


class Tri(str, enum.Enum):
    """The value of a mode argument as written."""

    DEFAULT_ON = "default-on"  # not passed, and the default is on
    DEFAULT_OFF = "default-off"  # not passed, and the default is off
    ON = "on"  # a literal on
    OFF = "off"  # a literal off
    EXPRESSION = "expression"  # a variable or expression (unknown statically)


class RoutineKind(str, enum.Enum):
    MODULE = "module"  # top-level code of a file (or notebook)
    FUNCTION = "function"
    METHOD = "method"  # a method of a class that is not a layer
    LAYER_METHOD = "layer-method"  # a method of a layer/model class (``forward``, ``__init__``)


@dataclass(frozen=True, slots=True)
class Event:
    act: Act
    location: Location
    subject: str = ""  # the receiver as written, after inlining (``optimizer``, ``self.model``)
    facts: Mapping[str, object] = field(default_factory=lambda: _EMPTY)
    via: tuple[Location, ...] = ()  # call sites this was inlined through, outermost first
    conditional: bool = False  # under an ``if`` within its innermost loop


@dataclass(frozen=True, slots=True)
class Loop:
    location: Location
    body: tuple[Event | Loop, ...]

    def events(self) -> Iterator[Event]:
        """Every event in this loop, nested loops included, in source order."""
        for item in self.body:
            if isinstance(item, Loop):
                yield from item.events()
            else:
                yield item

    def loops(self) -> Iterator[Loop]:
        """This loop and every loop nested in it, outermost first."""
        yield self
        for item in self.body:
            if isinstance(item, Loop):
                yield from item.loops()


@dataclass(frozen=True, slots=True)
class Routine:
    name: str
    kind: RoutineKind
    location: Location
    body: tuple[Event | Loop, ...]
    # Lightning's ``training_step``, Keras' ``train_step``: training code by its role
    is_training_hook: bool = False

    def events(self) -> Iterator[Event]:
        return Loop(self.location, self.body).events()

    def loops(self) -> Iterator[Loop]:
        for item in self.body:
            if isinstance(item, Loop):
                yield from item.loops()

    def is_training_code(self) -> bool:
        """RULES.md's training code: gradients computed or an optimizer stepped."""
        return self.is_training_hook or any(
            e.act in (Act.BACKWARD, Act.STEP) for e in self.events())

    def map_locations(self, move: Callable[[Location], Location]) -> Routine:
        """The same routine with every location passed through ``move`` (notebook cells)."""
        def item(node: Event | Loop) -> Event | Loop:
            if isinstance(node, Loop):
                return Loop(move(node.location), tuple(item(n) for n in node.body))
            return replace(node, location=move(node.location),
                           via=tuple(move(v) for v in node.via))
        return replace(self, location=move(self.location),
                       body=tuple(item(n) for n in self.body))


def innermost_loops(routine: Routine, wanted: Callable[[Loop], bool]) -> Iterator[Loop]:
    """Loops for which ``wanted`` holds and for none of their nested loops."""
    def walk(loop: Loop) -> Iterator[Loop]:
        inner = [found for item in loop.body if isinstance(item, Loop) for found in walk(item)]
        if inner:
            yield from inner
        elif wanted(loop):
            yield loop
    for item in routine.body:
        if isinstance(item, Loop):
            yield from walk(item)
