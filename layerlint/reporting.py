"""Render findings. JSON schema (one object per finding, keys in this order):

``path, line, column, end_line, end_column, code, name, severity, message,
related: [{path, line, column, message}], node, cell, fix``

``cell`` is the notebook code cell (1-based) for ``.ipynb`` files, else null; ``line``
is then the line within that cell. ``fix`` is null unless a verified fix can be applied
(see ``layerlint.fix``; never on a notebook or ONNX finding), then, as ruff's JSON:
``{applicability: "safe"|"unsafe", message, edits: [{content, location: {row, column},
end_location: {row, column}}]}``, each edit replacing the text from ``location`` up to,
not including, ``end_location`` (1-based, columns in characters).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from layerlint.ir import Location
from layerlint.rule import Finding, Rule, Severity

__all__ = ["printable", "render_github", "render_json", "render_sarif", "render_statistics",
           "render_text", "to_dict"]


def to_dict(finding: Finding) -> dict:
    loc = finding.location
    return {
        "path": loc.path,
        "line": loc.line,
        "column": loc.column,
        "end_line": loc.end_line,
        "end_column": loc.end_column,
        "code": finding.code,
        "name": finding.name,
        "severity": finding.severity.value,
        "message": finding.message,
        "related": [
            {"path": r.location.path, "line": r.location.line,
             "column": r.location.column, "message": r.message}
            for r in finding.related
        ],
        "node": loc.node_ref.to_dict() if loc.node_ref is not None else None,
        "cell": loc.cell,
        "fix": finding.fix.to_dict() if finding.fix is not None else None,
    }


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps([to_dict(f) for f in findings], indent=2) + "\n"


def printable(text: str) -> str:
    """``text`` with control characters and line separators escaped (``\\n``), so a
    file name can never start a new output line (a forged CI annotation)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def format_location(finding: Finding) -> str:
    loc = finding.location
    path = printable(loc.path)
    where = f"{path}:cell {loc.cell}" if loc.cell else path
    return f"{where}:{loc.line}:{loc.column}"


def render_text(findings: Sequence[Finding], files_checked: int, *,
                source_line: Callable[[Location], str | None] | None = None,
                color: bool = False, fixable: Mapping[Finding, bool] | None = None,
                internal_errors: int = 0, unsafe_fixes: bool = False,
                summary_line: bool = True) -> str:
    """One line per finding; with ``source_line`` (a terminal) the line and a caret too.

    ``fixable`` maps a finding that has an applicable fix to whether the fix is safe;
    as in ruff, ``[*]`` marks the fixes that ``--fix`` would apply (unsafe ones only
    with ``unsafe_fixes``), and the summary counts the others as hidden.
    ``internal_errors``: crashes during the run (the summary then never reads as a pass).
    """
    paint = _paint if color else _plain
    fixable = fixable or {}
    lines = []
    for f in findings:
        shown = f in fixable and (fixable[f] or unsafe_fixes)
        mark = paint(" [*]", "cyan") if shown else ""
        lines.append(f"{paint(format_location(f), 'bold')}: {paint(f.code, 'red', 'bold')}"
                     f"{mark} [{f.name}] {printable(f.message)}"
                     + (f" (node {f.location.node})" if f.location.node else ""))
        text = source_line(f.location) if source_line else None
        if text is not None:
            lines.extend(_snippet(f.location, text, paint))
    if summary_line:
        lines.append(summary(len(findings), files_checked, fixable, internal_errors,
                             unsafe_fixes))
    return "".join(line + "\n" for line in lines)


def render_statistics(findings: Sequence[Finding], fixable: Mapping[Finding, bool],
                      unsafe_fixes: bool, as_json: bool = False) -> str:
    """Findings counted per rule, most frequent first (``--statistics``, as ruff)."""
    counts: dict[tuple[str, str], list[int]] = {}
    for f in findings:
        entry = counts.setdefault((f.code, f.name), [0, 0])
        entry[0] += 1
        entry[1] += f in fixable and (fixable[f] or unsafe_fixes)
    rows = sorted(counts.items(), key=lambda item: (-item[1][0], item[0][0]))
    if as_json:
        return json.dumps([{"code": code, "name": name, "count": count, "fixable": fixes}
                           for (code, name), (count, fixes) in rows], indent=2) + "\n"
    width = max((len(str(count)) for _, (count, _) in rows), default=1)
    return "".join(f"{count:>{width}}\t{code}\t{'[*] ' if fixes else ''}{name}\n"
                   for (code, name), (count, fixes) in rows)


