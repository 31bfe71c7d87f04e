"""Suppression comments.

- ``# layerlint: ignore[LL101, LL104]`` or ``# noqa: LL101`` on any line of the reported
  expression, or on the line of a layer the finding names as related (for LL101, the
  batchnorm), suppresses those codes there; a bare ``# layerlint: ignore`` or ``# noqa``
  suppresses every code.
- ``# layerlint: ignore-file[LL104]`` anywhere in the file suppresses LL104 in the whole
  file (bare: every code).

``noqa`` codes that are not ``LL`` codes belong to other tools and are left alone.
LL001 and LL002 (unreadable input, incomplete analysis) are suppressed only by their
exact code, never by a blanket comment.

A comment that looks like a directive but is malformed (``# layerlint: ignore [LL101]``,
``ignore(LL101)``, ``ignore[LL101``, ``# noqa LL101``) suppresses nothing and is itself
reported, as LL001: a typo must not silently hide every finding on its line.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from layerlint.ir import Location
from layerlint.registry import ALWAYS, diagnostic
from layerlint.rule import Finding
from layerlint.source import SourceFile

__all__ = ["MALFORMED", "UNUSED", "Directive", "Malformed", "Suppressions", "scan",
           "suppression_edit"]

UNUSED = "LL003"
MALFORMED = "LL001"

# Anything that starts like a layerlint directive; _WELL_FORMED then decides.
_LAYERLINT = re.compile(r"#\s*layerlint\s*:?\s*ignore", re.I)
_WELL_FORMED = re.compile(
    r"#\s*layerlint:\s*(?P<kind>ignore-file|ignore)"
    r"(?:\[(?P<codes>\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*\s*,?\s*)\]"
    r"|(?=\s*(?:#|$)))", re.I)
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.I)
# `# noqa LL101` (no colon) is a blanket noqa to flake8: for our codes, a typo.
_NOQA_NO_COLON = re.compile(r"#\s*noqa\s+LL[0-9]", re.I)
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
        if self.codes is None:
            return code not in ALWAYS
        return code in self.codes


@dataclass(frozen=True)
class Malformed:
    line: int  # line of the file's text
    column: int  # 1-based
    text: str  # the comment from the directive on


def _parse(line: int, column: int, comment: str) -> Iterable[Directive | Malformed]:
    for match in _LAYERLINT.finditer(comment):
        good = _WELL_FORMED.match(comment, match.start())
        if good is None:
            yield Malformed(line, column + match.start() + 1, comment[match.start():].strip())
            continue
        raw = good.group("codes")
        codes = None if raw is None else frozenset(c.upper() for c in _CODE.findall(raw))
        yield Directive(line, column + match.start() + 1, codes,
                        good.group("kind").lower() == "ignore-file", "layerlint")
    for match in _NOQA_NO_COLON.finditer(comment):
        yield Malformed(line, column + match.start() + 1, comment[match.start():].strip())
    for match in _NOQA.finditer(comment):
        if _NOQA_NO_COLON.match(comment, match.start()):
            continue
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
    malformed: list[Malformed] = field(default_factory=list)

    def malformed_findings(self, display: str) -> list[Finding]:
        """LL001 for each malformed directive (it suppresses nothing)."""
        findings = []
        for bad in self.malformed:
            cell, line = self.source.where(bad.line)
            findings.append(diagnostic(
                MALFORMED, Location(display, line, bad.column, cell=cell),
                f"malformed suppression comment `{bad.text}` suppresses nothing; "
                "write `# layerlint: ignore[LL101, ...]` or `# noqa: LL101`"))
        return findings

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
            if (finding.code == UNUSED and directive.codes is None
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
            findings.append(diagnostic(
                UNUSED, Location(display, line, directive.column, cell=cell), message))
        return findings


# Every directive holds one of these words: a file without them is not tokenized (which
# costs more than a cached check of the file).
_ANY_DIRECTIVE = re.compile(r"noqa|layerlint", re.I)


def scan(source: SourceFile) -> Suppressions:
    found = Suppressions(source, [])
    if not _ANY_DIRECTIVE.search(source.text):
        return found
    for line, column, comment in source.comments():
        for item in _parse(line, column, comment):
            if isinstance(item, Malformed):
                found.malformed.append(item)
            else:
                found.directives.append(item)
    return found



def filter_findings(findings: Sequence[Finding], suppressions: Suppressions) -> list[Finding]:
    return [f for f in findings if not suppressions.suppresses(f)]


def suppression_edit(source: SourceFile, finding: Finding) -> tuple[int, int, int, str] | None:
    """The edit that makes a comment suppress ``finding``'s code on its line, as
    (line of ``source.text``, start, end, replacement): columns 0-based in that line.

    The code joins a directive that lists codes on a line of the reported expression
    (``# noqa: E501`` -> ``# noqa: E501, LL104``; ``ignore[LL101]`` -> ``ignore[LL101,
    LL104]``); otherwise ``  # noqa: LL104`` ends the expression's first line that can
    take a comment (not inside a string, not continued by a backslash). None when no
    line can."""
    location = finding.location
    first = source.joined_line(location.line, location.cell)
    last = first + max((location.end_line or location.line) - location.line, 0)
    lines = range(first, last + 1)
    for line, column, comment in source.comments():
        if line not in lines:
            continue
        for pattern in (_NOQA, _WELL_FORMED):
            for match in pattern.finditer(comment):
                codes = match.group("codes")
                if codes is None or match.groupdict().get("kind", "").lower() == "ignore-file":
                    continue
                end = column + match.start("codes") + len(codes.rstrip().rstrip(",").rstrip())
                return line, end, end, f", {finding.code}"
    inside = _lines_inside_tokens(source.text)
    for line in lines:
        text = source.line(line)
        if text is None or line in inside or text.rstrip().endswith("\\"):
            continue
        end = len(text.rstrip())
        return line, end, len(text), f"  # noqa: {finding.code}"
    return None


def _lines_inside_tokens(text: str) -> set[int]:
    """Lines whose end lies inside a token (a triple-quoted string): a comment there
    would be part of the string. Empty when the text does not tokenize."""
    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if token.start[0] < token.end[0] and token.type not in (tokenize.NEWLINE,
                                                                     tokenize.NL):
                inside.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        pass
    return inside
