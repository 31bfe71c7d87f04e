"""Benchmark ``layerlint check`` against LibCST parse-only time on the same files.

    python benchmarks/bench_check.py                 # corpus: the installed torch package
    python benchmarks/bench_check.py --keras         # corpus: the installed keras package
    python benchmarks/bench_check.py PATH... [--repeat 5] [--model-files 150]

Reports, from one run and one process state (a warm-up pass, then the best of
``--repeat`` passes, garbage collected before each):

1. files with model code (they mention torch or keras and define a Module/Model/Layer
   subclass): layerlint's time (the engine alone; ``check --format json``; ``check``
   with text output, which also dry-runs the fixes to mark fixable findings), LibCST
   parse-only time (read + decode + ``libcst.parse_module``), and their ratio (target:
   at most 2.0x);
2. files that mention neither torch nor keras: layerlint's time against parsing them
   (target: at least 20x cheaper);
3. peak RSS of a fresh ``layerlint check`` process on 1, 2, 4 and 8 copies of the same
   model files (target: flat; doubling the files from 4 to 8 copies adds < 10%).

The corpus is read from disk; nothing is imported from it (torch is located with
``importlib.util.find_spec``, which does not run the package).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import tokenize
from collections.abc import Callable, Sequence
from pathlib import Path

import libcst

from layerlint.engine import check_paths
from layerlint.linter import LintOptions, lint
from layerlint.registry import select_rules

_FRAMEWORK = (b"torch", b"keras")
_MODEL_CLASS = re.compile(
    rb"^\s*class \w+\((?:[\w.]+\.)?(?:Module|Sequential|ModuleList|ModuleDict|Model|Layer)\b",
    re.M,
)
# Keras models are often functions that build a Sequential or a functional Model.
_KERAS_MODEL = re.compile(rb"\b(?:Sequential|Model|Functional)\(")
_SKIP_DIRS = {"__pycache__", "test", "tests", "testing", "_vendor", "vendored"}


def _python_files(roots: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        if root.is_file():
            files.append(root)
            continue
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
            files.extend(Path(folder, n) for n in sorted(names) if n.endswith(".py"))
    return files


def _spread(items: list[Path], count: int) -> list[Path]:
    """``count`` items evenly spread over ``items`` (deterministic)."""
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def _classify(files: list[Path]) -> tuple[list[Path], list[Path]]:
    model, plain = [], []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if any(marker in data for marker in _FRAMEWORK):
            if _MODEL_CLASS.search(data) or (b"keras" in data and _KERAS_MODEL.search(data)):
                model.append(path)
        else:
            plain.append(path)
    return model, plain


def _parse(path: Path) -> libcst.Module:
    data = path.read_bytes()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return libcst.parse_module(data.decode(encoding))


def _parse_only(files: Sequence[Path]) -> None:
    for path in files:
        _parse(path)


def _best(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time of this process over ``repeat`` passes.

    CPU time is the steadier figure on a shared machine; both are printed.
    """
    action()  # warm-up: page cache, imports, lazily built tables
    wall = cpu = float("inf")
    for _ in range(repeat):
        gc.collect()
        started, started_cpu = time.perf_counter(), time.process_time()
        action()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return wall, cpu


def _parsed_by_layerlint(files: Sequence[Path]) -> list[Path]:
    """Every file a run parses: the run's own, and project files it imports from."""
    from layerlint.frontends.python import source as _python

    seen: dict[Path, None] = {}
    original = _python.parse_python

    def spy(path: Path, *args: object, **kwargs: object) -> object:
        seen[Path(path).resolve()] = None
        return original(path, *args, **kwargs)

    _python.parse_python = spy  # type: ignore[assignment]
    try:
        check_paths(list(files), select_rules())
    finally:
        _python.parse_python = original  # type: ignore[assignment]
    return list(seen)


def _parseable(files: list[Path]) -> list[Path]:
    """Drop files LibCST cannot parse, so both sides do the same work."""
    good = []
    for path in files:
        try:
            _parse(path)
        except Exception:  # noqa: BLE001 - any failure excludes the file from the corpus
            continue
        good.append(path)
    return good


_RSS_CHILD = """
import json, sys
from pathlib import Path
from layerlint.linter import LintOptions, lint
files = [Path(p) for p in json.load(sys.stdin)]
if files:
    lint(files, LintOptions(isolated=True))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent.
status = open("/proc/self/status").read()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
"""


def _peak_rss_mib(files: Sequence[Path]) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD], input=json.dumps([str(f) for f in files]),
        capture_output=True, text=True, check=True,
    )
    return int(proc.stdout.split()[-1]) / 1024  # VmHWM is in KiB


