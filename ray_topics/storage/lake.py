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

Warm partitions (:mod:`ray_topics.storage.aging` decides which) hold one
``warm.parquet`` instead: the same rows with int8 embeddings and one float32
scale per row (:func:`ray_topics.storage.codecs.int8_encode`), zstd. :meth:`Lake.warm_day`
writes it the same way (a temporary file, a rename, then the old files
removed), and the same rules apply one level up: a partition with a
``warm.parquet`` is read from it alone (a ``day.parquet`` or hour files beside
it are leftovers it already holds), and later writes to that day go into it.
Every reader (:meth:`Lake.read`, :meth:`Lake.read_table`,
:func:`ray_topics.execution.engine.lake_dataset`) returns dequantised float32 embeddings, so no caller
knows which storage class a partition is in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ray_topics.core.timeutil import as_utc, floor_hour, utc_days
from ray_topics.storage.lake_format import (
    ROW_GROUP,
    WARM_FILE,
    column_vectors,
    embedding_schema,
    from_warm,
    read_file,
    rows_table,
    warm_schema,
    write_file,
)

__all__ = ["DAY_FILE", "Lake", "LakeChanged", "filesystem"]

DAY_FILE = "day.parquet"
_HOUR = timedelta(hours=1)
_READ_ATTEMPTS = 5  # listings tried by read() while compactions replace files under it
_READAHEAD = 2  # row groups and files a scan decodes ahead (pyarrow: 16 and 4): bounds its memory


class LakeChanged(RuntimeError):
    """The lake's files kept changing while a window was read (a compaction loop, or a writer stuck mid-way)."""


def filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, base path) of a local folder or a filesystem URI (``s3://bucket/prefix``)."""
    return pafs.FileSystem.from_uri(root) if "://" in root else (pafs.LocalFileSystem(), root)


class Lake:
    """Parquet embedding lake.

    Args:
        root: local folder or filesystem URI (``s3://bucket/prefix``).
        dim: embedding dimension.
    """

    def __init__(self, root: str, dim: int) -> None:
        self.root = root
        self.dim = dim
        self.fs, self.base = filesystem(root)

    def _dir(self, day: date, domain: str) -> str:
        return f"{self.base}/embeddings/day={day.isoformat()}/domain={domain}"

    def _is_file(self, path: str) -> bool:
        return self.fs.get_file_info(path).type == pafs.FileType.File

    def _put(self, path: str, table: pa.Table) -> str:
        return write_file(self.fs, path, table)

    def _read_file(self, path: str) -> pa.Table:
        return read_file(self.fs, path, self.dim)

    def _merged(self, path: str, new: pa.Table, drop: tuple[datetime, datetime] | None = None) -> str:
        """Rewrite the file at ``path`` with ``new``'s rows in place of those of the same ids (and, with
        ``drop``, of every row published in ``[start, end)``), in (published_at, video_id) order.

        Arrow columns throughout: a day file of 500,000 rows is merged at its own size in memory, not as
        Python objects per float (a late video once cost 900 MB and seconds at 50,000 rows).
        """
        table = self._read_file(path)
        keep = pc.invert(pc.is_in(table.column("video_id"), value_set=new.column("video_id").combine_chunks()))
        if drop is not None:
            at = table.column("published_at")
            inside = pc.and_(
                pc.greater_equal(at, pa.scalar(drop[0], at.type)), pc.less(at, pa.scalar(drop[1], at.type))
            )
            keep = pc.and_(keep, pc.invert(inside))
        merged = pa.concat_tables([table.filter(keep), new])
        return self._put(path, merged.sort_by([("published_at", "ascending"), ("video_id", "ascending")]))

    def _whole_day_file(self, folder: str) -> str | None:
        """The file holding a whole day of the partition: its warm file, else its day file, else None."""
        for name in (WARM_FILE, DAY_FILE):
            if self._is_file(f"{folder}/{name}"):
                return f"{folder}/{name}"
        return None

    def write_hour(self, domain: str, hour_start: datetime, rows: Sequence[dict[str, Any]]) -> str:
        """Write one closed hour of one domain (replacing the hour's rows if present).

        Into the hour's file, or into the day's (or warm) file once the day is compacted.
        """
        hour_start = as_utc(hour_start)  # a naive time is UTC, as everywhere (astimezone would take it as local)
        folder = self._dir(hour_start.date(), domain)
        day_path = self._whole_day_file(folder)
        new = rows_table(domain, rows, self.dim)
        if day_path is not None:
            return self._merged(day_path, new, drop=(hour_start, hour_start + _HOUR))
        self.fs.create_dir(folder, recursive=True)
        return self._put(f"{folder}/hour={hour_start.hour:02d}.parquet", new)

    def append_hour(self, domain: str, hour_start: datetime, rows: Sequence[dict[str, Any]]) -> str:
        """Add rows to an hour (late arrivals), keeping the rows already there; idempotent by video_id.

        The rows go to the hour's file, or to the day's (or warm) file once the day is compacted.
        """
        hour_start = as_utc(hour_start)  # a naive time is UTC, as everywhere (astimezone would take it as local)
        folder = self._dir(hour_start.date(), domain)
        written = self.append_day(domain, hour_start.date(), rows)
        return written[0] if written else self._whole_day_file(folder) or f"{folder}/hour={hour_start.hour:02d}.parquet"

    def append_day(self, domain: str, day: date, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Add rows published on ``day`` (late arrivals) to its partition, keeping the rows already there;
        idempotent by video_id. The files written.

        A compacted day (its day or warm file) is rewritten once for all of them, however many hours they
        fall in; an open day takes them in their hours' files.
        """
        if not rows:
            return []
        folder = self._dir(day, domain)
        day_path = self._whole_day_file(folder)
        if day_path is not None:
            return [self._merged(day_path, rows_table(domain, rows, self.dim))]
        by_hour: dict[datetime, list[dict[str, Any]]] = {}
        for r in rows:
            by_hour.setdefault(floor_hour(as_utc(r["published_at"])), []).append(r)
        out = []
        for hour, mine in sorted(by_hour.items()):
            path = f"{folder}/hour={hour.hour:02d}.parquet"
            new = rows_table(domain, mine, self.dim)
            if self._is_file(path):
                out.append(self._merged(path, new))
            else:
                self.fs.create_dir(folder, recursive=True)
                out.append(self._put(path, new))
        return out

    def compact_day(self, domain: str, day: date) -> str | None:
        """Rewrite a closed day's hour files of one domain into one ``day.parquet``; idempotent.

        Writes the day file first and removes the hour files after, so a crash
        in between leaves a day file plus hour files it already holds: readers
        use the day file alone, and calling this again removes the leftovers.
        Returns the day file's path, or None when the partition holds nothing.
        The day must be closed: no hour of it may be written while this runs.
        A warm partition is already compacted: hour files beside its warm file
        are leftovers it holds, and are removed (its path is returned).
        """
        folder = self._dir(day, domain)
        if self._is_file(f"{folder}/{WARM_FILE}"):
            return self._drop_leftovers(folder, f"{folder}/{WARM_FILE}")
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
                if (wanted is None or dom in wanted) and any(_is_hour_file(f) for f in files):
                    path = self.compact_day(dom, day)
                    if path is not None:
                        out.append(path)
        return out

    def partition_table(self, domain: str, day: date) -> pa.Table | None:
        """Every row of one partition (:func:`embedding_schema`, float32), or None when it holds none.

        Read by the same rule as :meth:`files`: the warm file alone, else the day file alone, else the hour files.
        """
        files = self._partitions([day]).get((day, domain))
        if not files:
            return None
        tables = [self._read_file(f) for f in _in_charge(files)]
        return pa.concat_tables(tables).sort_by([("published_at", "ascending"), ("video_id", "ascending")])

    def write_warm(self, domain: str, day: date, table: pa.Table) -> str:
        """Replace a partition by one warm file holding ``table`` (:func:`embedding_schema` rows).

        The warm file is written first (a temporary file, then a rename) and
        the partition's other files removed after: a crash in between leaves a
        warm file that readers use alone, and the next call removes the leftovers.
        """
        folder = self._dir(day, domain)
        self.fs.create_dir(folder, recursive=True)
        table = table.sort_by([("published_at", "ascending"), ("video_id", "ascending")])
        path = self._put(f"{folder}/{WARM_FILE}", table.cast(embedding_schema(self.dim)))
        return self._drop_leftovers(folder, path)

    def warm_day(self, domain: str, day: date) -> str | None:
        """Rewrite a closed day of one domain as its warm file (int8 + zstd); idempotent.

        A partition already warm is not rewritten (leftovers of an interrupted
        rewrite beside it are removed). Returns the warm file's path, or None
        when the partition holds nothing. The day must be closed.
        """
        folder = self._dir(day, domain)
        warm = f"{folder}/{WARM_FILE}"
        if self._is_file(warm):
            return self._drop_leftovers(folder, warm)
        table = self.partition_table(domain, day)
        return None if table is None else self.write_warm(domain, day, table)

    def delete_partition(self, domain: str, day: date) -> int:
        """Remove every file of one partition (once it is archived); returns the files removed."""
        folder = self._dir(day, domain)
        files = self._partitions([day]).get((day, domain), [])
        for f in files:
            try:
                self.fs.delete_file(f)
            except FileNotFoundError:
                pass
        info = self.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        if not info and self.fs.get_file_info(folder).type == pafs.FileType.Directory:
            self.fs.delete_dir(folder)
        return len(files)

    def _drop_leftovers(self, folder: str, keep: str) -> str:
        """Remove the partition's Parquet files other than ``keep`` (already inside it)."""
        info = self.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        for f in info:
            if f.type == pafs.FileType.File and f.path.endswith(".parquet") and f.path != keep:
                try:
                    self.fs.delete_file(f.path)
                except FileNotFoundError:  # another rewrite of the same partition removed it first
                    pass
        return keep

    def partitions(self, days: Iterable[date] | None = None) -> dict[tuple[date, str], list[str]]:
        """Every partition of the lake (of ``days`` if given): (day, domain) -> its Parquet files, sorted."""
        if days is not None:
            return {key: sorted(files) for key, files in self._partitions(sorted(set(days))).items()}
        root = f"{self.base}/embeddings"
        days = []
        for f in self.fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
            if f.type == pafs.FileType.Directory and f.base_name.startswith("day="):
                days.append(date.fromisoformat(f.base_name.removeprefix("day=")))
        return {key: sorted(files) for key, files in self._partitions(sorted(days)).items()}

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

    def files(
        self,
        start: datetime,
        end: datetime,
        domains: Iterable[str] | None = None,
        days: Iterable[date] | None = None,
    ) -> list[str]:
        """Parquet files whose partitions overlap ``[start, end)`` (partition pruning), only of ``days`` if given.

        Per partition, its ``warm.parquet`` when there is one, else its
        ``day.parquet`` when there is one (files beside either are leftovers it
        already holds), else its hour files.
        """
        wanted = None if domains is None else set(domains)
        window = utc_days(start, end)
        if days is not None:
            keep = set(days)
            window = [d for d in window if d in keep]
        out: list[str] = []
        for (_day, dom), files in self._partitions(window).items():
            if wanted is not None and dom not in wanted:
                continue
            out += _in_charge(files)
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
        so each row is read exactly once. Warm partitions come back dequantised.
        """
        table = self.read_table(start, end, domains, video_ids)
        if table.num_rows == 0:
            return [], np.zeros((0, self.dim), np.float32)
        return table.column("video_id").to_pylist(), column_vectors(table.column("embedding"), self.dim)

    def read_table(
        self,
        start: datetime,
        end: datetime,
        domains: Iterable[str] | None = None,
        video_ids: Iterable[str] | None = None,
    ) -> pa.Table:
        """:meth:`read` as a table: ``video_id``, ``domain``, ``published_at`` and float32 ``embedding``."""
        where = _window_filter(start, end, video_ids)
        for _attempt in range(_READ_ATTEMPTS):
            files = self.files(start, end, domains)
            try:
                table = self._scan(files, where)
            except FileNotFoundError:
                continue
            # a listing taken while files were renamed and removed may have missed some: it must repeat
            if self.files(start, end, domains) == files:
                return table
        raise LakeChanged(f"lake files under {self.root} kept changing during {_READ_ATTEMPTS} reads; try again")

    def _scan(self, files: list[str], where: pads.Expression) -> pa.Table:
        """The rows of ``files`` that pass ``where`` (float32 files and warm files scanned apart)."""
        keys = ["video_id", "domain", "published_at"]
        warm = [f for f in files if f.endswith("/" + WARM_FILE)]
        hot = [f for f in files if not f.endswith("/" + WARM_FILE)]
        # the filter runs inside the scan, batch by batch: rows outside the window or
        # the ids are dropped as they are decoded, never held as a whole day
        scan = {
            "filter": where,
            "batch_size": ROW_GROUP,
            "batch_readahead": _READAHEAD,
            "fragment_readahead": _READAHEAD,
        }
        parts = [
            pads.dataset(hot, schema=embedding_schema(self.dim), filesystem=self.fs).to_table(
                columns=[*keys, "embedding"], **scan
            )
            if hot
            else _read_schema(self.dim).empty_table()
        ]
        if warm:
            scanned = pads.dataset(warm, schema=warm_schema(self.dim), filesystem=self.fs).to_table(
                columns=[*keys, "embedding_i8", "scale"], **scan
            )
            parts.append(from_warm(scanned))
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def _is_hour_file(path: str) -> bool:
    return path.rsplit("/", 1)[-1].startswith("hour=")


def _in_charge(files: list[str]) -> list[str]:
    """The files of one partition that hold its rows: the warm file, else the day file, else the hour files."""
    for name in (WARM_FILE, DAY_FILE):
        whole = [f for f in files if f.endswith("/" + name)]
        if whole:
            return whole
    return sorted(f for f in files if _is_hour_file(f))


def _read_schema(dim: int) -> pa.Schema:
    """Columns :meth:`Lake.read_table` returns."""
    return pa.schema(
        [f for f in embedding_schema(dim) if f.name in ("video_id", "domain", "published_at", "embedding")]
    )


def _window_filter(start: datetime, end: datetime, video_ids: Iterable[str] | None) -> pads.Expression:
    """Scan filter: published in ``[start, end)`` and, when given, one of ``video_ids``."""
    ts = pa.timestamp("us", tz="UTC")
    where = (pads.field("published_at") >= pa.scalar(as_utc(start), ts)) & (
        pads.field("published_at") < pa.scalar(as_utc(end), ts)
    )
    if video_ids is not None:
        where &= pads.field("video_id").isin(pa.array(list(dict.fromkeys(video_ids)), pa.string()))
    return where
