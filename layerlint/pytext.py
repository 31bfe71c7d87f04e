"""Source text as Python itself reads it: PEP 263 encoding declarations with any line
ending, and lines split where Python splits them (``\\r\\n``, ``\\r``, ``\\n`` only:
a form feed or U+2028 inside a line is not a line break, unlike ``str.splitlines``),
so that line numbers match ``ast`` and an editor."""

from __future__ import annotations

import io
import re
import tokenize

__all__ = ["decode_python", "detect_encoding", "python_lines"]

_BREAK = re.compile(r"\r\n|\r|\n")
_FIRST_LINES = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")


def python_lines(text: str) -> list[str]:
    """The lines of ``text``, without their line breaks (as ``str.splitlines`` for
    ordinary text)."""
    lines = _BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def detect_encoding(data: bytes) -> str:
    """The encoding Python would read ``data`` with (BOM, or a coding declaration on
    one of the first two lines, whatever their line ending); SyntaxError or
    LookupError as Python's tokenizer raises them."""
    position, lines = 0, []
    while len(lines) < 2 and position < len(data):
        line = _FIRST_LINES.match(data, position).group()
        lines.append(line)
        position += len(line)
    encoding, _ = tokenize.detect_encoding(io.BytesIO(b"".join(
        _BREAK_BYTES.sub(b"\n", line) for line in lines)).readline)
    return encoding


_BREAK_BYTES = re.compile(rb"\r\n|\r")


def decode_python(data: bytes) -> str:
    """The text of a Python file; SyntaxError, LookupError or UnicodeDecodeError."""
    return data.decode(detect_encoding(data))
