"""--baseline: accepted findings survive line shifts; new ones are reported."""

from __future__ import annotations

import json

from click.testing import CliRunner

from layerlint.cli import cli

BROKEN = "import torch\nx = (\n"


def _check(*args: str):
    result = CliRunner().invoke(cli, ["check", "--format", "json", *args])
    return result, json.loads(result.stdout) if result.exit_code in (0, 1) else None


def test_baseline_written_then_applied(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(BROKEN)
    (tmp_path / "b.py").write_text(BROKEN)
    result, findings = _check("--baseline", "base.json", ".")
    assert result.exit_code == 0 and findings == []
    assert "wrote 2 finding(s)" in result.stderr
    stored = json.loads((tmp_path / "base.json").read_text())
    assert [e["path"] for e in stored["findings"]] == ["a.py", "b.py"]

    # lines shifted: still accepted
    (tmp_path / "a.py").write_text("# header\n\n" + BROKEN)
    result, findings = _check("--baseline", "base.json", ".")
    assert result.exit_code == 0 and findings == []

    # a new finding (a new file, or an edited line) is reported
    (tmp_path / "c.py").write_text(BROKEN)
    (tmp_path / "b.py").write_text("import torch\nx = [\n")
    result, findings = _check("--baseline", "base.json", ".")
    assert result.exit_code == 1
    assert [f["path"] for f in findings] == ["b.py", "c.py"]


def test_baseline_from_another_folder(tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    _check("--baseline", "base.json", "src")
    monkeypatch.chdir(tmp_path / "src")
    result, findings = _check("--baseline", "../base.json", "a.py")
    assert result.exit_code == 0 and findings == []


def test_bad_baseline_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(BROKEN)
    (tmp_path / "base.json").write_text("[1, 2]")
    result, _ = _check("--baseline", "base.json", "a.py")
    assert result.exit_code == 2 and "not a layerlint baseline" in result.stderr
