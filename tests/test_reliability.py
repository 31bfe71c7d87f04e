"""Reliability: a crash never reads as a pass; bad paths, configurations and encodings
are clear diagnostics; fixes never overwrite what they should not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from layerlint import engine
from layerlint.cli import cli

DROPOUT_BN = """\
import torch.nn as nn

net = nn.Sequential(
    nn.Linear(8, 8),
    nn.Dropout(0.5),
    nn.BatchNorm1d(8),
)
"""


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["check", "--no-cache", "-j", "1", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def two_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.py").write_text(DROPOUT_BN)
    (tmp_path / "bad.py").write_text(DROPOUT_BN)
    return tmp_path


def _crash_frontend_on_bad(monkeypatch):
    real = engine.load_graphs

    def load(path, project):
        if path.name == "bad.py":
            raise ZeroDivisionError("injected")
        return real(path, project)

    monkeypatch.setattr(engine, "load_graphs", load)


@pytest.mark.parametrize("select", [[], ["--select", "LL101"]])
def test_a_frontend_crash_is_ll002_in_every_format_and_exit_2(two_files, monkeypatch,
                                                              select):
    _crash_frontend_on_bad(monkeypatch)
    code, out, err = _run(*select, ".")
    assert code == 2
    lines = out.splitlines()
    crash = [line for line in lines if line.startswith("bad.py:1:1: LL002")]
    assert len(crash) == 1 and "ZeroDivisionError: injected" in crash[0]
    assert "please report it" in crash[0]
    assert any(line.startswith("good.py:5:5: LL101") for line in lines)  # the run went on
    assert "internal error" in lines[-1] and "incomplete" in lines[-1]
    assert "All checks passed" not in out
    assert "bad.py: frontend crashed: ZeroDivisionError('injected')" in err

    code, out, _ = _run(*select, "--format", "json", ".")
    report = json.loads(out)
    assert code == 2
    found = [(f["path"], f["code"]) for f in report]
    assert found[0] == ("bad.py", "LL002") and ("good.py", "LL101") in found
    assert {path for path, _ in found[1:]} == {"good.py"}
    assert "ZeroDivisionError" in report[0]["message"]

    code, out, _ = _run(*select, "--format", "sarif", ".")
    results = json.loads(out)["runs"][0]["results"]
    assert code == 2 and results[0]["ruleId"] == "LL002"
    assert "ZeroDivisionError" in results[0]["message"]["text"]

    code, out, _ = _run(*select, "--format", "github", ".")
    assert code == 2 and out.startswith("::error file=bad.py,line=1,col=1,title=LL002::")


def test_a_crash_alone_is_not_all_checks_passed(two_files, monkeypatch):
    (two_files / "good.py").unlink()
    _crash_frontend_on_bad(monkeypatch)
    code, out, _ = _run(".")
    assert code == 2
    assert out.splitlines()[-1].startswith("Found 1 problem in 1 file checked. layerlint "
                                           "hit 1 internal error (LL002)")


def test_a_crash_is_not_suppressed_or_baselined(two_files, monkeypatch):
    (two_files / "bad.py").write_text("# noqa: LL002\n" + DROPOUT_BN)
    (two_files / "pyproject.toml").write_text(
        "[tool.layerlint]\nper-file-ignores = {'bad.py' = ['LL002']}\n")
    _crash_frontend_on_bad(monkeypatch)
    code, out, _ = _run("--baseline", "base.json", "--format", "json", ".")
    assert code == 2
    assert [(f["path"], f["code"]) for f in json.loads(out)] == [("bad.py", "LL002")]
    code, out, _ = _run("--baseline", "base.json", "--format", "json", ".")
    assert code == 2
    assert [(f["path"], f["code"]) for f in json.loads(out)] == [("bad.py", "LL002")]


def test_a_rule_crash_is_ll002_and_other_rules_go_on(two_files, monkeypatch):
    from layerlint.registry import get_rule

    rule = get_rule("LL102")

    def boom(self, graph):
        raise KeyError("injected")

    monkeypatch.setattr(rule, "check", boom)
    code, out, err = _run("--format", "json", "good.py")
    report = json.loads(out)
    assert code == 2
    codes = [f["code"] for f in report]
    assert "LL101" in codes and codes.count("LL002") == 1 and "LL102" not in codes
    crash = next(f for f in report if f["code"] == "LL002")
    assert "rule LL102" in crash["message"] and "KeyError" in crash["message"]
    assert "rule LL102 crashed" in err


def test_an_uncaught_exception_exits_2_without_a_traceback(monkeypatch, capsys):
    from layerlint import cli as cli_module

    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(cli_module.cli, "main", boom)
    with pytest.raises(SystemExit) as exit_:
        cli_module.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: unexpected" in err
    assert "Traceback" not in err and "please report it" in err


# --- paths -----------------------------------------------------------------------------

def _json(*args: str) -> tuple[int, list[dict]]:
    code, out, _ = _run("--format", "json", *args)
    return code, json.loads(out)


def test_a_fifo_a_device_and_a_socket_are_ll001_not_read(tmp_path, monkeypatch):
    import os
    import socket

    monkeypatch.chdir(tmp_path)
    os.mkfifo("pipe.py")  # reading it would block forever
    (tmp_path / "zero.py").symlink_to("/dev/zero")  # reading it would never end
    server = socket.socket(socket.AF_UNIX)
    server.bind("sock.py")
    try:
        code, report = _json("--fix", "pipe.py", "zero.py", "sock.py")
    finally:
        server.close()
    assert code == 1
    assert [(f["path"], f["code"], f["message"]) for f in report] == [
        ("pipe.py", "LL001", "not a regular file (a FIFO): not read"),
        ("sock.py", "LL001", "not a regular file (a socket): not read"),
        ("zero.py", "LL001", "not a regular file (a character device): not read"),
    ]
    # in a folder they are skipped, as other non-source files are
    (tmp_path / "net.py").write_text(DROPOUT_BN)
    code, report = _json(".")
    assert {f["path"] for f in report} == {"net.py"}


def test_missing_path_is_ll001(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, report = _json("absent.py")
    assert code == 1 and [(f["path"], f["message"]) for f in report] == [
        ("absent.py", "No such file or directory")]


def test_unreadable_file_and_folder_are_ll001(tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    (tmp_path / "locked.py").write_text(DROPOUT_BN)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "net.py").write_text(DROPOUT_BN)
    (tmp_path / "ok.py").write_text(DROPOUT_BN)
    # simulated: the suite may run as root, which reads anything
    real_read, real_scandir = Path.read_bytes, os.scandir

    def read_bytes(self):
        if self.name == "locked.py":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    def scandir(path="."):
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(os, "scandir", scandir)
    code, report = _json(".")
    assert code == 1
    problems = [(f["path"], f["code"], f["message"]) for f in report
                if f["code"] in ("LL001", "LL002")]
    assert problems == [("locked.py", "LL001", "cannot read file: Permission denied"),
                        ("sub", "LL001", "cannot read folder: Permission denied")]
    assert any(f["path"] == "ok.py" and f["code"] == "LL101" for f in report)


# --- configuration ---------------------------------------------------------------------

@pytest.mark.parametrize(("toml", "message"), [
    (b"tool = 5\n# layerlint\n", "pyproject.toml: `tool` must be a table, not an integer"),
    (b'tool = "layerlint"\n', "pyproject.toml: `tool` must be a table, not a string"),
    (b'tool = ["layerlint"]\n', "pyproject.toml: `tool` must be a table, not an array"),
    (b"[tool]\nlayerlint = 3\n", "[tool.layerlint] must be a table, not an integer"),
    (b"[tool.layerlint]\nx = " + b"[" * 5000 + b"]" * 5000 + b"\n",
     "pyproject.toml: invalid TOML"),
    (b"[tool.layerlint]\nselect = " + b"9" * 100_000 + b"\n", "pyproject.toml: invalid TOML"),
    (b"[tool.layerlint]\nselect = ['LL1']\n# \xff\xfe\n", "pyproject.toml: invalid TOML: not "
     "UTF-8"),
    (b"[tool.layerlint]\nselect = 'LL1'\n",
     "pyproject.toml: [tool.layerlint] select must be a list of strings"),
    (b"[tool.layerlint]\nignore = [1]\n",
     "pyproject.toml: [tool.layerlint] ignore must be a list of strings"),
    (b"[tool.layerlint]\nexclude = {a = 1}\n",
     "pyproject.toml: [tool.layerlint] exclude must be a list of strings"),
    (b"[tool.layerlint]\nper-file-ignores = ['a']\n",
     "pyproject.toml: [tool.layerlint] per-file-ignores must be a table"),
    (b"[tool.layerlint]\nper-file-ignores = {'a.py' = 'LL101'}\n",
     "pyproject.toml: [tool.layerlint] per-file-ignores 'a.py' must be a list of codes"),
    (b"[tool.layerlint]\ncache-dir = true\n",
     "pyproject.toml: [tool.layerlint] cache-dir must be a string"),
    (b"[tool.layerlint]\nselect = ['LL9x']\n", "pyproject.toml: [tool.layerlint] select"),
])
def test_a_malformed_configuration_is_a_usage_error_naming_file_and_key(
        tmp_path, monkeypatch, toml, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_bytes(toml)
    (tmp_path / "net.py").write_text(DROPOUT_BN)
    result = CliRunner().invoke(cli, ["check", "--no-cache", "-j", "1", "net.py"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert message in result.stderr and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["check", "--no-cache", "-j", "1", "--config",
                                      "pyproject.toml", "net.py"])
    assert result.exit_code == 2 and message in result.stderr


def test_a_pyproject_that_does_not_mention_layerlint_is_not_ours(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_bytes(b"tool = 5\n[broken\n\xff")
    (tmp_path / "net.py").write_text(DROPOUT_BN)
    code, _, _ = _run("net.py")
    assert code == 1


def test_config_that_is_a_fifo_is_a_usage_error(tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    os.mkfifo("conf.toml")
    (tmp_path / "net.py").write_text(DROPOUT_BN)
    result = CliRunner().invoke(cli, ["check", "--config", "conf.toml", "net.py"])
    assert result.exit_code == 2 and "conf.toml: not a regular file" in result.stderr


# --- fixes never overwrite what they should not ---------------------------------------

FIXABLE = DROPOUT_BN.replace("nn.BatchNorm1d(8),", "nn.BatchNorm1d(8),\n    nn.ReLU(),\n"
                             "    nn.Linear(8, 2),")


def _fix(*paths: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", "--no-cache", "-j", "1", "--fix", "--unsafe-fixes",
                                      *paths])
    assert isinstance(result.exception, SystemExit | None), result.exception
    return result.exit_code, result.stderr


def _is_fixed(data: bytes) -> bool:
    return data.index(b"BatchNorm1d") < data.index(b"Dropout")


def test_fix_writes_through_a_symlink_to_its_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "net.py").write_text(FIXABLE)
    (tmp_path / "link.py").symlink_to("real/net.py")
    code, err = _fix("link.py")
    assert "Fixed" in err
    assert (tmp_path / "link.py").is_symlink()
    assert _is_fixed((tmp_path / "real" / "net.py").read_bytes())


def test_fix_keeps_hard_links(tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(FIXABLE)
    os.link("net.py", "other.py")
    _fix("net.py")
    assert os.stat("net.py").st_ino == os.stat("other.py").st_ino
    assert _is_fixed((tmp_path / "other.py").read_bytes())


def test_fix_refuses_a_read_only_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "net.py"
    path.write_text(FIXABLE)
    path.chmod(0o444)
    code, err = _fix("net.py")
    assert code == 1 and "net.py: not fixed: the file is read-only" in err
    assert path.read_text() == FIXABLE and path.stat().st_mode & 0o777 == 0o444


def test_fix_in_an_unwritable_folder_is_a_note_not_a_traceback(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(FIXABLE)

    def denied(*args, **kwargs):  # simulated: the suite may run as root
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code, err = _fix("net.py")
    assert code == 1 and "not fixed: cannot write" in err and "Permission denied" in err
    assert (tmp_path / "net.py").read_text() == FIXABLE


def test_fix_uses_a_unique_temporary_file_and_keeps_the_mode(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "net.py"
    path.write_text(FIXABLE)
    path.chmod(0o751)
    (tmp_path / ".net.py.layerlint-fix").mkdir()  # a fixed name would collide
    _fix("net.py")
    assert _is_fixed(path.read_bytes()) and path.stat().st_mode & 0o777 == 0o751
    assert sorted(p.name for p in tmp_path.iterdir()) == [".net.py.layerlint-fix", "net.py"]


@pytest.mark.parametrize("newline", ["\r", "\r\n"])
@pytest.mark.parametrize("final", ["", "\n", "\n\n"])
def test_fix_keeps_line_endings_exactly(tmp_path, monkeypatch, newline, final):
    monkeypatch.chdir(tmp_path)
    data = FIXABLE.rstrip("\n") + final
    (tmp_path / "lf.py").write_text(data)
    (tmp_path / "net.py").write_bytes(data.replace("\n", newline).encode())
    _fix("lf.py", "net.py")
    with_lf = (tmp_path / "lf.py").read_text()
    assert _is_fixed(with_lf.encode()) and with_lf.endswith(")" + final)
    assert (tmp_path / "net.py").read_bytes() == with_lf.replace("\n", newline).encode()


def test_baseline_in_a_missing_folder_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(DROPOUT_BN)
    code, _, err = _run("--baseline", "nowhere/base.json", "net.py")
    assert code == 2 and "cannot write baseline nowhere/base.json" in err


def test_a_file_name_with_a_newline_cannot_forge_an_output_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "a\n::error file=x.py::forged\u2028.py"
    (tmp_path / name).write_text(DROPOUT_BN)
    code, out, _ = _run(".")
    assert code == 1
    lines = out.splitlines()
    assert all(line.startswith("a\\n::error file=x.py::forged\\u2028.py:5:5: LL1")
               for line in lines[:-1]) and len(lines) == 3
    code, out, _ = _run("--format", "github", ".")
    lines = out.rstrip("\n").split("\n")  # the runner reads lines split at \n
    assert len(lines) == 2 and all(line.startswith("::warning file=a%0A%3A%3Aerror ")
                                   for line in lines)
    code, report = _json(".")
    assert {f["path"] for f in report} == {name}
    code, out, _ = _run("--format", "sarif", ".")
    uri = json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"][
        "artifactLocation"]["uri"]
    from urllib.parse import unquote

    assert uri.isprintable() and uri.startswith("a%0A%3A%3Aerror") and unquote(uri) == name


# --- decoding and positions as Python does them ------------------------------------------

NOQA_BODY = ("import torch.nn as nn\n\nnet = nn.Sequential(\n    nn.Linear(8, 8),\n"
             "    nn.Dropout(0.5),  # noqa: LL105\n    nn.BatchNorm1d(8),\n)\n")


def _where(report: list[dict]) -> list[tuple]:
    return [(f["path"], f["cell"], f["line"], f["column"], f["code"]) for f in report]


def test_a_cr_only_file_with_a_coding_declaration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "#!/usr/bin/env python\r# -*- coding: latin-1 -*-\r# caf\xe9\r" + \
        NOQA_BODY.replace("\n", "\r")
    (tmp_path / "net.py").write_bytes(text.encode("latin-1"))
    code, report = _json("net.py")
    assert _where(report) == [("net.py", None, 8, 5, "LL101")]  # LL105: noqa on line 8


def test_form_feeds_do_not_shift_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text("\f\n# a\f b\n\f\n" + NOQA_BODY)
    code, out, _ = _run("net.py")
    # line 8 (LL105 has a noqa there); an unsafe fix is not marked [*] (as ruff)
    assert out.splitlines()[0].startswith("net.py:8:5: LL101 [dropout-before-batchnorm] ")
    assert len(out.splitlines()) == 2


def test_notebook_cells_with_line_separators_inside_strings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cell = "x = 'a\u2028b\fc\x1cd\x85e\u2029f\x0bg'\n" + NOQA_BODY
    notebook = {"cells": [{"cell_type": "markdown", "source": "# title"},
                          {"cell_type": "code", "source": "y = 1\n"},
                          {"cell_type": "code", "source": cell.splitlines(True)}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "nb.ipynb").write_text(json.dumps(notebook))
    code, report = _json("nb.ipynb")
    assert _where(report) == [("nb.ipynb", 2, 6, 5, "LL101")]


def test_python_lines_split_as_python_does():
    import ast

    from layerlint.pytext import decode_python, python_lines

    text = "a = 1\f\nb = 2\rc = '\u2028'\r\nd = '\x0b\x1c'\n"
    assert python_lines(text) == ["a = 1\f", "b = 2", "c = '\u2028'", "d = '\x0b\x1c'"]
    assert [node.lineno for node in ast.parse(text).body] == [1, 2, 3, 4]
    assert decode_python(b"\xef\xbb\xbfx = 1\n") == "x = 1\n"
    assert decode_python(b"# c\r# coding: latin-1\rx = '\xe9'") == "# c\r# coding: latin-1\rx = 'é'"
    with pytest.raises(UnicodeDecodeError):  # as Python: no cookie on line 2 after code
        decode_python(b"import os\r# coding: latin-1\rx = '\xe9'")


# --- inputs that crashed or hung before (bounded evaluation is the interpreter's) ------

HOSTILE = {
    "range_step0.py": "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n"
                      "        super().__init__()\n        self.l = nn.ModuleList(\n"
                      "            [nn.Linear(2, 2) for _ in range(0, 1, 0)])\n",
    "range_huge.py": "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n"
                     "        super().__init__()\n        self.l = nn.ModuleList(\n"
                     "            [nn.Linear(2, 2) for _ in range(10**30)])\n",
    "inf_linear.py": "import torch.nn as nn\nnet = nn.Sequential(nn.Linear(int(1e999), 3))\n",
    "keras_return.py": "import keras\nmodel = keras.Sequential([keras.layers.Dense(3)])\nreturn\n",
    "keras_break.py": "import keras\nmodel = keras.Sequential([keras.layers.Dense(3)])\nbreak\n",
    "keras_continue.py": "import keras\nmodel = keras.Sequential([keras.layers.Dense(3)])\n"
                        "continue\n",
    "chain.py": "import torch.nn as nn\nclass C0(nn.Module):\n    pass\n" + "".join(
        f"class C{i}(C{i - 1}):\n    pass\n" for i in range(1, 1000)) + "m = C999()\n",
    "power.py": "import torch.nn as nn\na = 9 ** 63\nb = a ** 63\nc = b ** 63\nd = c ** 63\n"
                "e = d ** 63\nnet = nn.Linear(e, 2)\n",
    "square.py": "import torch.nn as nn\nx = 3\nfor _ in range(64):\n    x = x * x\n"
                 "net = nn.Linear(x, 2)\n",
    "bigstr.py": "import torch.nn as nn\ns = 'a' * 10**12\nnet = nn.Linear(len(s), 2)\n",
    "keras_loop.py": "import keras\nmodel = keras.Sequential(\n"
                     "    [keras.layers.Dense(3) for i in range(20_000_000)])\n",
    "deep.ipynb": "[" * 100_000 + "]" * 100_000,
}


def test_hostile_inputs_end_without_a_crash(tmp_path):
    """One process (a hang or memory blow-up is caught by the timeout and the limit)."""
    import resource
    import subprocess
    import sys

    for name, text in HOSTILE.items():
        (tmp_path / name).write_text(text)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    done = subprocess.run(
        [sys.executable, "-m", "layerlint", "check", "--no-cache", "-j", "1", "--select",
         "ALL", "--format", "json", "."], cwd=tmp_path, capture_output=True, text=True,
        timeout=300, preexec_fn=limit)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    report = json.loads(done.stdout)
    assert [(f["path"], f["code"]) for f in report if f["code"] in ("LL001", "LL002")] == [
        ("deep.ipynb", "LL001")]
    assert "nested too deeply" in report[0]["message"]


def test_python_m_layerlint_never_imports_from_the_checked_folder(tmp_path):
    import subprocess
    import sys

    for name in ("click.py", "tokenize.py", "json.py", "libcst.py"):
        (tmp_path / name).write_text("raise SystemExit('imported from the checked folder')\n")
    (tmp_path / "net.py").write_text(DROPOUT_BN)
    done = subprocess.run([sys.executable, "-m", "layerlint", "check", "--no-cache",
                           "-j", "1", "net.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert "imported from the checked folder" not in done.stdout + done.stderr
    assert done.returncode == 1 and "net.py:5:5: LL101" in done.stdout


# --- per-file time and size budget -----------------------------------------------------

def test_a_giant_literal_is_not_paid_for(tmp_path, monkeypatch):
    import time

    monkeypatch.chdir(tmp_path)
    items = ", ".join("1" for _ in range(150_000))
    (tmp_path / "data.py").write_text(f"import torch\nTABLE = [{items}]\n")
    (tmp_path / "nb.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": f"import torch\nTABLE = [{items}]\n"}]}))
    (tmp_path / "net.py").write_text(DROPOUT_BN)
    started = time.process_time()
    code, report = _json(".")
    assert time.process_time() - started < 10  # LibCST alone would take several seconds
    budget = [(f["path"], f["cell"], f["line"], f["code"], f["message"]) for f in report
              if f["code"] == "LL002"]
    message = ("not analysed: a literal of 150,000 items (line 2) is over layerlint's "
               "limit of 100,000")
    assert budget == [("data.py", None, 2, "LL002", message),
                      ("nb.ipynb", 1, 2, "LL002", message)]
    assert any(f["path"] == "net.py" and f["code"] == "LL101" for f in report)
    assert code == 1


def test_a_file_over_the_size_limit_is_ll002(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine, "MAX_SOURCE_BYTES", 100)
    (tmp_path / "net.py").write_text(DROPOUT_BN)
    code, report = _json("net.py")
    assert [(f["code"], f["message"]) for f in report] == [(
        "LL002", "not analysed: the file is 0.0 MB, over layerlint's limit of 0.0001 MB "
                 "for a source file")]


def test_a_file_over_the_time_budget_is_ll002_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_slow.py").write_text(HOSTILE["chain.py"])
    (tmp_path / "b_net.py").write_text(DROPOUT_BN)
    monkeypatch.setattr(engine, "FILE_CPU_BUDGET_S", 0.05)
    code, report = _json(".")
    assert ("a_slow.py", "LL002", "not analysed: stopped after 0.05 s of CPU time, "
            "layerlint's budget for one file") in [
        (f["path"], f["code"], f["message"]) for f in report]
    assert any(f["path"] == "b_net.py" and f["code"] == "LL101" for f in report)
    import signal

    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)  # disarmed afterwards
    assert signal.getsignal(signal.SIGPROF) in (signal.SIG_DFL, None)


# --- verify --out --------------------------------------------------------------------------

@pytest.mark.parametrize(("out", "message"), [
    ("file", "not a folder"),
    ("file/sub", "cannot create the report folder: Not a directory"),
])
def test_verify_out_that_cannot_hold_reports_is_a_usage_error(tmp_path, out, message):
    pytest.importorskip("torch")
    (tmp_path / "file").write_text("x")
    out = tmp_path / out
    result = CliRunner().invoke(cli, ["verify", "LL302", "--mode", "smoke", "--device",
                                      "cpu", "--out", str(out)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert f"--out {out}: {message}" in result.stderr


def test_verify_out_read_only_is_a_usage_error(tmp_path, monkeypatch):
    import tempfile

    pytest.importorskip("torch")

    def denied(*args, **kwargs):  # simulated: the suite may run as root
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    result = CliRunner().invoke(cli, ["verify", "LL302", "--mode", "smoke", "--device",
                                      "cpu", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert f"--out {tmp_path}: cannot write reports there: Permission denied" in result.stderr


@pytest.mark.parametrize("old", ["[1, 2]", '{"trials": [1]}', '{"trials": {"0": 5}}'])
def test_verify_out_holding_a_json_file_of_another_shape_is_a_usage_error(tmp_path, old):
    pytest.importorskip("torch")
    (tmp_path / "LL302.json").write_text(old)
    result = CliRunner().invoke(cli, ["verify", "LL302", "--mode", "smoke", "--device",
                                      "cpu", "--out", str(tmp_path)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert f"--out {tmp_path}: LL302.json there is not a layerlint evidence report" in \
        result.stderr
    assert (tmp_path / "LL302.json").read_text() == old  # not overwritten


def test_verify_out_holding_a_damaged_report_starts_anew(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "LL302.json").write_text('{"trials": {"0": {')
    result = CliRunner().invoke(cli, ["verify", "LL302", "--mode", "smoke", "--device",
                                      "cpu", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "LL302.json").read_text())["code"] == "LL302"
