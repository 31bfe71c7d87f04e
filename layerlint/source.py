"""Source text of a checked file, for suppression comments, carets, fixes and baselines.

Read once per file and only when needed (the frontends keep their own parse).
"""

from __future__ import annotations

import hashlib
import io
import stat
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from layerlint.frontends import InputError
from layerlint.frontends.notebook import Notebook, read_notebook
from layerlint.pytext import decode_python, python_lines

__all__ = ["SourceFile", "read_source", "source_of"]


@dataclass
class SourceFile:
    path: Path
    data: bytes
    text: str  # decoded; for a notebook, its code cells joined
    notebook: Notebook | None = None
    _lines: list[str] = field(default_factory=list, repr=False)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def is_python(self) -> bool:
        return self.path.suffix in (".py", ".ipynb")

    def joined_line(self, line: int, cell: int | None) -> int:
        """A line of ``text`` for a (cell, line) location."""
        if self.notebook is None or cell is None:
            return line
        return self.notebook.starts[cell - 1] + line - 1

    def where(self, joined: int) -> tuple[int | None, int]:
        """(cell, line) of a line of ``text``."""
        if self.notebook is None:
            return None, joined
        return self.notebook.locate(joined)

    def line(self, line: int, cell: int | None = None) -> str | None:
        if not self._lines:
            self._lines = python_lines(self.text)
        index = self.joined_line(line, cell) - 1
        return self._lines[index] if 0 <= index < len(self._lines) else None

    def comments(self) -> list[tuple[int, int, str]]:
        """(line of ``text``, 0-based column, comment) for each ``#`` comment.

        Python is tokenized (cheap, and it knows strings from comments); a file that
        does not tokenize, and ONNX text, fall back to a per-line scan.
        """
        if self.is_python:
            try:
                # newline=None: a CR-only file's lines are lines, as Python reads them
                lines = io.StringIO(self.text, newline=None).readline
                return [
                    (tok.start[0], tok.start[1], tok.string)
                    for tok in tokenize.generate_tokens(lines)
                    if tok.type == tokenize.COMMENT
                ]
            except (tokenize.TokenError, SyntaxError):
                pass
        found = []
        for number, text in enumerate(python_lines(self.text), start=1):
            column = text.find("#")
            if column >= 0:
                found.append((number, column, text[column:]))
        return found


def _decode(data: bytes) -> str:
    try:
        return decode_python(data)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


def read_source(path: Path) -> SourceFile | None:
    """The file's text, or None when it cannot be read (LL001 reports that)."""
    if path.suffix == ".onnx":  # binary: no comments, no source lines, weights not read
        return SourceFile(path, b"", "")
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return None  # a FIFO would block, a device never ends: LL001 says so
        data = path.read_bytes()
    except OSError:
        return None
    return source_of(path, data)


def source_of(path: Path, data: bytes) -> SourceFile | None:
    """The text of ``data``, the content of ``path`` (an editor's buffer); None for a
    notebook that cannot be read."""
    if path.suffix == ".ipynb":
        try:
            notebook = read_notebook(data)
        except InputError:
            return None
        return SourceFile(path, data, notebook.text, notebook)
    return SourceFile(path, data, _decode(data))
