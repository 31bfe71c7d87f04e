"""Python source: reading, parsing with LibCST, import aliases, project imports.

Shared by the framework plugins. Nothing here imports or runs
the code it reads.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from layerlint.frontends import MAX_LITERAL_ITEMS, InputError, OverBudget, Project
from layerlint.ir import Kind, LayerGraph, Location, Role
from layerlint.pytext import decode_python, python_lines

__all__ = ["PythonModule", "load_graphs", "parse_python"]

# Which framework plugin reads a file, by a byte scan: a file that mentions a
# framework, or uses its names without naming it (a snippet without imports, a model
# file that takes ``nn`` or its layers from a project module by a star import).
# A file that matches none is skipped without parsing.
_TORCH = "layerlint.frontends.python.torch"
_KERAS = "layerlint.frontends.python.keras"
PLUGINS = (_TORCH, _KERAS)
_TORCH_MARKERS = (b"torch", b"nn.Module", b"nn.Sequential")
_KERAS_SNIPPET_MARKERS = (b"Sequential(", b"Dense(", b"Conv2D(")


def _plugins(data: bytes) -> list[str]:
    torch = any(marker in data for marker in _TORCH_MARKERS)
    keras = b"keras" in data or (not torch and any(
        marker in data for marker in _KERAS_SNIPPET_MARKERS))
    return [name for name, wanted in ((_TORCH, torch), (_KERAS, keras)) if wanted]

# ``from models import build`` / ``import models.cnn as cnn`` (the module part)
_IMPORT_LINE = re.compile(rb"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import|import[ \t]+([\w.]+))",
                          re.MULTILINE)


def _plugins_for(path: Path, data: bytes, project: Project) -> list[str]:
    """The framework plugins for a file: its own markers, else Keras when a project
    module it imports uses Keras. Keras is driven through methods and strings, so a
    script need not name it (``from models import mlp; mlp().compile(loss="mse")``);
    PyTorch code names torch wherever it builds a loss or an optimizer."""
    found = _plugins(data)
    if found or b"import" not in data:
        return found
    for match in _IMPORT_LINE.finditer(data):
        name = (match.group(1) or match.group(2) or b"").decode("ascii", "replace")
        if name.split(".", 1)[0] in sys.stdlib_module_names:
            continue
        module = _module_file(path, name, project)
        if module is None:
            continue
        key = ("plugins", module)
        if key not in project.cache:
            try:
                project.cache[key] = _plugins(project.read_bytes(module))
            except OSError:
                project.cache[key] = []
        if _KERAS in project.cache[key]:  # type: ignore[operator]
            return [_KERAS]
    return []


def _module_file(origin: Path, module: str, project: Project) -> Path | None:
    """The project file a module name is (the first ``_module_candidates``), cached per
    folder; every path looked at is a dependency of the result, also when cached."""
    key = ("module file", origin.parent, module)
    if key not in project.cache:
        with project.recording() as probed:
            found = next(_module_candidates(origin, module, project), None)
        project.cache[key] = (found, frozenset(probed))
    found, probed = project.cache[key]  # type: ignore[misc]
    project.depend(probed)
    return found


def _module_candidates(origin: Path, module: str, project: Project) -> Iterator[Path]:
    """The project files (resolved) that a module name (``models.cnn``, ``.blocks``,
    ``.``) may be, in the order an import searches them: the package of ``origin`` for
    a relative name, else ``origin``'s folder and its ancestors. Read, never imported;
    each path looked at is recorded as a dependency (a file added later changes it)."""
    level = len(module) - len(module.lstrip("."))
    parts = [part for part in module[level:].split(".") if part]
    if level:
        base = origin.parent
        for _ in range(level - 1):
            base = base.parent
        bases = [base]
    else:
        bases = list(origin.resolve().parents)[:6]
    relative = Path(*parts) if parts else Path()
    for base in bases:
        for path in (base / relative.with_suffix(".py") if parts else None,
                     base / relative / "__init__.py"):
            if path is None:
                continue
            path = path.resolve()
            project.depend((path,))
            if project.is_project_file(path):
                yield path


# Training-code facts (LL4xx), for files of either framework.
_TRAINING = "layerlint.frontends.python.training"

# A model with at least this many unresolved layers, more than half of them, says so.
_COVERAGE_MIN = 4

# Prefixes canonicalised to one spelling, in one place.
_CANONICAL_PREFIXES = (
    ("tensorflow.python.keras.", "keras."),
    ("tensorflow.compat.v1.keras.", "keras."),
    ("tensorflow.compat.v2.keras.", "keras."),
    ("tensorflow.keras.", "keras."),
    ("tf_keras.src.", "keras."),
    ("tf_keras.", "keras."),
    ("keras_core.", "keras."),
    ("keras.src.", "keras."),
)
_TORCH_SUBMODULE = re.compile(r"^torch\.nn\.modules\.(?:[a-z_]+\.)?")


def canonical(name: str) -> str:
    """One spelling per framework name (``tf.keras.layers.X`` is ``keras.layers.X``)."""
    for prefix, replacement in _CANONICAL_PREFIXES:
        if name.startswith(prefix):
            name = replacement + name[len(prefix):]
            break
    if name.startswith("keras.layers.") and name.count(".") > 2:
        # keras.layers.core.dense.Dense and similar private paths
        name = "keras.layers." + name.rsplit(".", 1)[1]
    return _TORCH_SUBMODULE.sub("torch.nn.", name)


@dataclass
class PythonModule:
    """One parsed source file with what every frontend needs from it.

    Positions: LibCST's PositionProvider re-generates the whole file's code, which
    costs several times the parse. Instead, statements get their lines from
    ``ast`` (a fast C parse), and an expression is found by its text inside its
    statement, identical texts being taken in the order they are asked for (the
    interpreter evaluates in source order). Results are cached per node.
    """

    path: Path
    display: str
    module: cst.Module
    text: str
    aliases: dict[str, str]  # local name -> qualified name (relative ones start with ".")
    definitions: dict[str, cst.CSTNode] = field(default_factory=dict)
    tree: ast.Module | None = field(default=None, repr=False)
    _lines: list[str] | None = field(default=None, repr=False)
    # statement -> (first line, column, last line, end offset in UTF-8 bytes)
    _statements: dict[int, tuple[int, int, int, int]] | None = field(default=None, repr=False)
    _located: dict[int, Location] = field(default_factory=dict, repr=False)
    # (line, column, head) of located occurrences, so that two equal calls of one
    # statement get their own positions; a call and its callee share a start
    # (``Dropout(0.3)(x)``) but not a head
    _taken: set[tuple[int, int, str]] = field(default_factory=set, repr=False)
    _codes: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = python_lines(self.text)  # as ast counts lines
        return self._lines

    def reused(self) -> PythonModule:
        """This parse (an immutable tree) for another analysis, with fresh position
        caches and its own name tables, as a new parse would give."""
        return dataclasses.replace(self, definitions=dict(self.definitions),
                                   aliases=dict(self.aliases), _statements=None,
                                   _located={}, _taken=set(), _codes={})

    def _statement(self, stmt: cst.CSTNode) -> tuple[int, int, int, int] | None:
        if self._statements is None:
            self._statements = {}
            if self.tree is not None:
                _map_statements(self.module.body, self.tree.body, self._statements)
        return self._statements.get(id(stmt))

    def statement_span(self, stmt: cst.CSTNode) -> tuple[int, int, int] | None:
        """(first line, column, last line) of a statement, 1-based."""
        info = self._statement(stmt)
        return info[:3] if info is not None else None

    def location(self, node: cst.CSTNode, stmt: cst.CSTNode | None = None) -> Location:
        """Where a node starts and ends (the end column is exclusive, as in SARIF)."""
        cached = self._located.get(id(node))
        if cached is not None:
            return cached
        info = self._statement(node) or (self._statement(stmt) if stmt else None)
        if info is None:
            return Location(self.display, 1, 1)
        first, column, last, end_offset = info
        end: tuple[int, int] | None = (last, self._char_column(last, end_offset))
        if isinstance(node if self._statement(node) else stmt, cst.BaseCompoundStatement):
            # a class or loop: its first line, not every line of its body (suppressions)
            end = first, len(self.lines[first - 1].rstrip()) + 1
        if node is not stmt and self._statement(node) is None:
            found = self._search(node, first, last) or self._search(node, 1, len(self.lines))
            if found is not None:
                first, column, _ = found
                end = self._end(node, first, column)
        location = Location(self.display, first, column, *(end or (None, None)))
        self._located[id(node)] = location
        return location

    def _char_column(self, line: int, offset: int) -> int:
        """The 1-based column of a UTF-8 byte offset (``ast`` counts bytes)."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if text.isascii():
            return offset + 1
        return len(text.encode()[:offset].decode(errors="ignore")) + 1

    def _end(self, node: cst.CSTNode, line: int, column: int) -> tuple[int, int] | None:
        """The exclusive end of a node found at (line, column). A call's closing bracket
        is found by a scan of the text: regenerating a long Sequential's code (LibCST's
        ``code_for_node``) for each of its nested calls would cost more than the parse."""
        head = self.head(node)
        opening = column - 2 + len(head)
        if (isinstance(node, cst.Call) and head.endswith("(")
                and self.lines[line - 1][opening:opening + 1] == "("):
            return _closing_bracket(self.lines, line, opening)
        text = self.code(node).strip()
        if "\n" not in text:
            return line, column + len(text)
        return line + text.count("\n"), len(text.rsplit("\n", 1)[1]) + 1

    def _search(self, node: cst.CSTNode, first: int, last: int) -> tuple[int, int, int] | None:
        head = self.head(node)
        if not head:
            return None
        for number in range(first, min(last, len(self.lines)) + 1):
            line = self.lines[number - 1]
            start = line.find(head)
            while start != -1:
                if (number, start, head) not in self._taken:
                    self._taken.add((number, start, head))
                    return number, start + 1, number
                start = line.find(head, start + 1)
        return None

    def code(self, node: cst.CSTNode) -> str:
        """A node's source (LibCST regenerates it: cached, since loops revisit nodes)."""
        text = self._codes.get(id(node))
        if text is None:
            text = self._codes[id(node)] = self.module.code_for_node(node)
        return text

    def head(self, node: cst.CSTNode) -> str:
        """The first line of a node's source; for a call, cheaply, up to its "(".

        Calls are the nodes located most, and a Sequential's full text is long."""
        if isinstance(node, cst.Call) and not node.whitespace_after_func.value:
            return self.code(node.func).split("\n", 1)[0] + "("
        return self.code(node).strip().split("\n", 1)[0]

    def qualified(self, node: cst.BaseExpression) -> str | None:
        """The qualified, canonical name of a dotted expression, through import aliases."""
        parts: list[str] = []
        while isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if not isinstance(node, cst.Name):
            return None
        head = self.aliases.get(node.value)
        if head is None:
            return None
        return canonical(".".join([head, *reversed(parts)]))



