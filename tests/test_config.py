"""[tool.layerlint] configuration: discovery, keys, overrides, errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from layerlint.cli import cli

BROKEN = "import torch\nx = (\n"  # LL001 (parse error) on line 2


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str):
        result = CliRunner().invoke(cli, ["check", "--format", "json", *args])
        findings = json.loads(result.stdout) if result.exit_code in (0, 1) else None
        return result, findings

    return invoke


def _write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_nearest_pyproject_applies_per_path(tmp_path, run):
    _write(tmp_path, {
        "pyproject.toml": "[tool.layerlint]\n",
        "a/bad.py": BROKEN,
        "b/pyproject.toml": "[tool.layerlint]\nignore = ['LL001']\n",
        "b/bad.py": BROKEN,
        # a pyproject without the table is skipped: the parent's applies
        "b/c/pyproject.toml": "[project]\nname = 'c'\n",
        "b/c/bad.py": BROKEN,
    })
    result, findings = run(".")
    assert result.exit_code == 1
    assert [f["path"] for f in findings] == ["a/bad.py"]


def test_cli_select_overrides_file_ignore(tmp_path, run):
    _write(tmp_path, {"pyproject.toml": "[tool.layerlint]\nignore = ['LL001']\n",
                      "bad.py": BROKEN})
    assert run("bad.py")[1] == []
    result, findings = run("--select", "LL001", "bad.py")
    assert [f["code"] for f in findings] == ["LL001"]


@pytest.mark.parametrize("table", [
    "select = ['LL1', 'LL2']",  # the README's example leaves LL0 out
    "ignore = ['LL0']", "ignore = ['ALL']", "select = ['LL3']\nextend-select = ['LL101']",
    "[tool.layerlint.per-file-ignores]\n'*.py' = ['LL0']",
])
def test_errors_are_reported_unless_ignored_by_exact_code(tmp_path, run, table):
    _write(tmp_path, {"pyproject.toml": f"[tool.layerlint]\n{table}\n", "bad.py": BROKEN})
    result, findings = run("bad.py")
    assert result.exit_code == 1
    assert [(f["code"], f["line"]) for f in findings] == [("LL001", 2)]
    # on the command line too, and ignoring the exact code does turn it off
    assert [f["code"] for f in run("--isolated", "--select", "LL1", "bad.py")[1]] == ["LL001"]
    assert run("--isolated", "--ignore", "LL001", "bad.py")[1] == []


def test_per_file_ignores_and_excludes(tmp_path, run):
    _write(tmp_path, {
        "pyproject.toml": (
            "[tool.layerlint]\n"
            "extend-exclude = ['generated/']\n"
            "[tool.layerlint.per-file-ignores]\n"
            "'legacy/*.py' = ['LL001']\n"
        ),
        "legacy/old.py": BROKEN,
        "generated/gen.py": BROKEN,
        "src/new.py": BROKEN,
    })
    result, findings = run(".")
    assert [f["path"] for f in findings] == ["src/new.py"]
    # an explicitly named excluded file is linted unless --force-exclude (as ruff)
    assert len(run("generated/gen.py")[1]) == 1
    assert run("--force-exclude", "generated/gen.py")[1] == []


def test_exclude_replaces_defaults(tmp_path, run):
    _write(tmp_path, {"pyproject.toml": "[tool.layerlint]\nexclude = ['skip']\n",
                      "build/bad.py": BROKEN, "skip/bad.py": BROKEN})
    assert [f["path"] for f in run(".")[1]] == ["build/bad.py"]


@pytest.mark.parametrize(("table", "named"), [
    ("selcet = ['LL101']", "valid keys: select, ignore"),
    ("select = ['LL999']", "valid codes: LL001"),
    ("[tool.layerlint.per-file-ignores]\n'x.py' = ['XX1']", "valid codes: LL001"),
    ("ignore = 'LL101'", "must be a list"),
])
def test_unknown_key_or_code_is_a_usage_error(tmp_path, run, table, named):
    _write(tmp_path, {"pyproject.toml": f"[tool.layerlint]\n{table}\n", "bad.py": BROKEN})
    result, _ = run("bad.py")
    assert result.exit_code == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_toml_is_a_usage_error(tmp_path, run):
    _write(tmp_path, {"pyproject.toml": "[tool.layerlint\n", "bad.py": BROKEN})
    result, _ = run("bad.py")
    assert result.exit_code == 2 and "invalid TOML" in result.stderr


def test_explicit_config_and_isolated(tmp_path, run):
    _write(tmp_path, {
        "pyproject.toml": "[tool.layerlint]\nignore = ['LL001']\n",
        "other.toml": "select = ['LL001']\n",  # a file other than pyproject: top-level keys
        "strict/pyproject.toml": "[tool.layerlint]\nselect = ['LL001']\n",
        "bad.py": BROKEN,
    })
    assert run("bad.py")[1] == []
    assert len(run("--config", "other.toml", "bad.py")[1]) == 1
    assert len(run("--config", "strict/pyproject.toml", "bad.py")[1]) == 1
    assert len(run("--isolated", "bad.py")[1]) == 1
    result, _ = run("--config", "missing.toml", "bad.py")
    assert result.exit_code == 2 and "cannot read" in result.stderr
