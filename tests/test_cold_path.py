"""A run imports only what its inputs need (the cost of a pre-commit hook or an editor)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

_RUN = textwrap.dedent("""
    import json, sys
    from layerlint.cli import cli
    try:
        cli.main(sys.argv[2:], prog_name="layerlint")
    except SystemExit as exit:
        status = exit.code
    sys.stderr.write("\\nRESULT " + json.dumps(
        {"status": status, "loaded": [m for m in sys.argv[1].split(",") if m in sys.modules]}))
""")


def _loaded(modules: str, *arguments: str) -> tuple[int, list[str]]:
    """Run the command line; which of ``modules`` were imported. ``check`` runs in one
    process without a cache, so that the frontends run where ``sys.modules`` is read."""
    if arguments[0] == "check":
        arguments = ("check", "--isolated", "--jobs", "1", "--no-cache", *arguments[1:])
    # -I: the checkout must not shadow the installed package, whose layerlint.rules
    # exists only once installed (rules/ is mapped into it by setup.py)
    done = subprocess.run([sys.executable, "-I", "-c", _RUN, modules, *arguments],
                          capture_output=True, text=True, timeout=120)
    result = json.loads(done.stderr.rsplit("RESULT ", 1)[1])
    return result["status"], result["loaded"]


@pytest.mark.parametrize("output", ["text", "json"])
def test_python_only_run_imports_no_onnx(output):
    status, loaded = _loaded("onnx,google.protobuf,libcst,pygls,lsprotocol", "check",
                             "--format", output, str(FIXTURES / "torch"))
    assert status == 1  # findings: the frontend ran
    assert loaded == ["libcst"]


def test_onnx_only_run_imports_no_libcst():
    status, loaded = _loaded("onnx,libcst", "check", str(FIXTURES / "onnx"))
    assert status == 1
    assert loaded == ["onnx"]


def test_version_imports_no_rules():
    status, loaded = _loaded("layerlint.registry,layerlint.rule,layerlint.ir,pygls,lsprotocol",
                             "--version")
    assert (status, loaded) == (0, [])


def test_run_without_configuration_imports_no_toml_parser():
    # a run that reads no configuration file (--isolated) does not pay for the parser,
    # nor for importlib.abc (what the checkout's rule mapping once imported)
    status, loaded = _loaded("tomllib,tomli,importlib.abc", "check", str(FIXTURES / "torch"))
    assert status == 1
    assert loaded == []
