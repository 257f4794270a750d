"""Storage classes of the embedding lake: hot, warm and cold day partitions, and on-demand restore.

A partition is one day of one domain (:mod:`ray_topics.storage.lake`). Its age is
counted from the end of its day, as refine counts the hot retention: at event
time ``as_of`` a day is *older than N days* once ``day + 1 day + N days <= as_of``.
:func:`target_class` gives its storage class (thresholds in config, ``archive``):

* **hot**: float32 hour files, then one ``day.parquet`` (refine), until the day
  is older than ``warm_after_days``;
* **warm**: rewritten in place as ``warm.parquet``, int8 with one scale per
  vector + zstd (:meth:`Lake.warm_day`); every lake reader dequantises it, so
  no job knows the difference;
* **cold**: once older than ``archive_after_days`` *and* read fewer than
  ``min_accesses`` times since it turned warm (reads of a young day, which
  every job makes, say nothing of an old day's use), moved out of the lake to the archive root
  (``archive.root``, any pyarrow filesystem) as product-quantised codes,
  ``pq_subquantizers`` bytes per vector (:class:`ColdArchive`). A partition
  read that often stays warm however old it is.

The codebook of the cold codes is one per domain, stored beside them
(``codebooks/domain=NAME/pq-YYYY-MM-DD.npy``), trained at the domain's first
archival from up to ``pq_train_rows`` vectors of the partitions being archived
(then its oldest warm ones), and retrained when older than
``codebook_max_age_days``; each cold file names the codebook it was written
with. A domain with fewer than ``pq_min_train_rows`` vectors to train from
goes cold as int8 (the warm encoding) until it has them.

Reads: :meth:`AgingLake.read` (what :meth:`Runtime.vectors` uses) counts one access
per partition that returned rows (one upsert of ``access_stats`` per read,
never per row), and first *restores* the cold partitions the read needs: their
codes are decoded and written back to the lake as a warm file, so every job
keeps working on archived days, only slower the first time. With ``video_ids``,
only the days that hold those ids are restored. A restored partition keeps its
cold copy; the next archive run removes the lake copy again unless the reads
have brought it to ``min_accesses``. A read that restores holds the lake's lease
across its restores and its scan (an archive run meanwhile would move the
restored day out before the scan); one that restores nothing looks for cold
days again after its scan and, where an archive run moved one out during it,
reads again under the lease. Ids still missing whose day's archived copy holds
them (its lake copy removed since a restore, or late rows written since in a
new day file) are restored beside the lake's rows.

Crash safety (the order of writes): to archive, the codebook, then the cold
file (a temporary file and a rename), then the class in ``access_stats``, and
only then the lake files are removed; to restore, the warm file, then the
class. A crash anywhere leaves every row readable exactly once (the lake copy is
removed last, and a partition's files in the lake win over its cold copy while
they exist), and running the job again finishes the move without rewriting
what is already written. The archive job and refine must not write the same
partitions at once (as with day compaction): run them one after the other.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ray_topics.core.arrays import read_npy
from ray_topics.core.timeutil import utc_days
from ray_topics.storage.atomic import put_atomic
from ray_topics.storage.codecs import ProductQuantizer
from ray_topics.storage.lake import Lake, filesystem
from ray_topics.storage.lake_format import (
    DICTIONARY_COLUMNS,
    WARM_FILE,
    column_vectors,
    embedding_schema,
    from_warm,
    to_warm,
    warm_schema,
)
from ray_topics.storage.store import Store

__all__ = [
    "COLD_FILE",
    "LAKE_LEASE",
    "STORAGE_CLASSES",
    "AgingLake",
    "ColdArchive",
    "parse_key",
    "partition_key",
    "partition_keys",
    "target_class",
]

log = logging.getLogger(__name__)

STORAGE_CLASSES = ("hot", "warm", "cold")
# the lease every writer of lake partitions holds (compaction, the archive job, a restore)
LAKE_LEASE = "lake"
COLD_FILE = "cold.parquet"
_DAY = timedelta(days=1)
_CODEC = b"ray_topics.codec"  # Parquet metadata of a cold file: "pq" or "int8"
_CODEBOOK = b"ray_topics.codebook"  # ... and, for "pq", the codebook's path under the archive root
_KEYS = ["video_id", "domain", "published_at", "channel_id", "views"]


def partition_key(day: date, domain: str) -> str:
    """The ``access_stats`` key of a partition; keys sort by day first.

    Example:
        >>> partition_key(date(2026, 1, 31), "gaming")
        'day=2026-01-31/domain=gaming'
        >>> parse_key('day=2026-01-31/domain=gaming')
        (datetime.date(2026, 1, 31), 'gaming')
    """
    return f"day={day.isoformat()}/domain={domain}"


def parse_key(key: str) -> tuple[date, str]:
    day, domain = key.split("/", 1)
    return date.fromisoformat(day.removeprefix("day=")), domain.removeprefix("domain=")


def _older_than(day: date, as_of: datetime, days: int) -> bool:
    """Whether the whole day ended at least ``days`` days before ``as_of``."""
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + _DAY
    return end + timedelta(days=days) <= as_of.astimezone(UTC)


def target_class(
    day: date, as_of: datetime, accesses: int, *, warm_after_days: int, archive_after_days: int, min_accesses: int
) -> str:
    """The storage class a partition belongs in at ``as_of`` (module docstring).

    Example:
        >>> rule = {"warm_after_days": 30, "archive_after_days": 90, "min_accesses": 5}
        >>> as_of = datetime(2026, 6, 1, tzinfo=UTC)
        >>> [target_class(date(2026, 5, 20), as_of, 0, **rule), target_class(date(2026, 4, 1), as_of, 0, **rule)]
        ['hot', 'warm']
        >>> [target_class(date(2026, 1, 1), as_of, 4, **rule), target_class(date(2026, 1, 1), as_of, 5, **rule)]
        ['cold', 'warm']
    """
    if not _older_than(day, as_of, warm_after_days):
        return "hot"
    if _older_than(day, as_of, archive_after_days) and accesses < min_accesses:
        return "cold"
    return "warm"


class ColdArchive:
    """The archive root: cold partitions and the per-domain PQ codebooks their codes refer to.

    Layout: ``{root}/embeddings/day=YYYY-MM-DD/domain=NAME/cold.parquet`` (the
    lake's columns with ``pq_codes``, or ``embedding_i8`` + ``scale`` for int8)
    and ``{root}/codebooks/domain=NAME/pq-YYYY-MM-DD.npy``.

    Args:
        root: local folder or filesystem URI (``s3://bucket/prefix``).
        dim: embedding dimension.
    """

    def __init__(self, root: str, dim: int) -> None:
        self.root = root
        self.dim = dim
        self.fs, self.base = filesystem(root)
        self._codebooks: dict[str, ProductQuantizer] = {}

    def path(self, day: date, domain: str) -> str:
        return f"{self.base}/embeddings/day={day.isoformat()}/domain={domain}/{COLD_FILE}"

    def has(self, day: date, domain: str) -> bool:
        return self.fs.get_file_info(self.path(day, domain)).type == pafs.FileType.File

    def _put(self, path: str, table: pa.Table) -> None:
        """Write whole to a temporary file, then rename it over ``path``."""
        put_atomic(
            self.fs,
            path,
            lambda tmp: pq.write_table(
                table, tmp, filesystem=self.fs, compression="zstd", use_dictionary=DICTIONARY_COLUMNS
            ),
        )

    # ---------------------------------------------------------------- codebooks
    def codebooks(self, domain: str) -> list[str]:
        """The domain's codebooks (paths under the root), oldest first."""
        folder = f"{self.base}/codebooks/domain={domain}"
        info = self.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        names = sorted(f.base_name for f in info if f.type == pafs.FileType.File and f.base_name.endswith(".npy"))
        return [f"codebooks/domain={domain}/{n}" for n in names]

    @staticmethod
    def codebook_day(name: str) -> date:
        return date.fromisoformat(name.rsplit("/pq-", 1)[1].removesuffix(".npy"))

    def save_codebook(self, domain: str, day: date, quantizer: ProductQuantizer) -> str:
        name = f"codebooks/domain={domain}/pq-{day.isoformat()}.npy"
        buf = io.BytesIO()
        np.save(buf, quantizer.centroids_)
        put_atomic(self.fs, f"{self.base}/{name}", lambda tmp: _write_bytes(self.fs, tmp, buf.getvalue()))
        self._codebooks[name] = quantizer
        return name

    def codebook(self, name: str) -> ProductQuantizer:
        if name not in self._codebooks:
            with self.fs.open_input_file(f"{self.base}/{name}") as f:
                self._codebooks[name] = ProductQuantizer.from_centroids(read_npy(io.BytesIO(f.read())))
        return self._codebooks[name]

    # ---------------------------------------------------------------- partitions
    def _encode(self, table: pa.Table, codec: bytes, codebook: str | None) -> pa.Table:
        """Float rows (:func:`embedding_schema`) -> the cold file's table for ``codec``."""
        meta = {_CODEC: codec, **({_CODEBOOK: codebook.encode()} if codebook else {})}
        if codec == b"int8":
            return to_warm(table).replace_schema_metadata(meta)
        assert codebook is not None
        codes = self.codebook(codebook).encode(column_vectors(table.column("embedding"), self.dim))
        out = table.select(_KEYS).append_column(
            "pq_codes",
            pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(codes.shape[1]), len(codes), [None, pa.py_buffer(np.ascontiguousarray(codes).tobytes())]
            ),
        )
        return out.replace_schema_metadata(meta)

    def _raw(self, day: date, domain: str) -> pa.Table:
        return pq.read_table(self.path(day, domain), filesystem=self.fs)

    def write(self, day: date, domain: str, table: pa.Table, codebook: str | None) -> str:
        """Archive a partition's rows (float, :func:`embedding_schema`): PQ codes with ``codebook``, else int8.

        When a cold file is there already (late arrivals, or a partition
        restored and archived again) only rows it lacks are added, encoded like
        it; its own rows keep their codes. Nothing is written when it lacks none.
        """
        path = self.path(day, domain)
        if self.has(day, domain):
            old = self._raw(day, domain)
            new = table.filter(pc.invert(pc.is_in(table.column("video_id"), value_set=old.column("video_id"))))
            if new.num_rows == 0:
                return path
            meta = old.schema.metadata or {}
            codec, codebook = meta.get(_CODEC, b"int8"), meta.get(_CODEBOOK, b"").decode() or None
            added = self._encode(new, codec, codebook)
            merged = pa.concat_tables([t.replace_schema_metadata(None) for t in (old, added)])
            self._put(path, merged.replace_schema_metadata(meta))
            return path
        self._put(path, self._encode(table, b"pq" if codebook else b"int8", codebook))
        return path

    def read(self, day: date, domain: str) -> pa.Table:
        """A cold partition decoded to float rows (:func:`embedding_schema`)."""
        raw = self._raw(day, domain)
        meta = raw.schema.metadata or {}
        if meta.get(_CODEC) != b"pq":
            return from_warm(raw.cast(warm_schema(self.dim))).cast(embedding_schema(self.dim))
        quantizer = self.codebook(meta[_CODEBOOK].decode())
        col = raw.column("pq_codes").combine_chunks()
        width = col.type.byte_width
        codes = np.frombuffer(col.buffers()[1], np.uint8, count=len(col) * width, offset=col.offset * width)
        vecs = quantizer.decode(codes.reshape(-1, width))
        table = raw.select(_KEYS).append_column(
            "embedding", pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), self.dim)
        )
        return table.cast(embedding_schema(self.dim))

    def holds_any(self, day: date, domain: str, video_ids: Iterable[str]) -> bool:
        """Whether the cold partition holds one of ``video_ids`` (its id column alone is read)."""
        ids = pq.read_table(self.path(day, domain), columns=["video_id"], filesystem=self.fs).column("video_id")
        return bool(pc.any(pc.is_in(ids, value_set=pa.array(list(video_ids), pa.string()))).as_py())

    def nbytes(self, day: date, domain: str) -> int:
        return int(self.fs.get_file_info(self.path(day, domain)).size or 0)