_OPENING, _CLOSING = "([{", ")]}"


def _closing_bracket(lines: list[str], line: int, index: int) -> tuple[int, int] | None:
    """(line, exclusive 1-based column) after the bracket that closes the one at
    ``lines[line - 1][index]``, skipping strings and comments; None if not found."""
    depth = 0
    quote = ""
    for number in range(line, len(lines) + 1):
        text = lines[number - 1]
        i = index if number == line else 0
        while i < len(text):
            char = text[i]
            if quote:
                if char == "\\":
                    i += 2
                    continue
                if text.startswith(quote, i):
                    i += len(quote)
                    quote = ""
                    continue
            elif char == "#":
                break
            elif char in "'\"":
                quote = char * 3 if text.startswith(char * 3, i) else char
                i += len(quote)
                continue
            elif char in _OPENING:
                depth += 1
            elif char in _CLOSING:
                depth -= 1
                if depth == 0:
                    return number, i + 2
            i += 1
        if quote and len(quote) == 1:
            quote = ""  # an unterminated one-line string (a line continuation inside one)
    return None


def _decode(data: bytes) -> str:
    try:
        return decode_python(data)
    except (SyntaxError, LookupError, UnicodeDecodeError) as error:
        raise InputError(f"cannot decode file: {error}") from None


