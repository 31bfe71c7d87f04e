"""Helpers the training-code rules (LL4xx) share: reporting at a training-code fact."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from layerlint.fix import Fix
from layerlint.ir import Act, Event, LayerGraph, Location, Loop, Routine
from layerlint.rule import Finding, Related, Rule

__all__ = ["at_event", "passes_to", "routines", "training_loops"]


def routines(graph: LayerGraph) -> Iterator[Routine]:
    return iter(graph.code)


def at_event(rule: Rule, event: Event, related: Iterable[tuple[Location, str]] = (),
             autofix: Fix | None = None, **fields: object) -> Finding:
    """A finding at ``event``; the call sites it was reached through come as related."""
    calls = tuple(Related(where, "reached through this call") for where in event.via)
    return Finding(code=rule.code, name=rule.name, severity=rule.severity,
                   message=rule.message.format(**fields), location=event.location,
                   related=(*(Related(loc, text) for loc, text in related), *calls),
                   fix=autofix)


def training_loops(routine: Routine) -> Iterator[Loop]:
    """Every loop of a routine that trains inside it (computes gradients or steps)."""
    for loop in routine.loops():
        if any(e.act in (Act.BACKWARD, Act.STEP) for e in loop.events()):
            yield loop


def passes_to(event: Event, subject: str) -> bool:
    """An opaque call that receives ``subject`` (or what holds it: ``self`` for
    ``self.optimizer``) may do anything with it."""
    names = (event.subject, *event.facts.get("arguments", ()))  # type: ignore[misc]
    return any(name and (name == subject or subject.startswith(name + "."))
               for name in names)
