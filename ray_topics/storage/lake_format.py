"""The Parquet format of lake files: schemas, the warm (int8) encoding, and whole-file reads and writes.

A hot file holds float32 embeddings (:func:`embedding_schema`); a warm file the
same rows with int8 codes and one float32 scale per row (:func:`warm_schema`,
:func:`ray_topics.storage.codecs.int8_encode`). :func:`read_file` returns both as
:func:`embedding_schema`, so no reader knows the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ray_topics.core.timeutil import as_utc
from ray_topics.storage.atomic import put_atomic
from ray_topics.storage.codecs import int8_decode, int8_encode

__all__ = [
    "DICTIONARY_COLUMNS",
    "ROW_GROUP",
    "WARM_FILE",
    "column_vectors",
    "embedding_schema",
    "from_warm",
    "read_file",
    "rows_table",
    "to_warm",
    "warm_schema",
    "write_file",
]

WARM_FILE = "warm.parquet"
# Rows per Parquet row group (and per scan batch): a read holds about one group's embeddings at a time,
# whatever the size of the day it filters.
ROW_GROUP = 16_384
# Columns written with dictionary encoding: the repeating ones. Vectors and codes are all distinct, so a
# dictionary would fill and fall back, storing both (sizes in benchmarks/RESULTS.md).
DICTIONARY_COLUMNS = ["domain", "channel_id"]


def embedding_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("video_id", pa.string()),
            ("domain", pa.string()),
            ("published_at", pa.timestamp("us", tz="UTC")),
            ("channel_id", pa.string()),
            ("views", pa.int64()),
            ("embedding", pa.list_(pa.float32(), dim)),
        ]
    )


def warm_schema(dim: int) -> pa.Schema:
    """Schema of a warm file: :func:`embedding_schema` with int8 codes (raw bytes) and a scale per row."""
    return pa.schema(
        [
            *[f for f in embedding_schema(dim) if f.name != "embedding"],
            ("embedding_i8", pa.binary(dim)),
            ("scale", pa.float32()),
        ]
    )


def to_warm(table: pa.Table) -> pa.Table:
    """A table of :func:`embedding_schema` -> the same rows as :func:`warm_schema` (int8 + scale)."""
    dim = table.schema.field("embedding").type.list_size
    vecs = column_vectors(table.column("embedding"), dim)
    codes, scales = int8_encode(vecs)
    rest = table.drop_columns(["embedding"])
    return pa.Table.from_arrays(
        [*rest.columns, _fixed_binary(codes.view(np.uint8)), pa.array(scales, pa.float32())],
        schema=warm_schema(dim),
    )


def from_warm(table: pa.Table) -> pa.Table:
    """Inverse of :func:`to_warm`: int8 codes and scales -> a float32 ``embedding`` column.

    A pure function on an Arrow batch: :func:`ray_topics.execution.engine.lake_dataset` maps it over
    the warm files' blocks. Columns the batch lacks (a projected scan) stay absent.
    """
    dim = table.schema.field("embedding_i8").type.byte_width
    codes = _binary_rows(table.column("embedding_i8"), dim).view(np.int8)
    vecs = int8_decode(codes, table.column("scale").to_numpy(zero_copy_only=False))
    out = table.drop_columns(["embedding_i8", "scale"])
    return out.append_column(
        pa.field("embedding", pa.list_(pa.float32(), dim)),
        pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), dim),
    )


def column_vectors(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    """A fixed-size-list float column -> ``(n, dim)`` float32."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return arr.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32, copy=False)


def _fixed_binary(rows: np.ndarray) -> pa.Array:
    """``(n, w)`` uint8 -> a ``binary(w)`` array, one value per row."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    n, width = rows.shape
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(rows.tobytes())])


def _binary_rows(column: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """A ``binary(width)`` column -> ``(n, width)`` uint8 (inverse of :func:`_fixed_binary`)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros((0, width), np.uint8)
    buf = arr.buffers()[1]
    return np.frombuffer(buf, np.uint8, count=len(arr) * width, offset=arr.offset * width).reshape(-1, width)


def rows_table(domain: str, rows: Sequence[dict[str, Any]], dim: int) -> pa.Table:
    """Lake rows (``video_id``, ``published_at``, ``vector``, optional ``channel_id``, ``views``) as a table."""
    vecs = (
        np.stack([np.asarray(r["vector"], dtype=np.float32) for r in rows]) if rows else np.zeros((0, dim), np.float32)
    )
    return pa.table(
        {
            "video_id": [r["video_id"] for r in rows],
            "domain": [domain] * len(rows),
            "published_at": [as_utc(r["published_at"]) for r in rows],
            "channel_id": [r.get("channel_id") for r in rows],
            "views": [r.get("views") for r in rows],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), dim),
        },
        schema=embedding_schema(dim),
    )


def write_file(fs: pafs.FileSystem, path: str, table: pa.Table) -> str:
    """Write ``table`` whole to a temporary file, then rename it over ``path``.

    A table of :func:`embedding_schema` is written int8-quantised when ``path`` is a warm file.
    """
    if path.endswith("/" + WARM_FILE) and "embedding" in table.column_names:
        table = to_warm(table)
    return put_atomic(
        fs,
        path,
        lambda tmp: pq.write_table(
            table,
            tmp,
            filesystem=fs,
            compression="zstd",
            row_group_size=ROW_GROUP,
            use_dictionary=DICTIONARY_COLUMNS,
        ),
    )


def read_file(fs: pafs.FileSystem, path: str, dim: int) -> pa.Table:
    """One lake file as a table of :func:`embedding_schema` (a warm file dequantised)."""
    if path.endswith("/" + WARM_FILE):
        return from_warm(pq.read_table(path, filesystem=fs, schema=warm_schema(dim)))
    return pq.read_table(path, filesystem=fs, schema=embedding_schema(dim))
