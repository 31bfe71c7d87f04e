"""verify reports a user reads: Markdown that embeds its plots and keeps its tables
whole, plots that can be read, report files with the user's permissions."""

from __future__ import annotations

import copy
import os
import re
import stat

import pytest

from layerlint.evidence import report as reports
from layerlint.evidence.harness import atomic_write_json
from layerlint.evidence.runner import with_user_mode

pytest.importorskip("matplotlib")


@pytest.fixture
def bundled() -> dict:
    reference = reports.load_reference("LL101")
    assert reference is not None and reference["comparisons"]
    return copy.deepcopy(reference)


def test_markdown_embeds_the_plots_it_sits_beside(bundled, tmp_path):
    written = reports.plots(bundled, tmp_path)
    assert [p.name for p in written] == ["LL101_differences.png", "LL101_training.png"]
    text = reports.markdown(bundled, None, written)
    targets = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text)
    assert targets == ["LL101_differences.png", "LL101_training.png"]
    assert all((tmp_path / target).is_file() for target in targets)


def test_markdown_table_cells_escape_pipes(bundled):
    bundled["comparisons"][0]["comparison"]["name"] = "||dL/db|| ratio"
    bundled["comparisons"][0]["comparison"]["unit"] = "a|b"
    text = reports.markdown(bundled)
    header = next(line for line in text.splitlines() if line.startswith("| comparison |"))
    row = next(line for line in text.splitlines() if "dL/db" in line)
    unescaped = re.compile(r"(?<!\\)\|")
    assert len(unescaped.findall(row)) == len(unescaped.findall(header))
    assert row.startswith(r"| \|\|dL/db\|\| ratio |")


def test_plots_are_readable(bundled, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    real_close = plt.close

    def keep(fig=None):
        figures.append(fig)
        real_close(fig)

    monkeypatch.setattr(plt, "close", keep)
    reports.plots(bundled, tmp_path)
    differences, training = figures
    for ax in differences.axes:
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "95% CI of the mean" in labels
        assert any(label.startswith("±δ = ") for label in labels)
        assert all(float(tick).is_integer() for tick in ax.get_xticks())
    (ax,) = training.axes
    seeds = len(bundled["trials"])
    thin = [line for line in ax.get_lines() if line.get_linewidth() < 1]
    bold = [line for line in ax.get_lines() if line.get_linewidth() >= 2]
    assert len(thin) == seeds * len(bundled["arms"]) and len(bold) == len(bundled["arms"])
    for arm, mean in zip(bundled["arms"], bold, strict=True):
        same = {line.get_color() for line in thin if line.get_color() == mean.get_color()}
        assert same == {mean.get_color()}  # the arm's seeds share its mean's colour
        assert mean.get_label() == f"{arm} (mean of {seeds} seeds)"
    assert len({line.get_color() for line in bold}) == len(bundled["arms"])
    assert all(float(tick).is_integer() for tick in ax.get_xticks())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        line.get_label() for line in bold]


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_reports_are_written_with_the_users_umask(tmp_path, mask, mode):
    """The harness writes through mkstemp, which made every JSON report 0600 whatever
    the umask; verify gives it the user's mode once written."""
    previous = os.umask(mask)
    try:
        atomic_write_json(tmp_path / "LL101.json", {"code": "LL101"})
        with_user_mode(tmp_path / "LL101.json")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "LL101.json").stat().st_mode) == mode
