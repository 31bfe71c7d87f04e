"""The persistent result cache of ``check``: one JSON entry per checked file.

An entry is found by the file's absolute path, the working directory (findings carry
paths relative to it), the rules run and a fingerprint of layerlint itself (its version
and installed code); it is used only if the file's content and the content of every
project file its imports were looked up at (``Project.dependencies``) are unchanged, so
that editing ``model.py`` re-checks ``train.py``. Entries are written atomically (a
temporary file renamed over), so concurrent runs never see half an entry; an entry that
cannot be read or decoded is a miss. Entries are JSON, never pickles: a cache folder
from elsewhere cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

from layerlint import __version__
from layerlint.fix import Edit, Fix, TextEdit
from layerlint.frontends import InputError, Project
from layerlint.ir import Location, NodeRef
from layerlint.rule import Finding, Related, Rule, Severity

__all__ = ["DEFAULT_DIR", "ResultCache"]

DEFAULT_DIR = Path(".layerlint_cache")


def _fingerprint() -> str:
    """layerlint's version and its installed code (paths, sizes, modification times),
    so that an edited rule or frontend never reuses results of the old code."""
    import layerlint
    import layerlint.rules

    roots = sorted({os.path.abspath(p) for p in (*layerlint.__path__, *layerlint.rules.__path__)})
    digest = hashlib.sha256(__version__.encode())
    for index, root in enumerate(roots):
        if any(root.startswith(other + os.sep) for other in roots[:index]):
            continue  # the rules inside an installed package
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith(".py"):
                    stat = os.stat(os.path.join(folder, name))
                    digest.update(f"{folder}/{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return f"{__version__}-{digest.hexdigest()[:16]}"


def _content_digest(path: Path) -> str | None:
    """SHA-256 of what a check reads of the file, None when it cannot be read. For a
    binary ONNX model that is its structure: never read gigabytes of weights that no
    finding depends on."""
    try:
        if path.suffix == ".onnx":
            from layerlint.frontends.onnx.reader import structure

            try:
                return hashlib.sha256(structure(path)).hexdigest()
            except InputError:
                return None
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ResultCache:
    def __init__(self, root: Path, rules: Sequence[type[Rule]]) -> None:
        self.root = root
        self.folder = root / _fingerprint()
        # Rules by their class (not only the code): a rule swapped for another with the
        # same code (tests, plugins) is another key.
        names = sorted(f"{rule.__module__}.{rule.__qualname__}:{rule.code}" for rule in rules)
        self._salt = "\n".join([os.getcwd(), *names])
        self._digests: dict[Path, str | None] = {}
        self._ready = False

    def digest(self, path: Path) -> str | None:
        """SHA-256 of a file's bytes (once per run), None when it cannot be read."""
        path = Path(os.path.abspath(path))
        if path not in self._digests:
            self._digests[path] = _content_digest(path)
        return self._digests[path]

    def _entry(self, path: Path, codes: frozenset[str]) -> Path:
        # the codes enabled for this file (per-file-ignores) are part of the key
        key = hashlib.sha256(f"{self._salt}\n{os.path.abspath(path)}\n"
                             f"{','.join(sorted(codes))}".encode()).hexdigest()
        return self.folder / f"{key[:40]}.json"

    def _state(self, dependency: Path, project: Project) -> str | None:
        """What a dependency contributes: its content if an import can resolve to it (a
        file of the run or of its project), else nothing."""
        if not project.is_project_file(dependency):
            return None
        return self.digest(dependency)

    def get(self, path: Path, project: Project, fixable: bool = False,
            codes: frozenset[str] = frozenset()
            ) -> tuple[list[Finding], list[bool | None] | None] | None:
        """The cached findings of a file and, if asked, which fixes apply (see
        ``engine.check_paths``); None for a miss, a stale or a corrupt entry."""
        try:
            entry = json.loads(self._entry(path, codes).read_bytes())
            if entry["digest"] is None or entry["digest"] != self.digest(path):
                return None
            for dependency, digest in entry["dependencies"].items():
                if self._state(Path(dependency), project) != digest:
                    return None
            findings = [_finding(item) for item in entry["findings"]]
            marks = entry.get("fixable")
            if not fixable:  # fixes are only offered verified (engine.check_paths)
                return [replace(f, fix=None) if f.fix else f for f in findings], None
            if marks is None:
                return None
            if len(marks) != len(findings) or not all(m in (None, True, False) for m in marks):
                return None
            return findings, marks
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None  # RecursionError: JSON nested too deeply to decode

    def put(self, path: Path, project: Project, dependencies: Iterable[Path],
            findings: Sequence[Finding], fixable: Sequence[bool | None] | None = None,
            codes: frozenset[str] = frozenset()) -> None:
        """Store a file's findings; the content checked must be the content digested
        before the check (a file edited during the run is not stored)."""
        digest = self.digest(path)
        try:
            if digest is None or _content_digest(path) != digest:
                return
            entry = {
                "digest": digest,
                "dependencies": {str(d): self._state(d, project) for d in sorted(dependencies)},
                "findings": [asdict(finding) for finding in findings],
                "fixable": fixable,
            }
            self._prepare()
            target = self._entry(path, codes)
            temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(entry), encoding="utf-8")
            os.replace(temporary, target)
        except OSError:
            pass  # a read-only or vanished cache folder only costs speed

    def _prepare(self) -> None:
        if self._ready:
            return
        if not self.folder.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            # as ruff's cache: never committed, skipped by backup tools
            (self.root / ".gitignore").write_text("*\n")
            (self.root / "CACHEDIR.TAG").write_text(
                "Signature: 8a477f597d28d172789f06886806bc55\n")
            for old in self.root.iterdir():  # entries of other layerlint versions
                if old.is_dir() and old.name != self.folder.name:
                    shutil.rmtree(old, ignore_errors=True)
            self.folder.mkdir(exist_ok=True)
        self._ready = True


def _location(data: dict) -> Location:
    ref = data.get("node_ref")
    if ref is not None:
        ref = NodeRef(ref["name"], ref["index"], tuple(tuple(s) for s in ref["subgraph"]))
    return Location(**{**data, "node_ref": ref})


def _fix(data: dict | None) -> Fix | None:
    if data is None:
        return None
    return Fix(**{**data, "edit": Edit(data["edit"]), "target": _location(data["target"]),
                  "anchor": _location(data["anchor"]) if data["anchor"] else None,
                  "companion": _fix(data["companion"]),
                  "edits": tuple(TextEdit(**edit) for edit in data["edits"])})


def _finding(data: dict) -> Finding:
    return Finding(**{
        **data,
        "severity": Severity(data["severity"]),
        "location": _location(data["location"]),
        "related": tuple(Related(_location(r["location"]), r["message"])
                         for r in data["related"]),
        "fix": _fix(data["fix"]),
    })
