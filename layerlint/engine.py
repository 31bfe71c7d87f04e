"""Find input files, lower them to layer graphs, run the selected rules."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from layerlint.frontends import SUFFIXES, InputError, Project, load_graphs
from layerlint.ir import Location
from layerlint.rule import Finding, Rule, Severity

__all__ = ["CheckResult", "check_paths", "discover", "display_path"]

# Folders never searched when walking a directory (as ruff's default excludes).
EXCLUDED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", ".venv", "venv", ".env", "__pycache__", "build", "dist",
    "node_modules", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".ipynb_checkpoints", "site-packages", "__pypackages__", ".eggs", ".direnv",
})

PARSE_ERROR = ("LL001", "parse-error")
INCOMPLETE = ("LL002", "incomplete-analysis")


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    internal_errors: list[str] = field(default_factory=list)


def display_path(path: Path) -> str:
    """Paths are shown relative to the working directory when they lie below it."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else relative


def _is_excluded_dir(entry: os.DirEntry) -> bool:
    return (
        entry.name in EXCLUDED_DIRS
        or entry.name.endswith(".egg-info")
        or os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))
    )


def _walk(root: Path, is_excluded: Callable[[Path], bool] | None = None) -> Iterable[Path]:
    """Files under ``root``; ``is_excluded`` (from the configuration) replaces the defaults."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if is_excluded is None:
                    skip = _is_excluded_dir(entry)
                else:
                    skip = is_excluded(Path(entry.path)) or os.path.exists(
                        os.path.join(entry.path, "pyvenv.cfg"))
                if not skip:
                    subdirs.append(Path(entry.path))
            elif entry.is_file() and Path(entry.name).suffix in SUFFIXES:
                if is_excluded is None or not is_excluded(Path(entry.path)):
                    yield Path(entry.path)
        stack.extend(reversed(subdirs))


def discover(paths: Sequence[Path], is_excluded: Callable[[Path], bool] | None = None
             ) -> tuple[list[Path], list[Finding]]:
    """The files to check, in a stable order, and LL001 for paths that do not exist."""
    files: dict[Path, None] = {}
    problems: list[Finding] = []
    for path in paths:
        if path.is_dir():
            files.update(dict.fromkeys(_walk(path, is_excluded)))
        elif path.is_file():
            files[path] = None
        else:
            problems.append(_diagnostic(PARSE_ERROR, path, "No such file or directory"))
    return list(files), problems


def _diagnostic(kind: tuple[str, str], path: Path | str, message: str,
                line: int = 1, column: int = 1, cell: int | None = None) -> Finding:
    shown = display_path(Path(path)) if isinstance(path, Path) else path
    return Finding(
        code=kind[0], name=kind[1], severity=Severity.ERROR, message=message,
        location=Location(shown, line, column, cell=cell),
    )


@contextmanager
def _fewer_full_collections() -> Iterator[None]:
    """LibCST trees are large and short-lived; Python's default GC thresholds make
    full collections over them cost as much as the analysis itself."""
    previous = gc.get_threshold()
    gc.set_threshold(10_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def check_paths(paths: Sequence[Path], rules: Sequence[type[Rule]]) -> CheckResult:
    files, problems = discover(paths)
    result = CheckResult(files_checked=len(files))
    selected = {rule.code for rule in rules}
    instances = [rule() for rule in rules]
    project = Project(files, display=display_path)
    findings = [p for p in problems if p.code in selected]
    with _fewer_full_collections():
        for file in files:
            findings.extend(_check_file(file, project, instances, selected, result))
    result.findings = _dedupe(findings, {display_path(f) for f in files} | {
        p.location.path for p in problems})
    return result


def _check_file(file: Path, project: Project, rules: list[Rule], selected: set[str],
                result: CheckResult) -> list[Finding]:
    try:
        graphs = load_graphs(file, project)
    except InputError as error:
        if PARSE_ERROR[0] not in selected:
            return []
        return [_diagnostic(PARSE_ERROR, file, error.message, error.line, error.column,
                            error.cell)]
    except Exception as error:  # noqa: BLE001 - one bad input never stops the run
        result.internal_errors.append(f"{display_path(file)}: frontend crashed: {error!r}")
        return []
    findings: list[Finding] = []
    for graph in graphs:
        if INCOMPLETE[0] in selected:
            findings.extend(_diagnostic(INCOMPLETE, graph.path, note) for note in graph.notes)
        for rule in rules:
            try:
                findings.extend(rule.check(graph))
            except Exception as error:  # noqa: BLE001 - a crashing rule is reported, not fatal
                result.internal_errors.append(
                    f"{graph.path}: rule {rule.code} crashed on {graph.name}: {error!r}")
    return findings


def _dedupe(findings: list[Finding], run_paths: set[str]) -> list[Finding]:
    """One finding per (code, location); only in files of this run; sorted."""
    unique: dict[tuple, Finding] = {}
    for finding in findings:
        if finding.location.path not in run_paths:
            continue
        key = (finding.code, finding.location)
        unique.setdefault(key, finding)
    return sorted(unique.values(), key=Finding.sort_key)
