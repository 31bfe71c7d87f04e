"""Render findings. JSON schema (one object per finding, keys in this order):

``path, line, column, end_line, end_column, code, name, severity, message,
related: [{path, line, column, message}], node, fix``
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from layerlint.rule import Finding

__all__ = ["render_json", "render_text", "to_dict"]


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
        "node": loc.node,
        "fix": None,
    }


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps([to_dict(f) for f in findings], indent=2) + "\n"


def format_location(finding: Finding) -> str:
    loc = finding.location
    where = f"{loc.path}:cell {loc.cell}" if loc.cell else loc.path
    return f"{where}:{loc.line}:{loc.column}"


def render_text(findings: Sequence[Finding], files_checked: int) -> str:
    lines = [
        f"{format_location(f)}: {f.code} [{f.name}] {f.message}" for f in findings
    ]
    lines.append(summary(len(findings), files_checked))
    return "\n".join(lines) + "\n"


def summary(count: int, files_checked: int) -> str:
    files = f"{files_checked} file{'s' if files_checked != 1 else ''}"
    if not count:
        return f"All checks passed ({files} checked)."
    return f"Found {count} problem{'s' if count != 1 else ''} in {files} checked."
