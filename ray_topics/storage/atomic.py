"""Whole-file writes that readers never see half done: write a temporary file, then rename it into place."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow.fs as pafs

__all__ = ["put_atomic"]


def put_atomic(fs: pafs.FileSystem, path: str, write: Callable[[str], None]) -> str:
    """Call ``write(tmp)`` to write a temporary file beside ``path``, then rename it over ``path``.

    The temporary file is ``path + ".tmp"`` (never ``.parquet``, so no lake listing picks it up);
    a crash before the rename leaves it behind, and the next write of ``path`` overwrites it.
    Writers of one path must exclude each other (one job at a time writes a partition).
    Returns ``path``.
    """
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    tmp = path + ".tmp"
    write(tmp)
    fs.move(tmp, path)
    return path
