"""The embedding lake: Parquet partitioned by day and domain on a pyarrow filesystem.

Layout: ``{root}/embeddings/day=YYYY-MM-DD/domain=NAME/`` holds either one
file per closed hour (``hour=HH.parquet``, written whole, so compacting an
hour twice writes the same file) or, once the day is closed and compacted,
one ``day.parquet`` with all of the day's rows. Readers prune partitions by
day and domain and never load more than the window they ask for.

Day compaction (:meth:`Lake.compact_day`) writes ``day.parquet`` (a temporary
file, then a rename) and only then removes the hour files. Two rules make
every state of that sequence safe:

* a partition with a ``day.parquet`` is read from that file alone; hour files
  beside it are leftovers of an interrupted compaction, already inside it,
  and the next compaction deletes them;
* once ``day.parquet`` exists, writes to that day (late arrivals) go into it,
  never into a new hour file.

A reader that listed the hour files just before a compaction and finds one
gone lists again (:meth:`Lake.read`), so it sees each row exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

__all__ = ["DAY_FILE", "Lake", "LakeChanged", "embedding_schema"]

DAY_FILE = "day.parquet"
_HOUR = timedelta(hours=1)
_READ_ATTEMPTS = 5  # listings tried by read() while compactions replace files under it
# Rows per Parquet row group (and per scan batch): a read holds about one group's embeddings
# at a time (16,384 x 384 float32 = 24 MiB), whatever the size of the day it filters.
_ROW_GROUP = 16_384
_READAHEAD = 2  # row groups and files a scan decodes ahead (pyarrow: 16 and 4): bounds its memory


class LakeChanged(RuntimeError):
    """The lake's files kept changing while a window was read (a compaction loop, or a writer stuck mid-way)."""


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

    def _is_file(self, path: str) -> bool:
        return self.fs.get_file_info(path).type == pafs.FileType.File

    def _table(self, domain: str, rows: Sequence[dict[str, Any]]) -> pa.Table:
        vecs = (
            np.stack([np.asarray(r["vector"], dtype=np.float32) for r in rows])
            if rows
            else np.zeros((0, self.dim), np.float32)
        )
        return pa.table(
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

    def _put(self, path: str, table: pa.Table) -> str:
        """Write ``table`` whole to a temporary file, then rename it over ``path``."""
        tmp = path + ".tmp"
        pq.write_table(table, tmp, filesystem=self.fs, compression="zstd", row_group_size=_ROW_GROUP)
        self.fs.move(tmp, path)
        return path

    def _rows(self, path: str) -> list[dict[str, Any]]:
        return [
            {**r, "vector": np.asarray(r["embedding"], dtype=np.float32)}
            for r in pq.read_table(path, filesystem=self.fs).to_pylist()
        ]

    def _put_day(self, path: str, domain: str, rows: Sequence[dict[str, Any]]) -> str:
        rows = sorted(rows, key=lambda r: (_aware(r["published_at"]), r["video_id"]))
        return self._put(path, self._table(domain, rows))

    def write_hour(self, domain: str, hour_start: datetime, rows: Sequence[dict[str, Any]]) -> str:
        """Write one closed hour of one domain (replacing the hour's rows if present).

        Into the hour's file, or into the day's file once the day is compacted.
        """
        hour_start = hour_start.astimezone(UTC)
        folder = self._dir(hour_start.date(), domain)
        day_path = f"{folder}/{DAY_FILE}"
        if self._is_file(day_path):
            new_ids = {r["video_id"] for r in rows}
            end = hour_start + _HOUR
            kept = [
                r
                for r in self._rows(day_path)
                if not hour_start <= _aware(r["published_at"]) < end and r["video_id"] not in new_ids
            ]
            return self._put_day(day_path, domain, kept + list(rows))
        self.fs.create_dir(folder, recursive=True)
        return self._put(f"{folder}/hour={hour_start.hour:02d}.parquet", self._table(domain, rows))

    def append_hour(self, domain: str, hour_start: datetime, rows: Sequence[dict[str, Any]]) -> str:
        """Add rows to an hour (late arrivals), keeping the rows already there; idempotent by video_id.

        The rows go to the hour's file, or to the day's file once the day is compacted.
        """
        hour_start = hour_start.astimezone(UTC)
        folder = self._dir(hour_start.date(), domain)
        new_ids = {r["video_id"] for r in rows}
        day_path = f"{folder}/{DAY_FILE}"
        if self._is_file(day_path):
            kept = [r for r in self._rows(day_path) if r["video_id"] not in new_ids]
            return self._put_day(day_path, domain, kept + list(rows))
        path = f"{folder}/hour={hour_start.hour:02d}.parquet"
        if self._is_file(path):
            rows = [r for r in self._rows(path) if r["video_id"] not in new_ids] + list(rows)
        return self.write_hour(domain, hour_start, rows)

    def compact_day(self, domain: str, day: date) -> str | None:
        """Rewrite a closed day's hour files of one domain into one ``day.parquet``; idempotent.

        Writes the day file first and removes the hour files after, so a crash
        in between leaves a day file plus hour files it already holds: readers
        use the day file alone, and calling this again removes the leftovers.
        Returns the day file's path, or None when the partition holds nothing.
        The day must be closed: no hour of it may be written while this runs.
        """
        folder = self._dir(day, domain)
        day_path = f"{folder}/{DAY_FILE}"
        hours = self._hour_files(folder)
        has_day = self._is_file(day_path)
        if not hours:
            return day_path if has_day else None
        if not has_day:
            tables = [pq.read_table(h, filesystem=self.fs, schema=embedding_schema(self.dim)) for h in hours]
            table = pa.concat_tables(tables).sort_by([("published_at", "ascending"), ("video_id", "ascending")])
            self._put(day_path, table)
        for h in hours:
            try:
                self.fs.delete_file(h)
            except FileNotFoundError:  # another compaction of the same day removed it first
                pass
        return day_path

    def compact_days(self, days: Iterable[date], domains: Iterable[str] | None = None) -> list[str]:
        """:meth:`compact_day` for every domain partition of ``days`` that still holds hour files.

        Returns the day files written or repaired. Every day given must be closed.
        """
        wanted = None if domains is None else set(domains)
        out: list[str] = []
        for day in sorted(set(days)):
            for (_d, dom), files in sorted(self._partitions([day]).items()):
                if (wanted is None or dom in wanted) and any(not f.endswith("/" + DAY_FILE) for f in files):
                    path = self.compact_day(dom, day)
                    if path is not None:
                        out.append(path)
        return out

    def _hour_files(self, folder: str) -> list[str]:
        info = self.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        return sorted(
            f.path
            for f in info
            if f.type == pafs.FileType.File and f.base_name.startswith("hour=") and f.base_name.endswith(".parquet")
        )

    def _partitions(self, days: Iterable[date]) -> dict[tuple[date, str], list[str]]:
        """(day, domain) -> every Parquet file listed in that partition (hour and day files)."""
        out: dict[tuple[date, str], list[str]] = {}
        for day in days:
            day_dir = f"{self.base}/embeddings/day={day.isoformat()}"
            info = self.fs.get_file_info(pafs.FileSelector(day_dir, allow_not_found=True, recursive=True))
            for f in info:
                if f.type != pafs.FileType.File or not f.path.endswith(".parquet"):
                    continue
                dom = f.path.split("domain=")[1].split("/")[0]
                out.setdefault((day, dom), []).append(f.path)
        return out

    def files(self, start: datetime, end: datetime, domains: Iterable[str] | None = None) -> list[str]:
        """Parquet files whose partitions overlap ``[start, end)`` (partition pruning).

        Per partition, its ``day.parquet`` when there is one (hour files beside
        it are leftovers it already holds), else its hour files.
        """
        wanted = None if domains is None else set(domains)
        out: list[str] = []
        for (_day, dom), files in self._partitions(_days(start, end)).items():
            if wanted is not None and dom not in wanted:
                continue
            day_files = [f for f in files if f.endswith("/" + DAY_FILE)]
            out += day_files or files
        return sorted(out)

    def read(
        self,
        start: datetime,
        end: datetime,
        domains: Iterable[str] | None = None,
        video_ids: Iterable[str] | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """Video ids and embeddings published in ``[start, end)``, optionally only ``video_ids``.

        Lists, reads, and lists again: when a day compaction replaced files in
        between (a listed file is gone, or the listing changed), it starts over,
        so each row is read exactly once.
        """
        where = _window_filter(start, end, video_ids)
        for _attempt in range(_READ_ATTEMPTS):
            files = self.files(start, end, domains)
            try:
                # the filter runs inside the scan, batch by batch: rows outside the window or
                # the ids are dropped as they are decoded, never held as a whole day
                table = (
                    pads.dataset(files, schema=embedding_schema(self.dim), filesystem=self.fs).to_table(
                        columns=["video_id", "embedding"],
                        filter=where,
                        batch_size=_ROW_GROUP,
                        batch_readahead=_READAHEAD,
                        fragment_readahead=_READAHEAD,
                    )
                    if files
                    else None
                )
            except FileNotFoundError:
                continue
            # a listing taken while files were renamed and removed may have missed some: it must repeat
            if self.files(start, end, domains) == files:
                break
        else:
            raise LakeChanged(f"lake files under {self.root} kept changing during {_READ_ATTEMPTS} reads; try again")
        if table is None or table.num_rows == 0:
            return [], np.zeros((0, self.dim), np.float32)
        ids = table.column("video_id").to_pylist()
        flat = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return ids, flat.reshape(-1, self.dim).astype(np.float32, copy=False)

    def ray_dataset(self, start: datetime, end: datetime, domains: Iterable[str] | None = None) -> Any:
        """The same window as a Ray Dataset (partition-pruned file list).

        Ray reads the files later, in its tasks: a day compaction of the
        window in between makes that read fail (file not found); call again.
        """
        import ray.data

        files = self.files(start, end, domains)
        if not files:
            return ray.data.from_items([])
        return ray.data.read_parquet(files, filesystem=self.fs)


def _window_filter(start: datetime, end: datetime, video_ids: Iterable[str] | None) -> pads.Expression:
    """Scan filter: published in ``[start, end)`` and, when given, one of ``video_ids``."""
    ts = pa.timestamp("us", tz="UTC")
    where = (pads.field("published_at") >= pa.scalar(_aware(start), ts)) & (
        pads.field("published_at") < pa.scalar(_aware(end), ts)
    )
    if video_ids is not None:
        where &= pads.field("video_id").isin(pa.array(list(dict.fromkeys(video_ids)), pa.string()))
    return where


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
