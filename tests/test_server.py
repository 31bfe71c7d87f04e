"""``layerlint server`` end to end: a subprocess spoken to over stdio by a small LSP
client (Content-Length framing), every wait bounded."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

pytest.importorskip("pygls")  # the server extra

TIMEOUT = 60  # seconds for any one reply (a cold start imports LibCST and the rules)

# On disk the conv has no bias; the buffer gives it one: what is published is the buffer's.
# The emoji before the conv makes UTF-16 columns differ from code points.
ON_DISK = textwrap.dedent("""\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.tag = "\U0001F642"; self.conv = nn.Conv2d(3, 16, 3, bias=False)
            self.bn = nn.BatchNorm2d(16)

        def forward(self, x):
            return self.bn(self.conv(x)).relu()
    """)
BUFFER = ON_DISK.replace(", bias=False)", ")")
CONV_LINE = 6


class Client:
    """JSON-RPC over the server's pipes: a thread reads messages into a queue."""

    def __init__(self, cwd: Path) -> None:
        # -I: the checkout must not shadow the installed package (see test_cold_path)
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "layerlint", "server"], cwd=cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    self.messages.put(None)  # the server closed its output
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict | None = None) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict | None = None):
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        reply = self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)
        assert "error" not in reply, reply
        return reply["result"]

    def wait(self, matches):
        while True:
            try:
                message = self.messages.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no reply in {TIMEOUT} s; server stderr: "
                                     f"{self._stderr()}") from None
            if message is None:
                raise AssertionError(f"the server exited: {self._stderr()}")
            if "method" in message and "id" in message:  # a request to the client
                self.send({"id": message["id"], "result": None})
            if matches(message):
                return message

    def diagnostics(self, uri: str, version: int) -> list[dict]:
        message = self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                            and m["params"]["uri"] == uri
                            and m["params"].get("version") == version)
        return message["params"]["diagnostics"]

    def _stderr(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        return self.process.stderr.read().decode("utf-8", "replace")[-3000:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


@pytest.fixture
def client(tmp_path, request):
    """A started, initialized server; parametrized: whether the client takes versioned
    edits (``documentChanges``)."""
    started = Client(tmp_path)
    versioned = getattr(request, "param", True)
    try:
        result = started.request("initialize", {
            "processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {
                "workspace": {"workspaceEdit": {"documentChanges": versioned}}}})
        capabilities = result["capabilities"]
        assert capabilities["codeActionProvider"]["codeActionKinds"] == ["quickfix"]
        started.notify("initialized", {})
        yield started
    finally:
        started.close()


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def apply(text: str, edits: list[dict]) -> str:
    """Apply LSP text edits (UTF-16 positions, original coordinates) as an editor does."""
    lines = text.splitlines(keepends=True)

    def offset(position: dict) -> int:
        before = sum(len(line) for line in lines[:position["line"]])
        line = lines[position["line"]] if position["line"] < len(lines) else ""
        units = 0
        for index, char in enumerate(line):
            if units >= position["character"]:
                return before + index
            units += utf16(char)
        return before + len(line)

    spans = sorted(((offset(e["range"]["start"]), offset(e["range"]["end"]), e["newText"])
                    for e in edits), reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def only_edit(action: dict, uri: str, version: int | None) -> list[dict]:
    """The edits of the one document an action changes (``version`` None: a client
    without versioned edits)."""
    if version is None:
        assert list(action["edit"]["changes"]) == [uri]
        return action["edit"]["changes"][uri]
    [change] = action["edit"]["documentChanges"]
    assert change["textDocument"] == {"uri": uri, "version": version}
    return change["edits"]


def test_diagnostics_fix_and_suppression_round_trip(client, tmp_path):
    model = tmp_path / "model.py"
    model.write_text(ON_DISK, encoding="utf-8")
    uri = model.as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": BUFFER}})
    [diagnostic] = client.diagnostics(uri, 1)
    line = BUFFER.splitlines()[CONV_LINE]
    start = utf16(line[:line.index("nn.Conv2d")])
    assert diagnostic["range"] == {
        "start": {"line": CONV_LINE, "character": start},
        "end": {"line": CONV_LINE, "character": start + len("nn.Conv2d(3, 16, 3)")}}
    assert diagnostic["code"] == "LL104" and diagnostic["source"] == "layerlint"
    assert diagnostic["severity"] == 2  # warning
    assert "create it with `bias=False`" in diagnostic["message"]
    [related] = diagnostic["relatedInformation"]
    assert related["location"]["uri"] == uri
    assert related["location"]["range"]["start"]["line"] == CONV_LINE + 1  # the batchnorm

    actions = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": diagnostic["range"],
        "context": {"diagnostics": [diagnostic]}})
    titles = [action["title"] for action in actions]
    assert titles == ["Fix LL104: set `bias=False` (unsafe fix)",
                      "Suppress LL104 on this line (# noqa: LL104)"]
    assert all(action["kind"] == "quickfix" for action in actions)
    assert actions[0]["isPreferred"] is False  # an unsafe fix is never the preferred one

    fixed = apply(BUFFER, only_edit(actions[0], uri, 1))
    assert fixed == ON_DISK
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]})
    assert client.diagnostics(uri, 2) == []

    # back to the bias, then the suppression comment
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": BUFFER}]})
    [diagnostic] = client.diagnostics(uri, 3)
    actions = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": diagnostic["range"],
        "context": {"diagnostics": [diagnostic]}})
    suppressed = apply(BUFFER, only_edit(actions[1], uri, 3))
    assert suppressed.splitlines()[CONV_LINE] == line + "  # noqa: LL104"
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 4}, "contentChanges": [{"text": suppressed}]})
    assert client.diagnostics(uri, 4) == []
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert model.read_text(encoding="utf-8") == ON_DISK  # the server never writes

    assert client.request("shutdown") is None
    client.notify("exit")
    assert client.process.wait(timeout=TIMEOUT) == 0


