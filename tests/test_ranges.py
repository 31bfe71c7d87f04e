"""End positions of source findings, and what uses them: the caret, suppressions on any
line of the reported expression, SARIF regions, GitHub annotations."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from layerlint.cli import cli
from layerlint.reporting import render_text

BLACK = """\
import torch.nn as nn

model = nn.Sequential(
    nn.Linear(4, 8),
    nn.Dropout(
        p=0.5,{comment}
    ),
    nn.BatchNorm1d(8),
    nn.ReLU(), nn.Dropout(p=0.1, inplace=")"), nn.Linear(8, 2),  # a ( comment
)
"""


@pytest.fixture
def check(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def run(code: str, *args: str):
        (tmp_path / "model.py").write_text(code)
        result = CliRunner().invoke(cli, ["check", "--no-cache", *args, "model.py"])
        assert result.exit_code in (0, 1), result.output
        return result.stdout

    return run


def _json(check, code: str, *args: str) -> list[tuple]:
    return [(f["code"], f["line"], f["column"], f["end_line"], f["end_column"])
            for f in json.loads(check(code, "--format", "json", *args))]


def test_findings_have_end_positions(check):
    found = _json(check, BLACK.format(comment=""), "--select", "LL101,LL107")
    assert found == [
        ("LL101", 5, 5, 7, 6),  # the three lines of the black-formatted call
        # one line; the ")" in a string does not end the call
        ("LL107", 9, 16, 9, 46),
    ]


def test_suppression_on_a_later_line_of_the_expression(check):
    code = BLACK.format(comment="  # noqa: LL101")
    assert [c[0] for c in _json(check, code)] == []
    # and it is not reported as unused
    assert [c[0] for c in _json(check, code, "--report-unused-suppressions")] == []


def test_a_comment_after_the_expression_does_not_suppress(check):
    code = BLACK.format(comment="").replace("nn.BatchNorm1d(8),",
                                            "nn.BatchNorm1d(8),\n    # noqa: LL101")
    assert [c[0] for c in _json(check, code)] == ["LL101"]


def test_caret_spans_the_expression():
    from layerlint.ir import Location
    from layerlint.rule import Finding, Severity

    line = '    nn.ReLU(), nn.Dropout(p=0.1, inplace=")"), nn.Linear(8, 2),  # a ( comment'
    finding = Finding("LL107", "dropout-with-batchnorm", Severity.INFO, "m",
                      Location("model.py", 9, 16, 9, 46))
    text = render_text([finding], 1, source_line=lambda loc: line)
    caret = text.splitlines()[3]
    assert caret == "  |" + " " * 16 + "^" * len('nn.Dropout(p=0.1, inplace=")")')


def test_sarif_and_github_carry_the_range(check):
    code = BLACK.format(comment="")
    sarif = json.loads(check(code, "--format", "sarif", "--select", "LL107"))
    region = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 9, "startColumn": 16, "endLine": 9, "endColumn": 46}
    github = check(code, "--format", "github", "--select", "LL101,LL107").splitlines()
    assert github[0].startswith("::warning file=model.py,line=5,col=5,endLine=7,title=LL101")
    assert "line=9,col=16,endLine=9,endColumn=46," in github[1]


KERAS_BUILDERS = """\
import keras
from keras import layers

def small():
    inputs = keras.Input(shape=(32,))
    x = layers.Dense(10, use_bias=True)(inputs)
    x = layers.BatchNormalization()(x, training=True)
    return keras.Model(inputs, x)

def large():
    inputs = keras.Input(shape=(32,))
    x = layers.Dense(10)(inputs)
    x = layers.BatchNormalization()(x)
    return keras.Model(inputs, x)
"""


def test_a_layer_applied_where_it_is_built_keeps_its_own_line(check):
    # ``BatchNormalization()(x)``: the application and the constructor start at the same
    # column; the application once took the constructor's place, which pushed each later
    # equal constructor onto the next equal line (here, into another function)
    findings = json.loads(check(KERAS_BUILDERS, "--select", "LL104", "--format", "json"))
    assert [(f["line"], f["column"], [(r["line"], r["column"]) for r in f["related"]])
            for f in findings] == [(6, 9, [(7, 9)]), (12, 9, [(13, 9)])]
