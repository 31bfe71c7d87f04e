"""Benchmark: `layerlint check` on Keras source against LibCST parse-only time.

The corpus is the ``.py`` files of the installed ``keras`` package that mention keras
(``keras/src/applications``, ``layers``, ``models``: real Keras model code), located with
``importlib.util.find_spec`` and never imported; without keras installed, the Keras
fixtures of this repository copied ``--copies`` times into a temporary folder.

In one process and on the same files it measures (best of ``--repeat``, CPU time):
LibCST ``parse_module`` alone, and ``check_paths`` with the default rules (read, parse,
positions, the Keras frontend, the rules). It prints both and their ratio; the target is
at most 2.0x.

    python benchmarks/bench_keras.py [--repeat 3] [--copies 40] [--fixtures]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

import libcst as cst

from layerlint.engine import check_paths
from layerlint.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent
_KERAS_FOLDERS = ("applications", "layers", "models")


def _keras_corpus() -> list[Path]:
    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.submodule_search_locations:
        return []
    src = Path(next(iter(spec.submodule_search_locations))) / "src"
    files = [f for folder in _KERAS_FOLDERS for f in sorted((src / folder).rglob("*.py"))]
    return [f for f in files if b"keras" in f.read_bytes() and not f.name.endswith("_test.py")]


def _fixture_corpus(folder: Path, copies: int) -> list[Path]:
    sources = sorted((ROOT / "fixtures" / "keras").glob("*.py"))
    sources += sorted((ROOT / "fixtures" / "clean").glob("keras_*.py"))
    files = []
    for copy in range(copies):
        for source in sources:
            target = folder / f"copy{copy}" / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
            files.append(target)
    return files


def _best(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--fixtures", action="store_true", help="use the fixtures even "
                        "when keras is installed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = [] if args.fixtures else _keras_corpus()
        corpus = "installed keras package"
        if not files:
            files = _fixture_corpus(Path(tmp), args.copies)
            corpus = f"Keras fixtures x{args.copies}"
        texts = [f.read_text(encoding="utf-8") for f in files]
        lines = sum(text.count("\n") for text in texts)
        rules = [rule for rule in all_rules() if rule.default_enabled]
        parse = _best(lambda: [cst.parse_module(text) for text in texts], args.repeat)
        findings: list[int] = []

        def lint() -> None:
            findings[:] = [len(check_paths(files, rules).findings)]

        check = _best(lint, args.repeat)
    print(f"corpus: {corpus}: {len(files)} files, {lines} lines")
    print(f"LibCST parse only: {parse:.3f} s")
    print(f"layerlint check:   {check:.3f} s ({findings[0]} findings)")
    print(f"ratio:             {check / parse:.2f}x (target <= 2.0x)")
    sys.exit(0)


if __name__ == "__main__":
    main()
