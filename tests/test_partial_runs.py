"""Sound partial runs: checking some files of a project resolves their project-local
imports from disk (read, never run) and reports only on the files given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from layerlint.cli import cli

MODEL = """\
import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        return self.bn(self.drop(x))
"""
TRAIN = """\
import torch.nn as nn
from model import Block

net = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), Block())
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def _check(*args: str) -> list[tuple[str, int, str]]:
    result = CliRunner().invoke(cli, ["check", "--format", "json", "--select", "LL101",
                                      *args])
    assert result.exit_code in (0, 1), result.output
    return [(f["path"], f["line"], f["message"]) for f in json.loads(result.stdout)]


def test_one_file_follows_its_imports_and_reports_only_on_itself(project):
    whole = _check("--no-cache", ".")
    alone = _check("--no-cache", "train.py")
    assert alone == [f for f in whole if f[0] == "train.py"]
    ((path, line, message),) = alone
    assert (path, line) == ("train.py", 4) and "(model.py:8)" in message


def test_the_cache_sees_an_edit_of_an_imported_file_outside_the_run(project):
    assert len(_check("train.py")) == 1
    (project / "model.py").write_text(MODEL.replace("self.bn(self.drop(x))", "self.drop(x)")
                                      .replace("        self.bn = nn.BatchNorm1d(8)\n", ""))
    assert _check("train.py") == []


def test_imports_do_not_leave_the_project_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(MODEL)  # outside the project below
    inner = tmp_path / "app"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (inner / "train.py").write_text(TRAIN)
    assert _check("--no-cache", "app/train.py") == []


def test_the_pre_commit_hook_runs_serially():
    hooks = yaml.safe_load((Path(__file__).parent.parent / ".pre-commit-hooks.yaml")
                           .read_text())
    assert hooks[0]["require_serial"] is True
