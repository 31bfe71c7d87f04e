"""Where layerlint stands: whole processes on the same files, in one run, as ratios.

    python benchmarks/bench_speed.py PATH...                # folders of Python code
    python benchmarks/bench_speed.py PATH... --tools /work/venvs/bench/bin \\
        --before /tmp/layerlint-old --jobs 2

Every row is one fresh process over the same files (the ``.py`` files under PATH...),
timed by its CPU seconds (user + system, the steadier figure on a shared machine) and
wall seconds; ratios are against LibCST parse-only (read, decode, ``parse_module``),
measured in the same run:

- LibCST parse-only, one process;
- ``layerlint check --select ALL`` (``--isolated``), JSON and text output (text marks
  fixable findings), cold (``--no-cache``) in one process (``--jobs 1``), with ``--jobs``
  worker processes (compare the wall seconds), and a warm run (a second run on the
  unchanged files with the cache: target <= 5% of cold);
- with ``--before DIR``, the same commands run from an older checkout (``PYTHONPATH=DIR``;
  flags it does not know are left out), for before/after figures from one run;
- with ``--tools DIR`` (a separate environment: never project dependencies), TorchFix
  ``--select ALL`` on the files that mention torch, ``fixit lint`` (built-in rules), and
  ruff ``--select ALL --no-cache`` when found there or on PATH;
- in one process: ``check_paths`` with and without fix marks (text and JSON output mark
  fixes) against LibCST parse-only in the same process: the analysis alone;
- the cold path: ``layerlint --version``, one ``.py`` file and one ``.onnx`` file
  (best of five runs, wall and CPU seconds; targets 0.05 s and 0.25 s).

Nothing here imports the corpus. Install the tools for benchmarking only, e.g.
``python -m venv /work/venvs/bench && /work/venvs/bench/bin/pip install torchfix fixit``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
_ONE_FILE = _ROOT / "fixtures" / "torch" / "wide_resnet.py"
_ONE_ONNX = _ROOT / "fixtures" / "onnx" / "cnn_train_export.onnxtxt"

# Every process runs here: `python -m` puts the working directory first on sys.path, and
# a project folder would also lend its configuration and cache.
_NEUTRAL = Path(tempfile.mkdtemp(prefix="bench-speed-"))

_PARSE_ONLY = """
import io, sys, tokenize
import libcst
for name in sys.stdin.read().splitlines():
    data = open(name, "rb").read()
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        libcst.parse_module(data.decode(encoding))
    except Exception:
        pass
"""


# In one process, the analysis alone (no start-up, configuration or output): check_paths
# with and without the fix marks that text and JSON output compute, against LibCST
# parse-only of the same files in the same process (best of ``sys.argv[1]`` runs each).
_IN_PROCESS = """
import io, sys, time, tokenize
from pathlib import Path
import libcst
from layerlint.engine import check_paths
from layerlint.registry import select_rules
files = [Path(n) for n in sys.stdin.read().splitlines()]
rules = select_rules(["ALL"])
check_paths(files[:1], rules, jobs=1)  # imports
def parse():
    for name in files:
        data = name.read_bytes()
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
            libcst.parse_module(data.decode(encoding))
        except Exception:
            pass
def timed(action):
    started = time.process_time()
    action()
    return time.process_time() - started
runs = [(timed(parse), timed(lambda: check_paths(files, rules, jobs=1)),
         timed(lambda: check_paths(files, rules, jobs=1, fixable=True)))
        for _ in range(int(sys.argv[1]))]
print(*(min(column) for column in zip(*runs)))
"""


def _in_process(env: dict[str, str], names: str, repeat: int) -> tuple[float, ...] | None:
    done = subprocess.run([sys.executable, "-c", _IN_PROCESS, str(repeat)], env=env,
                          input=names, text=True, cwd=_NEUTRAL, capture_output=True)
    try:
        return tuple(float(x) for x in done.stdout.split())
    except ValueError:
        print(f"   ! in-process run failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return None


@dataclass
class Timing:
    cpu: float
    wall: float
    status: int


def _run(command: Sequence[str], env: dict[str, str] | None = None, stdin: str | None = None,
         cwd: Path | None = None) -> Timing:
    """One process: its CPU seconds (it and its children: worker processes) and wall."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, input=stdin, text=True, cwd=cwd or _NEUTRAL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        print(f"   ! {' '.join(command[:6])}... exited {done.returncode}: "
              f"{done.stderr.strip()[-300:]}", file=sys.stderr)
    return Timing(cpu, wall, done.returncode)


