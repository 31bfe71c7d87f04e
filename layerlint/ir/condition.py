"""Conditions under which a layer exists: a conjunction of source-level tests, as data."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Condition"]


@dataclass(frozen=True, slots=True)
class Condition:
    """The ``if`` tests (their source text, negated ones as ``not (...)``) that must all
    hold for a layer to exist. Empty means always. Each test appears once, in order."""

    clauses: tuple[str, ...] = ()

    def __and__(self, other: Condition | str | None) -> Condition:
        if other is None or other == "":
            return self
        extra = other.clauses if isinstance(other, Condition) else (other,)
        if not extra:
            return self
        return Condition(tuple(dict.fromkeys((*self.clauses, *extra))))

    def __bool__(self) -> bool:
        return bool(self.clauses)

    def implies(self, other: Condition | None) -> bool:
        """Whenever ``self`` holds, ``other`` holds (its tests are a subset of ours)."""
        return other is None or set(other.clauses) <= set(self.clauses)

    def excludes(self, other: Condition | None) -> bool:
        """``self`` and ``other`` cannot both hold: one has a test the other negates
        (the two sides of an ``if``/``else``, or what follows an early ``return``)."""
        if not self.clauses or other is None or not other.clauses:
            return False
        ours, theirs = set(self.clauses), set(other.clauses)
        return any(negate(test) in theirs for test in ours) or any(
            negate(test) in ours for test in theirs)

    def __str__(self) -> str:
        return " and ".join(self.clauses)


ALWAYS = Condition()


def negate(test: str) -> str:
    return f"not ({test})"
