"""Seeded, bounded fuzzing: mutated model files, notebooks and configurations never
crash layerlint, never print a traceback and never exceed the per-file budget.

Every case is derived from the bundled fixtures by a fixed seed, so a failure
reproduces exactly: the failing file is named in the assertion message.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from layerlint.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SEED = 17
SOURCES = sorted(p for p in (ROOT / "fixtures").rglob("*.py") if p.stat().st_size < 8000)

# Fragments a hostile or broken file may hold: unbalanced brackets, huge or odd
# numbers, statements out of place, line breaks Python does and does not split on.
FRAGMENTS = [
    "(", ")", "[", "]", "{", "}", ":", ",", "**", "*", "\\", "'", '"', '"""', "#", "@",
    "0", "-1", "10**30", "9 ** 63 ** 63", "1e999", "float('nan')", "None", "True", "...",
    "lambda: 0", "yield", "return", "break", "continue", "await x", "global x",
    "nn.Linear(", "nn.Sequential(*self)", "super().__init__()", "self", "x = x(x)",
    "range(10**12)", "'a' * 10**12", "[0] * 10**9", "for _ in range(10**9): pass",
    "class A(A): pass", "def f(): return f()", "import torch.nn as nn", "import keras",
    "keras.Sequential([", "\f", "\r", "\r\n", "\x00", "\u2028", "\x85", "\t", "\v",
    "# noqa", "# noqa: LL", "# layerlint: disable=", "# -*- coding: latin-1 -*-",
    "# -*- coding: no-such-codec -*-",
]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="surrogateescape")  # a latin-1 fixture


def _mutate_text(rng: random.Random, text: str) -> str:
    lines = text.splitlines(True)
    for _ in range(rng.randint(1, 4)):
        if not lines:
            lines = [""]
        kind = rng.randrange(7)
        i = rng.randrange(len(lines))
        if kind == 0:  # insert fragments
            position = rng.randint(0, len(lines[i]))
            fragment = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 3)))
            lines[i] = lines[i][:position] + fragment + lines[i][position:]
        elif kind == 1:  # delete a run of lines
            del lines[i:i + rng.randint(1, 5)]
        elif kind == 2:  # duplicate a line elsewhere
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        elif kind == 3:  # swap two lines
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 4:  # a number becomes a hostile one
            lines[i] = "".join(rng.choice(["0", "-3", "10**30", "1e999", "2.5"])
                               if c.isdigit() else c for c in lines[i])
        elif kind == 5:  # cut a line in the middle
            lines[i] = lines[i][:rng.randint(0, len(lines[i]))]
        else:  # line endings
            lines = [line.replace("\n", rng.choice(["\r", "\r\n", "\n", "\f\n"]))
                     for line in lines]
    return "".join(lines)


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if buffer:
            buffer[rng.randrange(len(buffer))] = rng.randrange(256)
    return bytes(buffer)


def _python_cases(rng: random.Random, count: int) -> dict[str, bytes]:
    cases = {}
    for n in range(count):
        source = _read(rng.choice(SOURCES))
        text = _mutate_text(rng, source)
        data = text.encode("utf-8", errors="surrogateescape")
        if rng.random() < 0.1:
            data = _mutate_bytes(rng, data)
        cases[f"case_{n:03d}.py"] = data
    return cases


def _notebook_cases(rng: random.Random, count: int) -> dict[str, bytes]:
    cases = {}
    for n in range(count):
        cells = []
        for _ in range(rng.randint(1, 4)):
            source = _mutate_text(rng, _read(rng.choice(SOURCES)))
            lines = source.splitlines(True)  # splits at U+2028 too, as editors store
            cells.append({"cell_type": rng.choice(["code", "code", "markdown", "raw"]),
                          "source": lines if rng.random() < 0.5 else source,
                          "metadata": {}, "outputs": []})
        document: object = {"cells": cells, "metadata": {}, "nbformat": 4,
                            "nbformat_minor": 5}
        shape = rng.randrange(10)
        if shape == 0:
            document = cells
        elif shape == 1:
            cells[0]["source"] = rng.choice([5, None, {"a": 1}, [1, 2]])
        elif shape == 2:
            document = {"cells": {"0": cells}}
        elif shape == 3:
            document = {"worksheets": [{"cells": cells}], "nbformat": 3}
        elif shape == 4:
            document = {"cells": [[[[cells]]]]}
        data = json.dumps(document).encode()
        if shape == 5:
            data = data[:rng.randrange(len(data))]
        elif shape == 6:
            data = _mutate_bytes(rng, data)
        elif shape == 7:
            data = b"[" * 50_000 + b"]" * 50_000
        cases[f"nb_{n:03d}.ipynb"] = data
    return cases


