"""The rule-author API: Rule, Example, Finding, Related, Severity.

A rule sees only the layer graph (``layerlint.ir``) and yields findings.
"""

from __future__ import annotations

import enum
import inspect
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from layerlint.fix import Fix
from layerlint.ir import Kind, Layer, LayerGraph, Location

__all__ = ["Example", "Finding", "Fix", "Related", "Rule", "Severity"]

FRONTENDS = ("pytorch", "keras", "onnx")


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Related:
    location: Location
    message: str


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    name: str
    severity: Severity
    message: str
    location: Location
    related: tuple[Related, ...] = ()
    fix: Fix | None = None  # a description; layerlint.frontends.source_fixer applies it

    def sort_key(self) -> tuple:
        return (*self.location.sort_key(), self.code, self.message)


_MARKER = re.compile(r"#\s*error:\s*(LL\d{3}(?:\s*,\s*LL\d{3})*)")


@dataclass(frozen=True, slots=True)
class Example:
    """A code sample; ``# error: LLxxx`` marks each line where a finding is expected."""

    frontend: str
    code: str

    @classmethod
    def pytorch(cls, code: str) -> Example:
        return cls("pytorch", textwrap.dedent(code).strip("\n") + "\n")

    @classmethod
    def keras(cls, code: str) -> Example:
        return cls("keras", textwrap.dedent(code).strip("\n") + "\n")

    @classmethod
    def onnx(cls, code: str) -> Example:
        return cls("onnx", textwrap.dedent(code).strip("\n") + "\n")

    @property
    def suffix(self) -> str:
        return ".onnxtxt" if self.frontend == "onnx" else ".py"

    def expected(self) -> set[tuple[int, str]]:
        """(line, code) pairs marked in the example."""
        marks = set()
        for number, text in enumerate(self.code.splitlines(), start=1):
            match = _MARKER.search(text)
            if match:
                marks.update((number, c.strip()) for c in match.group(1).split(","))
        return marks

    def display(self) -> str:
        """The code without its test markers, as shown by ``layerlint explain``."""
        lines = [_MARKER.sub("", line).rstrip() for line in self.code.splitlines()]
        return "\n".join(lines).strip("\n")


class Rule:
    """Base class of all rules. Subclasses set the class attributes and ``check``.

    The class docstring is the rule's documentation, in Markdown with the sections
    "What it does", "Why is this bad?", "Known problems", "Fix safety", "Evidence"
    and "References".
    """

    code: ClassVar[str]
    name: ClassVar[str]
    message: ClassVar[str]
    default_enabled: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.WARNING
    invalid: ClassVar[tuple[Example, ...]] = ()
    valid: ClassVar[tuple[Example, ...]] = ()
    # frontend -> why the rule cannot be expressed there
    unsupported: ClassVar[Mapping[str, str]] = {}
    # the layer kinds the rule must see: where an input may hide one (an eval-mode
    # export drops dropout), the engine reports the rule as not checked (LL002)
    needs: ClassVar[frozenset[Kind]] = frozenset()

    def check(self, graph: LayerGraph) -> Iterable[Finding]:
        return ()

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        """The first paragraph of "What it does"."""
        match = re.search(r"## What it does\s*\n(.+?)(?:\n\s*\n|\Z)", cls.doc(), re.S)
        return " ".join(match.group(1).split()) if match else ""

    def report(
        self,
        layer: Layer,
        related: Iterable[Layer] = (),
        autofix: Fix | None = None,
        **fields: object,
    ) -> Finding:
        message = self.message.format(**fields)
        # Each layer's condition is a conjunction; name every conjunct once.
        conditions = [part for lay in (layer, *related) if lay.condition
                      for part in lay.condition.clauses]
        if conditions:
            message += " (when " + " and ".join(dict.fromkeys(conditions)) + ")"
        return Finding(
            code=self.code,
            name=self.name,
            severity=self.severity,
            message=message,
            location=layer.location,
            related=(*_source(layer), *(_related(lay) for lay in related)),
            fix=autofix,
        )


def _source(layer: Layer) -> tuple[Related, ...]:
    """Where a layer from another file (an ONNX node's torch source line) was applied."""
    if layer.use is None or layer.use.path == layer.location.path:
        return ()
    return (Related(layer.use, f"{layer.label}: source of this layer"),)


def _related(layer: Layer) -> Related:
    return Related(layer.location, f"{layer.label} ({layer.op.rsplit('.', 1)[-1]})")


def describe(layer: Layer) -> str:
    """How a message names a layer: "`self.bn2` (line 38)"."""
    where = f"line {layer.location.line}"
    if layer.location.node:
        where = f"node {layer.location.node}"
    return f"`{layer.label}` ({where})"
