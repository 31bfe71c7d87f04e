"""Writing files safely: a unique temporary file renamed over the target, so that a
reader never sees half a file and concurrent runs never share a temporary name."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "rewrite_in_place_of"]


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` by ``data`` atomically; OSError (with strerror) if it cannot."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent or ".",
                                             prefix=f".{path.name}.", suffix=".layerlint")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        if mode is not None:
            os.chmod(temporary, stat.S_IMODE(mode))
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def rewrite_in_place_of(path: Path, data: bytes) -> str | None:
    """Write a fixed source over ``path``, keeping what the user has made of the file:
    through a symlink to its target, in place for a file with hard links (a rename
    would split them), never over a read-only file. The reason when it refuses."""
    target = Path(os.path.realpath(path))
    try:
        status = target.stat()
    except OSError as error:
        return f"cannot read {target}: {error.strerror}"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file"
    if not status.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return "the file is read-only"
    try:
        if status.st_nlink > 1:
            with open(target, "r+b") as stream:
                stream.write(data)
                stream.truncate()
        else:
            atomic_write(target, data, status.st_mode)
    except OSError as error:
        return f"cannot write {target}: {error.strerror or error}"
    return None
