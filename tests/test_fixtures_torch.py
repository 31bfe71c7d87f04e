"""Whole-model fixtures and the ``check`` command line, end to end.

``fixtures/torch/`` holds realistic PyTorch models whose expected findings are marked
inline (``# error: LL101`` on the line of the finding); with the default rules a run
must report exactly those. ``fixtures/clean/`` must stay silent. ``fixtures/bad/`` and
generated inputs must give LL001 without stopping the run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from layerlint.cli import cli
from layerlint.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent
TORCH = ROOT / "fixtures" / "torch"
CLEAN = ROOT / "fixtures" / "clean"
BAD = ROOT / "fixtures" / "bad"

_MARKER = re.compile(r"#\s*error:\s*(LL\d{3}(?:\s*,\s*LL\d{3})*)")

# The keys the JSON format promises (issue 2), plus ``cell`` for notebooks (issue 6).
JSON_KEYS = ["path", "line", "column", "end_line", "end_column", "code", "name", "severity",
             "message", "related", "node", "cell", "fix"]

# Fixtures that the frontend does not get right yet: strict, so a fix makes them fail
# until the entry is removed.
# Fixture files whose markers the frontend cannot meet yet: {name: why}.
KNOWN_GAPS: dict[str, str] = {}


def _expected(root: Path) -> set[tuple[str, int, str]]:
    marks = set()
    for path in sorted(root.rglob("*.py")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = _MARKER.search(text)
            if match:
                rel = path.relative_to(ROOT).as_posix()
                marks.update((rel, number, c.strip()) for c in match.group(1).split(","))
    return marks


def _invoke(*args: str, cwd: Path = ROOT):
    """Run the CLI in-process from ``cwd`` (paths in the output are relative to it)."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def _findings(*args: str, cwd: Path = ROOT) -> tuple[int, list[dict]]:
    result = _invoke("check", "--isolated", "--format", "json", *args, cwd=cwd)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def _found(findings: list[dict]) -> set[tuple[str, int, str]]:
    return {(f["path"], f["line"], f["code"]) for f in findings}


@pytest.fixture(scope="module")
def torch_run() -> tuple[int, list[dict]]:
    return _findings(str(TORCH.relative_to(ROOT)))


def _fixture_files() -> list[str]:
    return sorted(p.relative_to(TORCH).as_posix() for p in TORCH.rglob("*.py"))


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_GAPS[name], strict=True))
    if name in KNOWN_GAPS else name
    for name in _fixture_files()
])
def test_torch_fixture_hits_exactly_its_markers(torch_run, name):
    rel = (TORCH / name).relative_to(ROOT).as_posix()
    _, findings = torch_run
    found = {f for f in _found(findings) if f[0] == rel}
    expected = {m for m in _expected(TORCH) if m[0] == rel}
    messages = "\n".join(
        f"{f['line']}: {f['code']} {f['message']}" for f in findings if f["path"] == rel)
    assert found == expected, (
        f"missing: {sorted(expected - found)}\nunexpected: {sorted(found - expected)}\n"
        f"{messages}")


def test_torch_fixtures_cover_every_default_rule(torch_run):
    """The markers exercise every default architecture rule, and the run is an exit 1."""
    exit_code, findings = torch_run
    assert exit_code == 1
    marked = {code for _, _, code in _expected(TORCH)}
    defaults = {r.code for r in all_rules() if r.default_enabled and r.code >= "LL100"}
    loss_rules = {"LL201", "LL202", "LL203"}  # fixtures for these live with their issue
    keras_only = {"LL402"}  # Keras' per-call `training`: fixtures/keras/custom_loop.py
    assert defaults - loss_rules - keras_only <= marked
    assert len(_expected(TORCH)) >= 30


def test_torch_fixture_messages_name_the_condition(torch_run):
    _, findings = torch_run
    wrn = [f for f in findings if f["path"].endswith("wide_resnet.py")]
    assert [f["code"] for f in wrn] == ["LL101"]
    assert "drop_rate > 0" in wrn[0]["message"]
    assert wrn[0]["related"] and wrn[0]["related"][0]["line"] == 18  # the next block's bn1


def test_clean_fixtures_are_silent():
    exit_code, findings = _findings(str(CLEAN.relative_to(ROOT)))
    assert findings == []
    assert exit_code == 0
    text = _invoke("check", "--isolated", str(CLEAN.relative_to(ROOT)))
    n_files = len(list(CLEAN.rglob("*.py")))
    assert f"All checks passed ({n_files} files checked)" in text.output


# --- bad inputs ----------------------------------------------------------------------

