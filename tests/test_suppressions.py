"""Suppression comments and --report-unused-suppressions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from layerlint.cli import cli


@pytest.fixture
def check(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def run(code: str, *args: str):
        (tmp_path / "model.py").write_text(code)
        result = CliRunner().invoke(cli, ["check", "--format", "json", *args, "model.py"])
        assert result.exit_code in (0, 1), result.output
        return [(f["code"], f["line"], f["message"]) for f in json.loads(result.stdout)]

    return run


BROKEN = "import torch\nx = (  {}\n"  # LL001 reported on line 2


@pytest.mark.parametrize("comment", [
    "# layerlint: ignore[LL001]", "# noqa: LL001", "# noqa: E501, LL001",
    "# NOQA:LL001", "# noqa:  LL001", "# layerlint: ignore[ LL104 , LL001 ]",
])
def test_line_suppression(check, comment):
    assert check(BROKEN.format(comment)) == []


@pytest.mark.parametrize("comment", [
    "# layerlint: ignore[LL101]", "# noqa: E501", "# noqa: LL0011",
    # errors are never hidden by a blanket comment, only by their exact code
    "# noqa", "# layerlint: ignore",
])
def test_other_codes_do_not_suppress(check, comment):
    assert [c for c, *_ in check(BROKEN.format(comment))] == ["LL001"]


def test_blanket_file_suppression_keeps_errors(check):
    assert [c for c, *_ in check("# layerlint: ignore-file\nimport torch\nx = (\n")] == [
        "LL001"]


@pytest.mark.parametrize("comment", [
    "# layerlint: ignore [LL101]", "# layerlint: ignore(LL101)", "# layerlint: ignore[LL101",
    "# layerlint: ignore[]", "# layerlint ignore[LL101]", "# layerlint: ignored",
    "# noqa LL101",
])
def test_malformed_suppression_is_reported_and_suppresses_nothing(check, monkeypatch,
                                                                   comment):
    from fake_rules import use_fake_rules

    use_fake_rules(monkeypatch)
    found = check(TORCH.format(drop="  " + comment, bn=""))
    assert [(c, line) for c, line, _ in found] == [("LL901", 5), ("LL001", 5)]
    message = found[1][2]
    assert message.startswith(f"malformed suppression comment `{comment}` suppresses nothing")
    # in a file without findings too
    assert [c for c, *_ in check(f"import os  {comment}\n")] == ["LL001"]
    # LL001 is ignorable by its exact code
    assert [c for c, *_ in check(f"import os  {comment}\n", "--ignore", "LL001")] == []


def test_comment_on_another_line_does_not_suppress(check):
    assert len(check("import torch  # noqa: LL001\nx = (\n")) == 1


def test_file_level_suppression(check):
    assert check("# layerlint: ignore-file[LL001]\nimport torch\nx = (\n") == []
    assert len(check("# layerlint: ignore-file[LL104]\nimport torch\nx = (\n")) == 1


def test_suppression_text_in_a_string_is_not_a_comment(check):
    code = 'import os\ns = "# layerlint: ignore-file"\n'
    # tokenized: the string is no directive, so nothing is suppressed, nothing is unused
    assert check(code, "--report-unused-suppressions") == []


def test_unused_suppressions_reported(check):
    code = (
        "import torch  # layerlint: ignore[LL002, LL999]\n"
        "y = 1  # noqa: E501\n"
        "z = 2  # noqa\n"
        "w = 3  # layerlint: ignore\n"
        "x = (  # noqa: LL001\n"
    )
    found = check(code, "--report-unused-suppressions")
    assert found == [
        ("LL003", 1, "unused suppression for LL002, LL999 (unknown code)"),
        ("LL003", 4, "unused blanket suppression"),
    ]
    assert check(code) == []  # off by default


def test_unused_suppression_selectable_and_itself_suppressible(check):
    code = "import os  # layerlint: ignore[LL101]\n"
    assert [c for c, *_ in check(code, "--extend-select", "LL003")] == ["LL003"]
    assert check("# layerlint: ignore-file[LL003]\n" + code, "--extend-select", "LL003") == []


TORCH = """\
import torch.nn as nn

net = nn.Sequential(
    nn.Linear(4, 8),
    nn.Dropout(0.5),{drop}
    nn.BatchNorm1d(8),{bn}
)
"""


@pytest.mark.parametrize(("drop", "bn", "suppressed"), [
    ("", "", False),
    ("  # noqa: LL901", "", True),
    ("", "  # layerlint: ignore[LL901]", True),  # the related layer's line
    ("", "  # noqa: LL902", False),
])
def test_reported_or_related_line(check, monkeypatch, drop, bn, suppressed):
    from fake_rules import use_fake_rules

    use_fake_rules(monkeypatch)
    found = [c for c, *_ in check(TORCH.format(drop=drop, bn=bn))]
    assert found == ([] if suppressed else ["LL901"])


def test_onnx_text_comment_suppresses(tmp_path, monkeypatch):
    root = Path(__file__).resolve().parent.parent
    lines = (root / "fixtures/onnx/cnn_train_export.onnxtxt").read_text().splitlines()
    monkeypatch.chdir(tmp_path)

    def codes(text: str) -> list[str]:
        (tmp_path / "m.onnxtxt").write_text(text)
        result = CliRunner().invoke(cli, ["check", "--format", "json", "m.onnxtxt"])
        return [(f["code"], f["line"]) for f in json.loads(result.stdout)]

    before = codes("\n".join(lines) + "\n")
    assert ("LL104", 10) in before
    lines[9] += "  # noqa: LL104"
    after = codes("\n".join(lines) + "\n")
    assert after == [f for f in before if f != ("LL104", 10)]


_CONV = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            {conv}
            nn.BatchNorm2d(16),
        )

    def forward(self, x):
        return self.body(x)
"""


@pytest.mark.parametrize("conv, expected", [
    ("nn.Conv2d(3, 16, 3),", "nn.Conv2d(3, 16, 3),  # noqa: LL104"),
    ("nn.Conv2d(3, 16, 3),  # why", "nn.Conv2d(3, 16, 3),  # why  # noqa: LL104"),
    ("nn.Conv2d(3, 16, 3),  # noqa: E501", "nn.Conv2d(3, 16, 3),  # noqa: E501, LL104"),
    ("nn.Conv2d(3, 16, 3),  # layerlint: ignore[LL101] ok",
     "nn.Conv2d(3, 16, 3),  # layerlint: ignore[LL101, LL104] ok"),
    # the first line ends inside a string, or is continued by a backslash: the next one
    ('nn.Conv2d(3, 16, 3, padding_mode="""\nzeros"""),', 'zeros"""),  # noqa: LL104'),
    ("nn.Conv2d(3, \\\n16, 3),", "16, 3),  # noqa: LL104"),
])
def test_suppression_edit_suppresses_the_finding(tmp_path, conv, expected):
    """The editor's "suppress" action: applied, the finding is gone and nothing else is."""
    from layerlint.linter import LintOptions, lint
    from layerlint.source import read_source
    from layerlint.suppressions import suppression_edit

    path = tmp_path / "model.py"
    path.write_text(_CONV.format(conv=conv))
    options = LintOptions(isolated=True)
    [finding] = [f for f in lint([path], options).findings if f.code == "LL104"]
    source = read_source(path)
    line, start, end, text = suppression_edit(source, finding)
    lines = source.text.split("\n")
    lines[line - 1] = lines[line - 1][:start] + text + lines[line - 1][end:]
    assert lines[line - 1].strip() == expected.strip()
    path.write_text("\n".join(lines))
    assert [f.code for f in lint([path], options).findings] == []