@pytest.mark.parametrize("client", [False], indirect=True)
def test_a_fix_of_two_edits(client, tmp_path):
    """LL203's fix drops the sigmoid and renames the loss: two edits, both applied."""
    text = textwrap.dedent("""\
        import torch.nn as nn

        model = nn.Sequential(
            nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1),
            nn.Sigmoid(),  # probabilities
        )
        criterion = nn.BCELoss()
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()
        """)
    uri = (tmp_path / "train.py").as_uri()  # not saved yet
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": text}})
    [diagnostic] = [d for d in client.diagnostics(uri, 1) if d["code"] == "LL203"]
    [fix, _] = client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": diagnostic["range"],
        "context": {"diagnostics": [diagnostic]}})
    edits = only_edit(fix, uri, None)
    assert len(edits) == 2  # only the changed lines, the rest of the buffer stays put
    fixed = apply(text, edits)
    assert "nn.Sigmoid()" not in fixed and "criterion = nn.BCEWithLogitsLoss()" in fixed
    # the edit is the one `check --fix` writes
    (tmp_path / "train.py").write_text(text)
    subprocess.run([sys.executable, "-I", "-m", "layerlint", "check", "--isolated", "--fix",
                    "--unsafe-fixes", "--no-cache", "train.py"], cwd=tmp_path,
                   capture_output=True, timeout=TIMEOUT)
    assert (tmp_path / "train.py").read_text() == fixed
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]})
    assert "LL203" not in [d["code"] for d in client.diagnostics(uri, 2)]


def test_configuration_open_buffers_and_notebooks(client, tmp_path):
    """The nearest pyproject.toml applies; an import reads the other open buffer, not
    its file; a notebook is not linted, and does not stop the server."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.layerlint]\nper-file-ignores = {"ignored.py" = ["LL104"]}\n'
        'extend-exclude = ["generated"]\n')
    (tmp_path / "generated").mkdir()
    blocks = "import torch.nn as nn\n\n\ndef norm(channels):\n    return {}\n"
    (tmp_path / "blocks.py").write_text(blocks.format("nn.Identity()"))
    net = textwrap.dedent("""\
        import torch.nn as nn

        from blocks import norm


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Dropout(0.5), norm(8))

            def forward(self, x):
                return self.body(x)
        """)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "pyproject.toml").write_text('[tool.layerlint]\nselekt = ["LL1"]\n')
    documents = {"blocks.py": blocks.format("nn.BatchNorm2d(channels)"), "net.py": net,
                 "ignored.py": BUFFER, "bad/model.py": BUFFER,
                 "generated/model.py": BUFFER, "notes.ipynb": '{"cells": [}'}
    for name, text in documents.items():
        (tmp_path / name).touch()
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": (tmp_path / name).as_uri(), "languageId": "python", "version": 1,
            "text": text}})
    published = {name: client.diagnostics((tmp_path / name).as_uri(), 1)
                 for name in ("net.py", "ignored.py", "bad/model.py", "generated/model.py")}
    # the dropout reaches the batchnorm that only the open buffer of blocks.py has
    [ll101] = [d for d in published["net.py"] if d["code"] == "LL101"]
    assert ll101["range"]["start"]["line"] == 8
    assert "(blocks.py:5)" in ll101["message"]
    assert published["ignored.py"] == []  # per-file-ignores
    assert published["generated/model.py"] == []  # excluded
    [error] = published["bad/model.py"]
    assert error["code"] == "LL001" and error["range"]["start"] == {"line": 0, "character": 0}
    assert "unknown key(s) selekt" in error["message"]
    notebook = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                           and m["params"]["uri"].endswith("notes.ipynb"))
    assert notebook["params"]["diagnostics"] == []
    # saving blocks.py without the batchnorm lints the open file that imports it again
    blocks_uri = (tmp_path / "blocks.py").as_uri()
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": blocks_uri, "version": 2},
        "contentChanges": [{"text": blocks.format("nn.Identity()")}]})
    client.notify("textDocument/didSave", {"textDocument": {"uri": blocks_uri}})
    again = client.diagnostics((tmp_path / "net.py").as_uri(), 1)
    assert again and "LL101" not in [d["code"] for d in again]
    assert client.request("shutdown") is None
    client.notify("exit")
    assert client.process.wait(timeout=TIMEOUT) == 0


def test_without_the_extra_exits_2_with_the_install_command():
    code = ("import sys; sys.modules['pygls'] = None; sys.argv = ['layerlint', 'server']; "
            "from layerlint.cli import main; main()")
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "pip install 'layerlint[server]'" in done.stderr
    assert "Traceback" not in done.stderr
