"""The embedding lake: Parquet partitioned by day and domain on a pyarrow filesystem.

Layout: ``{root}/embeddings/day=YYYY-MM-DD/domain=NAME/hour=HH.parquet``.
One file per closed hour, written whole, so compacting an hour twice writes
the same file (idempotent). Readers prune partitions by day and domain and
never load more than the window they ask for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

__all__ = ["Lake", "embedding_schema"]


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


def _days(start: datetime, end: datetime) -> list[date]:
    """Calendar days (UTC) touched by ``[start, end)``."""
    d, last = start.astimezone(UTC).date(), (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    out = []
    while d <= last:
        out.append(d)
        d += timedelta(days=1)
    return out


class Lake:
    """Parquet embedding lake.

    Args:
        root: local folder or filesystem URI (``s3://bucket/prefix``).
        dim: embedding dimension.
    """

    def __init__(self, root: str, dim: int) -> None:
        self.root = root
        self.dim = dim
        self.fs, self.base = pafs.FileSystem.from_uri(root) if "://" in root else (pafs.LocalFileSystem(), root)

    def _dir(self, day: date, domain: str) -> str:
        return f"{self.base}/embeddings/day={day.isoformat()}/domain={domain}"

    def write_hour(self, domain: str, hour_start: datetime, rows: Sequence[dict[str, Any]]) -> str:
        """Write one closed hour of one domain (replacing the file if present)."""
        hour_start = hour_start.astimezone(UTC)
        folder = self._dir(hour_start.date(), domain)
        self.fs.create_dir(folder, recursive=True)
        path = f"{folder}/hour={hour_start.hour:02d}.parquet"
        vecs = (
            np.stack([np.asarray(r["vector"], dtype=np.float32) for r in rows])
            if rows
            else np.zeros((0, self.dim), np.float32)
        )
        table = pa.table(
            {
                "video_id": [r["video_id"] for r in rows],
                "domain": [domain] * len(rows),
                "published_at": [_aware(r["published_at"]) for r in rows],
                "channel_id": [r.get("channel_id") for r in rows],
                "views": [r.get("views") for r in rows],
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), self.dim),
            },
            schema=embedding_schema(self.dim),
        )
        tmp = path + ".tmp"
        pq.write_table(table, tmp, filesystem=self.fs, compression="zstd")
        self.fs.move(tmp, path)
        return path

    def append_hour(self, domain: str, hour_start: datetime, rows: Sequence[dict[str, Any]]) -> str:
        """Add rows to an hour's file (late arrivals), keeping the rows already there; idempotent by video_id."""
        hour_start = hour_start.astimezone(UTC)
        path = f"{self._dir(hour_start.date(), domain)}/hour={hour_start.hour:02d}.parquet"
        if self.fs.get_file_info(path).type == pafs.FileType.File:
            new_ids = {r["video_id"] for r in rows}
            old = pq.read_table(path, filesystem=self.fs).to_pylist()
            kept = [
                {**r, "vector": np.asarray(r["embedding"], dtype=np.float32)}
                for r in old
                if r["video_id"] not in new_ids
            ]
            rows = kept + list(rows)
        return self.write_hour(domain, hour_start, rows)

    def files(self, start: datetime, end: datetime, domains: Iterable[str] | None = None) -> list[str]:
        """Parquet files whose partitions overlap ``[start, end)`` (partition pruning)."""
        wanted = None if domains is None else set(domains)
        out: list[str] = []
        for day in _days(start, end):
            day_dir = f"{self.base}/embeddings/day={day.isoformat()}"
            info = self.fs.get_file_info(pafs.FileSelector(day_dir, allow_not_found=True, recursive=True))
            for f in info:
                if f.type != pafs.FileType.File or not f.path.endswith(".parquet"):
                    continue
                dom = f.path.split("domain=")[1].split("/")[0]
                if wanted is None or dom in wanted:
                    out.append(f.path)
        return sorted(out)

    def read(
        self,
        start: datetime,
        end: datetime,
        domains: Iterable[str] | None = None,
        video_ids: Iterable[str] | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """Video ids and embeddings published in ``[start, end)``, optionally only ``video_ids``."""
        files = self.files(start, end, domains)
        if not files:
            return [], np.zeros((0, self.dim), np.float32)
        table = pq.ParquetDataset(files, filesystem=self.fs, partitioning=None).read(
            columns=["video_id", "published_at", "embedding"]
        )
        ts = table.column("published_at").to_numpy()
        lo, hi = np.datetime64(_naive(start), "us"), np.datetime64(_naive(end), "us")
        mask = (ts >= lo) & (ts < hi)
        if video_ids is not None:
            wanted = set(video_ids)
            ids_all = table.column("video_id").to_pylist()
            mask &= np.fromiter((v in wanted for v in ids_all), bool, len(ids_all))
        table = table.filter(pa.array(mask))
        ids = table.column("video_id").to_pylist()
        flat = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return ids, flat.reshape(-1, self.dim).astype(np.float32, copy=False)

    def ray_dataset(self, start: datetime, end: datetime, domains: Iterable[str] | None = None) -> Any:
        """The same window as a Ray Dataset (partition-pruned file list)."""
        import ray.data

        files = self.files(start, end, domains)
        if not files:
            return ray.data.from_items([])
        return ray.data.read_parquet(files, filesystem=self.fs)


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _naive(ts: datetime) -> datetime:
    return _aware(ts).replace(tzinfo=None)
