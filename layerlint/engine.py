"""Find input files, lower them to layer graphs, run the selected rules."""

from __future__ import annotations

import fnmatch
import gc
import importlib
import os
import signal
import stat
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from layerlint.config import DEFAULT_EXCLUDE
from layerlint.fix import Fix
from layerlint.frontends import SUFFIXES, InputError, OverBudget, Project, load_graphs
from layerlint.ir import LayerGraph, Location
from layerlint.pytext import python_lines
from layerlint.registry import diagnostic
from layerlint.rule import Finding, Rule

if TYPE_CHECKING:
    from layerlint.cache import ResultCache

__all__ = ["CheckResult", "check_buffer", "check_paths", "discover", "display_path"]


PARSE_ERROR = "LL001"
INCOMPLETE = "LL002"
BUG_REPORT = "this is a bug in layerlint: please report it, with the file if you can"


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    internal_errors: list[str] = field(default_factory=list)
    # findings with a verified fix -> the fix is safe (with ``fixable``)
    fixable: dict[Finding, bool] = field(default_factory=dict)
    # LL002 findings that report a crash (also in ``findings``): shown whatever the
    # selection, suppressions or baseline say, so that a crash never reads as a pass
    crashes: list[Finding] = field(default_factory=list)


def display_path(path: Path) -> str:
    """Paths are shown relative to the working directory when they lie below it."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else relative


def _is_excluded_dir(entry: os.DirEntry) -> bool:
    """A folder the defaults exclude (no configuration given), or a virtual environment."""
    return (any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in DEFAULT_EXCLUDE)
            or os.path.exists(os.path.join(entry.path, "pyvenv.cfg")))


def _walk(root: Path, is_excluded: Callable[[Path], bool] | None = None,
          unreadable: list[Finding] | None = None) -> Iterable[Path]:
    """Files under ``root``; ``is_excluded`` (from the configuration) replaces the defaults.

    Folders that cannot be listed are added to ``unreadable`` (LL001), never skipped
    silently."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            if unreadable is not None:
                unreadable.append(_diagnostic(
                    PARSE_ERROR, folder, f"cannot read folder: {error.strerror}"))
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
    """The files to check, in a stable order, and LL001 for paths that do not exist, are
    not regular files (a FIFO would block, a device never ends) or cannot be listed."""
    files: dict[Path, None] = {}
    problems: list[Finding] = []
    for path in paths:
        try:
            mode = path.stat().st_mode  # through symlinks: what would be read
        except OSError as error:
            reason = ("No such file or directory" if isinstance(error, FileNotFoundError)
                      else error.strerror or type(error).__name__)
            problems.append(_diagnostic(PARSE_ERROR, path, reason))
            continue
        if stat.S_ISDIR(mode):
            files.update(dict.fromkeys(_walk(path, is_excluded, problems)))
        elif stat.S_ISREG(mode):
            files[path] = None
        else:
            problems.append(_diagnostic(
                PARSE_ERROR, path, f"not a regular file ({_file_kind(mode)}): not read"))
    return list(files), problems


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a file or folder"


def crash_diagnostic(path: Path | str, what: str, error: BaseException) -> Finding:
    """LL002 for an internal error: names the exception and asks for a bug report."""
    return _diagnostic(INCOMPLETE, path, f"internal error: {what} crashed "
                       f"({type(error).__name__}: {_short(error)}), so this file was not "
                       f"fully analysed; {BUG_REPORT}")


def _short(error: BaseException, limit: int = 200) -> str:
    text = " ".join(str(error).split()) or "no message"
    return text if len(text) <= limit else text[:limit] + "..."


def _diagnostic(code: str, path: Path | str, message: str,
                line: int = 1, column: int = 1, cell: int | None = None) -> Finding:
    shown = display_path(Path(path)) if isinstance(path, Path) else path
    return diagnostic(code, Location(shown, line, column, cell=cell), message)


def _incomplete(graph: LayerGraph, rules: list[Rule]) -> Iterator[Finding]:
    """LL002 for what the frontend could not analyse, and for the selected rules that
    need layers the input may hide (naming only those)."""
    yield from (_diagnostic(INCOMPLETE, graph.path, note) for note in graph.notes)
    hidden = graph.hidden
    unchecked = [rule.code for rule in rules if hidden and rule.needs & hidden.kinds]
    if hidden and unchecked:
        yield _diagnostic(INCOMPLETE, graph.path, f"{hidden.why}; {', '.join(unchecked)} "
                          f"could not be checked. To check them, {hidden.remedy}")


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


