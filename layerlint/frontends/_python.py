"""Python source: reading, parsing with LibCST, import aliases, project imports.

Shared by the PyTorch and Keras source frontends. Nothing here imports or runs
the code it reads.
"""

from __future__ import annotations

import importlib
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from layerlint.frontends import InputError, Project
from layerlint.ir import LayerGraph, Location

__all__ = ["PythonModule", "load_graphs", "parse_python"]

# Which source frontend reads a file that mentions which framework (a byte scan);
# a file that mentions none is skipped without parsing.
_FRONTENDS = ((b"torch", "pytorch_source"), (b"keras", "keras_source"))
_FRAMEWORK_MARKERS = tuple(marker for marker, _ in _FRONTENDS)

# Prefixes canonicalised to one spelling, in one place.
_CANONICAL_PREFIXES = (
    ("tensorflow.python.keras.", "keras."),
    ("tensorflow.keras.", "keras."),
    ("tf_keras.", "keras."),
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
    """One parsed source file with what every frontend needs from it."""

    path: Path
    display: str
    module: cst.Module
    positions: dict[cst.CSTNode, CodeRange]
    aliases: dict[str, str]  # local name -> qualified name (relative ones start with ".")
    definitions: dict[str, cst.CSTNode] = field(default_factory=dict)
    source: bytes = b""

    def location(self, node: cst.CSTNode) -> Location:
        code_range = self.positions.get(node)
        if code_range is None:
            return Location(self.display, 1, 1)
        return Location(
            self.display,
            code_range.start.line,
            code_range.start.column + 1,
            code_range.end.line,
            code_range.end.column + 1,
        )

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

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

    @property
    def package_dir(self) -> Path:
        return self.path.parent


def _decode(data: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as error:
        raise InputError(f"cannot decode file: {error}") from None


def _collect_aliases(module: cst.Module) -> dict[str, str]:
    aliases: dict[str, str] = {}

    class Visitor(cst.CSTVisitor):
        def visit_Import(self, node: cst.Import) -> bool:
            for alias in node.names:
                full = _dotted(alias.name)
                if alias.asname is not None:
                    aliases[_dotted(alias.asname.name)] = full
                else:
                    head = full.split(".")[0]
                    aliases[head] = head
            return False

        def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
            base = "." * len(node.relative) + (_dotted(node.module) if node.module else "")
            if isinstance(node.names, cst.ImportStar):
                return False
            for alias in node.names:
                name = _dotted(alias.name)
                local = _dotted(alias.asname.name) if alias.asname else name
                joined = f"{base}.{name}" if base and not base.endswith(".") else base + name
                aliases[local] = joined
            return False

    module.visit(Visitor())
    return aliases


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def parse_python(path: Path, project: Project, data: bytes | None = None) -> PythonModule:
    """Parse a file once per run (cached on the project)."""
    key = ("python", path.resolve())
    cached = project.cache.get(key)
    if isinstance(cached, PythonModule):
        return cached
    if isinstance(cached, InputError):
        raise cached
    try:
        if data is None:
            data = path.read_bytes()
        text = _decode(data)
        try:
            module = cst.parse_module(text)
            wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
            positions = dict(wrapper.resolve(PositionProvider))
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
            positions=positions,
            aliases=_collect_aliases(module),
            definitions=definitions,
            source=data,
        )
    project.cache[key] = result
    if isinstance(result, InputError):
        raise result
    return result


def resolve_import(origin: PythonModule, qualified: str, project: Project) -> tuple[PythonModule, str] | None:
    """Find the project file and top-level name a qualified name refers to, by path.

    ``.blocks.BasicBlock`` (relative) is resolved against the importing file's folder;
    ``models.blocks.BasicBlock`` (absolute) against each ancestor folder in turn.
    Nothing is imported.
    """
    module_part, _, name = qualified.rpartition(".")
    if not name:
        return None
    if qualified.startswith("."):
        level = len(qualified) - len(qualified.lstrip("."))
        base = origin.path.parent
        for _ in range(level - 1):
            base = base.parent
        candidates = [base]
        module_part = module_part.lstrip(".")
    else:
        candidates = list(origin.path.resolve().parents)[:6]
    relative = Path(*module_part.split(".")) if module_part else Path()
    for base in candidates:
        for path in (base / relative.with_suffix(".py") if module_part else None,
                     base / relative / "__init__.py"):
            if path is None or not path.is_file():
                continue
            if path.resolve() == origin.path.resolve():
                continue
            try:
                target = parse_python(path, project)
            except InputError:
                return None
            if name in target.definitions:
                return target, name
            reexport = target.aliases.get(name)
            if reexport and reexport != qualified:
                if reexport.startswith("."):
                    return resolve_import(target, reexport, project)
                return resolve_import(target, reexport, project)
            return None
    return None


def load_graphs(path: Path, project: Project, data: bytes | None = None) -> list[LayerGraph]:
    """``data`` is the source when it is not the file's bytes (a notebook's code cells)."""
    if data is None:
        data = path.read_bytes() if path.exists() else None
    if data is None:
        raise InputError("No such file or directory")
    if not any(marker in data for marker in _FRAMEWORK_MARKERS):
        return []
    module = parse_python(path, project, data)
    graphs: list[LayerGraph] = []
    for marker, frontend in _FRONTENDS:
        if marker in data:
            builder = importlib.import_module(f"layerlint.frontends.{frontend}")
            graphs.extend(builder.build_graphs(module, project))
    return graphs