def _best(command: Sequence[str], env: dict[str, str], repeat: int,
          stdin: str | None = None) -> Timing:
    """The least CPU and the least wall time over ``repeat`` runs (the least disturbed
    by other processes of a shared machine)."""
    return _interleaved({"": command}, env, repeat, stdin)[""]


def _interleaved(commands: dict[str, Sequence[str]], env: dict[str, str], repeat: int,
                 stdin: str | None = None) -> dict[str, Timing]:
    """``_best`` of several commands whose runs alternate, so that a change in the
    machine's load does not favour the one that ran first."""
    runs: dict[str, list[Timing]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            runs[name].append(_run(command, env, stdin=stdin))
    return {name: Timing(min(r.cpu for r in done), min(r.wall for r in done), done[-1].status)
            for name, done in runs.items()}


def _files(roots: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        if root.is_file():
            files.append(root)
            continue
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            files.extend(Path(folder, n) for n in sorted(names) if n.endswith(".py"))
    return files


def _environment(pythonpath: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    # bytecode is written once (the first run), as an installed package has it
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_COLOR"] = "1"
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def _row(name: str, timing: Timing, base: float) -> None:
    print(f"   {name:58} {timing.cpu:8.2f} {timing.wall:8.2f} {timing.cpu / base:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--before", type=Path, help="an older layerlint checkout")
    parser.add_argument("--tools", type=Path, help="bin/ folder with torchfix and fixit")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each layerlint and parse-only row (the best is kept)")
    args = parser.parse_args()

    args.paths = [p.resolve() for p in args.paths]
    files = _files(args.paths)
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    names = "\n".join(str(p) for p in files)
    shown = ", ".join(str(p) for p in args.paths[:4]) + (
        f" and {len(args.paths) - 4} more" if len(args.paths) > 4 else "")
    print(f"corpus: {len(files)} .py files, {lines:,} lines under "
          f"{shown}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} (a shared machine: compare ratios from this run)")
    env = _environment(None)
    python = sys.executable
    layerlint = [python, "-m", "layerlint"]
    check = [*layerlint, "check", "--select", "ALL", "--isolated"]
    paths = [str(p) for p in args.paths]

    print(f"\n   {'process':58} {'CPU s':>8} {'wall s':>8} {'vs parse':>8}")
    base = _best([python, "-c", _PARSE_ONLY], env, args.repeat, stdin=names)
    _row("LibCST parse-only", base, base.cpu)
    base_cpu = base.cpu

    known: set[str] = set()
    if args.before is not None:
        # the same cold, one-process run as the rows below, with the flags it knows
        known = _known_flags(layerlint, _environment(args.before), ("--no-cache", "--jobs"))
        cold_flags = [*(["--no-cache"] if "--no-cache" in known else []),
                      *(["--jobs", "1"] if "--jobs" in known else [])]
        before = _interleaved({output: [*check, "--format", output, *cold_flags, *paths]
                               for output in ("json", "text")},
                              _environment(args.before), args.repeat)
        for output, timing in before.items():
            _row(f"before: check --format {output}", timing, base_cpu)

    with tempfile.TemporaryDirectory() as cache:
        cold = _interleaved({output: [*check, "--format", output, "--no-cache", "--jobs",
                                      "1", *paths] for output in ("json", "text")},
                            env, args.repeat)
        for output, timing in cold.items():
            _row(f"check --format {output} --no-cache --jobs 1", timing, base_cpu)
        jobs = _best([*check, "--format", "json", "--no-cache", "--jobs", str(args.jobs),
                      *paths], env, args.repeat)
        _row(f"check --format json --no-cache --jobs {args.jobs}", jobs, base_cpu)
        cached = [*check, "--cache-dir", cache, "--jobs", "1"]
        _run([*cached, "--format", "text", *paths], env)  # fills the cache
        warm = _interleaved({output: [*cached, "--format", output, *paths]
                             for output in ("json", "text")}, env, args.repeat)
        for output, timing in warm.items():
            _row(f"check --format {output}, warm (cache)", timing, base_cpu)

    if args.tools is not None:
        torch_files = [p for p in files if b"torch" in p.read_bytes()]
        torchfix = _run([str(args.tools / "torchfix"), "--select", "ALL",
                         *map(str, torch_files)], env)
        _row(f"TorchFix --select ALL ({len(torch_files)} files that mention torch)",
             torchfix, base_cpu)
        _row("fixit lint (built-in rules)", _run([str(args.tools / "fixit"), "lint", *paths],
                                                  env), base_cpu)
        ruff = shutil.which("ruff", path=f"{args.tools}{os.pathsep}{os.environ['PATH']}")
        if ruff:
            _row("ruff --select ALL --no-cache", _run(
                [ruff, "check", "--select", "ALL", "--no-cache", "--quiet", *paths], env),
                base_cpu)

    print("\n   ratios")
    text_cost = cold["text"].cpu / cold["json"].cpu - 1
    print(f"   text output costs {text_cost:+.0%} CPU over JSON (target: no more)")
    print(f"   --jobs {args.jobs}: {cold['json'].wall / jobs.wall:.2f}x faster (wall) than "
          f"--jobs 1 (target: >= 1.7x on 2 cores; needs idle cores to show), "
          f"{jobs.cpu / cold['json'].cpu - 1:+.0%} CPU in all")
    for output in ("json", "text"):
        print(f"   warm {output}: {warm[output].cpu / cold[output].cpu:.1%} of cold CPU, "
              f"{warm[output].wall / cold[output].wall:.1%} of cold wall (target: <= 5%)")

    print(f"\n   in one process (CPU, best of {args.repeat}; vs LibCST parse-only in the "
          f"same process; target 2.0x, issue 14: 1.5x)")
    trees = [("now", env)] + ([("before", _environment(args.before))]
                              if args.before is not None else [])
    for name, tree_env in trees:
        found = _in_process(tree_env, names, args.repeat)
        if found and len(found) == 3:
            parse, plain, marked = found
            print(f"   {name:7} parse {parse:6.2f} s   check {plain:6.2f} s {plain / parse:5.2f}x"
                  f"   with fix marks {marked:6.2f} s {marked / parse:5.2f}x")

    print("\n   cold path (best of 5: wall s / CPU s)")
    rows = [("layerlint --version", [*layerlint, "--version"]),
            ("check one .py file (--no-cache)",
             [*layerlint, "check", "--isolated", "--no-cache", str(_ONE_FILE)])]
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = _onnx_file(Path(tmp))
        if onnx_file is not None:
            rows.append(("check one .onnx file (--no-cache)",
                         [*layerlint, "check", "--isolated", "--no-cache", str(onnx_file)]))
        for name, command in rows:
            now = _best(command, env, 5)
            line = f"   {name:40} {now.wall:6.3f} / {now.cpu:6.3f}"
            if args.before is not None:
                old_command = [c for c in command if c != "--no-cache" or c in known]
                old = _best(old_command, _environment(args.before), 5)
                line += f"   before: {old.wall:6.3f} / {old.cpu:6.3f}"
            print(line)


def _known_flags(layerlint: list[str], env: dict[str, str], flags: Sequence[str]) -> set[str]:
    """The flags of ``flags`` that this ``check`` knows (an older checkout may lack some:
    without ``--no-cache`` a repeated run would be a warm one)."""
    shown = subprocess.run([*layerlint, "check", "--help"], env=env, text=True, cwd=_NEUTRAL,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return {flag for flag in flags if flag in shown}


def _onnx_file(folder: Path) -> Path | None:
    """A binary ``.onnx`` of a fixture (written from its text form; onnx is a dependency)."""
    try:
        import onnx
        import onnx.parser
    except ImportError:
        return None
    target = folder / "model.onnx"
    onnx.save(onnx.parser.parse_model(_ONE_ONNX.read_text()), str(target))
    return target


if __name__ == "__main__":
    main()