def check_paths(paths: Sequence[Path], rules: Sequence[type[Rule]],
                cache: ResultCache | None = None, jobs: int = 1,
                fixable: bool = False,
                enabled: Mapping[Path, frozenset[str]] | None = None) -> CheckResult:
    """Lint the files under ``paths``; ``jobs`` > 1 checks them in worker processes;
    ``fixable``: verify the findings' fixes (see ``_verify_fixes``; ``CheckResult.fixable``),
    else the findings carry no fix;
    ``enabled``: the codes each file runs (per-file-ignores), else all of ``rules``.

    Each worker has its own ``Project`` over all the run's files, so imports resolve as
    in one process and the findings are the same; they are merged in file order.
    """
    files, problems = discover(paths)
    result = CheckResult(files_checked=len(files))
    selected = frozenset(rule.code for rule in rules)
    codes = {file: selected & enabled.get(file, selected) if enabled else selected
             for file in files}
    project = Project(files, display=display_path)
    outcomes: list[tuple[list[Finding], list[bool | None] | None] | None] = [
        cache.get(file, project, fixable, codes[file]) if cache is not None else None
        for file in files]
    todo = [index for index, outcome in enumerate(outcomes) if outcome is None]
    checked = _check_files([files[i] for i in todo], project, rules, codes, jobs, fixable)
    for index, (findings, errors, dependencies, marks) in zip(todo, checked):
        outcomes[index] = findings, marks
        result.internal_errors.extend(message for message, _ in errors)
        result.crashes.extend(crash for _, crash in errors)
        if cache is not None and not errors:  # a crash is retried on the next run
            cache.put(files[index], project, dependencies, findings, marks,
                      codes[files[index]])
    findings = [p for p in problems if p.code in selected] + result.crashes
    for outcome in outcomes:
        if outcome is not None:
            findings.extend(outcome[0])
            result.fixable.update((finding, mark) for finding, mark in
                                  zip(outcome[0], outcome[1] or ()) if mark is not None)
    result.findings = _dedupe(findings, {display_path(f) for f in files} | {
        p.location.path for p in problems})
    return result


def check_buffer(path: Path, contents: Mapping[Path, bytes], rules: Sequence[type[Rule]],
                 codes: frozenset[str], fixable: bool = True) -> CheckResult:
    """Lint one file whose text is ``contents[path.resolve()]`` (an editor's buffer,
    saved or not), with the codes ``codes``. Its imports resolve as in ``check_paths``,
    reading the other ``contents`` (open buffers) instead of their files."""
    result = CheckResult(files_checked=1)
    project = Project([path], display=display_path, contents=contents)
    instances = [rule() for rule in rules]
    with _fewer_full_collections():
        findings, errors, _, marks = _check_file(path, project, instances, codes, fixable)
    result.internal_errors.extend(message for message, _ in errors)
    result.crashes.extend(crash for _, crash in errors)
    result.fixable.update((finding, mark) for finding, mark in
                          zip(findings, marks or ()) if mark is not None)
    result.findings = _dedupe([*findings, *result.crashes], {display_path(path)})
    return result


# (findings, internal errors (message, LL002), project files depended on, fixability)
# of one file
_Outcome = tuple[list[Finding], list[tuple[str, Finding]], list[Path],
                 list[bool | None] | None]
# the codes each file runs
_Codes = Mapping[Path, frozenset[str]]
_worker: tuple[Project, list[Rule], _Codes, bool] | None = None  # in a worker
# Files a worker takes at a time (its stripe keeps neighbouring files together).
_BATCH = 2


def _check_files(todo: list[Path], project: Project, rules: Sequence[type[Rule]],
                 selected: _Codes, jobs: int, fixable: bool) -> list[_Outcome]:
    """The outcome of each file of ``todo``, in its order."""
    outcomes: dict[int, _Outcome] = {}
    if min(jobs, len(todo)) > 1:
        try:
            _pool_map(todo, project.files, rules, selected, min(jobs, len(todo)), fixable,
                      outcomes)
        except (_WorkerDied, OSError):
            pass  # a worker died (killed, out of memory): the rest is checked here
    instances = [rule() for rule in rules]
    with _fewer_full_collections():
        for index, file in enumerate(todo):
            if index not in outcomes:
                outcomes[index] = _check_file(file, project, instances, selected[file],
                                              fixable)
    return [outcomes[index] for index in range(len(todo))]


class _WorkerDied(Exception):
    pass


