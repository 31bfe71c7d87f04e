"""Suppression comments.

- ``# layerlint: ignore[LL101, LL104]`` or ``# noqa: LL101`` on any line of the reported
  expression, or on the line of a layer the finding names as related (for LL101, the
  batchnorm), suppresses those codes there; a bare ``# layerlint: ignore`` or ``# noqa``
  suppresses every code.
- ``# layerlint: ignore-file[LL104]`` anywhere in the file suppresses LL104 in the whole
  file (bare: every code).

``noqa`` codes that are not ``LL`` codes belong to other tools and are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from layerlint.ir import Location
from layerlint.rule import Finding, Severity
from layerlint.source import SourceFile

__all__ = ["Directive", "Suppressions", "UNUSED", "scan"]

UNUSED = ("LL003", "unused-suppression")

_LAYERLINT = re.compile(
    r"#\s*layerlint:\s*(?P<kind>ignore-file|ignore)\b(?:\[(?P<codes>[^\]]*)\])?", re.I)
_NOQA = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.I)
_CODE = re.compile(r"[A-Za-z]+[0-9]+")


@dataclass
class Directive:
    line: int  # line of the file's text (joined cells for a notebook)
    column: int  # 1-based
    codes: frozenset[str] | None  # None: every code
    file_level: bool
    spelling: str  # "noqa" or "layerlint"
    used: set[str] = field(default_factory=set)

    def covers(self, code: str) -> bool:
        return self.codes is None or code in self.codes


def _parse(line: int, column: int, comment: str) -> Iterable[Directive]:
    for match in _LAYERLINT.finditer(comment):
        raw = match.group("codes")
        codes = None if raw is None else frozenset(c.upper() for c in _CODE.findall(raw))
        yield Directive(line, column + match.start() + 1, codes,
                        match.group("kind").lower() == "ignore-file", "layerlint")
    for match in _NOQA.finditer(comment):
        raw = match.group("codes")
        if raw is None:
            yield Directive(line, column + match.start() + 1, None, False, "noqa")
            continue
        ours = frozenset(c.upper() for c in _CODE.findall(raw) if c.upper().startswith("LL"))
        if ours:
            yield Directive(line, column + match.start() + 1, ours, False, "noqa")


@dataclass
class Suppressions:
    source: SourceFile
    directives: list[Directive]

    def _lines(self, finding: Finding) -> set[int]:
        lines: set[int] = set()
        locations = [finding.location, *(r.location for r in finding.related
                                         if r.location.path == finding.location.path)]
        for loc in locations:
            end = loc.end_line if loc.end_line and loc.end_line >= loc.line else loc.line
            first = self.source.joined_line(loc.line, loc.cell)
            lines.update(range(first, first + end - loc.line + 1))
        return lines

    def suppresses(self, finding: Finding) -> bool:
        """Whether a directive covers the finding; marks the directive used."""
        lines = self._lines(finding)
        hit = False
        for directive in self.directives:
            if (finding.code == UNUSED[0] and directive.codes is None
                    and not directive.file_level):
                continue  # a blanket directive does not hide its own unused report
            if directive.covers(finding.code) and (directive.file_level
                                                   or directive.line in lines):
                directive.used.add(finding.code)
                hit = True
        return hit

    def unused(self, display: str, enabled: frozenset[str], known: frozenset[str]
               ) -> list[Finding]:
        """LL003 for each directive (or listed code) that suppressed nothing."""
        findings = []
        for directive in self.directives:
            if directive.codes is None:
                if directive.used or directive.spelling == "noqa":
                    continue  # a blanket noqa may serve other tools
                message = "unused blanket suppression"
            else:
                idle = sorted(directive.codes - directive.used)
                if not idle:
                    continue
                notes = []
                for code in idle:
                    if code not in known:
                        notes.append(f"{code} (unknown code)")
                    elif code not in enabled:
                        notes.append(f"{code} (rule not enabled)")
                    else:
                        notes.append(code)
                message = f"unused suppression for {', '.join(notes)}"
            cell, line = self.source.where(directive.line)
            findings.append(Finding(
                code=UNUSED[0], name=UNUSED[1], severity=Severity.WARNING,
                message=message, location=Location(display, line, directive.column, cell=cell),
            ))
        return findings


# Every directive holds one of these words: a file without them is not tokenized (which
# costs more than a cached check of the file).
_ANY_DIRECTIVE = re.compile(r"noqa|layerlint", re.I)


def scan(source: SourceFile) -> Suppressions:
    directives: list[Directive] = []
    if not _ANY_DIRECTIVE.search(source.text):
        return Suppressions(source, directives)
    for line, column, comment in source.comments():
        directives.extend(_parse(line, column, comment))
    return Suppressions(source, directives)


def filter_findings(findings: Sequence[Finding], suppressions: Suppressions) -> list[Finding]:
    return [f for f in findings if not suppressions.suppresses(f)]
