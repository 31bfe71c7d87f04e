"""Inline expected-finding markers (``# error: LL101``) in fixture files, and the
findings a check gives in the same shape, for tests that compare the two."""

from __future__ import annotations

import re
from pathlib import Path

from layerlint.engine import check_paths
from layerlint.registry import select_rules

MARKER = re.compile(r"#\s*error:\s*(LL\d{3}(?:\s*,\s*LL\d{3})*)")


def expected_markers(files: list[Path]) -> set[tuple[str, int, str]]:
    """(file name, line, code) for every marker in ``files``."""
    found = set()
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = MARKER.search(line)
            if match:
                found.update((path.name, number, code.strip())
                             for code in match.group(1).split(","))
    return found


def reported(paths: list[Path], select: list[str]) -> set[tuple[str, int, str]]:
    """(file name, line, code) of what checking ``paths`` with ``select`` reports."""
    result = check_paths(paths, select_rules(select))
    assert not result.internal_errors
    return {(Path(f.location.path).name, f.location.line, f.code) for f in result.findings}