CONFIG_VALUES = [
    "5", "-1", "1e999", "true", '"LL101"', '["LL101"]', '["LL9"]', '[""]', "[1, 2]",
    '{a = 1}', '["*"]', '["ALL"]', "[[[[[]]]]]", '"\\u0000"', "inf", "nan", "[]", "{}",
    '{"*.py" = ["LL101"]}', '{"*.py" = "LL101"}', '{"*.py" = [3]}', '"."', '"/"',
    "9" * 5000, "1979-05-27T07:32:00Z",
]
CONFIG_KEYS = ["select", "ignore", "extend-select", "exclude", "extend-exclude",
               "per-file-ignores", "cache-dir", "unknown-key"]


def _config_cases(rng: random.Random, count: int) -> list[bytes]:
    cases = []
    for _ in range(count):
        lines = ["[tool.layerlint]"]
        for key in rng.sample(CONFIG_KEYS, rng.randint(1, 3)):
            lines.append(f"{key} = {rng.choice(CONFIG_VALUES)}")
        text = "\n".join(lines) + "\n"
        shape = rng.randrange(8)
        if shape == 0:
            text = text.replace("[tool.layerlint]", rng.choice(
                ["tool = 5", 'tool = "layerlint"', "[tool]\nlayerlint = 1", "[tool.layerlint"]))
        elif shape == 1:
            text = _mutate_text(rng, text)
        data = text.encode()
        if shape == 2:
            data = _mutate_bytes(rng, data)
        cases.append(data)
    return cases


def _check(folder: Path, *options: str) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(cli, ["check", "--no-cache", "-j", "1", "--format", "json",
                                      *options, str(folder)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{folder}: {result.exception!r}")
    return result.exit_code, json.loads(result.stdout or "[]"), result.stderr


def _assert_clean(code: int, report: list[dict], err: str, where: str) -> None:
    assert code in (0, 1), f"{where}: exit {code}: {err[-2000:]}"
    assert "Traceback" not in err and "internal error" not in err, f"{where}: {err[-2000:]}"
    over = [f for f in report if f["code"] == "LL002" and "budget" in f["message"]]
    assert not over, f"{where}: over the per-file budget: {over}"


@pytest.fixture
def rng() -> random.Random:
    return random.Random(SEED)


def test_mutated_source_files(tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    for name, data in _python_cases(rng, 200).items():
        (tmp_path / name).write_bytes(data)
    code, report, err = _check(tmp_path, "--select", "ALL")
    _assert_clean(code, report, err, "mutated sources")
    assert {f["path"] for f in report} <= {f"case_{n:03d}.py" for n in range(200)}
    assert any(f["code"] == "LL001" for f in report)  # the mutations do break files
    assert any(f["code"] not in ("LL001", "LL002") for f in report)  # and keep models


def test_mutated_notebooks(tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    for name, data in _notebook_cases(rng, 60).items():
        (tmp_path / name).write_bytes(data)
    code, report, err = _check(tmp_path, "--select", "ALL")
    _assert_clean(code, report, err, "mutated notebooks")
    assert any("malformed notebook" in f["message"] for f in report)


def test_mutated_configurations(tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    model = (ROOT / "fixtures" / "torch").glob("*.py").__next__().read_bytes()
    usage_errors = 0
    for n, data in enumerate(_config_cases(rng, 60)):
        folder = tmp_path / f"project_{n:02d}"
        folder.mkdir()
        (folder / "pyproject.toml").write_bytes(data)
        (folder / "model.py").write_bytes(model)
        result = CliRunner().invoke(cli, ["check", "--no-cache", "-j", "1", str(folder)])
        where = f"{folder.name}: {data[:300]!r}"
        assert isinstance(result.exception, SystemExit | None), f"{where}: {result.exception!r}"
        assert result.exit_code in (0, 1, 2), where
        assert "Traceback" not in result.output and "internal error" not in result.stderr, where
        if result.exit_code == 2:  # a usage error that names the file
            usage_errors += 1
            assert "pyproject.toml" in result.stderr, f"{where}: {result.stderr}"
    assert usage_errors  # the generator does produce invalid configurations
