"""Jupyter notebooks: the code cells, joined into one module, linted as Python.

IPython magics (``%time``, ``%%bash``) and shell escapes (``!pip ...``) are not Python:
they are replaced by ``pass`` (same indentation, so blocks stay valid) and never
reported. Locations are mapped back to (cell, line in cell); cells are numbered as
code cells, from 1, as ruff does.
"""

from __future__ import annotations

import ast
import bisect
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from layerlint.frontends import InputError, Project
from layerlint.ir import LayerGraph, Location
from layerlint.pytext import python_lines

__all__ = ["Notebook", "load_graphs", "read_notebook"]

# A line IPython rewrites: %magic, !shell, ?help, help?, `x = !cmd`, `x = %magic`.
_MAGIC = re.compile(r"^\s*(?:[%!?]|[\w.]+\s*=\s*[%!]|[\w.]+\?\??\s*$)")


@dataclass(frozen=True)
class Notebook:
    """The joined source of a notebook's code cells and where each cell starts."""

    text: str
    starts: tuple[int, ...]  # 1-based line of the joined text where each code cell starts

    def locate(self, line: int) -> tuple[int, int]:
        """(cell, line in cell), both 1-based, for a line of the joined text."""
        index = max(bisect.bisect_right(self.starts, line) - 1, 0)
        return index + 1, line - self.starts[index] + 1

    def cell_lines(self, cell: int) -> list[str]:
        lines = python_lines(self.text)
        start = self.starts[cell - 1] - 1
        end = self.starts[cell] - 1 if cell < len(self.starts) else len(lines)
        return lines[start:end]


def _cell_source(cell: dict) -> str:
    source = cell.get("source", cell.get("input", ""))  # "input" in nbformat 3
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    if not isinstance(source, str):
        raise InputError("malformed notebook: a cell's source is not text")
    return source


def _without_magics(source: str) -> list[str]:
    lines = python_lines(source)  # a U+2028 or form feed in a string is no break
    if lines and lines[0].lstrip().startswith("%%"):
        return ["" for _ in lines]  # a cell magic: the whole cell is another language
    kept: list[str] = []
    continued = False
    for line in lines:
        if continued or _MAGIC.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            kept.append("" if continued or not indent else indent + "pass")
            continued = line.rstrip().endswith("\\")
        else:
            kept.append(line)
    return kept


def read_notebook(data: bytes) -> Notebook:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"malformed notebook: {error}") from None
    except RecursionError:
        raise InputError("malformed notebook: JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise InputError("malformed notebook: not a JSON object")
    cells = document.get("cells")
    worksheets = document.get("worksheets")  # nbformat 3
    if cells is None and isinstance(worksheets, list) and worksheets:
        cells = worksheets[0].get("cells") if isinstance(worksheets[0], dict) else None
    if not isinstance(cells, list):
        raise InputError("malformed notebook: no list of cells")
    lines: list[str] = []
    starts: list[int] = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        starts.append(len(lines) + 1)
        lines.extend(_without_magics(_cell_source(cell)) or [""])
    return Notebook("\n".join(lines) + "\n", tuple(starts) or (1,))


def _map(location: Location, notebook: Notebook, path: str) -> Location:
    if location.path != path or location.cell is not None:
        return location
    cell, line = notebook.locate(location.line)
    end_line = location.end_line
    if end_line is not None:
        end_cell, end_in_cell = notebook.locate(end_line)
        end_line = end_in_cell if end_cell == cell else None
    return replace(location, line=line, end_line=end_line, cell=cell)


def _map_graph(graph: LayerGraph, notebook: Notebook) -> LayerGraph:
    layers = tuple(
        replace(layer, location=_map(layer.location, notebook, graph.path),
                use=_map(layer.use, notebook, graph.path) if layer.use else None)
        for layer in graph.layers
    )
    code = tuple(r.map_locations(lambda loc: _map(loc, notebook, graph.path))
                 for r in graph.code)
    return replace(graph, layers=layers, code=code)


def _without_broken_cells(notebook: Notebook, project: Project) -> Notebook:
    """A cell that is not valid Python on its own (a notebook saved mid-edit) is
    reported (LL001) and left out, blanked so that lines keep their numbers; the
    other cells are still checked."""
    lines = notebook.text.splitlines()
    changed = False
    for cell in range(1, len(notebook.starts) + 1):
        source = notebook.cell_lines(cell)
        try:
            ast.parse("\n".join(source))
        except SyntaxError as error:
            project.skipped.append(InputError(f"syntax error: {error.msg}",
                                              error.lineno or 1, error.offset or 1, cell))
        except (ValueError, RecursionError, MemoryError) as error:
            project.skipped.append(InputError(f"cannot parse cell: {error}", 1, 1, cell))
        else:
            continue
        start = notebook.starts[cell - 1] - 1
        lines[start:start + len(source)] = [""] * len(source)
        changed = True
    if not changed:
        return notebook
    return Notebook("\n".join(lines) + "\n", notebook.starts)


def load_graphs(path: Path, project: Project) -> list[LayerGraph]:
    from layerlint.frontends.python import source as _python

    try:
        data = project.read_bytes(path)
    except OSError as error:
        raise InputError(f"cannot read file: {error.strerror}") from None
    notebook = _without_broken_cells(read_notebook(data), project)
    try:
        graphs = _python.load_graphs(path, project, notebook.text.encode("utf-8"))
    except InputError as error:
        cell, line = notebook.locate(error.line)
        raise type(error)(error.message, line, error.column, cell) from None
    return [_map_graph(graph, notebook) for graph in graphs]
