"""Baselines: a file of accepted findings, so a legacy codebase sees only new ones.

A finding's fingerprint is its code, its path (relative to the baseline's folder), the
stripped text of the reported line (the ONNX node, or the message, where there is no
source line) and its index among findings sharing those three. It survives lines being
inserted or removed elsewhere in the file; editing the reported line makes it new.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from layerlint._files import atomic_write
from layerlint.rule import Finding
from layerlint.source import SourceFile

__all__ = ["BaselineError", "apply", "fingerprints", "read", "write"]

_FORMAT = "layerlint-baseline"
_VERSION = 1


class BaselineError(ValueError):
    """A baseline file that cannot be read."""


def fingerprints(findings: Sequence[Finding], source_of: Callable[[str], SourceFile | None],
                 base: Path) -> list[str]:
    seen: Counter[tuple[str, str, str]] = Counter()
    result = []
    for finding in findings:
        loc = finding.location
        path = Path(os.path.relpath(os.path.abspath(loc.path), base)).as_posix()
        source = source_of(loc.path)
        text = source.line(loc.line, loc.cell) if source is not None else None
        anchor = (text or "").strip() or loc.node or finding.message
        key = (finding.code, path, anchor)
        occurrence = seen[key]
        seen[key] += 1
        digest = hashlib.sha256("\0".join((*key, str(occurrence))).encode()).hexdigest()
        result.append(digest[:20])
    return result


def read(path: Path) -> Counter[str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BaselineError(f"cannot read baseline {path}: {error}") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise BaselineError(f"{path} is not a layerlint baseline")
    entries = document.get("findings")
    if not isinstance(entries, list):
        raise BaselineError(f"{path} is not a layerlint baseline")
    return Counter(e["fingerprint"] for e in entries
                   if isinstance(e, dict) and isinstance(e.get("fingerprint"), str))


def write(path: Path, findings: Sequence[Finding], prints: Sequence[str]) -> None:
    entries = [
        {"fingerprint": fp, "code": f.code, "path": f.location.path,
         "line": f.location.line, "message": f.message}
        for f, fp in zip(findings, prints, strict=True)
    ]
    document = {"format": _FORMAT, "version": _VERSION, "findings": entries}
    try:
        atomic_write(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
    except OSError as error:
        raise BaselineError(f"cannot write baseline {path}: {error.strerror or error}"
                            ) from None


def apply(findings: Sequence[Finding], prints: Sequence[str], accepted: Counter[str]
          ) -> tuple[list[Finding], int]:
    """The findings not in the baseline, and how many baseline entries matched."""
    remaining = Counter(accepted)
    kept = []
    for finding, fp in zip(findings, prints, strict=True):
        if remaining[fp] > 0:
            remaining[fp] -= 1
        else:
            kept.append(finding)
    return kept, len(findings) - len(kept)
