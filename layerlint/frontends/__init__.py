"""Frontends lower input files to layer graphs. Dispatch is by file suffix."""

from __future__ import annotations

import functools
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from layerlint.ir import LayerGraph

__all__ = ["MAX_LITERAL_ITEMS", "SUFFIXES", "InputError", "OverBudget", "Project",
           "load_graphs"]

# A literal list, tuple, set or dict with more items than this is data, not a model:
# LibCST would take seconds to parse it (tens of microseconds an item), so the file is
# not analysed (LL002) instead of being paid for.
MAX_LITERAL_ITEMS = 100_000


class InputError(Exception):
    """The input cannot be read or parsed (reported as LL001; the run goes on)."""

    def __init__(self, message: str, line: int = 1, column: int = 1,
                 cell: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.cell = cell  # notebook code cell, 1-based


class OverBudget(InputError):
    """The input is too large to analyse within layerlint's budget (LL002, not LL001)."""


class Project:
    """The files of one run, and caches shared by frontends across those files.

    Source frontends use it to resolve project imports by path (never by importing)
    and to parse each file at most once.
    """

    def __init__(self, files: Iterable[Path], display: Callable[[Path], str],
                 contents: Mapping[Path, bytes] | None = None) -> None:
        self.files = [Path(f) for f in files]
        self.resolved_files = frozenset(f.resolve() for f in self.files)
        # Unsaved editor buffers by resolved path (``layerlint server``): read instead of
        # the file on disk, for the file checked and for the project files it imports.
        self.contents: Mapping[Path, bytes] = contents or {}
        # Project imports resolve to the run's files and to the other files of their
        # projects on disk (read, never run): checking train.py alone follows model.py.
        self._roots: frozenset[Path] | None = None
        self._is_file: dict[Path, bool] = {}
        self.display = display
        self.cache: dict[object, object] = {}
        # Parsed modules, least recently used first: bounded, so that memory stays flat
        # however many files a run has (a file imported again later is parsed again).
        self.modules: OrderedDict[Path, object] = OrderedDict()
        # Project files that the file being checked depends on: every path an import was
        # looked up at, found or not (a file added to the run can change the result).
        # The result cache re-checks a file when one of them changed.
        self.dependencies: set[Path] = set()
        # Parts of the file being checked that could not be read while the rest was
        # (a notebook cell that does not parse): each is an LL001 beside its findings.
        self.skipped: list[InputError] = []
        self._recorders: list[set[Path]] = []

    @property
    def roots(self) -> frozenset[Path]:
        """The project root of each file of the run (see ``project_root``)."""
        if self._roots is None:
            self._roots = frozenset(project_root(f) for f in self.resolved_files)
        return self._roots

    def is_project_file(self, path: Path) -> bool:
        """Whether an import may resolve to ``path`` (resolved): a file of the run, or a
        regular ``.py`` file below the project root of one."""
        if path in self.resolved_files or path in self.contents:
            return True
        known = self._is_file.get(path)
        if known is None:
            known = self._is_file[path] = (
                path.suffix == ".py" and str(path).startswith(self._root_prefixes)
                and _is_file(path))
        return known

    @functools.cached_property
    def _root_prefixes(self) -> tuple[str, ...]:
        """Each project root as a string prefix (``root in path.parents`` walks the
        path's parents for each root, which made import lookups dominate small files)."""
        return tuple(os.path.join(str(root), "") for root in self.roots)

    def read_bytes(self, path: Path) -> bytes:
        """The bytes of an input: its unsaved buffer, else the file (OSError)."""
        data = self.contents.get(path.resolve()) if self.contents else None
        return path.read_bytes() if data is None else data

    def depend(self, paths: Iterable[Path]) -> None:
        """Frontends call this for each project path an input's graphs depend on."""
        for recorder in (self.dependencies, *self._recorders):
            recorder.update(paths)

    @contextmanager
    def recording(self) -> Iterator[set[Path]]:
        """The paths depended on inside the block, for a frontend that caches a lookup
        across files and replays them (``depend``) when it reuses the cached answer."""
        recorder: set[Path] = set()
        self._recorders.append(recorder)
        try:
            yield recorder
        finally:
            self._recorders.remove(recorder)

    def remember(self, path: Path, module: object, limit: int = 64) -> None:
        self.modules[path] = module
        self.modules.move_to_end(path)
        while len(self.modules) > limit:
            self.modules.popitem(last=False)


def _is_file(path: Path) -> bool:
    """A regular file; False for a path the system cannot even look up (an import of
    a 300-character module name is a name too long, not an unreadable input)."""
    try:
        return path.is_file()
    except OSError:
        return False


_ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


@functools.lru_cache(maxsize=1024)
def project_root(path: Path) -> Path:
    """The nearest folder above ``path`` (resolved) that holds a pyproject.toml,
    setup.py, setup.cfg or .git; the file's own folder when there is none."""
    for folder in path.parents:
        if any((folder / marker).exists() for marker in _ROOT_MARKERS):
            return folder
    return path.parent


def _load_python(path: Path, project: Project) -> list[LayerGraph]:
    from layerlint.frontends.python import source as _python

    return _python.load_graphs(path, project)


def _load_onnx(path: Path, project: Project) -> list[LayerGraph]:
    from layerlint.frontends import onnx

    return onnx.load_graphs(path, project)


def _load_notebook(path: Path, project: Project) -> list[LayerGraph]:
    from layerlint.frontends import notebook

    return notebook.load_graphs(path, project)


LOADERS: dict[str, Callable[[Path, Project], list[LayerGraph]]] = {
    ".py": _load_python,
    ".ipynb": _load_notebook,
    ".onnx": _load_onnx,
    ".onnxtxt": _load_onnx,
}
SUFFIXES = frozenset(LOADERS)


def load_graphs(path: Path, project: Project) -> list[LayerGraph]:
    loader = LOADERS.get(path.suffix)
    if loader is None:
        raise InputError(f"unsupported file type {path.suffix or '(none)'!r}")
    return loader(path, project)
