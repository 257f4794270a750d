"""Reading NumPy's ``.npy`` and ``.npz`` files from any thread.

NumPy reads every array's header with :func:`ast.literal_eval`. On CPython 3.11 before
3.11.8 the AST constructor keeps its recursion depth in state shared by all threads, so
two threads parsing at once can fail with ``SystemError: AST constructor recursion depth
mismatch`` (python/cpython gh-106905, fixed for 3.11.8 by GH-113476; seen here on 3.11.7,
the interpreter of this machine and of CI). Threads that load arrays at once are ordinary
here: a Serve replica's model poll beside its requests, jobs run side by side in one
process, Ray Data's threaded tasks. Every read of ours goes through :func:`read_npy` or
:func:`read_npz`, which read the file under one process-wide lock (arrays are small next
to the work that follows: a model's centroids, a codebook, an embedding cache). The lock
can go once every interpreter that runs the project is 3.11.8 or later. It does not cover
other libraries' parses in other threads (pyarrow's pandas metadata, say): only a newer
interpreter does.

>>> import io
>>> buf = io.BytesIO()
>>> np.savez(buf, a=np.arange(3), b=np.ones((2, 2)))
>>> z = read_npz(io.BytesIO(buf.getvalue()))
>>> sorted(z), z["a"].tolist()
(['a', 'b'], [0, 1, 2])
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from os import PathLike
from typing import BinaryIO

import numpy as np

__all__ = ["read_npy", "read_npz"]

Source = str | PathLike[str] | BinaryIO

_HEADERS = threading.Lock()  # one NumPy header parse at a time in this process (see the module's doc)


def read_npy(source: Source) -> np.ndarray:
    """The array of a ``.npy`` file (a path or a binary file object), read whole."""
    with _HEADERS:
        got = np.load(source, allow_pickle=False)
    if not isinstance(got, np.ndarray):  # an archive
        got.close()
        raise ValueError(f"{source} is an .npz archive, not one array (.npy)")
    return got


def read_npz(source: Source, names: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` file (a path or a binary file object) by name, read whole: every one, or those
    of ``names`` it holds (its other members are not read: a user's file may hold object arrays beside)."""
    with _HEADERS, np.load(source, allow_pickle=False) as z:
        return {name: z[name] for name in z.files if names is None or name in names}
