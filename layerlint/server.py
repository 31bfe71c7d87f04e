"""``layerlint server``: a Language Server (LSP over stdio, on pygls: the server extra).

It lints the editor's buffer, not the file on disk, as ``layerlint check`` would lint
the file: the nearest configuration, the same rules, suppressions and fixability, and
project imports resolved from disk, reading the other open buffers before their files.
It publishes diagnostics when a document is opened or saved, and 0.3 s after the last
change while typing (a torchvision model file takes 0.12-0.16 s of CPU: linting every
keystroke would queue work, linting only on save would leave stale ranges on the lines
being edited); saving a file lints the other open files again (they may import it).
Code actions offer the rule's fix and a ``# noqa`` comment.

Python files (``.py``, or an unsaved buffer in Python) are linted. Notebooks are not:
an editor holds their cells as separate documents, and the raw ``.ipynb`` is JSON whose
lines are not the cells' (``layerlint check`` lints notebooks). Nothing is ever written:
edits go to the editor, which applies them.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import PositionCodec
from pygls.workspace.position_codec import ServerTextPosition

from layerlint import __version__
from layerlint.config import ConfigError, Resolver
from layerlint.ir import Location
from layerlint.linter import LintOptions, lint_buffer
from layerlint.pytext import detect_encoding, python_lines
from layerlint.rule import Finding, Severity
from layerlint.source import source_of
from layerlint.suppressions import MALFORMED, UNUSED, suppression_edit

__all__ = ["INSTALL_HINT", "build", "serve"]

INSTALL_HINT = "pip install 'layerlint[server]'"
SOURCE = "layerlint"
DEBOUNCE_S = 0.3

_SEVERITY = {Severity.ERROR: types.DiagnosticSeverity.Error,
             Severity.WARNING: types.DiagnosticSeverity.Warning,
             Severity.INFO: types.DiagnosticSeverity.Information}


@dataclass
class _Linted:
    """The last lint of a document: its version and text, and what was found."""

    version: int | None
    text: str
    path: Path
    findings: list[Finding]  # fixes verified on ``text``, with their edits


class LayerlintServer(LanguageServer):
    def __init__(self) -> None:
        # full sync: the server splits lines as Python does (pygls's incremental
        # changes use str.splitlines, which also breaks at a form feed or U+2028)
        super().__init__("layerlint", __version__,
                         text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.linted: dict[str, _Linted] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}


def build() -> LayerlintServer:
    server = LayerlintServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LayerlintServer, params: types.DidOpenTextDocumentParams) -> None:
        _publish(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LayerlintServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        _cancel(ls, uri)
        ls.pending[uri] = asyncio.get_running_loop().call_later(
            DEBOUNCE_S, _publish, ls, uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: LayerlintServer, params: types.DidSaveTextDocumentParams) -> None:
        saved = params.text_document.uri
        _cancel(ls, saved)
        _publish(ls, saved)
        # the other open files may import this one: lint them again, after a pause
        loop = asyncio.get_running_loop()
        for uri in ls.linted:
            if uri != saved and uri not in ls.pending:
                ls.pending[uri] = loop.call_later(DEBOUNCE_S, _publish, ls, uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LayerlintServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        _cancel(ls, uri)
        ls.linted.pop(uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix]))
    def code_action(ls: LayerlintServer, params: types.CodeActionParams
                    ) -> list[types.CodeAction]:
        return _code_actions(ls, params)

    return server


def serve() -> None:
    """Speak LSP over standard input and output until the client exits."""
    build().start_io()


# -- linting ----------------------------------------------------------------------------

def _cancel(ls: LayerlintServer, uri: str) -> None:
    pending = ls.pending.pop(uri, None)
    if pending is not None:
        pending.cancel()


def _path(uri: str, language: str | None) -> Path | None:
    """The file a document lints as: a ``.py`` file's path, or for an unsaved Python
    buffer a name in the working folder (configuration and imports as for a file
    there); None for anything else (notebooks, other languages)."""
    if uri.startswith("file:"):
        name = to_fs_path(uri)
        return Path(name) if name and name.endswith(".py") else None
    return Path.cwd() / "untitled.py" if language == "python" else None


def _encoded(text: str) -> bytes:
    """The buffer as the bytes its file would hold (its coding declaration honoured)."""
    data = text.encode("utf-8")
    try:
        encoding = detect_encoding(data)
        return data if encoding.startswith("utf-8") else text.encode(encoding)
    except (SyntaxError, LookupError, UnicodeError):
        return data


def _open_buffers(ls: LayerlintServer) -> dict[Path, bytes]:
    contents = {}
    for uri, document in ls.workspace.text_documents.items():
        path = _path(uri, document.language_id)
        if path is not None:
            contents[path.resolve()] = _encoded(document.source)
    return contents


def _lint(ls: LayerlintServer, uri: str) -> _Linted | None:
    """Lint the document as it is now; None when it is not a Python file."""
    document = ls.workspace.get_text_document(uri)
    path = _path(uri, document.language_id)
    if path is None:
        return None
    contents = _open_buffers(ls)
    contents[path.resolve()] = _encoded(document.source)
    try:
        # excluded files are not linted, as `check --force-exclude` (pre-commit) does
        if Resolver().settings_for(path).is_excluded_path(path):
            return _Linted(document.version, document.source, path, [])
        result = lint_buffer(path, contents, LintOptions())
    except ConfigError as error:
        return _Linted(document.version, document.source, path,
                       [_file_diagnostic(path, MALFORMED, "configuration error, nothing "
                                         f"checked: {error}")])
    except Exception as error:  # noqa: BLE001 - a crash is shown, never a silent pass
        from layerlint.engine import crash_diagnostic

        return _Linted(document.version, document.source, path,
                       [crash_diagnostic(path, "the server", error)])
    for message in result.internal_errors:
        ls.window_log_message(types.LogMessageParams(types.MessageType.Error,
                                                     f"layerlint: internal error: {message}"))
    return _Linted(document.version, document.source, path, result.findings)


def _file_diagnostic(path: Path, code: str, message: str) -> Finding:
    from layerlint.engine import display_path
    from layerlint.registry import diagnostic

    return diagnostic(code, Location(display_path(path), 1, 1), message)


def _publish(ls: LayerlintServer, uri: str) -> None:
    ls.pending.pop(uri, None)
    if uri not in ls.workspace.text_documents:
        return  # closed meanwhile
    linted = _lint(ls, uri)
    if linted is None:
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        return
    ls.linted[uri] = linted
    codec = ls.workspace.position_codec
    lines = python_lines(linted.text)
    diagnostics = [_diagnostic(finding, linted, uri, lines, codec)
                   for finding in linted.findings]
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
        uri=uri, version=linted.version, diagnostics=diagnostics))


# -- positions ----------------------------------------------------------------------------

def _position(lines: list[str] | None, line: int, character: int,
              codec: PositionCodec) -> types.Position:
    """An LSP position from a 0-based line and code-point column of ``lines`` (None:
    the text is not at hand, the column is passed on as it is)."""
    if lines is None:
        return types.Position(line=max(line, 0), character=max(character, 0))
    if line >= len(lines):
        return types.Position(line=len(lines), character=0)
    character = min(max(character, 0), len(lines[line]))
    return codec.position_to_client_units(lines, ServerTextPosition(line, character))


def _range(location: Location, lines: list[str] | None, codec: PositionCodec) -> types.Range:
    """A location's range: its expression, or the rest of its line when it has no end
    (a diagnostic about the file)."""
    line, start = location.line - 1, location.column - 1
    if location.end_line is not None and location.end_column is not None:
        end_line, end = location.end_line - 1, location.end_column - 1
    else:
        end_line = line
        end = len(lines[line]) if lines is not None and 0 <= line < len(lines) else start
    return types.Range(start=_position(lines, line, start, codec),
                       end=_position(lines, end_line, end, codec))


def _uri_of(display: str, linted: _Linted, uri: str) -> str:
    from layerlint.engine import display_path

    if display == display_path(linted.path):
        return uri
    return Path(os.path.abspath(display)).as_uri()


def _diagnostic(finding: Finding, linted: _Linted, uri: str, lines: list[str],
                codec: PositionCodec) -> types.Diagnostic:
    related = []
    for other in finding.related:
        target = _uri_of(other.location.path, linted, uri)
        if target == uri:
            where = _range(other.location, lines, codec)
        else:  # another file's text is not at hand: its columns are code points
            where = _range(other.location, None, codec)
        related.append(types.DiagnosticRelatedInformation(
            location=types.Location(uri=target, range=where), message=other.message))
    fix = finding.fix
    return types.Diagnostic(
        range=_range(finding.location, lines, codec),
        message=finding.message,
        severity=_SEVERITY.get(finding.severity, types.DiagnosticSeverity.Warning),
        code=finding.code,
        source=SOURCE,
        related_information=related or None,
        data={"name": finding.name,
              "fix": None if fix is None else fix.to_dict()},
    )


# -- code actions ---------------------------------------------------------------------------

def _code_actions(ls: LayerlintServer, params: types.CodeActionParams
                  ) -> list[types.CodeAction]:
    only = params.context.only
    if only is not None and not any(
            types.CodeActionKind.QuickFix.value.startswith(kind) for kind in only):
        return []
    uri = params.text_document.uri
    document = ls.workspace.get_text_document(uri)
    linted = ls.linted.get(uri)
    if linted is None or linted.version != document.version or linted.text != document.source:
        linted = _lint(ls, uri)  # the buffer changed since it was linted
        if linted is None:
            return []
        ls.linted[uri] = linted
    codec = ls.workspace.position_codec
    lines = python_lines(linted.text)
    asked = [(d.code, d.range) for d in params.context.diagnostics if d.source == SOURCE]
    actions: list[types.CodeAction] = []
    for finding in linted.findings:
        where = _range(finding.location, lines, codec)
        if asked and (finding.code, where) not in asked:
            continue
        if not asked and not _overlaps(where, params.range):
            continue
        diagnostic = _diagnostic(finding, linted, uri, lines, codec)
        fix = _fix_action(ls, finding, linted, uri, lines, codec, diagnostic)
        if fix is not None:
            actions.append(fix)
        suppress = _suppress_action(ls, finding, linted, uri, lines, codec, diagnostic)
        if suppress is not None:
            actions.append(suppress)
    return actions


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(position: types.Position) -> tuple[int, int]:
        return position.line, position.character

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _edit(ls: LayerlintServer, linted: _Linted, uri: str,
          edits: list[types.TextEdit]) -> types.WorkspaceEdit:
    """Edits of the document at the version they were computed on, where the client
    takes versioned edits: one that holds a newer version refuses them instead of
    applying them to other text."""
    workspace = ls.client_capabilities.workspace
    versioned = workspace is not None and workspace.workspace_edit is not None and \
        bool(workspace.workspace_edit.document_changes)
    if not versioned:
        return types.WorkspaceEdit(changes={uri: edits})
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(
            uri=uri, version=linted.version),
        edits=edits)])


def _fix_action(ls: LayerlintServer, finding: Finding, linted: _Linted, uri: str,
                lines: list[str], codec: PositionCodec, diagnostic: types.Diagnostic
                ) -> types.CodeAction | None:
    """The rule's fix, as the engine verified it on the buffer (the edits ``--fix``
    makes); none where it offers none."""
    fix = finding.fix
    if fix is None or not fix.edits:
        return None
    edits = [types.TextEdit(
        range=types.Range(start=_position(lines, e.line - 1, e.column - 1, codec),
                          end=_position(lines, e.end_line - 1, e.end_column - 1, codec)),
        new_text=e.content) for e in fix.edits]
    unsafe = "" if fix.safe else " (unsafe fix)"
    return types.CodeAction(
        title=f"Fix {finding.code}: {fix.description}{unsafe}",
        kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
        is_preferred=fix.safe, edit=_edit(ls, linted, uri, edits))


def _suppress_action(ls: LayerlintServer, finding: Finding, linted: _Linted, uri: str,
                     lines: list[str], codec: PositionCodec, diagnostic: types.Diagnostic
                     ) -> types.CodeAction | None:
    """``# noqa: CODE`` on the finding's line. Not for LL001 (unreadable input or a
    malformed comment: fix it rather than hide it) nor LL003 (remove the comment)."""
    if finding.code in (MALFORMED, UNUSED):
        return None
    source = source_of(linted.path, _encoded(linted.text))
    if source is None or source.notebook is not None:
        return None
    found = suppression_edit(source, finding)
    if found is None:
        return None
    line, start, end, text = found
    edit = types.TextEdit(range=types.Range(start=_position(lines, line - 1, start, codec),
                                            end=_position(lines, line - 1, end, codec)),
                          new_text=text)
    return types.CodeAction(
        title=f"Suppress {finding.code} on this line (# noqa: {finding.code})",
        kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
        edit=_edit(ls, linted, uri, [edit]))
