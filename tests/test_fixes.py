"""--fix / --unsafe-fixes / --diff end to end, with test rules that attach fixes.

The real rules' fixes (LL101, LL104, LL106) are tested in test_rule_fixes.py; these
test rules pin the machinery: safety levels, re-linting, diff, changed files.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner
from fake_rules import use_fake_rules

from layerlint import engine, linter, registry
from layerlint.cli import cli
from layerlint.fix import Fix
from layerlint.ir import Kind
from layerlint.rule import Rule

SOURCE = textwrap.dedent("""\
    from tensorflow import keras
    from tensorflow.keras import layers

    model = keras.Sequential([
        keras.Input((32,)),
        layers.Dense(64),  # hidden
        layers.Dropout(0.3),  # regularise
        layers.BatchNormalization(),
        layers.Dense(64, activation="relu"),
        layers.Activation("relu"),
        layers.Dense(10),
    ])
""")


@pytest.fixture
def project(tmp_path, monkeypatch):
    use_fake_rules(monkeypatch)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model.py"
    path.write_text(SOURCE)
    return path


def _check(*args: str):
    return CliRunner().invoke(cli, ["check", *args, "model.py"])


def _codes(result) -> list[str]:
    return [f["code"] for f in json.loads(result.stdout)]


def test_fixable_reported_and_json_fix_field(project):
    result = _check()
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == (
        "Found 2 problems (1 fixable with --fix; 1 hidden fix can be enabled with "
        "--unsafe-fixes) in 1 file checked.")
    assert [line.startswith("model.py:7:") for line in result.stdout.splitlines()
            if "[*]" in line] == [True]  # only the safe fix is marked
    findings = json.loads(_check("--format", "json").stdout)
    assert [f["fix"]["applicability"] for f in findings] == ["safe", "unsafe"]
    assert project.read_text() == SOURCE


def test_unsafe_fixes_alone_only_enables(project):
    """As ruff: --unsafe-fixes enables (marks, counts), --fix applies."""
    result = _check("--unsafe-fixes")
    assert result.exit_code == 1
    assert project.read_text() == SOURCE
    assert result.stdout.count("[*]") == 2
    assert result.stdout.splitlines()[-1] == (
        "Found 2 problems (2 fixable with --fix) in 1 file checked.")


def test_diff_alone_shows_the_safe_fixes_and_counts_hidden_ones(project):
    result = _check("--diff")
    assert result.exit_code == 1
    assert "+    layers.BatchNormalization(),\n" in result.stdout
    assert "use_bias=False" not in result.stdout
    assert "Would fix 1 problem (1 hidden fix can be enabled with --unsafe-fixes)." in (
        result.stderr)
    assert project.read_text() == SOURCE


def test_diff_without_applicable_fixes_says_how_to_see_them(project):
    assert "Fixed 1 problem (2 hidden fixes can be enabled with --unsafe-fixes)." in (
        _check("--fix").stderr)  # the safe move; the two fixes left are unsafe
    result = _check("--diff")
    assert result.exit_code == 0 and result.stdout == ""
    assert "No fixes available (2 hidden fixes can be enabled with --unsafe-fixes)." in (
        result.stderr)
    shown = _check("--diff", "--unsafe-fixes")
    assert "+    layers.Dense(64, use_bias=False),  # hidden\n" in shown.stdout


def test_baselined_findings_are_not_counted_as_fixable(project):
    assert _check("--baseline", "base.json").exit_code == 0
    project.write_text(SOURCE + "extra = keras.Sequential([layers.Dense(2), layers.Dropout(0.1),"
                                " layers.BatchNormalization()])\n")
    result = _check("--baseline", "base.json")
    assert result.stdout.splitlines()[-1] == (
        "Found 1 problem (1 fixable with --fix) in 1 file checked.")


def test_fix_applies_safe_fixes_only_and_relints(project):
    result = _check("--format", "json", "--fix")
    assert _codes(result) == ["LL903", "LL902"]  # the move is done; what is left
    assert "Fixed 1 problem (2 hidden fixes can be enabled with --unsafe-fixes)." in (
        result.stderr)
    assert project.read_text() == SOURCE.replace(
        "    layers.Dropout(0.3),  # regularise\n    layers.BatchNormalization(),\n",
        "    layers.BatchNormalization(),\n    layers.Dropout(0.3),  # regularise\n")


def test_unsafe_fixes_apply_everything_and_nothing_is_found_again(project):
    result = _check("--format", "json", "--fix", "--unsafe-fixes")
    assert result.exit_code == 0, result.output
    assert _codes(result) == []
    fixed = project.read_text()
    assert 'layers.Dense(64, use_bias=False),  # hidden' in fixed
    assert "Activation" not in fixed
    assert _codes(_check("--format", "json")) == []


def test_diff_prints_and_writes_nothing(project):
    result = _check("--diff", "--unsafe-fixes")
    assert result.exit_code == 1
    # one pass: the two edits of one Sequential conflict, the first one is shown
    assert result.stdout == (
        "--- a/model.py\n+++ b/model.py\n@@ -4,8 +4,8 @@\n"
        " model = keras.Sequential([\n"
        "     keras.Input((32,)),\n"
        "     layers.Dense(64),  # hidden\n"
        "+    layers.BatchNormalization(),\n"
        "     layers.Dropout(0.3),  # regularise\n"
        "-    layers.BatchNormalization(),\n"
        '     layers.Dense(64, activation="relu"),\n'
        '     layers.Activation("relu"),\n'
        "     layers.Dense(10),\n")
    assert "another fix edits this Sequential" in result.stderr
    assert project.read_text() == SOURCE


def test_file_changed_during_the_run_is_not_overwritten(project, monkeypatch):
    real = engine.check_paths

    def edit_while_linting(paths, rules, **options):
        result = real(paths, rules, **options)
        project.write_text(SOURCE + "# edited meanwhile\n")
        return result

    monkeypatch.setattr(linter, "check_paths", edit_while_linting)
    result = _check("--fix", "--unsafe-fixes")
    assert "changed during the run" in result.stderr
    assert project.read_text() == SOURCE + "# edited meanwhile\n"


class _RenameDropout(Rule):
    """A fix that changes the code but leaves the finding: never offered."""

    code, name, message = "LL904", "test-no-resolve", "dropout"

    def check(self, graph):
        for dropout in graph.of_kind(Kind.DROPOUT):
            yield self.report(dropout, autofix=Fix.set_argument(dropout, "rate", 0.1,
                                                                safe=True))


class _BatchnormAfterDropout(Rule):
    """A fix that resolves its finding by making another one: never offered."""

    code, name, message = "LL905", "test-new-finding", "batchnorm after a dropout"

    def check(self, graph):
        for bn in graph.of_kind(Kind.BATCHNORM):
            before = graph.predecessors(bn)
            if before and before[0].kind is Kind.DROPOUT:
                yield self.report(bn, autofix=Fix.move_after(before[0], bn, safe=True))


@pytest.mark.parametrize(("rule", "tail"), [
    (_RenameDropout, ""),
    (_BatchnormAfterDropout, "    layers.BatchNormalization(epsilon=0.01),\n"),
])
def test_a_fix_is_offered_only_if_relinting_its_result_resolves_the_finding(
        tmp_path, monkeypatch, rule, tail):
    monkeypatch.setattr(linter, "all_rules", lambda: (rule,))
    monkeypatch.setattr(registry, "all_rules", lambda: (rule,))
    monkeypatch.chdir(tmp_path)
    source = ("from tensorflow import keras\nfrom tensorflow.keras import layers\n\n"
              "model = keras.Sequential([\n    keras.Input((32,)),\n"
              "    layers.Dropout(0.3),\n    layers.BatchNormalization(),\n" + tail + "])\n")
    (tmp_path / "model.py").write_text(source)
    findings = json.loads(_check("--format", "json").stdout)
    assert findings and all(f["fix"] is None for f in findings)
    assert "[*]" not in _check().stdout
    result = _check("--fix")
    assert "Fixed" not in result.stderr
    assert (tmp_path / "model.py").read_text() == source


def _apply(text: str, edits: list[dict]) -> str:
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(point: dict) -> int:
        return starts[point["row"] - 1] + point["column"] - 1

    for edit in sorted(edits, key=lambda e: offset(e["location"]), reverse=True):
        text = (text[:offset(edit["location"])] + edit["content"]
                + text[offset(edit["end_location"]):])
    return text


def test_json_fix_holds_the_edits_that_fix_applies(project, tmp_path):
    finding = json.loads(_check("--format", "json", "--unsafe-fixes").stdout)[0]
    assert finding["fix"]["applicability"] == "safe"
    assert finding["fix"]["message"] == "move `Dropout(0.3)` after `BatchNormalization()`"
    patched = _apply(SOURCE, finding["fix"]["edits"])
    _check("--fix")  # applies exactly this safe fix
    assert patched == project.read_text() != SOURCE


def test_a_block_reported_by_each_model_that_builds_it_is_planned_once(
        tmp_path, monkeypatch):
    # the block's finding comes from its own graph and from each builder's model: its
    # fix is planned (a whole-file transform) and verified once, not once per graph
    from layerlint.frontends import source_fixer

    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.drop = nn.Dropout(0.5)
                self.bn = nn.BatchNorm1d(4)

            def forward(self, x):
                return self.bn(self.drop(x))

        def small():
            return nn.Sequential(Block(), nn.Linear(4, 2))

        def large():
            return nn.Sequential(Block(), Block(), nn.Linear(4, 2))
    """))
    planned: list[str] = []
    plan = source_fixer.plan
    monkeypatch.setattr(source_fixer, "plan", lambda *a, **k: (
        planned.extend(f.code for f in a[2]), plan(*a, **k))[1])
    findings = json.loads(_check("--format", "json", "--select", "LL101").stdout)
    assert [(f["code"], f["line"]) for f in findings] == [("LL101", 7)]
    assert planned == ["LL101"]


def test_a_form_feed_in_a_comment_does_not_hide_a_fix(tmp_path, monkeypatch):
    # verification compares the code each finding points at before and after the fix;
    # it split lines at the form feed too (str.splitlines), so the other finding's code
    # read as changed and the first fix was refused
    monkeypatch.chdir(tmp_path)
    source = ("import torch.nn as nn\n# layers \x0c section\nmodel = nn.Sequential(\n"
              "    nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8),\n"
              "    nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8),\n)\n")
    (tmp_path / "model.py").write_text(source)
    findings = json.loads(_check("--format", "json", "--select", "LL104").stdout)
    assert [(f["line"], f["fix"] is not None) for f in findings] == [(4, True), (5, True)]
