"""Output formats: SARIF (schema-validated), GitHub annotations, text on a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from layerlint.cli import cli
from layerlint.ir import Location
from layerlint.registry import all_rules
from layerlint.reporting import render_github, render_sarif, render_text
from layerlint.rule import Finding, Related, Severity

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())

FINDING = Finding(
    code="LL101", name="dropout-before-batchnorm", severity=Severity.WARNING,
    message="`drop` reaches batchnorm `bn`, 50%: a, b",
    location=Location("src/my model.py", 4, 9, 4, 24),
    related=(Related(Location("src/my model.py", 5, 9, 5, 30), "bn (BatchNorm2d)"),),
)
NOTEBOOK = Finding(
    code="LL001", name="parse-error", severity=Severity.ERROR, message="syntax error",
    location=Location("nb.ipynb", 2, 3, cell=3),
)


def test_sarif_is_valid_and_complete():
    document = json.loads(render_sarif([FINDING, NOTEBOOK], all_rules()))
    jsonschema.validate(document, SCHEMA)
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.code for r in all_rules()]
    assert "## Why is this bad?" in rules[0]["help"]["markdown"]
    first, second = run["results"]
    assert first["ruleId"] == "LL101" and rules[first["ruleIndex"]]["id"] == "LL101"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "src/my%20model.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 4, "startColumn": 9, "endLine": 4, "endColumn": 24},
    }
    related = first["relatedLocations"][0]
    assert related["physicalLocation"]["region"]["startLine"] == 5
    assert related["message"]["text"] == "bn (BatchNorm2d)"
    assert second["level"] == "error" and second["properties"] == {"cell": 3}
    assert rules[second["ruleIndex"]]["id"] == "LL001"


def test_sarif_from_the_cli_validates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text("import torch\nx = (\n")
    result = CliRunner().invoke(cli, ["check", "--format", "sarif", "bad.py", "missing.py"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    assert len(document["runs"][0]["results"]) == 2


def test_sarif_results_have_their_rules_level(tmp_path, monkeypatch):
    """Diagnostics the engine emits itself (LL001, LL002, LL003) take the registered
    rule's severity: a result never disagrees with its rule's default level."""
    monkeypatch.chdir(tmp_path)
    onnx = Path(__file__).parent.parent / "fixtures" / "onnx" / "resnet_stem_eval_export.onnxtxt"
    (tmp_path / "eval.onnxtxt").write_text(onnx.read_text())
    (tmp_path / "model.py").write_text(
        "import torch.nn as nn\n"
        "net = nn.Sequential(nn.Linear(2, 2))  # noqa: LL101\n"
        "head = nn.Linear(2, 2)  # layerlint: ignore[\n")
    (tmp_path / "bad.py").write_text("import torch\nx = (\n")
    result = CliRunner().invoke(cli, ["check", "--format", "sarif", "--select", "ALL", "."])
    run = json.loads(result.stdout)["runs"][0]
    levels = {rule["id"]: rule["defaultConfiguration"]["level"]
              for rule in run["tool"]["driver"]["rules"]}
    found = {(r["ruleId"], r["level"]) for r in run["results"]}
    assert {code for code, _ in found} >= {"LL001", "LL002", "LL003"}
    assert all(level == levels[code] for code, level in found), found


def test_sarif_short_descriptions_are_one_sentence_and_fingerprints_stable(tmp_path,
                                                                           monkeypatch):
    document = json.loads(render_sarif([FINDING], all_rules()))
    for rule in document["runs"][0]["tool"]["driver"]["rules"]:
        short = rule["shortDescription"]["text"]
        assert short.endswith(".") and ". " not in short, short
        assert rule["fullDescription"]["text"].startswith(short)
    monkeypatch.chdir(tmp_path)
    body = "import torch.nn as nn\nnet = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(8))\n"
    (tmp_path / "m.py").write_text(body)

    def prints() -> list[dict]:
        result = CliRunner().invoke(cli, ["check", "--no-cache", "--format", "sarif",
                                          "--select", "LL101", "m.py"])
        document = json.loads(result.stdout)
        jsonschema.validate(document, SCHEMA)
        return [r["partialFingerprints"] for r in document["runs"][0]["results"]]

    before = prints()
    assert len(before) == 1 and len(before[0]["layerlintFingerprint/v1"]) == 20
    (tmp_path / "m.py").write_text("# moved down\n\n" + body)
    assert prints() == before


def test_github_annotations_escape_properties_and_data():
    lines = render_github([FINDING, NOTEBOOK]).splitlines()
    assert lines[0] == (
        "::warning file=src/my model.py,line=4,col=9,endLine=4,endColumn=24,title=LL101::"
        "LL101 [dropout-before-batchnorm] `drop` reaches batchnorm `bn`, 50%25: a, b"
    )
    # a notebook: the whole file, since cell lines are not lines of the .ipynb
    assert lines[1].startswith(
        "::error file=nb.ipynb,title=LL001::cell 3, line 2, column 3: LL001 ")
    onnx = Finding("LL101", "dropout-before-batchnorm", Severity.WARNING, "m",
                   Location("m.onnx", 1, 1, node="/drop/Dropout (#12)"))
    assert render_github([onnx]) == ("::warning file=m.onnx,line=1,col=1,title=LL101::"
                                      "node /drop/Dropout (#12): LL101 [dropout-before-"
                                      "batchnorm] m\n")
    weird = Finding("LL001", "parse-error", Severity.ERROR, "a\nb",
                    Location("a,b:c.py", 1, 1))
    assert render_github([weird]) == (
        "::error file=a%2Cb%3Ac.py,line=1,col=1,title=LL001::LL001 [parse-error] a%0Ab\n")


def test_text_on_a_terminal_shows_source_caret_colour_and_summary():
    lines = {4: "        nn.Dropout(0.5),", 2: "x = (("}
    text = render_text([FINDING, NOTEBOOK], 2, source_line=lambda loc: lines.get(loc.line),
                       color=False, fixable={FINDING: False})
    assert text.splitlines() == [
        # an unsafe fix is not marked unless --unsafe-fixes: --fix would not apply it
        "src/my model.py:4:9: LL101 [dropout-before-batchnorm] "
        "`drop` reaches batchnorm `bn`, 50%: a, b",
        "  |",
        "4 |         nn.Dropout(0.5),",
        "  |         ^^^^^^^^^^^^^^^",
        "",
        "nb.ipynb:cell 3:2:3: LL001 [parse-error] syntax error",
        "  |",
        "2 | x = ((",
        "  |   ^^^^",
        "",
        "Found 2 problems (1 hidden fix can be enabled with --unsafe-fixes) in 2 files checked.",
    ]
    coloured = render_text([FINDING], 1, color=True)
    assert "\x1b[31;1mLL101\x1b[0m" in coloured


def _tty_run(tmp_path, env: dict[str, str]) -> str:
    """Run the CLI under a pseudo-terminal so that stdout.isatty() is true."""
    import os
    import pty
    import subprocess
    import sys

    (tmp_path / "bad.py").write_text("import torch\nx = (\n")
    main, child = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "layerlint", "check", "bad.py"],
                          cwd=tmp_path, stdout=child, stderr=subprocess.DEVNULL,
                          env={**os.environ, **env}, timeout=60)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.returncode == 1
    return b"".join(chunks).decode()


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pty")
def test_terminal_output_colour_and_no_color(tmp_path):
    shown = _tty_run(tmp_path, {})
    assert "\x1b[" in shown and "x = (" in shown and "^" in shown
    plain = _tty_run(tmp_path, {"NO_COLOR": "1"})
    assert "\x1b[" not in plain and "x = (" in plain and "^" in plain


def test_text_when_piped_has_no_colour_or_snippet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text("import torch\nx = (\n")
    result = CliRunner().invoke(cli, ["check", "bad.py"])
    assert "\x1b[" not in result.stdout and "|" not in result.stdout
    assert result.stdout.endswith("Found 1 problem in 1 file checked.\n")


def test_json_has_cell():
    from layerlint.reporting import to_dict

    assert to_dict(NOTEBOOK)["cell"] == 3 and to_dict(FINDING)["cell"] is None


def test_sarif_notebook_results_point_at_the_cell_not_at_file_lines():
    result = json.loads(render_sarif([NOTEBOOK], all_rules()))["runs"][0]["results"][0]
    location = result["locations"][0]
    assert "region" not in location["physicalLocation"]  # line 2 of cell 3 is no file line
    assert location["logicalLocations"] == [{"name": "cell 3",
                                             "fullyQualifiedName": "nb.ipynb:cell 3"}]
    assert result["message"]["text"] == "cell 3, line 2, column 3: syntax error"


def _apply(text: str, replacements: list[tuple[int, int, int, int, str]]) -> str:
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for line, column, end_line, end_column, content in sorted(replacements, reverse=True):
        text = (text[:starts[line - 1] + column - 1] + content
                + text[starts[end_line - 1] + end_column - 1:])
    return text


def test_json_and_sarif_fixes_hold_the_edits_that_fix_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = ("import torch.nn as nn\n\nnet = nn.Sequential(\n    nn.Linear(4, 4),\n"
              "    nn.Dropout(0.5),  # drop\n    nn.BatchNorm1d(4),\n    nn.ReLU(),\n)\n")
    (tmp_path / "m.py").write_text(source)
    check = ["check", "--no-cache", "--select", "LL101", "m.py"]
    (finding,) = json.loads(CliRunner().invoke(cli, [*check, "--format", "json"]).stdout)
    fix = finding["fix"]
    assert (fix["applicability"], fix["message"]) == ("unsafe", "move `net[1]` after `net[2]`")
    from_json = _apply(source, [(e["location"]["row"], e["location"]["column"],
                                 e["end_location"]["row"], e["end_location"]["column"],
                                 e["content"]) for e in fix["edits"]])
    document = json.loads(CliRunner().invoke(cli, [*check, "--format", "sarif"]).stdout)
    jsonschema.validate(document, SCHEMA)
    (result,) = document["runs"][0]["results"]
    (change,) = result["fixes"][0]["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "m.py"
    from_sarif = _apply(source, [(r["deletedRegion"]["startLine"],
                                  r["deletedRegion"]["startColumn"],
                                  r["deletedRegion"]["endLine"], r["deletedRegion"]["endColumn"],
                                  r["insertedContent"]["text"]) for r in change["replacements"]])
    CliRunner().invoke(cli, [*check, "--fix", "--unsafe-fixes"])
    assert from_json == from_sarif == (tmp_path / "m.py").read_text() != source
    assert "    nn.BatchNorm1d(4),\n    nn.Dropout(0.5),  # drop\n" in from_json


def test_json_node_is_data_and_text_keeps_the_display(monkeypatch):
    monkeypatch.chdir(Path(__file__).parent.parent / "fixtures" / "onnx")
    path = "control_flow_and_functions.onnxtxt"
    findings = json.loads(CliRunner().invoke(
        cli, ["check", "--no-cache", "--select", "ALL", "--format", "json", path]).stdout)
    nodes = {f["code"]: f["node"] for f in findings if f["node"]}
    assert nodes["LL101"] == {"name": "Dropout_0", "index": 0, "subgraph": [
        {"node": "If_1", "index": 1, "attribute": "then_branch"}]}
    assert nodes["LL103"] == {"name": "Relu_1", "index": 1, "subgraph": [
        {"node": "LinearBlock_0", "index": 0, "attribute": None}]}
    text = CliRunner().invoke(cli, ["check", "--no-cache", path]).stdout
    assert "(node If_1 (#1) / then_branch / Dropout_0 (#0))" in text
    top = json.loads(CliRunner().invoke(cli, [
        "check", "--no-cache", "--format", "json", "cnn_train_export.onnxtxt"]).stdout)
    assert {"name": "/conv1/Conv", "index": 0, "subgraph": None} in [f["node"] for f in top]