def _snippet(loc: Location, text: str, paint: Callable[..., str]) -> list[str]:
    """The source line and a caret under the reported span (tabs kept for alignment)."""
    text = text.rstrip("\n")
    gutter = str(loc.line)
    start = max(loc.column - 1, 0)
    if loc.end_line == loc.line and loc.end_column and loc.end_column - 1 > start:
        end = min(loc.end_column - 1, len(text))
    else:
        end = len(text.rstrip()) if len(text.rstrip()) > start else start + 1
    pad = "".join(c if c == "\t" else " " for c in text[:start])
    bar = paint(" " * len(gutter) + " |", "blue")
    return [
        bar,
        f"{paint(gutter + ' |', 'blue')} {text}",
        f"{bar} {pad}{paint('^' * max(end - start, 1), 'red', 'bold')}",
        "",
    ]


_STYLES = {"bold": "1", "red": "31", "cyan": "36", "blue": "34"}


def _paint(text: str, *styles: str) -> str:
    codes = ";".join(_STYLES[s] for s in styles)
    return f"\x1b[{codes}m{text}\x1b[0m"


def _plain(text: str, *styles: str) -> str:
    return text


def fix_counts(fixable: Mapping[Finding, bool] | None, unsafe_fixes: bool) -> tuple[int, int]:
    """(fixes that --fix applies, unsafe fixes hidden until --unsafe-fixes)."""
    safe = sum(1 for is_safe in (fixable or {}).values() if is_safe)
    unsafe = len(fixable or {}) - safe
    return (safe + unsafe, 0) if unsafe_fixes else (safe, unsafe)


def hidden_hint(hidden: int) -> str:
    return (f"{hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with "
            "--unsafe-fixes")


def summary(count: int, files_checked: int,
            fixable: Mapping[Finding, bool] | None = None, internal_errors: int = 0,
            unsafe_fixes: bool = False) -> str:
    files = f"{files_checked} file{'s' if files_checked != 1 else ''}"
    crashed = (f" layerlint hit {internal_errors} internal error"
               f"{'s' if internal_errors != 1 else ''} (LL002): the results are incomplete."
               if internal_errors else "")
    if not count:
        if crashed:
            return f"No problems found in {files} checked, but{crashed}"
        return f"All checks passed ({files} checked)."
    applicable, hidden = fix_counts(fixable, unsafe_fixes)
    hints = []
    if applicable:
        hints.append(f"{applicable} fixable with --fix")
    if hidden:
        hints.append(hidden_hint(hidden))
    hint = f" ({'; '.join(hints)})" if hints else ""
    return (f"Found {count} problem{'s' if count != 1 else ''}{hint} in {files} checked."
            + crashed)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def render_github(findings: Sequence[Finding]) -> str:
    """GitHub Actions workflow commands: annotations on the pull request's diff."""
    lines = []
    for f in findings:
        loc = f.location
        props = [f"file={_escape_property(loc.path)}"]
        if loc.cell:
            # lines of a cell are not lines of the .ipynb file: annotate the file, and
            # say where in the message
            where = f"cell {loc.cell}, line {loc.line}, column {loc.column}: "
        else:
            where = ""
            props += [f"line={loc.line}", f"col={loc.column}"]
            if loc.end_line:
                props.append(f"endLine={loc.end_line}")
            if loc.end_column and loc.end_line == loc.line:
                props.append(f"endColumn={loc.end_column}")
        props.append(f"title={_escape_property(f.code)}")
        if loc.node:
            where += f"node {loc.node}: "
        lines.append(f"::{_GITHUB_LEVEL[f.severity]} {','.join(props)}::"
                     f"{_escape_data(f'{where}{f.code} [{f.name}] {f.message}')}")
    return "".join(line + "\n" for line in lines)


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _uri(path: str) -> dict:
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    return {"uri": urllib.parse.quote(Path(path).as_posix()), "uriBaseId": "%SRCROOT%"}


