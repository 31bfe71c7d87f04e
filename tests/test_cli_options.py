"""The options ruff users reach for: --exit-zero, --output-file, --statistics, --quiet,
--color / FORCE_COLOR, --show-files, --show-settings, and --config with a pyproject copy."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from layerlint.cli import cli

MODEL = """\
import torch.nn as nn

a = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.BatchNorm1d(8), nn.Linear(8, 2))
b = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.BatchNorm1d(8), nn.Linear(8, 2))
c = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.ReLU(), nn.Linear(8, 2))
"""


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "notes.txt").write_text("not linted\n")

    def invoke(*args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(cli, ["check", "--no-cache", *args], env=env)

    return invoke


def test_exit_zero(run):
    assert run("model.py").exit_code == 1
    result = run("--exit-zero", "model.py")
    assert result.exit_code == 0 and "Found 3 problems" in result.stdout
    # an unusable configuration is still an error
    assert run("--exit-zero", "--select", "LL999", "model.py").exit_code == 2


def test_output_file(run, tmp_path):
    result = run("--format", "json", "--output-file", "report.json", "model.py")
    assert result.exit_code == 1 and result.stdout == ""
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(f["code"], f["line"]) for f in report] == [
        ("LL101", 3), ("LL101", 4), ("LL106", 5)]
    assert run("-o", "missing/dir/out.txt", "model.py").exit_code == 2


def test_statistics(run):
    result = run("--statistics", "--unsafe-fixes", "model.py")
    assert result.exit_code == 1
    assert result.stdout == ("2\tLL101\t[*] dropout-before-batchnorm\n"
                             "1\tLL106\t[*] repeated-activation\n")
    plain = run("--statistics", "model.py").stdout  # unsafe fixes hidden: no [*]
    assert plain.splitlines()[0] == "2\tLL101\tdropout-before-batchnorm"
    counted = json.loads(run("--statistics", "--format", "json", "model.py").stdout)
    assert counted[0] == {"code": "LL101", "name": "dropout-before-batchnorm", "count": 2,
                          "fixable": 0}


def test_quiet_prints_findings_only(run, tmp_path):
    result = run("-q", "model.py")
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 3 and "Found" not in result.stdout
    (tmp_path / "empty").mkdir()
    quiet = run("-q", "empty")
    assert quiet.exit_code == 0 and quiet.output == ""
    assert "no Python, notebook or ONNX files" in run("empty").stderr


@pytest.mark.parametrize(("args", "env", "coloured"), [
    ((), {}, False),  # not a terminal
    (("--color", "always"), {}, True),
    ((), {"FORCE_COLOR": "1"}, True),
    (("--color", "never"), {"FORCE_COLOR": "1"}, False),
    ((), {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
])
def test_color(run, args, env, coloured):
    result = run(*args, "model.py", env=env)
    assert ("\x1b[31;1mLL101\x1b[0m" in result.stdout) is coloured


def test_show_files(run, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "net.py").write_text("import torch\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "gen.py").write_text("import torch\n")
    result = run("--show-files", ".")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["model.py", "pkg/net.py"]


def test_show_settings(run, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.layerlint]\nextend-select = ['LL107']\nignore = ['LL106']\n"
        "[tool.layerlint.per-file-ignores]\n'model.py' = ['LL101']\n")
    result = run("--show-settings", "model.py")
    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["configuration"] == "pyproject.toml" or shown["configuration"].endswith(
        "pyproject.toml")
    assert "LL107" in shown["enabled"] and "LL106" not in shown["enabled"]
    assert "LL101" not in shown["enabled"]  # per-file-ignores applied to that file
    assert shown["per-file-ignores"] == {"model.py": ["LL101"]}


def test_config_file_with_a_tool_table(run, tmp_path):
    (tmp_path / "other.toml").write_text("[tool.layerlint]\nignore = ['LL106']\n")
    result = run("--format", "json", "--config", "other.toml", "model.py")
    assert result.exit_code == 1, result.output
    assert [f["code"] for f in json.loads(result.stdout)] == ["LL101", "LL101"]