_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def _child_blocks(stmt: cst.CSTNode) -> Iterator[tuple[str, list]]:
    """The statement lists nested in a compound statement, in source order."""
    for name in _BLOCK_FIELDS:
        value = getattr(stmt, name, None)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):  # handlers, cases
            for item in value:
                yield name, list(item.body.body)
        elif isinstance(value, cst.If):  # elif
            yield name, [value]
        elif hasattr(value, "body"):
            inner = value.body
            yield name, list(inner.body) if hasattr(inner, "body") else list(inner)


def _statements(body: list) -> Iterator[cst.CSTNode]:
    """Every statement, nested ones included, without visiting expressions."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, cst.SimpleStatementLine):
            yield from stmt.body
        else:
            for _, block in _child_blocks(stmt):
                yield from _statements(block)


def _end(node: ast.stmt) -> tuple[int, int]:
    return node.end_lineno or node.lineno, node.end_col_offset or 0


def _map_statements(cst_body: list, ast_body: list,
                    out: dict[int, tuple[int, int, int, int]]) -> None:
    """Pair LibCST statements with ``ast`` statements to learn their lines."""
    index = 0
    for stmt in cst_body:
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            count = len(stmt.body)
            nodes = ast_body[index:index + count]
            index += count
            if not nodes:
                return
            out[id(stmt)] = (nodes[0].lineno, nodes[0].col_offset + 1, *_end(nodes[-1]))
            for small, node in zip(stmt.body, nodes):
                out[id(small)] = (node.lineno, node.col_offset + 1, *_end(node))
            continue
        if index >= len(ast_body):
            return
        node = ast_body[index]
        index += 1
        out[id(stmt)] = (node.lineno, node.col_offset + 1, *_end(node))
        for name, block in _child_blocks(stmt):
            if name in ("handlers", "cases"):
                continue
            target = getattr(node, name, None) or []
            _map_statements(block, target, out)
        if isinstance(stmt, cst.Try):
            for handler, ast_handler in zip(stmt.handlers, getattr(node, "handlers", [])):
                _map_statements(list(handler.body.body), ast_handler.body, out)


def _collect_aliases(module: cst.Module) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for stmt in _statements(list(module.body)):
        if isinstance(stmt, cst.Import):
            for alias in stmt.names:
                full = dotted_name(alias.name)
                if alias.asname is not None:
                    aliases[dotted_name(alias.asname.name)] = full
                else:
                    head = full.split(".")[0]
                    aliases[head] = head
        elif isinstance(stmt, cst.ImportFrom) and not isinstance(stmt.names, cst.ImportStar):
            base = "." * len(stmt.relative) + (dotted_name(stmt.module) if stmt.module else "")
            for alias in stmt.names:
                name = dotted_name(alias.name)
                local = dotted_name(alias.asname.name) if alias.asname else name
                joined = f"{base}.{name}" if base and not base.endswith(".") else base + name
                aliases[local] = joined
    return aliases


def dotted_name(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted_name(node.value)}.{node.attr.value}"
    return ""


def _check_literal_sizes(tree: ast.Module, text: str) -> None:
    if text.count(",") < MAX_LITERAL_ITEMS:
        return  # a literal of n items has n - 1 commas: walking the tree would find none
    for node in ast.walk(tree):
        items = (len(node.elts) if isinstance(node, (ast.List, ast.Tuple, ast.Set))
                 else len(node.keys) if isinstance(node, ast.Dict) else 0)
        if items > MAX_LITERAL_ITEMS:
            raise OverBudget(
                f"not analysed: a literal of {items:,} items (line {node.lineno}) is over "
                f"layerlint's limit of {MAX_LITERAL_ITEMS:,}", node.lineno,
                node.col_offset + 1)


def parse_python(path: Path, project: Project, data: bytes | None = None) -> PythonModule:
    """Parse a file once per run (cached on the project)."""
    key = path.resolve()
    cached = project.modules.get(key)
    if isinstance(cached, PythonModule):
        project.modules.move_to_end(key)
        return cached
    if isinstance(cached, InputError):
        raise cached
    try:
        if data is None:
            data = project.read_bytes(path)
        text = _decode(data)
        # ast first: it is ten times cheaper, gives statement lines, and rejects what
        # crashes or stalls LibCST's parser (very deep nesting, huge operator chains).
        try:
            tree = ast.parse(text)
        except SyntaxError as error:
            raise InputError(f"syntax error: {error.msg}", error.lineno or 1,
                             error.offset or 1) from None
        except (RecursionError, MemoryError):
            raise InputError("expression nested too deeply to parse") from None
        except ValueError as error:
            raise InputError(f"cannot parse file: {error}") from None
        _check_literal_sizes(tree, text)
        try:
            module = cst.parse_module(text)
        except cst.ParserSyntaxError as error:
            raise InputError(
                f"syntax error: {error.message}", error.raw_line, error.raw_column + 1
            ) from None
        except RecursionError:
            raise InputError("expression nested too deeply to parse") from None
    except OSError as error:
        result: PythonModule | InputError = InputError(f"cannot read file: {error.strerror}")
    except InputError as error:
        result = error
    else:
        definitions = {
            stmt.name.value: stmt
            for stmt in module.body
            if isinstance(stmt, (cst.ClassDef, cst.FunctionDef))
        }
        result = PythonModule(
            path=path,
            display=project.display(path),
            module=module,
            text=text,
            tree=tree,
            aliases=_collect_aliases(module),
            definitions=definitions,
        )
    project.remember(key, result)
    if isinstance(result, InputError):
        raise result
    return result


def resolve_import(origin: PythonModule, qualified: str,
                   project: Project) -> tuple[PythonModule, str] | str | None:
    """Find the project file and top-level name a qualified name refers to, by path.

    ``.blocks.BasicBlock`` (relative) is resolved against the importing file's folder;
    ``models.blocks.BasicBlock`` (absolute) against each ancestor folder in turn.
    A name a project module only imports (``from model import nn``, where model.py
    has ``import torch.nn as nn``) resolves to that name (``torch.nn``). Nothing is
    imported.
    """
    key = ("import", origin.path, qualified)
    if key not in project.cache:
        with project.recording() as probed:
            found = _resolve_import(origin, qualified, project)
        project.cache[key] = (found if isinstance(found, str) or found is None else
                              (found[0].path, found[1]), frozenset(probed))
    target, probed = project.cache[key]  # type: ignore[misc]
    project.depend(probed)  # the result cache's key, also when the lookup was cached
    if target is None or isinstance(target, str):
        return target
    path, name = target  # type: ignore[misc]
    return parse_python(path, project), name


def _resolve_import(origin: PythonModule, qualified: str,
                    project: Project) -> tuple[PythonModule, str] | str | None:
    level = len(qualified) - len(qualified.lstrip("."))
    module_part, _, name = qualified[level:].rpartition(".")
    if not name:
        return None
    itself = origin.path.resolve()
    for path in _module_candidates(origin.path, "." * level + module_part, project):
        if path == itself:
            continue
        try:
            target = parse_python(path, project)
        except InputError:
            return None
        if name in target.definitions:
            return target, name
        reexport = target.aliases.get(name)  # ``from .blocks import Block`` in __init__
        if reexport and reexport != qualified:
            found = resolve_import(target, reexport, project)
            if found is None and not reexport.startswith("."):
                return canonical(reexport)  # a name from outside the project
            return found
        return None
    return None


def load_graphs(path: Path, project: Project, data: bytes | None = None) -> list[LayerGraph]:
    """``data`` is the source when it is not the file's bytes (a notebook's code cells)."""
    if data is None:
        try:
            data = project.read_bytes(path)
        except FileNotFoundError:
            raise InputError("No such file or directory") from None
    frontends = _plugins_for(path, data, project)
    if not frontends:
        return []
    module = parse_python(path, project, data)
    graphs: list[LayerGraph] = []
    for frontend in frontends:
        graphs.extend(importlib.import_module(frontend).build_graphs(module, project))
    graphs = [_with_coverage_note(graph) for graph in graphs]
    graphs.extend(importlib.import_module(_TRAINING).build_graphs(module, project))
    return graphs


def _with_coverage_note(graph: LayerGraph) -> LayerGraph:
    """A model made mostly of layers that could not be resolved says so (LL002), so
    that a silent run means "checked", not "not understood"."""
    layers = [layer for layer in graph.layers if layer.kind is not Kind.INPUT]
    # modules that could not be seen into (third-party blocks, unknown classes); not
    # function calls outside the vocabulary (``torch.max``, ``rearrange``), and not a
    # module given as a parameter (``?``), which the caller's analysis resolves
    opaque = [layer for layer in layers if "unresolved_module" in layer.attrs
              and layer.label != "?"]
    if graph.role is not Role.MODEL or len(opaque) < _COVERAGE_MIN \
            or len(opaque) * 2 <= len(layers):
        return graph
    names = list(dict.fromkeys(layer.label for layer in opaque))
    shown = ", ".join(f"`{name}`" for name in names[:3]) + (", …" if len(names) > 3 else "")
    note = (f"`{graph.name}`: {len(opaque)} of its {len(layers)} layers could not be "
            f"resolved ({shown}); findings in it may be incomplete")
    return dataclasses.replace(graph, notes=(*graph.notes, note))
