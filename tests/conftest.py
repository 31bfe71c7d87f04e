from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def lint(tmp_path, monkeypatch):
    """Lint source text written to a temporary file; return the findings."""
    from layerlint.engine import check_paths
    from layerlint.registry import select_rules

    monkeypatch.chdir(tmp_path)

    def run(code: str, select: list[str] | None = None, name: str = "model.py"):
        path = tmp_path / name
        path.write_text(code)
        return check_paths([path], select_rules(select or ["ALL"])).findings

    return run
