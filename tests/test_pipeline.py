"""One pipeline path: rule selection decided once, one default exclude list, each file
runs only the rules enabled for it, fix passes in a loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from layerlint import linter
from layerlint.cli import cli
from layerlint.config import DEFAULT_EXCLUDE, Overrides, Resolver
from layerlint.engine import discover
from layerlint.registry import select_rules

EVAL_EXPORT = Path(__file__).parent.parent / "fixtures" / "onnx" / "resnet_stem_eval_export.onnxtxt"


@pytest.mark.parametrize(("select", "ignore", "extend"), [
    (None, None, None),
    (["LL104"], None, None),
    (["ALL"], ["LL1"], None),
    (["LL1"], ["LL002"], ["LL203"]),
    (None, ["ALL"], ["LL301"]),
])
def test_the_api_and_the_configuration_select_the_same_rules(tmp_path, select, ignore, extend):
    overrides = Overrides(select=tuple(select or ()), ignore=tuple(ignore or ()),
                          extend_select=tuple(extend or ()))
    configured = Resolver(overrides, isolated=True).settings_for(tmp_path / "m.py").enabled
    assert {rule.code for rule in select_rules(select, ignore, extend)} == configured


def test_selecting_a_rule_keeps_the_errors_on():
    assert [rule.code for rule in select_rules(["LL104"])] == ["LL001", "LL002", "LL104"]


def test_the_walk_skips_the_default_excludes_without_a_configuration(tmp_path):
    for folder in ("build", "pkg.egg-info", ".venv", "src"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "m.py").write_text("import torch\n")
    assert "*.egg-info" in DEFAULT_EXCLUDE
    files, _ = discover([tmp_path])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["src/m.py"]


def _ll002(findings: list[dict]) -> list[str]:
    return [f["message"] for f in findings if f["code"] == "LL002"]


def test_each_file_runs_only_the_rules_enabled_for_it(tmp_path, monkeypatch):
    """A rule turned off for a file does not run there: the eval-mode note of that file
    does not name it as unchecked, while the same export elsewhere does."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.layerlint]\nselect = ['LL002', 'LL104', 'LL105']\n"
        "[tool.layerlint.per-file-ignores]\n'legacy/*' = ['LL104']\n")
    for folder in ("legacy", "new"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "eval.onnxtxt").write_text(EVAL_EXPORT.read_text())
    result = CliRunner().invoke(cli, ["check", "--no-cache", "--format", "json", "."])
    by_path = {f["path"]: f["message"] for f in json.loads(result.stdout)
               if f["code"] == "LL002"}
    assert "; LL105 could not be checked" in by_path["legacy/eval.onnxtxt"]
    assert "; LL104, LL105 could not be checked" in by_path["new/eval.onnxtxt"]


def test_fix_passes_are_a_bounded_loop(tmp_path, monkeypatch):
    """Each pass that writes a fix is followed by another; the last one only lints."""
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "model.py"
    model.write_text("import torch.nn as nn\n\nnet = nn.Sequential(\n"
                     "    nn.Linear(4, 4), nn.BatchNorm1d(4), nn.ReLU())\n")
    passes = []
    real = linter._lint_pass

    def counting(paths, options, result):
        passes.append((options.fix, options.unsafe_fixes))
        return real(paths, options, result)

    monkeypatch.setattr(linter, "_lint_pass", counting)
    options = linter.LintOptions(fix=True, unsafe_fixes=True)
    result = linter.lint([model], options)
    assert result.fixed == 1 and "bias=False" in model.read_text()
    assert passes == [(True, True), (True, True)]  # fixed, then nothing left to fix
    assert result.findings == []

    passes.clear()
    monkeypatch.setattr(linter, "_MAX_FIX_PASSES", 0)
    model.write_text(model.read_text().replace("bias=False", "bias=True"))
    result = linter.lint([model], options)
    assert passes == [(False, True)] and result.fixed == 0  # no pass left to fix in
    assert [f.code for f in result.findings] == ["LL104"]
