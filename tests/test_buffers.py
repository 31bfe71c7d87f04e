"""``lint_buffer``: an editor's unsaved text linted as ``check`` lints the saved file
(the core of ``layerlint server``, tested here without pygls)."""

from __future__ import annotations

import textwrap

from layerlint.linter import LintOptions, lint, lint_buffer

MODEL = textwrap.dedent("""\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, bias=False)
            self.bn = nn.BatchNorm2d(16)

        def forward(self, x):
            return self.bn(self.conv(x))
    """)
WITH_BIAS = MODEL.replace(", bias=False)", ")")


def _seen(findings):
    return [(f.code, f.location, f.message) for f in findings]


def test_the_buffer_is_linted_not_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    result = lint_buffer(path, {path.resolve(): WITH_BIAS.encode()})
    assert [f.code for f in result.findings] == ["LL104"]
    assert lint([path]).findings == []  # the file on disk is clean
    path.write_text(WITH_BIAS)  # saved, check reports exactly the same
    saved = lint([path])
    assert _seen(saved.findings) == _seen(result.findings)
    assert list(saved.fixable.values()) == list(result.fixable.values()) == [False]


def test_a_suppression_in_the_buffer_applies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model.py"
    path.write_text(WITH_BIAS)
    buffer = WITH_BIAS.replace("nn.Conv2d(3, 16, 3)", "nn.Conv2d(3, 16, 3)  # noqa: LL104")
    assert lint_buffer(path, {path.resolve(): buffer.encode()}).findings == []
    # a malformed comment typed into a clean file is reported though the file has none
    path.write_text(MODEL)
    typo = MODEL.replace("bias=False)", "bias=False)  # noqa LL104")
    [malformed] = lint_buffer(path, {path.resolve(): typo.encode()}).findings
    assert malformed.code == "LL001" and "malformed suppression" in malformed.message


def test_an_unsaved_file_and_the_configuration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.layerlint]\nper-file-ignores = {"quiet.py" = ["LL104"]}\n')
    new, quiet = tmp_path / "new.py", tmp_path / "quiet.py"  # neither on disk
    assert [f.code for f in lint_buffer(new, {new.resolve(): WITH_BIAS.encode()}).findings
            ] == ["LL104"]
    assert lint_buffer(quiet, {quiet.resolve(): WITH_BIAS.encode()}).findings == []


def test_imports_read_the_other_open_buffers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = "import torch.nn as nn\n\n\ndef norm(channels):\n    return {}\n"
    (tmp_path / "blocks.py").write_text(blocks.format("nn.Identity()"))
    net = tmp_path / "net.py"
    net.write_text(textwrap.dedent("""\
        import torch.nn as nn

        from blocks import norm


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Dropout(0.5), norm(8))

            def forward(self, x):
                return self.body(x)
        """))
    alone = lint_buffer(net, {net.resolve(): net.read_bytes()})
    assert "LL101" not in [f.code for f in alone.findings]
    edited = blocks.format("nn.BatchNorm2d(channels)").encode()
    both = lint_buffer(net, {net.resolve(): net.read_bytes(),
                             (tmp_path / "blocks.py").resolve(): edited})
    [ll101] = [f for f in both.findings if f.code == "LL101"]
    assert ll101.location.line == 9 and "(blocks.py:5)" in ll101.message
    assert lint([net], LintOptions()).findings == alone.findings  # disk: as check says
