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

from layerlint import engine, linter
from layerlint.cli import cli

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
    assert findings[0]["fix"] == {"edit": "move-after", "applicability": "safe",
                                  "description": "move `Dropout(0.3)` after "
                                                 "`BatchNormalization()`"}
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
    assert "Fixed 1 problem." in result.stderr
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
