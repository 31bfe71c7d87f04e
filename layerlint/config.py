"""``[tool.layerlint]`` in ``pyproject.toml``: finding, validating and merging settings.

Each path uses the nearest ``pyproject.toml`` with a ``[tool.layerlint]`` table found by
walking up from it (as ruff does); command-line flags are applied on top.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from layerlint.registry import SelectionError, enabled_codes, expand, expand_ignore

__all__ = ["ConfigError", "Overrides", "Resolver", "Settings", "load_settings"]

# Folders never searched when walking (ruff's defaults, plus tool caches); `exclude`
# replaces this list, `extend-exclude` adds to it.
DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".bzr", ".venv", "venv", ".env", "__pycache__", "build", "dist",
    "node_modules", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".ipynb_checkpoints", "site-packages", "__pypackages__", ".eggs", ".direnv", "*.egg-info",
)

_LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude")
_KEYS = (*_LIST_KEYS, "per-file-ignores", "cache-dir")


class ConfigError(ValueError):
    """A configuration file that cannot be read or holds an unknown key or code."""


@dataclass(frozen=True)
class Overrides:
    """Rule selection given on the command line (applied after the file's)."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    extend_exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """One configuration: the file's table (or defaults) with its folder as root."""

    root: Path
    source: Path | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    enabled: frozenset[str] = field(default=frozenset())
    cache_dir: Path | None = None  # `cache-dir`, relative to the config's folder

    def is_excluded(self, path: Path) -> bool:
        """Whether a file or folder matches `exclude`/`extend-exclude`."""
        return _matches(path, self.root, (*self.exclude, *self.extend_exclude))

    def is_excluded_path(self, path: Path) -> bool:
        """Whether the file or any folder above it (below the config's folder) is excluded."""
        absolute = Path(os.path.abspath(path))
        chain = [absolute, *absolute.parents]
        return any(self.is_excluded(p) for p in chain
                   if p == absolute or (p != self.root and self.root in p.parents))

    def codes_for(self, path: Path) -> frozenset[str]:
        """The codes enabled for one file, after `per-file-ignores`."""
        ignored: set[str] = set()
        for pattern, codes in self.per_file_ignores:
            if _matches(path, self.root, (pattern,)):
                ignored |= codes
        return self.enabled - ignored


def _matches(path: Path, root: Path, patterns: Iterable[str]) -> bool:
    """Glob match against the path relative to the config's folder, or its name.

    As in ruff, ``*`` also matches ``/``; a pattern without ``/`` matches the base name.
    """
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(root).as_posix()
    except ValueError:
        relative = absolute.as_posix()
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if "/" not in pattern and fnmatch.fnmatchcase(absolute.name, pattern):
            return True
        if fnmatch.fnmatchcase(relative, pattern.removeprefix("./")):
            return True
    return False


def _string_list(table: Mapping[str, object], key: str, source: Path) -> tuple[str, ...] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: [tool.layerlint] {key} must be a list of strings")
    return tuple(value)


def _check_codes(codes: Iterable[str], where: str) -> None:
    try:
        for code in codes:
            expand(code)
    except SelectionError as error:
        raise ConfigError(f"{where}: {error}") from None


def load_settings(path: Path, overrides: Overrides = Overrides()) -> Settings:
    """Read and validate one ``pyproject.toml`` (or a ``layerlint.toml``-style file)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ConfigError(f"{path}: not a regular file")  # a FIFO would block
        data = _parse(path.read_bytes())
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    # another file may be a copy of a pyproject.toml: its [tool.layerlint] table counts
    if path.name == "pyproject.toml" or isinstance(data.get("tool"), dict):
        tool = data.get("tool", {})
        if not isinstance(tool, dict):
            raise ConfigError(f"{path}: `tool` must be a table, not {_kind(tool)}")
        table = tool.get("layerlint")
    else:
        table = data
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.layerlint] must be a table, not {_kind(table)}")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)} in [tool.layerlint]; "
            f"valid keys: {', '.join(_KEYS)}")
    lists = {key: _string_list(table, key, path) for key in _LIST_KEYS}
    where = f"{path}: [tool.layerlint]"
    for key in ("select", "ignore", "extend-select"):
        _check_codes(lists[key] or (), f"{where} {key}")
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise ConfigError(f"{where} per-file-ignores must be a table of glob = [codes]")
    ignores: list[tuple[str, frozenset[str]]] = []
    for pattern, codes in per_file.items():
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError(f"{where} per-file-ignores {pattern!r} must be a list of codes")
        _check_codes(codes, f"{where} per-file-ignores {pattern!r}")
        ignores.append((pattern, frozenset().union(*(expand_ignore(c) for c in codes))))
    cache_dir = table.get("cache-dir")
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise ConfigError(f"{where} cache-dir must be a string (a folder)")
    return _finish(Settings(
        root=path.resolve().parent,
        cache_dir=path.resolve().parent / cache_dir if cache_dir is not None else None,
        source=path,
        select=lists["select"],
        ignore=lists["ignore"] or (),
        extend_select=lists["extend-select"] or (),
        per_file_ignores=tuple(ignores),
        exclude=lists["exclude"] if lists["exclude"] is not None else DEFAULT_EXCLUDE,
        extend_exclude=lists["extend-exclude"] or (),
    ), overrides)


def _finish(settings: Settings, overrides: Overrides) -> Settings:
    enabled = enabled_codes([
        (settings.select, settings.extend_select, settings.ignore),
        (overrides.select, overrides.extend_select, overrides.ignore),
    ])
    from dataclasses import replace

    return replace(settings, enabled=enabled,
                   extend_exclude=settings.extend_exclude + overrides.extend_exclude)


def _parse(data: bytes) -> dict:
    """TOML from bytes; ValueError for anything that is not valid TOML (bad UTF-8,
    nesting too deep, an integer too long to convert) with the reason."""
    # imported here: a run without a configuration file does not pay for the parser
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 ({error.reason} at byte {error.start})") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except (tomllib.TOMLDecodeError, ValueError) as error:
        raise ValueError(str(error)) from None


def _kind(value: object) -> str:
    return {str: "a string", list: "an array", bool: "a boolean", int: "an integer",
            float: "a float"}.get(type(value), type(value).__name__)


def _has_table(path: Path) -> bool:
    """Whether a pyproject.toml has a [tool.layerlint] table (cheap byte check first).

    A file that mentions layerlint but is not valid TOML, or whose `tool` is not a
    table, would have applied: it is reported as a configuration error when loaded."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if b"layerlint" not in data:
        return False
    try:
        tool = _parse(data).get("tool", {})
    except ValueError:
        return True
    return not isinstance(tool, dict) or "layerlint" in tool


class Resolver:
    """The settings for each path: ``--config``, ``--isolated``, or the nearest file."""

    def __init__(self, overrides: Overrides = Overrides(), config: Path | None = None,
                 isolated: bool = False) -> None:
        self.overrides = overrides
        _check_codes((*overrides.select, *overrides.ignore, *overrides.extend_select),
                     "command line")
        self._fixed: Settings | None = None
        if config is not None:
            self._fixed = load_settings(config, overrides)
        elif isolated:
            self._fixed = _finish(Settings(root=Path.cwd()), overrides)
        self._by_dir: dict[Path, Settings] = {}
        self._by_file: dict[Path, Settings] = {}

    def settings_for(self, path: Path) -> Settings:
        if self._fixed is not None:
            return self._fixed
        folder = Path(os.path.abspath(path))
        if not folder.is_dir():
            folder = folder.parent
        return self._for_dir(folder)

    def _for_dir(self, folder: Path) -> Settings:
        cached = self._by_dir.get(folder)
        if cached is not None:
            return cached
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _has_table(candidate):
            settings = self._by_file.get(candidate)
            if settings is None:
                settings = self._by_file[candidate] = load_settings(candidate, self.overrides)
        elif folder.parent != folder:
            settings = self._for_dir(folder.parent)
        else:
            settings = _finish(Settings(root=Path.cwd()), self.overrides)
        self._by_dir[folder] = settings
        return settings
