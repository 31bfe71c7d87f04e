"""The result cache and worker processes give the findings of a cold one-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from layerlint import engine
from layerlint.cache import ResultCache
from layerlint.cli import cli
from layerlint.engine import check_paths
from layerlint.registry import select_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RULES = select_rules(["ALL"])

NET = """\
import torch.nn as nn
from blocks import make_norm


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.norm = make_norm()

    def forward(self, x):
        return self.norm(self.drop(x))
"""
BATCHNORM = """\
import torch.nn as nn


def make_norm():
    return nn.BatchNorm1d(8)
"""
LAYERNORM = BATCHNORM.replace("BatchNorm1d", "LayerNorm")
BLOCK = """\
import torch.nn as nn
from blocks import make_norm


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = make_norm()

    def forward(self, x):
        return self.norm(x)
"""
USER = NET.replace("blocks import make_norm", "block import Block").replace(
    "make_norm()", "Block()")


def _cold():
    return check_paths([FIXTURES], RULES, fixable=True)


@pytest.fixture(scope="module")
def cold():
    result = _cold()
    assert result.findings and not result.internal_errors
    assert any(f.fix is not None for f in result.findings)  # fixes survive the cache too
    return result.findings


def _no_frontend(monkeypatch):
    def fail(path, project):
        raise AssertionError(f"{path} was analysed again")

    monkeypatch.setattr(engine, "load_graphs", fail)


def test_workers_give_the_findings_of_one_process(cold):
    result = check_paths([FIXTURES], RULES, jobs=2, fixable=True)
    assert result.findings == cold
    assert result.files_checked == _cold().files_checked


def test_warm_run_reads_every_result_from_the_cache(tmp_path, monkeypatch, cold):
    first = check_paths([FIXTURES], RULES, cache=ResultCache(tmp_path, RULES), jobs=2,
                        fixable=True)
    assert first.findings == cold
    _no_frontend(monkeypatch)
    second = check_paths([FIXTURES], RULES, cache=ResultCache(tmp_path, RULES), fixable=True)
    assert second.findings == cold


def test_other_rules_are_another_entry(tmp_path, monkeypatch):
    path = tmp_path / "net.py"
    path.write_text("import torch.nn as nn\nm = nn.Sequential(nn.Dropout(0.5), "
                    "nn.BatchNorm1d(4))\n")
    monkeypatch.chdir(tmp_path)
    only = select_rules(["LL104"])
    cache = tmp_path / "cache"
    assert check_paths([path], only, cache=ResultCache(cache, only)).findings == []
    found = check_paths([path], RULES, cache=ResultCache(cache, RULES)).findings
    assert [f.code for f in found] == ["LL101"]


def _project(tmp_path: Path, norm: str) -> Path:
    tmp_path.mkdir()
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "blocks.py").write_text(norm)
    return tmp_path


def _codes(result) -> list[tuple[str, str, int]]:
    return [(f.code, f.location.path, f.location.line) for f in result.findings]


def test_editing_an_imported_file_rechecks_the_importer(tmp_path, monkeypatch):
    project = _project(tmp_path / "src", BATCHNORM)
    # two importers of a block that imports the norm: checking the second, the lookup
    # of ``make_norm`` from block.py is answered from the run's lookup cache
    (project / "block.py").write_text(BLOCK)
    for name in ("a.py", "b.py"):
        (project / name).write_text(USER)
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    first = check_paths([project], RULES, cache=ResultCache(cache, RULES))
    assert _codes(first) == [("LL101", "src/a.py", 8), ("LL101", "src/b.py", 8),
                             ("LL101", "src/net.py", 8)]
    # blocks.py now returns a LayerNorm: no dropout reaches a batchnorm
    (project / "blocks.py").write_text(LAYERNORM)
    second = check_paths([project], RULES, cache=ResultCache(cache, RULES))
    assert _codes(second) == []
    assert _codes(second) == _codes(check_paths([project], RULES))


def test_an_imported_file_created_later_rechecks_the_importer(tmp_path, monkeypatch):
    project = _project(tmp_path / "src", BATCHNORM)
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    blocks = (project / "blocks.py").read_text()
    (project / "blocks.py").unlink()
    alone = check_paths([project / "net.py"], RULES, cache=ResultCache(cache, RULES))
    assert _codes(alone) == []  # the import resolves to nothing yet
    (project / "blocks.py").write_text(blocks)
    # not a file of the run, but of its project: read from disk, and a cache miss
    again = check_paths([project / "net.py"], RULES, cache=ResultCache(cache, RULES))
    assert _codes(again) == [("LL101", "src/net.py", 8)]


def test_an_unchanged_dependency_is_a_hit(tmp_path, monkeypatch):
    project = _project(tmp_path / "src", BATCHNORM)
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    first = check_paths([project], RULES, cache=ResultCache(cache, RULES))
    _no_frontend(monkeypatch)
    assert check_paths([project], RULES, cache=ResultCache(cache, RULES)).findings == \
        first.findings


GARBAGE = (b"", b'{"digest": ', b"\x00\xff" * 50, b"[1, 2]",
           b'{"digest": "x", "dependencies": {}, "findings": []}',
           b'{"digest": null, "dependencies": 3, "findings": [7]}', b"[" * 100_000)


def test_corrupt_entries_are_misses_and_are_rewritten(tmp_path, cold):
    check_paths([FIXTURES], RULES, cache=ResultCache(tmp_path, RULES), fixable=True)
    entries = sorted(tmp_path.glob("*/*.json"))
    assert len(entries) == _cold().files_checked
    for number, entry in enumerate(entries):
        entry.write_bytes(GARBAGE[number % len(GARBAGE)])
    again = check_paths([FIXTURES], RULES, cache=ResultCache(tmp_path, RULES), fixable=True)
    assert again.findings == cold and not again.internal_errors
    assert all(isinstance(json.loads(entry.read_bytes())["findings"], list)
               for entry in entries)


def test_an_entry_whose_findings_do_not_decode_is_a_miss(tmp_path, monkeypatch):
    project = _project(tmp_path / "src", BATCHNORM)
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    first = check_paths([project], RULES, cache=ResultCache(cache, RULES))
    for entry in cache.glob("*/*.json"):
        data = json.loads(entry.read_bytes())
        for finding in data["findings"]:
            finding["severity"] = "catastrophic"
        entry.write_text(json.dumps(data))
    assert check_paths([project], RULES, cache=ResultCache(cache, RULES)).findings == \
        first.findings


def test_concurrent_runs_share_a_cache(tmp_path):
    command = [sys.executable, "-m", "layerlint", "check", "--format", "json", "--select",
               "ALL", "--cache-dir", str(tmp_path / "cache"), str(FIXTURES)]
    expected = subprocess.run([*command[:-3], "--no-cache", str(FIXTURES)],
                              capture_output=True, text=True, cwd=tmp_path).stdout
    assert json.loads(expected)
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=tmp_path) for _ in range(3)]
    outputs = [run.communicate() for run in runs]
    assert [out for out, _ in outputs] == [expected] * 3
    assert [err for _, err in outputs] == [""] * 3
    assert not list((tmp_path / "cache").glob("*/*.tmp"))  # no half-written entry left
    warm = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert warm.stdout == expected


def test_cli_cache_dir_and_no_cache(tmp_path, monkeypatch):
    project = _project(tmp_path / "src", BATCHNORM)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["check", "--no-cache", str(project)])
    assert result.exit_code == 1 and "LL101" in result.output
    assert not (tmp_path / ".layerlint_cache").exists()
    result = runner.invoke(cli, ["check", str(project)])
    assert result.exit_code == 1
    assert len(list((tmp_path / ".layerlint_cache").glob("*/*.json"))) == 2
    assert (tmp_path / ".layerlint_cache" / ".gitignore").read_text() == "*\n"
    result = runner.invoke(cli, ["check", "--cache-dir", "elsewhere", "-j", "2", str(project)])
    assert result.exit_code == 1 and "LL101" in result.output
    assert len(list((tmp_path / "elsewhere").glob("*/*.json"))) == 2


def test_cache_dir_from_the_configuration(tmp_path, monkeypatch):
    project = _project(tmp_path / "src", BATCHNORM)
    (tmp_path / "pyproject.toml").write_text('[tool.layerlint]\ncache-dir = "build/ll"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", str(project)])
    assert result.exit_code == 1, result.output
    assert len(list((tmp_path / "build" / "ll").glob("*/*.json"))) == 2
    (tmp_path / "pyproject.toml").write_text("[tool.layerlint]\ncache-dir = 3\n")
    result = CliRunner().invoke(cli, ["check", str(project)])
    assert result.exit_code == 2 and "cache-dir must be a string" in result.output


def test_a_crash_is_not_cached(tmp_path, monkeypatch):
    project = _project(tmp_path / "src", BATCHNORM)
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    real = engine.load_graphs

    def crash(path, project):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "load_graphs", crash)
    crashed = check_paths([project], RULES, cache=ResultCache(cache, RULES))
    assert len(crashed.internal_errors) == 2
    monkeypatch.setattr(engine, "load_graphs", real)
    again = check_paths([project], RULES, cache=ResultCache(cache, RULES))
    assert _codes(again) == [("LL101", "src/net.py", 8)] and not again.internal_errors


def test_text_output_and_fixable_marks_are_the_same_cached_and_in_workers(tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def text(*options: str) -> str:
        result = runner.invoke(cli, ["check", *options, str(FIXTURES)])
        assert result.exit_code == 1, result.output
        return result.output

    expected = text("--no-cache", "-j", "1", "--unsafe-fixes")
    assert "[*]" in expected and "fixable with --fix" in expected
    # a JSON run caches no fix marks: the text run after it finds them
    runner.invoke(cli, ["check", "--format", "json", str(FIXTURES)])
    assert text("-j", "2", "--unsafe-fixes") == expected
    _no_frontend(monkeypatch)
    assert text("-j", "1", "--unsafe-fixes") == expected


def test_a_worker_that_dies_leaves_its_files_to_the_main_process(monkeypatch, cold):
    parent = os.getpid()
    real = engine._check_file

    def die_in_a_worker(file, *args):
        if os.getpid() != parent and file.name == "wide_resnet.py":
            os._exit(3)  # as a worker killed for memory
        return real(file, *args)

    monkeypatch.setattr(engine, "_check_file", die_in_a_worker)
    result = check_paths([FIXTURES], RULES, jobs=2, fixable=True)
    assert result.findings == cold and not result.internal_errors
