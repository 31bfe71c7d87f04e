"""ONNX text models (``.onnxtxt``): parsing, and where each node statement is."""

from __future__ import annotations

import re
from pathlib import Path

from layerlint.frontends import InputError
from layerlint.frontends.onnx.reader import NodeKey, nodes_in_order

__all__ = ["read_text_model", "text_positions"]


def read_text_model(path: Path):
    """The parsed ModelProto and the text (``onnx.parser``, so this imports onnx)."""
    import onnx.parser

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"ONNX text is not valid UTF-8: {error.reason}") from None
    except OSError as error:
        raise InputError(f"cannot read file: {error.strerror}") from None
    try:
        return onnx.parser.parse_model(text), text
    except onnx.parser.ParseError as error:
        raise _text_parse_error(error) from None


def _text_parse_error(error: Exception) -> InputError:
    raw = error.args[0] if error.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    where = re.search(r"line:\s*(\d+)\s*column:\s*(\d+)", message)
    reason = message.strip().splitlines()[-1] if message.strip() else "syntax error"
    if where:
        return InputError(f"ONNX text syntax error: {reason}", int(where[1]), int(where[2]))
    return InputError(f"ONNX text syntax error: {reason}")


def _strip_comments(text: str) -> str:
    """Blank out ``#`` comments (outside string literals), keeping offsets."""
    out = list(text)
    in_string = in_comment = False
    for i, char in enumerate(text):
        if in_comment:
            if char == "\n":
                in_comment = False
            else:
                out[i] = " "
        elif in_string:
            if char == '"' and text[i - 1] != "\\":
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#":
            in_comment = True
            out[i] = " "
    return "".join(out)


def text_positions(model, text: str) -> dict[NodeKey, tuple[int, int]]:
    """(line, column) of each node's statement, found in order by ``= [domain.]Op (``."""
    clean = _strip_comments(text)
    line_starts = [0] + [m.end() for m in re.finditer("\n", clean)]
    positions: dict[NodeKey, tuple[int, int]] = {}
    cursor = 0
    for key, node in nodes_in_order(model):
        domain = rf"{re.escape(node.domain)}\s*\.\s*" if node.domain else r"(?:ai\.onnx\s*\.\s*)?"
        pattern = re.compile(rf"=\s*{domain}{re.escape(node.op_type)}\s*[<(]")
        match = pattern.search(clean, cursor)
        if match is None:
            continue
        cursor = match.end()
        start = max(clean.rfind(c, 0, match.start()) for c in "\n{;}") + 1
        while start < match.start() and clean[start] in " \t\r":
            start += 1
        line = _bisect(line_starts, start)
        positions[key] = (line + 1, start - line_starts[line] + 1)
    return positions


def _bisect(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo
