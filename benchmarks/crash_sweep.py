"""Crash sweep: ``layerlint check`` (every rule) on each ``.py`` file of the installed
packages, one file at a time, in worker processes.

    python benchmarks/crash_sweep.py                      # the interpreter's site-packages
    python benchmarks/crash_sweep.py PATH... [--jobs 2] [--slowest 15] [--json out.json]

Reports:
- crashes: files with an internal error (a frontend or rule crash: LL002 "internal
  error"), and tracebacks (an exception that escaped the engine);
- false LL001: files layerlint could not parse although ``ast.parse`` (after decoding
  as Python does) accepts them;
- time: the slowest files (CPU time of the worker, which a loaded machine does not
  inflate the way it does wall time; both are shown), and the files over 5 s of CPU.

Files are read from disk; nothing is imported from the corpus. Exit 1 when anything
above the bar is found (a crash, a traceback, a false LL001 or a file over 5 s).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import sysconfig
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SLOW_S = 5.0


def _files(roots: list[Path]) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_file():
            found.append(root)
            continue
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            found.extend(Path(folder) / n for n in sorted(names) if n.endswith(".py"))
    return found


_RULES: list | None = None


def _check(path: Path) -> dict:
    global _RULES
    from layerlint.engine import check_paths
    from layerlint.registry import select_rules

    if _RULES is None:
        _RULES = select_rules(["ALL"])
    started, cpu = time.perf_counter(), time.process_time()
    outcome: dict = {"path": str(path)}
    try:
        result = check_paths([path], _RULES)
    except BaseException as error:  # noqa: BLE001 - the sweep reports it
        outcome["traceback"] = "".join(traceback.format_exception(error))[-2000:]
        outcome["seconds"] = time.perf_counter() - started
        outcome["cpu"] = time.process_time() - cpu
        return outcome
    outcome["seconds"] = time.perf_counter() - started
    outcome["cpu"] = time.process_time() - cpu
    outcome["internal_errors"] = result.internal_errors
    outcome["ll001"] = [f.message for f in result.findings if f.code == "LL001"]
    outcome["budget"] = [f.message for f in result.findings
                         if f.code == "LL002" and "budget" in f.message]
    if outcome["ll001"]:
        from layerlint.pytext import decode_python

        try:
            ast.parse(decode_python(path.read_bytes()))
            outcome["false_ll001"] = True
        except (SyntaxError, ValueError, UnicodeDecodeError, LookupError, RecursionError,
                MemoryError, OSError):
            outcome["false_ll001"] = False
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--slowest", type=int, default=15)
    parser.add_argument("--json", type=Path, help="write every file's outcome here")
    args = parser.parse_args(argv)
    roots = args.paths or [Path(sysconfig.get_paths()["purelib"])]
    files = _files(roots)
    shown = ", ".join(map(str, roots[:3])) + (f" and {len(roots) - 3} more" if len(roots) > 3
                                              else "")
    print(f"{len(files)} .py files under {shown}", file=sys.stderr)
    started = time.perf_counter()
    outcomes: list[dict] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for index, outcome in enumerate(pool.map(_check, files, chunksize=8), start=1):
            outcomes.append(outcome)
            if index % 500 == 0:
                print(f"  {index}/{len(files)} files, {time.perf_counter() - started:.0f} s",
                      file=sys.stderr)
    crashes = [o for o in outcomes if o.get("internal_errors")]
    tracebacks = [o for o in outcomes if "traceback" in o]
    false_ll001 = [o for o in outcomes if o.get("false_ll001")]
    true_ll001 = [o for o in outcomes if o.get("ll001") and not o.get("false_ll001")]
    budget = [o for o in outcomes if o.get("budget")]
    slow = sorted(outcomes, key=lambda o: -o["cpu"])
    over = [o for o in slow if o["cpu"] > SLOW_S]
    print(f"files: {len(outcomes)}  wall: {time.perf_counter() - started:.0f} s  "
          f"jobs: {args.jobs}")
    print(f"crashes (internal errors): {len(crashes)}")
    for o in crashes:
        print(f"  {o['path']}: {'; '.join(o['internal_errors'])[:300]}")
    print(f"tracebacks: {len(tracebacks)}")
    for o in tracebacks:
        print(f"  {o['path']}:\n{o['traceback']}")
    print(f"false LL001 (ast.parse accepts): {len(false_ll001)}")
    for o in false_ll001:
        print(f"  {o['path']}: {o['ll001'][0][:200]}")
    print(f"true LL001 (ast.parse rejects too): {len(true_ll001)}")
    print(f"LL002 over the per-file budget: {len(budget)}")
    for o in budget:
        print(f"  {o['path']}: {o['budget'][0][:200]}")
    print(f"files over {SLOW_S:.0f} s of CPU: {len(over)}")
    print(f"slowest {args.slowest} (CPU, wall):")
    for o in slow[:args.slowest]:
        print(f"  {o['cpu']:7.2f} s {o['seconds']:7.2f} s  {o['path']}")
    if args.json:
        args.json.write_text(json.dumps(outcomes, indent=1))
    return 1 if crashes or tracebacks or false_ll001 or over else 0


if __name__ == "__main__":
    sys.exit(main())