def _memory_series(sample: list[Path]) -> None:
    """Peak RSS for 1, 2, 4, 8 copies of the same files: growth with the file count
    alone, not with the size of the largest file (which sets the peak of any run)."""
    print(f"\n3. peak RSS of a fresh `layerlint check` on k copies of {len(sample)} model files")
    base = _peak_rss_mib([])
    print(f"   {0:5d} files   {base:7.1f} MiB (imports only)")
    common = Path(os.path.commonpath([p.resolve() for p in sample]))
    if common in {p.resolve() for p in sample}:
        common = common.parent
    series = []
    with tempfile.TemporaryDirectory() as tmp:
        for copies in (1, 2, 4, 8):
            files = []
            for k in range(copies):
                for path in sample:
                    target = Path(tmp, f"copy{k}", path.resolve().relative_to(common))
                    if not target.exists():
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(path, target)
                    files.append(target)
            rss = _peak_rss_mib(files)
            series.append(rss)
            print(f"   {len(files):5d} files   {rss:7.1f} MiB   (+{rss - base:.1f} over imports)")
    # Parsed modules are kept in a bounded cache, so memory may rise over the first
    # files; flat means that doubling the files at the end adds (almost) nothing.
    growth = (series[-1] - series[-2]) / max(series[-2] - base, 1.0)
    print(f"   {4 * len(sample)} -> {8 * len(sample)} files: {growth:+.0%} of the memory "
          f"over imports   target flat (< +10%): {'met' if growth < 0.10 else 'NOT met'}")


def _default_roots(package: str = "torch") -> list[Path]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{package} is not installed: pass the folders to benchmark")
    return [Path(next(iter(spec.submodule_search_locations)))]


def _default_plain_roots() -> list[Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    return [site / name for name in ("sympy", "networkx", "numpy", "jinja2", "click")
            if (site / name).is_dir()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path,
                        help="folders or files (default: the installed torch package)")
    parser.add_argument("--keras", action="store_true",
                        help="default corpus: the installed keras package instead of torch")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (best is kept)")
    parser.add_argument("--model-files", type=int, default=100,
                        help="at most this many model files, spread over the corpus")
    parser.add_argument("--plain-files", type=int, default=300,
                        help="at most this many files without torch/keras")
    parser.add_argument("--no-memory", action="store_true", help="skip the RSS series")
    parser.add_argument("--memory-sample", type=int, default=25,
                        help="model files copied 1, 2, 4 and 8 times for the RSS series")
    args = parser.parse_args(argv)

    roots = args.paths or _default_roots("keras" if args.keras else "torch")
    model, plain = _classify(_python_files(roots))
    if len(plain) < 20:  # too few to time: take them from other installed packages
        plain = _classify(_python_files(_default_plain_roots()))[1]
    model = _parseable(_spread(model, args.model_files))
    plain = _parseable(_spread(plain, args.plain_files))
    if not model:
        sys.exit("no model files found in the corpus")
    rules = select_rules()
    size = sum(p.stat().st_size for p in model) / 1e6
    lines = sum(p.read_bytes().count(b"\n") for p in model)
    print(f"corpus: {len(model)} model files ({size:.2f} MB, {lines} lines) from "
          f"{', '.join(str(p) for p in roots)}")
    print(f"python {sys.version.split()[0]}, libcst {_version('libcst')}, "
          f"best of {args.repeat} after a warm-up\n")

    parse = _best(lambda: _parse_only(model), args.repeat)
    engine = _best(lambda: check_paths(model, rules), args.repeat)
    full = _best(lambda: lint(model, LintOptions(isolated=True)), args.repeat)
    as_json = _best(lambda: lint(model, LintOptions(isolated=True, count_fixable=False)),
                    args.repeat)
    parsed = _parsed_by_layerlint(model)
    extra = sorted(set(parsed) - {p.resolve() for p in model})
    parse_all = _best(lambda: _parse_only(parsed), args.repeat) if extra else parse
    print("1. model files               wall s    cpu s   ratio (cpu) to parse-only")
    _row("LibCST parse-only", parse, parse)
    _row("layerlint engine", engine, parse)
    _row("check --format json", as_json, parse, target=2.0)
    _row("check (text: + fix dry run)", full, parse, target=2.0)
    if extra:
        print(f"   layerlint also parsed {len(extra)} project files the run imports from "
              f"(outside the run); parse-only of all {len(parsed)} files it parsed:")
        _row("LibCST parse-only, all", parse_all, parse_all)
        _row("check (text: + fix dry run)", full, parse_all, target=2.0)

    if plain:
        plain_parse = _best(lambda: _parse_only(plain), args.repeat)
        plain_lint = _best(lambda: lint(plain, LintOptions(isolated=True)), args.repeat)
        factor = plain_parse[1] / max(plain_lint[1], 1e-9)
        print(f"\n2. {len(plain)} files mentioning neither torch nor keras "
              f"({sum(p.stat().st_size for p in plain) / 1e6:.2f} MB)")
        _row("LibCST parse-only", plain_parse, plain_parse)
        print(f"   {'layerlint check':28} {plain_lint[0]:8.3f} {plain_lint[1]:8.3f}"
              f"   {factor:6.1f}x cheaper   target >= 20x: "
              f"{'met' if factor >= 20 else 'NOT met'}")

    if not args.no_memory:
        _memory_series(model[: args.memory_sample])
    return 0


def _row(label: str, times: tuple[float, float], base: tuple[float, float],
         target: float | None = None) -> None:
    ratio = times[1] / max(base[1], 1e-9)
    verdict = "" if target is None else (
        f"   target <= {target}x: {'met' if ratio <= target else 'NOT met'}")
    print(f"   {label:28} {times[0]:8.3f} {times[1]:8.3f}   {ratio:5.2f}x{verdict}")


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    raise SystemExit(main())