def _pool_map(todo: list[Path], files: list[Path], rules: Sequence[type[Rule]],
              selected: _Codes, jobs: int, fixable: bool,
              outcomes: dict[int, _Outcome]) -> None:
    """Check ``todo`` in ``jobs`` worker processes, filling ``outcomes`` (by index).

    Worker k walks the k-th stripe of the files in order (neighbouring files import each
    other: a worker parses a shared import once); a worker done with its stripe takes
    batches from the end of the stripe with the most left, so that all finish together.
    """
    import multiprocessing  # only here: a one-file run does not pay for its import
    import queue

    methods = multiprocessing.get_all_start_methods()
    # fork starts a worker in milliseconds, with the rules already imported; macOS and
    # Windows cannot fork safely
    fork = sys.platform == "linux" and "fork" in methods
    context = multiprocessing.get_context("fork" if fork else "spawn")
    if fork:
        _preload(todo, fixable)
    batches = [(i, min(i + _BATCH, len(todo))) for i in range(0, len(todo), _BATCH)]
    bounds = [len(batches) * k // jobs for k in range(jobs + 1)]
    stripes = context.Array("i", [b for k in range(jobs) for b in bounds[k:k + 2]])
    results = context.Queue()
    workers = [context.Process(target=_stripe_worker, daemon=True, args=(
        k, stripes, batches, todo, files, rules, selected, fixable, results))
        for k in range(jobs)]
    left = len(todo)
    try:
        for worker in workers:
            worker.start()
        while left:
            try:
                first, checked = results.get(timeout=0.2)
            except queue.Empty:
                if any(w.exitcode not in (None, 0) for w in workers) or all(
                        w.exitcode is not None for w in workers):
                    raise _WorkerDied from None
                continue
            outcomes.update(zip(range(first, first + len(checked)), checked))
            left -= len(checked)
    finally:
        for worker in workers:
            if worker.is_alive() and left:
                worker.terminate()
            worker.join()


def _stripe_worker(k: int, stripes, batches: list[tuple[int, int]], todo: list[Path],
                   files: list[Path], rules: Sequence[type[Rule]], selected: _Codes,
                   fixable: bool, results) -> None:
    _start_worker(files, rules, selected, fixable)
    jobs = len(stripes) // 2
    while True:
        with stripes.get_lock():
            if stripes[2 * k] < stripes[2 * k + 1]:
                taken = stripes[2 * k]
                stripes[2 * k] += 1
            else:
                j = max(range(jobs), key=lambda j: stripes[2 * j + 1] - stripes[2 * j])
                if stripes[2 * j] >= stripes[2 * j + 1]:
                    return
                stripes[2 * j + 1] -= 1
                taken = stripes[2 * j + 1]
        first, last = batches[taken]
        results.put((first, _check_batch(todo[first:last])))


def _preload(todo: list[Path], fixable: bool) -> None:
    """Import the frontends the files need once, before forking, instead of in each
    worker (LibCST alone takes a tenth of a second to import)."""
    suffixes = {path.suffix for path in todo}
    names = []
    if suffixes & {".py", ".ipynb"}:
        from layerlint.frontends.python import source

        names += [*source.PLUGINS, source._TRAINING]
        if fixable:
            names.append("layerlint.frontends.source_fixer")
    if suffixes & {".onnx", ".onnxtxt"}:
        names.append("layerlint.frontends.onnx.lowering")
    for name in names:
        importlib.import_module(name)


def _start_worker(files: list[Path], rules: Sequence[type[Rule]], selected: _Codes,
                  fixable: bool) -> None:
    global _worker
    _worker = (Project(files, display=display_path), [rule() for rule in rules], selected,
               fixable)


def _check_batch(batch: list[Path]) -> list[_Outcome]:
    assert _worker is not None
    project, instances, selected, fixable = _worker
    with _fewer_full_collections():
        return [_check_file(file, project, instances, selected[file], fixable)
                for file in batch]


# Per-file budget: a file over it gets LL002 instead of running on (the frontends bound
# their own work; this catches what they miss). CPU time, so that a loaded machine does
# not turn a slow file into a partial result.
FILE_CPU_BUDGET_S = 10.0
MAX_SOURCE_BYTES = 4_000_000  # .py files; the largest real one seen is 1.4 MB


class _OutOfTime(BaseException):
    """Raised by the budget's timer; a BaseException, so that no frontend's
    ``except Exception`` swallows it."""


@contextmanager
def _cpu_budget(seconds: float) -> Iterator[None]:
    """Raise _OutOfTime in the block after ``seconds`` of this process's CPU time
    (where a timer signal can be used: the main thread on a POSIX system)."""
    if (seconds <= 0 or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    armed = [True]

    def expire(signum: int, frame: object) -> None:
        if armed[0]:
            armed[0] = False
            raise _OutOfTime

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _check_file(file: Path, project: Project, rules: list[Rule], selected: frozenset[str],
                fixable: bool) -> _Outcome:
    """Check one file with the rules of ``selected`` (the codes enabled for it); with
    ``fixable``, verify the findings' fixes (``_verify_fixes``), else drop them."""
    rules = [rule for rule in rules if rule.code in selected]
    project.dependencies = set()
    project.skipped = []
    note = None
    if file.suffix == ".py":
        try:
            buffer = project.contents.get(file.resolve())
            size = file.stat().st_size if buffer is None else len(buffer)
        except OSError:
            size = 0
        if size > MAX_SOURCE_BYTES:
            note = (f"not analysed: the file is {size / 1e6:.1f} MB, over layerlint's "
                    f"limit of {MAX_SOURCE_BYTES / 1e6:g} MB for a source file")
    if note is None:
        try:
            with _cpu_budget(FILE_CPU_BUDGET_S):
                findings, errors, dependencies = _analyse(file, project, rules, selected)
        except _OutOfTime:
            note = (f"not analysed: stopped after {FILE_CPU_BUDGET_S:g} s of CPU time, "
                    f"layerlint's budget for one file")
        else:
            findings = _verify_fixes(file, findings, project, rules) if fixable else [
                replace(f, fix=None) if f.fix is not None else f for f in findings]
            marks = [f.fix.safe if f.fix else None for f in findings] if fixable else None
            return findings, errors, dependencies, marks
    over = [_diagnostic(INCOMPLETE, file, note)] if INCOMPLETE in selected else []
    return over, [], sorted(project.dependencies), [None] * len(over)


def _analyse(file: Path, project: Project, rules: list[Rule], selected: frozenset[str]
             ) -> tuple[list[Finding], list[tuple[str, Finding]], list[Path]]:
    errors: list[tuple[str, Finding]] = []
    try:
        graphs = load_graphs(file, project)
    except OverBudget as error:
        over = [_diagnostic(INCOMPLETE, file, error.message, error.line, error.column,
                            error.cell)] if INCOMPLETE in selected else []
        return over, errors, sorted(project.dependencies)
    except InputError as error:
        unread = [_diagnostic(PARSE_ERROR, file, error.message, error.line, error.column,
                              error.cell)] if PARSE_ERROR in selected else []
        return unread, errors, sorted(project.dependencies)
    except OSError as error:  # unreadable (permissions, vanished, I/O error): LL001
        unread = [_diagnostic(PARSE_ERROR, file, f"cannot read file: "
                              f"{error.strerror or type(error).__name__}")
                  ] if PARSE_ERROR in selected else []
        return unread, errors, []
    except Exception as error:  # noqa: BLE001 - one bad input never stops the run
        errors.append((f"{display_path(file)}: frontend crashed: {error!r}",
                       crash_diagnostic(file, "the frontend", error)))
        return [], errors, []
    findings: list[Finding] = [
        _diagnostic(PARSE_ERROR, file, part.message, part.line, part.column, part.cell)
        for part in project.skipped if PARSE_ERROR in selected]
    for graph in graphs:
        if INCOMPLETE in selected:
            findings.extend(_incomplete(graph, rules))
        for rule in rules:
            try:
                findings.extend(rule.check(graph))
            except Exception as error:  # noqa: BLE001 - a crashing rule is reported, not fatal
                errors.append((
                    f"{graph.path}: rule {rule.code} crashed on {graph.name}: {error!r}",
                    crash_diagnostic(graph.path, f"rule {rule.code} on `{graph.name}`",
                                     error)))
    return findings, errors, sorted(project.dependencies)


def _verify_fixes(file: Path, findings: list[Finding], project: Project,
                  rules: list[Rule]) -> list[Finding]:
    """The findings, each with its fix verified (carrying its edits) or none: a fix is
    offered only if, applied alone, its result parses and re-linting it no longer
    reports the finding nor any new finding of its rule. This is the one place that
    decides what is fixable: ``[*]``, ``--fix``, ``--diff``, JSON and SARIF follow it.
    Verification has its own CPU budget: a fix not verified in time is not offered."""
    verified: dict[int, Fix] = {}
    if any(f.fix is not None for f in findings):
        try:
            with _cpu_budget(FILE_CPU_BUDGET_S):
                _verify(file, findings, project, {rule.code: rule for rule in rules},
                        verified)
        except _OutOfTime:
            pass
    return [replace(f, fix=verified.get(i)) if f.fix is not None else f
            for i, f in enumerate(findings)]


def _verify(file: Path, findings: list[Finding], project: Project, rules: dict[str, Rule],
            verified: dict[int, Fix]) -> None:
    from layerlint.fix import text_edits
    from layerlint.frontends.python.source import PythonModule
    from layerlint.frontends.source_fixer import plan

    tried: dict[tuple, bool] = {}  # (finding, fixed text) -> whether it resolves
    # a finding reported by several graphs (a block in each model a file builds) is
    # planned once: planning transforms and regenerates the whole file
    planned: dict[Finding, Fix | None] = {}
    for index, finding in enumerate(findings):
        fix = finding.fix
        if fix is None:
            continue
        target = fix.target
        if target.node is not None or target.cell is not None \
                or not target.path.endswith(".py") or target.path != finding.location.path \
                or finding.code not in rules:
            continue  # only Python source is fixed (never a notebook or an ONNX graph)
        if finding in planned:
            done = planned[finding]
            if done is not None:
                verified[index] = done
            continue
        planned[finding] = None
        path = Path(target.path)
        parsed = project.modules.get(path.resolve())
        module = parsed if isinstance(parsed, PythonModule) else None
        try:
            fixed = plan(path, b"" if module else project.read_bytes(path), [finding],
                         target.path,
                         parsed=module)
        except Exception:  # noqa: BLE001 - a fix that cannot be planned is not offered
            continue
        if not fixed.applied or not fixed.changed:
            continue
        key = (finding.code, finding.location, fixed.fixed)
        if key not in tried:
            tried[key] = _resolves(file, finding, fixed.original, fixed.fixed, project,
                                   rules[finding.code], findings)
        if tried[key]:
            verified[index] = planned[finding] = fix.verified(
                text_edits(fixed.original, fixed.fixed))


def _resolves(file: Path, finding: Finding, original: str, fixed: str, project: Project,
              rule: Rule, before: list[Finding]) -> bool:
    """Whether re-linting ``file`` with the finding's file changed to ``fixed`` reports
    the rule's findings there without this one and without a new one. Findings are
    matched by the code they point at (positions move when lines move)."""
    from layerlint.frontends.python.source import PythonModule, parse_python
    from layerlint.pytext import detect_encoding

    path = finding.location.path
    trial = Project(project.files, display=project.display, contents=project.contents)
    changed = Path(path).resolve()
    for key, module in project.modules.items():
        if key != changed and isinstance(module, PythonModule):
            # an unchanged file's parse (an immutable tree) serves again, with fresh
            # position caches, as a new parse would: only the fixed file is parsed
            trial.modules[key] = module.reused()
    try:
        encoding = detect_encoding(fixed.encode("utf-8", "replace"))
        parse_python(Path(path), trial, fixed.encode(encoding, "replace"))
        after = [f for graph in load_graphs(file, trial) for f in rule.check(graph)]
    except Exception:  # noqa: BLE001 - a fix whose result cannot be linted is not offered
        return False
    old = _spans(before, rule.code, path, original)
    old[_span(original, finding.location)] -= 1
    new = _spans(after, rule.code, path, fixed)
    return all(count <= old[span] for span, count in new.items())


def _spans(findings: list[Finding], code: str, path: str, text: str) -> Counter[str]:
    """How many findings of ``code`` in ``path`` point at each piece of code."""
    locations = {f.location for f in findings if f.code == code and f.location.path == path}
    return Counter(_span(text, location) for location in locations)


def _span(text: str, location: Location) -> str:
    lines = python_lines(text)  # as positions count them (a form feed breaks no line)
    if not 0 < location.line <= len(lines):
        return ""
    if location.end_line is None or location.end_column is None:
        return lines[location.line - 1].strip()
    piece = "\n".join(lines[location.line - 1:location.end_line])
    cut = len(piece) - len(lines[location.end_line - 1]) + location.end_column - 1
    return piece[location.column - 1:cut]


def _dedupe(findings: list[Finding], run_paths: set[str]) -> list[Finding]:
    """One finding per (code, location); only in files of this run; sorted."""
    unique: dict[tuple, Finding] = {}
    for finding in findings:
        if finding.location.path not in run_paths:
            continue
        key = (finding.code, finding.location)
        if finding.code == INCOMPLETE:  # a crash beside a note: both are kept
            key += (finding.message,)
        unique.setdefault(key, finding)
    return sorted(unique.values(), key=Finding.sort_key)
