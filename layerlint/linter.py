"""One ``layerlint check`` run: configuration, the engine, suppressions, baseline, fixes.

The engine lints files; this module decides which files and rules (per the nearest
configuration), drops suppressed and baselined findings, and applies fixes.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from layerlint import baseline as baselines
from layerlint._files import rewrite_in_place_of
from layerlint.config import Overrides, Resolver, Settings
from layerlint.engine import check_buffer, check_paths, discover, display_path
from layerlint.pytext import detect_encoding
from layerlint.registry import all_rules
from layerlint.rule import Finding
from layerlint.source import SourceFile, read_source, source_of
from layerlint.suppressions import MALFORMED, UNUSED, scan

if TYPE_CHECKING:
    from layerlint.cache import ResultCache

__all__ = ["LintOptions", "LintResult", "lint", "lint_buffer", "show_files",
           "show_settings"]

_MAX_FIX_PASSES = 10


@dataclass(frozen=True)
class LintOptions:
    overrides: Overrides = Overrides()
    config: Path | None = None
    isolated: bool = False
    force_exclude: bool = False
    report_unused_suppressions: bool = False
    baseline: Path | None = None
    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False
    # verify the fixes (engine.check_paths): findings carry only fixes that re-linting
    # showed to resolve them; without it (and without fix or diff) they carry none
    count_fixable: bool = True
    cache: bool = False  # reuse results of earlier runs (layerlint.cache)
    cache_dir: Path | None = None  # default: `cache-dir` in the configuration, else
    # .layerlint_cache in the working directory
    jobs: int = 1  # worker processes


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    internal_errors: list[str] = field(default_factory=list)
    sources: dict[str, SourceFile | None] = field(default_factory=dict)
    baseline_written: int | None = None  # findings written to a new baseline
    baseline_matched: int = 0
    fixed: int = 0  # fixes applied (or shown by --diff)
    diff: str = ""
    fix_notes: list[str] = field(default_factory=list)  # fixes not applied, and why
    fixable: dict[Finding, bool] = field(default_factory=dict)  # finding -> fix is safe

    def source(self, display: str) -> SourceFile | None:
        if display not in self.sources:
            self.sources[display] = read_source(Path(display))
        return self.sources[display]


def _files(paths: Sequence[Path], resolver: Resolver, force_exclude: bool
           ) -> list[Path]:
    """Files to check (and missing paths, for LL001); excludes apply when walking."""
    def excluded(path: Path) -> bool:
        return resolver.settings_for(path).is_excluded(path)

    chosen: list[Path] = []
    for path in paths:
        if path.is_dir():
            found, problems = discover([path], excluded)
            chosen.extend(found)
            # folders that cannot be listed: the engine's walk reports them (LL001)
            chosen.extend(Path(p.location.path) for p in problems)
        elif not (force_exclude and resolver.settings_for(path).is_excluded_path(path)):
            chosen.append(path)
    return list(dict.fromkeys(chosen))


def show_files(paths: Sequence[Path], options: LintOptions = LintOptions()) -> list[Path]:
    """The files ``lint`` would check (``--show-files``)."""
    resolver = Resolver(options.overrides, options.config, options.isolated)
    return _files(paths or [Path(".")], resolver, options.force_exclude)


def show_settings(path: Path, options: LintOptions = LintOptions()) -> Settings:
    """The settings that apply to ``path`` (``--show-settings``)."""
    return Resolver(options.overrides, options.config, options.isolated).settings_for(path)


def lint(paths: Sequence[Path], options: LintOptions = LintOptions()) -> LintResult:
    """Lint; raises ConfigError or BaselineError for a bad configuration or baseline.

    With fixes, the files are linted again after each pass that wrote a fix, as ruff
    does (a fix can make another one applicable: two edits of one Sequential), up to
    ``_MAX_FIX_PASSES``; the result is the last pass's findings, fixes counted over all.
    """
    result = LintResult()
    carried: list[str] = []  # notes of earlier passes that stay true
    for number in range(_MAX_FIX_PASSES + 1):
        final = number == _MAX_FIX_PASSES  # only lints: what is left
        this = replace(options, fix=options.fix and not final)
        result.fix_notes = []
        findings, crashes, written = _lint_pass(paths, this, result)
        if not written:
            break
        carried += [note for note in result.fix_notes if "changed during the run" in note]
    result.fix_notes = carried + result.fix_notes
    if options.baseline is not None:
        findings = _baseline(findings, options.baseline, result)
        kept = set(findings)
        result.fixable = {f: safe for f, safe in result.fixable.items() if f in kept}
    # A crash is reported whatever the selection, suppressions or baseline say.
    findings = [*findings, *(f for f in crashes if f not in findings)]
    result.findings = sorted(findings, key=Finding.sort_key)
    return result


def lint_buffer(path: Path, contents: Mapping[Path, bytes],
                options: LintOptions = LintOptions()) -> LintResult:
    """Lint the unsaved text ``contents[path.resolve()]`` of ``path`` (an editor's
    buffer) as ``lint`` would lint the file: the same settings, selection, suppressions
    and fixability; imports read the other ``contents`` before the disk. No cache,
    baseline or fixes (nothing is written). Raises ConfigError for a bad configuration."""
    resolver = Resolver(options.overrides, options.config, options.isolated)
    settings = resolver.settings_for(path)
    display = display_path(path)
    codes = settings.codes_for(path)
    rules = [rule for rule in all_rules() if rule.code in codes]
    engine = check_buffer(path, contents, rules, codes, fixable=options.count_fixable)
    result = LintResult(files_checked=1, internal_errors=engine.internal_errors)
    result.sources[display] = source_of(path, contents[path.resolve()])
    crashes = set(engine.crashes)
    findings = [f for f in engine.findings if f not in crashes]
    findings = _unsuppressed(findings, {display: settings}, options, result)
    result.fixable = {f: engine.fixable[f] for f in findings if f in engine.fixable}
    findings += [f for f in engine.crashes if f not in findings]
    result.findings = sorted(findings, key=Finding.sort_key)
    return result


def _lint_pass(paths: Sequence[Path], options: LintOptions, result: LintResult
               ) -> tuple[list[Finding], list[Finding], bool]:
    """Lint once and apply the fixes asked for: (findings, crashes, whether a fixed
    file was written). Counts and notes accumulate in ``result``."""
    resolver = Resolver(options.overrides, options.config, options.isolated)
    files = _files(paths or [Path(".")], resolver, options.force_exclude)
    fixing = options.fix or options.diff  # as ruff: --unsafe-fixes only enables
    # Only source files are fixed (never read a model's gigabytes of weights here).
    hashes = {display_path(f): _digest(f) for f in files
              if f.suffix == ".py"} if fixing else {}
    settings = {display_path(f): resolver.settings_for(f) for f in files}
    enabled = frozenset().union(*(s.enabled for s in settings.values()))
    rules = [rule for rule in all_rules() if rule.code in enabled]
    # each file runs only the rules enabled for it (its settings, per-file-ignores)
    engine = check_paths(files, rules, cache=_cache(options, resolver, rules), jobs=options.jobs,
                         fixable=options.count_fixable or fixing,
                         enabled={f: settings[display_path(f)].codes_for(f) for f in files})
    result.files_checked = engine.files_checked
    result.internal_errors.extend(engine.internal_errors)
    result.sources = {}  # files may have changed since the last pass
    crashes = set(engine.crashes)
    # also drops LL001 for paths given on the command line but ignored for them
    findings = [f for f in engine.findings
                if f not in crashes and _is_enabled(f, settings, resolver)]
    findings = _unsuppressed(findings, settings, options, result)
    result.fixable = {f: engine.fixable[f] for f in findings if f in engine.fixable}
    written = _fix(options, findings, result, hashes) if fixing else False
    return findings, engine.crashes, written


def _cache(options: LintOptions, resolver: Resolver, rules: list) -> ResultCache | None:
    if not options.cache:
        return None
    from layerlint.cache import DEFAULT_DIR, ResultCache

    folder = options.cache_dir or resolver.settings_for(Path.cwd()).cache_dir or DEFAULT_DIR
    return ResultCache(folder, rules)


def _is_enabled(finding: Finding, settings: dict[str, Settings], resolver: Resolver) -> bool:
    path = finding.location.path
    own = settings.get(path) or resolver.settings_for(Path(path))
    return finding.code in own.codes_for(Path(path))


def _unsuppressed(findings: list[Finding], settings: dict[str, Settings],
                  options: LintOptions, result: LintResult) -> list[Finding]:
    by_path: dict[str, list[Finding]] = {}
    for finding in findings:
        by_path.setdefault(finding.location.path, []).append(finding)
    known = frozenset(rule.code for rule in all_rules())
    kept: list[Finding] = []
    for path, own in settings.items():
        report_unused = options.report_unused_suppressions or UNUSED in own.enabled
        mine = by_path.pop(path, [])
        if not mine and not report_unused and not _may_have_directives(path, result):
            continue  # (a malformed directive is reported in a file without findings too)
        source = result.source(path)
        if source is None:
            kept.extend(mine)
            continue
        suppressions = scan(source)
        codes = own.codes_for(Path(path))
        if MALFORMED in codes:
            mine = mine + suppressions.malformed_findings(path)
        kept.extend(f for f in mine if not suppressions.suppresses(f))
        if report_unused:
            unused = suppressions.unused(path, codes, known)
            kept.extend(f for f in unused if not suppressions.suppresses(f))
    for rest in by_path.values():  # paths that are not files of the run (missing ones)
        kept.extend(rest)
    return kept


_DIRECTIVE_WORD = re.compile(rb"noqa|layerlint", re.I)


def _may_have_directives(path: str, result: LintResult) -> bool:
    """A byte scan: most files hold no directive and are neither decoded nor tokenized."""
    known = result.sources.get(path)
    try:
        data = known.data if known is not None else Path(path).read_bytes()
        return _DIRECTIVE_WORD.search(data) is not None
    except OSError:
        return False


def _baseline(findings: list[Finding], path: Path, result: LintResult) -> list[Finding]:
    base = Path(os.path.abspath(path)).parent
    prints = baselines.fingerprints(findings, result.source, base)
    if not path.exists():
        baselines.write(path, findings, prints)
        result.baseline_written = len(findings)
        return []
    kept, result.baseline_matched = baselines.apply(findings, prints, baselines.read(path))
    return kept


def _digest(path: Path) -> str | None:
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return None  # a FIFO or a device is never read (LL001)
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _fixes_by_file(findings: list[Finding], unsafe: bool) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        fix = finding.fix
        if fix is not None and (fix.safe or unsafe) and finding.location.path.endswith(".py"):
            groups.setdefault(finding.location.path, []).append(finding)
    return groups


def _fix(options: LintOptions, findings: list[Finding], result: LintResult,
         hashes: dict[str, str | None]) -> bool:
    """Apply (or, with ``diff``, show) the fixes of ``findings``; whether a file was written."""
    from layerlint.frontends.source_fixer import plan

    written = False
    for display, group in _fixes_by_file(findings, options.unsafe_fixes).items():
        path = Path(display)
        try:
            data = path.read_bytes()
        except OSError as error:
            result.fix_notes.append(f"{display}: not fixed: {error.strerror}")
            continue
        if hashlib.sha256(data).hexdigest() != hashes.get(display):
            result.fix_notes.append(f"{display}: not fixed: the file changed during the run")
            continue
        try:
            fixes = plan(path, data, group, display)
        except ValueError as error:
            result.fix_notes.append(f"not fixed: {error}")
            continue
        except Exception as error:  # noqa: BLE001 - a crashing fixer never stops the run
            result.internal_errors.append(f"{display}: fixer crashed: {error!r}")
            continue
        for finding, reason in fixes.refused:
            result.fix_notes.append(
                f"{display}:{finding.location.line}: {finding.code} not fixed: {reason}")
        if not fixes.changed:
            continue
        if options.diff:
            result.diff += "".join(difflib.unified_diff(
                fixes.original.splitlines(True), fixes.fixed.splitlines(True),
                f"a/{Path(display).as_posix()}", f"b/{Path(display).as_posix()}"))
        elif (refused := _write(path, data, fixes.fixed, hashes.get(display))) is not None:
            result.fix_notes.append(f"{display}: not fixed: {refused}")
            continue
        else:
            written = True
        result.fixed += len(fixes.applied)
    return written


def _write(path: Path, original: bytes, text: str, digest: str | None) -> str | None:
    """Replace the file's content, unless it changed since the run read it (see
    ``rewrite_in_place_of`` for symlinks, hard links and read-only files); the reason
    when it is not written."""
    current = _digest(path)
    if current is None or current != digest:
        return "the file changed during the run"
    encoding = detect_encoding(original)
    return rewrite_in_place_of(path, text.encode(encoding))