class AgingLake:
    """The lake, its archive and the access statistics, together: class moves, restore, counted reads.

    Args:
        lake: the embedding lake.
        store: the operational store (its ``access_stats`` table).
        archive: the cold archive.
        warm_after_days, archive_after_days, min_accesses: the storage class rule (:func:`target_class`).
        pq_subquantizers: bytes per cold vector.
        pq_train_rows, pq_min_train_rows: most and fewest vectors a domain's codebook is trained from.
        codebook_max_age_days: a domain's newest codebook older than this is retrained.
    """

    def __init__(
        self,
        lake: Lake,
        store: Store,
        archive: ColdArchive,
        *,
        warm_after_days: int,
        archive_after_days: int,
        min_accesses: int,
        pq_subquantizers: int,
        pq_train_rows: int,
        pq_min_train_rows: int,
        codebook_max_age_days: int,
    ) -> None:
        self.lake = lake
        self.store = store
        self.archive = archive
        self.warm_after_days = warm_after_days
        self.archive_after_days = archive_after_days
        self.min_accesses = min_accesses
        self.pq_subquantizers = pq_subquantizers
        self.pq_train_rows = pq_train_rows
        self.pq_min_train_rows = pq_min_train_rows
        self.codebook_max_age_days = codebook_max_age_days

    def class_of(self, day: date, as_of: datetime, accesses: int) -> str:
        return target_class(
            day,
            as_of,
            accesses,
            warm_after_days=self.warm_after_days,
            archive_after_days=self.archive_after_days,
            min_accesses=self.min_accesses,
        )

    # ---------------------------------------------------------------- reads
    def read(
        self,
        start: datetime,
        end: datetime,
        domains: Iterable[str] | None = None,
        video_ids: Sequence[str] | None = None,
        at: datetime | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """:meth:`Lake.read`, restoring the cold partitions it needs first and counting the access.

        ``at`` is the event time of the read (``last_access_at``); the end of the window by default.
        """
        wanted = None if domains is None else set(domains)
        days = utc_days(start, max(end, start + timedelta(microseconds=1)))
        holding: set[date] | None = None

        def cold_days() -> list[tuple[date, str]]:
            """The window's cold partitions this read needs (with ``video_ids``: the days holding them)."""
            nonlocal holding
            keys = self.store.access.stats(partition_key(days[0], ""), partition_key(days[-1] + _DAY, ""), "cold")
            found = [(d, m) for d, m in map(parse_key, keys) if wanted is None or m in wanted]
            if found and video_ids is not None:
                holding = self.store.videos.published_days(video_ids) if holding is None else holding
                found = [(d, m) for d, m in found if d in holding]
            return sorted(found)

        def held_read() -> pa.Table:  # restored and scanned under the lake's lease: no archive run between
            with self.store.leases.hold(LAKE_LEASE, "a read of archived days"):
                return self._restored_read(cold_days(), start, end, domains, video_ids)

        if cold_days():
            table = held_read()
        else:
            table = self.lake.read_table(start, end, domains, video_ids)
            if cold_days():  # an archive run moved a day out (class first, files last) while this read scanned
                table = held_read()
        if video_ids is not None and wanted:
            # ids still missing may lie in a day whose archived rows its lake copy lacks: its copy removed by an
            # archive run after a restore (its class says warm), or late rows written since (a new day file)
            got = set(table.column("video_id").to_pylist())
            missing = [v for v in video_ids if v not in got]
            days_missing = sorted(self.store.videos.published_days(missing)) if missing else []
            lost = [
                (d, dom)
                for d in days_missing
                for dom in sorted(wanted)
                if self.archive.has(d, dom) and self.archive.holds_any(d, dom, missing)
            ]
            if lost:
                with self.store.leases.hold(LAKE_LEASE, "a read of archived days"):
                    table = self._restored_read(lost, start, end, domains, video_ids)
        if table.num_rows == 0:
            return [], np.zeros((0, self.lake.dim), np.float32)
        self.store.access.record(partition_keys(table), at or end)
        return table.column("video_id").to_pylist(), column_vectors(table.column("embedding"), self.lake.dim)

    def _restored_read(
        self,
        parts: Sequence[tuple[date, str]],
        start: datetime,
        end: datetime,
        domains: Iterable[str] | None,
        video_ids: Sequence[str] | None,
    ) -> pa.Table:
        """Restore ``parts``, then scan the lake (the caller holds the lake's lease across both)."""
        for day, dom in parts:
            self.restore(day, dom)
        return self.lake.read_table(start, end, domains, video_ids)

    def restore(self, day: date, domain: str) -> int:
        """Bring a cold partition back into the lake as warm (decoded codes, int8); returns its rows.

        Rows the lake holds for that day (late arrivals) are kept and win over
        the archive's. The cold copy stays in the archive. Holds the lake's lease.
        """
        with self.store.leases.hold(LAKE_LEASE, f"restore of {partition_key(day, domain)}"):
            return self._restore(day, domain)

    def _restore(self, day: date, domain: str) -> int:
        if not self.archive.has(day, domain):
            raise FileNotFoundError(
                f"partition {partition_key(day, domain)} is marked cold but {self.archive.path(day, domain)} "
                f"is missing: is archive.root ({self.archive.root}) the root it was archived to?"
            )
        table = self.archive.read(day, domain)
        here = self.lake.partition_table(domain, day)
        if here is not None:
            keep = pc.invert(pc.is_in(table.column("video_id"), value_set=here.column("video_id")))
            table = pa.concat_tables([table.filter(keep), here])
        self.lake.write_warm(domain, day, table)
        self.store.access.set_classes({partition_key(day, domain): "warm"})
        log.info("restored %s from the archive (%d rows)", partition_key(day, domain), table.num_rows)
        return table.num_rows

    # ---------------------------------------------------------------- the archive job
    def apply(self, as_of: datetime) -> dict[str, Any]:
        """Move every lake partition to its storage class at ``as_of``; idempotent.

        Returns counts: partitions made ``warm`` and ``cold`` by this call,
        ``kept_warm`` (old enough for the archive but read ``min_accesses``
        times), ``hot`` (left alone), ``codebooks`` trained, and ``int8_cold``
        (archived as int8 for want of a codebook). Holds the lake's lease.
        """
        with self.store.leases.hold(LAKE_LEASE, "the archive job"):
            return self._apply(as_of)

    def _apply(self, as_of: datetime) -> dict[str, Any]:
        stats = {"warm": 0, "cold": 0, "kept_warm": 0, "hot": 0, "codebooks": 0, "int8_cold": 0}
        parts = self.lake.partitions()
        access = self.store.access.stats()
        to_cold: dict[str, list[date]] = defaultdict(list)
        classes: dict[str, str] = {}
        turned: dict[str, str] = {}  # hot -> warm now: their access counts start from here
        young_cold: set[str] = set()  # hot -> cold now: likewise
        for (day, dom), files in sorted(parts.items()):
            key = partition_key(day, dom)
            row = access.get(key, {"accesses": 0, "tier": None})
            young = row["tier"] in (None, "hot")  # its reads so far were a young day's: they do not count
            cls = self.class_of(day, as_of, 0 if young else row["accesses"])
            if cls == "hot":
                stats["hot"] += 1
                continue
            if cls == "cold":
                to_cold[dom].append(day)
                if young:  # straight from hot: its young reads do not count once it is archived
                    young_cold.add(key)
                continue
            if _older_than(day, as_of, self.archive_after_days):
                stats["kept_warm"] += 1
            if row["tier"] == "cold" and self.archive.has(day, dom):
                # late rows landed in the lake of a cold day that is now read often enough to stay
                # warm: the warm file must hold the archived rows too, not the late ones alone
                self.restore(day, dom)
                stats["warm"] += 1
                continue
            if not _is_warm(files):
                if self.archive.has(day, dom):  # late rows written since its lake copy was removed: merge both
                    self.restore(day, dom)
                else:
                    self.lake.warm_day(dom, day)
                stats["warm"] += 1
            elif len(files) > 1:
                self.lake.warm_day(dom, day)  # removes leftovers of an interrupted rewrite; rewrites nothing
            if young:
                turned[key] = "warm"
            elif row["tier"] != "warm":
                classes[key] = "warm"
        self.store.access.set_classes(classes)
        self.store.access.set_classes(turned, reset_accesses=True)
        for dom, days in sorted(to_cold.items()):
            codebook, trained = self._codebook(dom, days, as_of, parts)
            stats["codebooks"] += trained
            for day in sorted(days):
                table = self.lake.partition_table(dom, day)
                if table is not None:
                    self.archive.write(day, dom, table, codebook)
                key = partition_key(day, dom)
                self.store.access.set_classes({key: "cold"}, reset_accesses=key in young_cold)
                self.lake.delete_partition(dom, day)
                stats["cold"] += 1
                stats["int8_cold"] += codebook is None
        return stats

    def _codebook(
        self, domain: str, days: list[date], as_of: datetime, parts: dict[tuple[date, str], list[str]]
    ) -> tuple[str | None, int]:
        """The codebook to archive ``days`` of ``domain`` with, trained now when needed: (name or None, trained)."""
        names = self.archive.codebooks(domain)
        if names and not _older_than(self.archive.codebook_day(names[-1]), as_of, self.codebook_max_age_days):
            return names[-1], 0
        # training rows: the partitions going cold (newest first), then the domain's oldest warm ones
        warm = sorted(d for (d, dom), files in parts.items() if dom == domain and _is_warm(files) and d not in days)
        sample: list[np.ndarray] = []
        have = 0
        for day in [*sorted(days, reverse=True), *warm]:
            if have >= self.pq_train_rows:
                break
            table = self.lake.partition_table(domain, day)
            if table is not None:
                sample.append(column_vectors(table.column("embedding"), self.lake.dim))
                have += table.num_rows
        if have < self.pq_min_train_rows:
            return (names[-1] if names else None), 0
        rows = np.concatenate(sample)[: self.pq_train_rows]
        quantizer = ProductQuantizer(self.pq_subquantizers).fit(rows)
        return self.archive.save_codebook(domain, as_of.astimezone(UTC).date(), quantizer), 1


def _is_warm(files: list[str]) -> bool:
    return any(f.endswith("/" + WARM_FILE) for f in files)


def _write_bytes(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    with fs.open_output_stream(path) as out:
        out.write(data)


def partition_keys(table: pa.Table) -> list[str]:
    """The partition keys of lake rows (``published_at`` and ``domain``; one per distinct day and domain)."""
    days = pc.strftime(table.column("published_at"), format="%Y-%m-%d", locale="C")
    pairs = pa.table({"day": days, "domain": table.column("domain")}).group_by(["day", "domain"]).aggregate([])
    return [f"day={d}/domain={m}" for d, m in zip(pairs["day"].to_pylist(), pairs["domain"].to_pylist(), strict=True)]
