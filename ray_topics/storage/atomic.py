"""Whole-file writes that readers never see half done: write a temporary file, then rename it into place."""

from __future__ import annotations

import os
from collections.abc import Callable

import pyarrow.fs as pafs

__all__ = ["put_atomic"]


def put_atomic(fs: pafs.FileSystem, path: str, write: Callable[[str], None]) -> str:
    """Call ``write(tmp)`` to write a temporary file beside ``path``, then rename it over ``path``.

    The temporary file is ``path + ".tmp"`` (never ``.parquet``, so no lake listing picks it up);
    a crash before the rename leaves it behind, and the next write of ``path`` overwrites it.
    On a local filesystem the file is flushed to disk before the rename and the folder after it,
    so a power cut leaves the old file or the new one, whole.
    Writers of one path must exclude each other (one job at a time writes a partition).
    Returns ``path``.
    """
    folder = path.rsplit("/", 1)[0]
    fs.create_dir(folder, recursive=True)
    tmp = path + ".tmp"
    write(tmp)
    _fsync(fs, tmp)  # the content is on disk before the name points at it ...
    fs.move(tmp, path)
    _fsync(fs, folder)  # ... and the rename itself is too
    return path


def _fsync(fs: pafs.FileSystem, path: str) -> None:
    """Flush a local file or folder to disk (object stores publish a whole object or nothing)."""
    if isinstance(fs, pafs.LocalFileSystem):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