def _region(loc: Location) -> dict:
    region = {"startLine": loc.line, "startColumn": loc.column}
    if loc.end_line:
        region["endLine"] = loc.end_line
        if loc.end_column:
            region["endColumn"] = loc.end_column
    return region


def _physical(loc: Location) -> dict:
    if loc.cell:  # lines of a cell are not lines of the .ipynb file: the whole file
        return {"artifactLocation": _uri(loc.path)}
    return {"artifactLocation": _uri(loc.path), "region": _region(loc)}


def _in_cell(loc: Location) -> str:
    return f"cell {loc.cell}, line {loc.line}, column {loc.column}: " if loc.cell else ""


def _sarif_fix(finding: Finding) -> dict:
    """The fix's edits as SARIF replacements (regions of the file as it was read)."""
    fix = finding.fix
    assert fix is not None
    unsafe = "" if fix.safe else " (unsafe fix: applied with --fix --unsafe-fixes)"
    return {
        "description": {"text": fix.description + unsafe},
        "artifactChanges": [{
            "artifactLocation": _uri(finding.location.path),
            "replacements": [{
                "deletedRegion": {"startLine": e.line, "startColumn": e.column,
                                  "endLine": e.end_line, "endColumn": e.end_column},
                "insertedContent": {"text": e.content},
            } for e in fix.edits],
        }],
    }


def first_sentence(text: str) -> str:
    """The text up to its first full stop outside brackets and code spans."""
    depth, code = 0, False
    for i, char in enumerate(text):
        if char == "`":
            code = not code
        elif not code and char in "([":
            depth += 1
        elif not code and char in ")]":
            depth = max(depth - 1, 0)
        elif (char == "." and not code and depth == 0
              and (i + 1 == len(text) or text[i + 1] == " ")):
            return text[:i + 1]
    return text


def render_sarif(findings: Sequence[Finding], rules: Sequence[type[Rule]],
                 fingerprints: Sequence[str] | None = None) -> str:
    """SARIF 2.1.0, for GitHub code scanning and other viewers.

    ``fingerprints`` (one per finding, the baseline's: code, path, text of the reported
    line, occurrence) become ``partialFingerprints``, so an alert survives lines moving.
    A finding with a verified fix carries it in ``fixes``. A notebook finding points at
    the .ipynb file (no region: cell lines are not file lines), names the cell as a
    logical location and says cell, line and column in its message. Rules have no
    ``helpUri``: layerlint publishes no documentation site, so a URL would point at
    nothing; each rule's documentation is its ``help`` (text and Markdown).
    """
    from layerlint import __version__

    index = {rule.code: i for i, rule in enumerate(rules)}
    descriptors = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": first_sentence(rule.summary()) or rule.name},
            "fullDescription": {"text": rule.summary() or rule.name},
            "help": {"text": rule.doc(), "markdown": rule.doc()},
            "defaultConfiguration": {"enabled": rule.default_enabled,
                                     "level": _SARIF_LEVEL[rule.severity]},
            "properties": {"tags": [rule.name]},
        }
        for rule in rules
    ]
    results = []
    for number, f in enumerate(findings):
        result: dict = {
            "ruleId": f.code,
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": _in_cell(f.location) + f.message},
            "locations": [{"physicalLocation": _physical(f.location)}],
        }
        if f.location.cell:
            result["locations"][0]["logicalLocations"] = [{
                "name": f"cell {f.location.cell}",
                "fullyQualifiedName": f"{f.location.path}:cell {f.location.cell}"}]
        if f.fix is not None and f.fix.edits:
            result["fixes"] = [_sarif_fix(f)]
        if fingerprints is not None:
            result["partialFingerprints"] = {"layerlintFingerprint/v1": fingerprints[number]}
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        if f.related:
            result["relatedLocations"] = [
                {"id": i, "physicalLocation": _physical(r.location),
                 "message": {"text": _in_cell(r.location) + r.message}}
                for i, r in enumerate(f.related, start=1)
            ]
        props = {k: v for k, v in (("cell", f.location.cell), ("node", f.location.node)) if v}
        if props:
            result["properties"] = props
        results.append(result)
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "layerlint", "version": __version__,
                                "rules": descriptors}},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri() + "/"}},
            "results": results,
        }],
    }
    return json.dumps(document, indent=2) + "\n"