def test_bad_inputs_give_ll001_and_the_run_goes_on():
    exit_code, findings = _findings("fixtures/bad", "fixtures/torch/mlp.py")
    assert exit_code == 1
    by_file = {}
    for f in findings:
        by_file.setdefault(Path(f["path"]).name, []).append(f)
    assert [f["code"] for f in by_file["syntax_error.py"]] == ["LL001"]
    assert "syntax error" in by_file["syntax_error.py"][0]["message"]
    assert by_file["syntax_error.py"][0]["line"] == 7  # the unclosed nn.Sequential(
    assert [f["code"] for f in by_file["latin1_no_coding.py"]] == ["LL001"]
    assert "decode" in by_file["latin1_no_coding.py"][0]["message"]
    assert [f["code"] for f in by_file["deeply_nested.py"]] == ["LL001"]
    assert "nested" in by_file["deeply_nested.py"][0]["message"]
    assert "empty.py" not in by_file
    # the good file after them is still checked
    assert {f["code"] for f in by_file["mlp.py"]} == {"LL101", "LL104", "LL301"}


@pytest.mark.parametrize("source", [
    pytest.param("x = " + "(" * 5000 + "1" + ")" * 5000, id="parens-5000"),
    pytest.param("x = " + "f(" * 3000 + "1" + ")" * 3000, id="calls-3000"),
    pytest.param("x = " + "-" * 20000 + "1", id="unary-20000"),
    pytest.param("x = " + " + ".join(["1"] * 20000), id="operator-chain-20000"),
    pytest.param("x = a" + ".b" * 20000, id="attributes-20000"),
])
def test_nesting_that_crashes_libcst_is_ll001(tmp_path, source):
    """LibCST's native parser overflows its stack (a segfault) or stalls on these."""
    path = tmp_path / "deep.py"
    path.write_text("import torch\n" + source + "\n")
    good = tmp_path / "good.py"
    good.write_text((TORCH / "mlp.py").read_text())
    code = (
        "import sys\nfrom layerlint.cli import cli\n"
        "cli.main(sys.argv[1:], prog_name='layerlint')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "check", "--isolated", "--format", "json", "deep.py",
         "good.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)
    deep = [f for f in findings if f["path"] == "deep.py"]
    assert [f["code"] for f in deep] == ["LL001"]
    assert "nest" in deep[0]["message"] or "recursion" in deep[0]["message"]
    assert any(f["path"] == "good.py" and f["code"] == "LL101" for f in findings)


def test_declared_latin1_encoding_is_read(tmp_path):
    source = ("# -*- coding: latin-1 -*-\n" + (TORCH / "mlp.py").read_text()).replace(
        "tutorials", "tutoriels (é)")
    (tmp_path / "latin.py").write_bytes(source.encode("latin-1"))
    exit_code, findings = _findings("latin.py", cwd=tmp_path)
    assert {f["code"] for f in findings} == {"LL101", "LL104", "LL301"}
    assert exit_code == 1


def _huge_module(lines: int) -> tuple[str, int]:
    """A generated file of ``lines`` lines ending with a model; the marked line number."""
    head = ["import torch", "import torch.nn as nn", "", "VOCAB = {"]
    tail = [
        "}",
        "",
        "",
        "class Head(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
        "        self.net = nn.Sequential(",
        "            nn.Linear(64, 64),",
        "            nn.Dropout(0.1),",
        "            nn.BatchNorm1d(64),",
        "        )",
        "",
        "    def forward(self, x):",
        "        return self.net(x)",
    ]
    body = [f"    'token_{i}': {i}," for i in range(lines - len(head) - len(tail))]
    text = "\n".join(head + body + tail) + "\n"
    return text, lines - 5


def test_fifty_thousand_line_file(tmp_path):
    text, dropout_line = _huge_module(50_000)
    assert text.count("\n") == 50_000
    (tmp_path / "huge.py").write_text(text)
    started = time.perf_counter()
    exit_code, findings = _findings("huge.py", cwd=tmp_path)
    elapsed = time.perf_counter() - started
    assert _found(findings) == {("huge.py", dropout_line, "LL101")}
    assert exit_code == 1
    assert elapsed < 120, f"50,000 lines took {elapsed:.1f} s"  # only catches a blow-up


def test_folder_without_python_files(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to lint\n")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    result = _invoke("check", "--isolated", str(tmp_path))
    assert result.exit_code == 0
    assert "0 files checked" in result.stdout
    assert "warning: no Python, notebook or ONNX files found" in result.stderr


def test_nonexistent_path_is_ll001_and_the_run_goes_on(tmp_path):
    (tmp_path / "model.py").write_text((TORCH / "mlp.py").read_text())
    exit_code, findings = _findings("missing.py", "model.py", cwd=tmp_path)
    assert exit_code == 1
    missing = [f for f in findings if f["path"] == "missing.py"]
    assert [f["code"] for f in missing] == ["LL001"]
    assert "No such file" in missing[0]["message"]
    assert any(f["path"] == "model.py" and f["code"] == "LL101" for f in findings)


# --- the command line ------------------------------------------------------------------

def test_exit_codes_of_check():
    assert _invoke("check", "--isolated", "fixtures/clean").exit_code == 0
    assert _invoke("check", "--isolated", "fixtures/torch/mlp.py").exit_code == 1
    unknown = _invoke("check", "--isolated", "--select", "LL999", "fixtures/clean")
    assert unknown.exit_code == 2
    assert "LL999" in unknown.output and "valid codes" in unknown.output
    assert _invoke("check", "--isolated", "--ignore", "XYZ", "fixtures/clean").exit_code == 2
    assert _invoke("check", "--no-such-option").exit_code == 2


def test_rules_and_explain_exit_codes():
    listed = _invoke("rules", "--format", "json")
    assert listed.exit_code == 0
    assert [r["code"] for r in json.loads(listed.stdout)] == [r.code for r in all_rules()]
    for fmt in ("table", "markdown"):
        out = _invoke("rules", "--format", fmt)
        assert out.exit_code == 0 and "LL101" in out.output
    explained = _invoke("explain", "LL101")
    assert explained.exit_code == 0
    assert "LL101" in explained.output and "## Example" in explained.output
    assert _invoke("explain", "dropout-before-batchnorm").exit_code == 0
    unknown = _invoke("explain", "LL999")
    assert unknown.exit_code == 2 and "LL999" in unknown.output


# Between them these files have findings of every default rule but the loss rules,
# and of the opt-in LL103 (convmixer) and LL107 (mlp).
_SELECTION_FILES = ("fixtures/torch/mlp.py", "fixtures/torch/functional.py",
                    "fixtures/torch/keras_port.py", "fixtures/clean/convmixer.py")


def _codes(*args: str) -> set[str]:
    exit_code, findings = _findings(*args, *_SELECTION_FILES)
    assert exit_code == (1 if findings else 0)
    return {f["code"] for f in findings}


def test_select_ignore_and_extend_select_with_prefixes_and_all():
    default = _codes()
    assert {"LL101", "LL104", "LL301", "LL302"} <= default
    assert not default & {"LL103", "LL107"}  # opt-in
    everything = _codes("--select", "ALL")
    assert {"LL103", "LL107"} <= everything and default < everything
    # a selected prefix enables every rule under it, opt-in ones included (as ruff)
    assert _codes("--select", "LL1") == {c for c in everything if c.startswith("LL1")}
    assert _codes("--select", "LL10", "--ignore", "LL101,LL104") == {
        c for c in everything if c.startswith("LL10")} - {"LL101", "LL104"}
    assert _codes("--select", "LL3") == {"LL301", "LL302"}
    assert _codes("--select", "LL301", "--select", "LL302") == {"LL301", "LL302"}
    assert _codes("--extend-select", "LL103") == default | {"LL103"}
    assert _codes("--extend-select", "LL107", "--ignore", "LL101") == (
        default | {"LL107"}) - {"LL101"}
    assert _codes("--select", "ALL", "--ignore", "LL1") == {
        c for c in everything if not c.startswith("LL1")}
    assert _codes("--ignore", "ALL") == set()


def test_json_format_keys():
    exit_code, findings = _findings("fixtures/torch/functional.py")
    assert exit_code == 1 and findings
    for finding in findings:
        assert list(finding) == JSON_KEYS
        assert finding["node"] is None and finding["cell"] is None
        assert finding["path"] == "fixtures/torch/functional.py"
        assert isinstance(finding["line"], int) and isinstance(finding["column"], int)
        assert finding["severity"] in {"error", "warning", "info"}
        assert finding["fix"] is None or isinstance(finding["fix"], dict)
        for related in finding["related"]:
            assert list(related) == ["path", "line", "column", "message"]
    assert any(f["related"] for f in findings)
    # stable order: by path, line, column, code
    keys = [(f["path"], f["line"], f["column"], f["code"]) for f in findings]
    assert keys == sorted(keys)


def test_python_dash_m(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "layerlint", "check", "--isolated",
         str(TORCH / "functional.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "LL101" in proc.stdout and "functional.py:19:" in proc.stdout
    version = subprocess.run([sys.executable, "-m", "layerlint", "--version"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "layerlint" in version.stdout


def test_check_never_imports_torch_or_keras(tmp_path):
    """Run the CLI in a fresh interpreter and look at ``sys.modules`` afterwards."""
    code = textwrap.dedent("""
        import json, sys

        HEAVY = {"torch", "tensorflow", "keras", "jax"}
        attempts = []

        class Spy:  # sees every import attempt, whether or not the package is installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in HEAVY:
                    attempts.append(name)
                return None

        sys.meta_path.insert(0, Spy())
        from layerlint.cli import cli
        try:
            # one process, no cache: the frontends run here, where the spy sees them
            cli.main(["check", "--isolated", "--format", "json", "--jobs", "1",
                      "--no-cache", *sys.argv[1:]],
                     prog_name="layerlint")
        except SystemExit as exit:
            status = exit.code
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
        sys.stderr.write("\\nRESULT " + json.dumps(
            {"status": status, "heavy": heavy, "attempts": attempts}))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(TORCH), str(CLEAN)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    result = json.loads(proc.stderr.rsplit("RESULT ", 1)[1])
    assert result["status"] == 1  # findings, so the frontends really ran
    assert len(json.loads(proc.stdout)) >= 30
    assert result["heavy"] == []
    assert result["attempts"] == []
