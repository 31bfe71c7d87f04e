"""Jupyter notebooks: code cells joined as one module, magics skipped, cell locations."""

from __future__ import annotations

import json

from click.testing import CliRunner

from layerlint.cli import cli
from layerlint.frontends.notebook import read_notebook


def _notebook(*cells: tuple[str, str]) -> str:
    return json.dumps({
        "cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(True),
                   **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                  for kind, source in cells],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    })


def test_cells_joined_and_mapped_back():
    nb = read_notebook(_notebook(
        ("code", "import torch\n%matplotlib inline\n!pip install x"),
        ("markdown", "# title"),
        ("code", "%%bash\necho hi\n"),
        ("code", "for i in range(2):\n    %time f(i)\nfiles = !ls\nlen?\nx = 1"),
    ).encode())
    assert nb.text.splitlines() == [
        "import torch", "", "",
        "", "",
        "for i in range(2):", "    pass", "", "", "x = 1",
    ]
    assert nb.starts == (1, 4, 6)
    assert nb.locate(10) == (3, 5)
    assert nb.cell_lines(3)[-1] == "x = 1"


def test_parse_error_points_at_cell_and_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(_notebook(
        ("code", "import torch\n%load_ext autoreload\n!nvidia-smi"),
        ("markdown", "text"),
        ("code", "x = 1\n"),
        ("code", "def f():\n    %time g()\n    return 1\ny = (\n"),
    ))
    result = CliRunner().invoke(cli, ["check", "--format", "json", "nb.ipynb"])
    assert result.exit_code == 1, result.output
    [finding] = json.loads(result.stdout)
    assert (finding["code"], finding["cell"], finding["line"]) == ("LL001", 3, 4)
    text = CliRunner().invoke(cli, ["check", "nb.ipynb"]).stdout
    assert text.startswith("nb.ipynb:cell 3:4:5: LL001")  # the unclosed "("


def test_suppression_in_a_cell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(_notebook(
        ("code", "import torch\n"), ("code", "y = (  # noqa: LL001\n")))
    result = CliRunner().invoke(cli, ["check", "--format", "json", "nb.ipynb"])
    assert json.loads(result.stdout) == [], result.output


def test_malformed_notebook_is_ll001(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text("{not json")
    result = CliRunner().invoke(cli, ["check", "--format", "json", "nb.ipynb"])
    [finding] = json.loads(result.stdout)
    assert finding["code"] == "LL001" and "malformed notebook" in finding["message"]


def test_notebooks_found_in_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "nb.ipynb").write_text(_notebook(("code", "import torch\nx = (\n")))
    result = CliRunner().invoke(cli, ["check", "--format", "json", "."])
    assert [f["path"] for f in json.loads(result.stdout)] == ["a/nb.ipynb"]


def test_layers_across_cells_point_at_their_cell(tmp_path, monkeypatch):
    from fake_rules import use_fake_rules

    use_fake_rules(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(_notebook(
        ("code", "%matplotlib inline\nimport torch.nn as nn"),
        ("markdown", "## The model"),
        ("code", "!nvidia-smi\nnet = nn.Sequential(\n    nn.Linear(4, 8),\n"
                 "    nn.Dropout(0.5),\n    nn.BatchNorm1d(8),\n)"),
    ))
    result = CliRunner().invoke(cli, ["check", "--format", "json", "nb.ipynb"])
    [finding] = [f for f in json.loads(result.stdout) if f["code"] == "LL901"]
    assert (finding["cell"], finding["line"], finding["column"]) == (2, 4, 5)
    assert finding["related"][0]["line"] == 5
    text = CliRunner().invoke(cli, ["check", "nb.ipynb"]).stdout
    assert "nb.ipynb:cell 2:4:5: LL901" in text


def test_nbformat_3_worksheets():
    nb = read_notebook(json.dumps({"nbformat": 3, "worksheets": [{"cells": [
        {"cell_type": "code", "input": ["import torch\n", "x = 1"]},
        {"cell_type": "markdown", "source": ["text"]},
    ]}]}).encode())
    assert nb.text == "import torch\nx = 1\n"


def test_one_broken_cell_is_reported_and_the_other_cells_are_still_checked(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(_notebook(
        ("code", "import torch.nn as nn\n"),
        ("code", "def train(:\n    pass\n"),  # saved mid-edit
        ("code", "model = nn.Sequential(\n    nn.Linear(8, 8),\n    nn.Dropout(0.5),\n"
                 "    nn.BatchNorm1d(8),\n    nn.Linear(8, 2),\n)\n"),
    ))
    result = CliRunner().invoke(cli, ["check", "--format", "json", "nb.ipynb"])
    assert result.exit_code == 1, result.output
    found = [(f["code"], f["cell"], f["line"]) for f in json.loads(result.stdout)]
    assert found == [("LL001", 2, 1), ("LL101", 3, 3)]


def test_notebook_findings_offer_no_fix(tmp_path, monkeypatch):
    """Notebooks are never fixed: JSON `fix` was set on their findings all the same."""
    monkeypatch.chdir(tmp_path)
    code = ("import torch.nn as nn\nnet = nn.Sequential(\n    nn.Linear(4, 4),\n"
            "    nn.Dropout(0.5),\n    nn.BatchNorm1d(4),\n)\n")
    (tmp_path / "nb.ipynb").write_text(_notebook(("code", code)))
    (tmp_path / "m.py").write_text(code)
    run = ["check", "--no-cache", "--select", "LL101", "--unsafe-fixes", "--format", "json"]
    (in_notebook,) = json.loads(CliRunner().invoke(cli, [*run, "nb.ipynb"]).stdout)
    (in_source,) = json.loads(CliRunner().invoke(cli, [*run, "m.py"]).stdout)
    assert in_notebook["cell"] == 1 and in_notebook["fix"] is None
    assert in_source["fix"] is not None  # the same code in a .py file is fixable
