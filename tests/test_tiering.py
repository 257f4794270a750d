"""Storage tiers of the lake: hot -> warm -> cold by age and access, restore, crash safety, the archive job."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import event

from ray_topics.cli import main
from ray_topics.core.types import ClassificationStatus
from ray_topics.execution.engine import lake_dataset
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.aging import partition_key, target_class
from ray_topics.storage.lake import DAY_FILE, Lake
from ray_topics.storage.lake_format import WARM_FILE, embedding_schema, from_warm, to_warm
from ray_topics.storage.leases import LeaseBusy
from ray_topics.tiers.archive import run_archive
from ray_topics.tiers.refine import compact
from tests.conftest import make_config

DIM = 16
D0 = datetime(2024, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
PER_DAY = 300  # rows per day partition: enough to train a codebook (256 centroids per sub-space)
# day d ends at D0 + (d + 1) days: warm from D0 + (d + 3) days, cold from D0 + (d + 6) days
RULE = (
    f"embedding.dim={DIM}",
    "archive.warm_after_days=2",
    "archive.archive_after_days=5",
    "archive.min_accesses=2",
    "archive.pq_subquantizers=4",  # 4 dimensions per byte: the same ratio as 96 bytes for 384
    "archive.pq_train_rows=1000",
    "archive.pq_min_train_rows=256",
    "archive.codebook_max_age_days=30",
)
_CENTERS = np.random.default_rng(7).standard_normal((6, DIM))
CENTERS = (_CENTERS / np.linalg.norm(_CENTERS, axis=1, keepdims=True)).astype(np.float32)


def _runtime(tmp_path: Path, *extra: str, store: tuple[str, str | None] | None = None) -> Runtime:
    return Runtime(make_config(tmp_path, *RULE, *extra, store=store))


@pytest.fixture
def rt(tmp_path: Path, store_url: tuple[str, str | None]) -> Iterator[Runtime]:
    """A small-dimension runtime with short tier thresholds, on SQLite and PostgreSQL."""
    r = _runtime(tmp_path, store=store_url)
    yield r
    r.store.dispose()


@pytest.fixture
def rt_lite(tmp_path: Path) -> Iterator[Runtime]:
    r = _runtime(tmp_path)
    yield r
    r.store.dispose()


def _vectors(prefix: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = CENTERS[np.arange(n) % len(CENTERS)] + 0.3 * rng.standard_normal((n, DIM)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _ingest(rt: Runtime, domain: str, days: range, n: int = PER_DAY, prefix: str = "") -> dict[str, np.ndarray]:
    """Store ``n`` refined videos per day (unit vectors around 6 centers); returns their vectors by id."""
    out: dict[str, np.ndarray] = {}
    for d in days:
        ids = [f"{prefix}{domain}-{d}-{i}" for i in range(n)]
        vecs = _vectors(prefix, n, seed=hash((domain, d, prefix)) % 2**32)
        ats = [D0 + d * DAY + timedelta(seconds=int(i * 86_000 / n)) for i in range(n)]
        videos = [
            {"video_id": v, "domain": domain, "channel_id": "c", "published_at": at}
            for v, at in zip(ids, ats, strict=True)
        ]
        classes = [
            {"video_id": v, "domain": domain, "published_at": at, "topic_id": None, "confidence": 0.5,
             "status": ClassificationStatus.REFINED, "model_version": f"{domain}@v1", "classified_at": at}
            for v, at in zip(ids, ats, strict=True)
        ]  # fmt: skip
        rt.store.videos.ingest(videos, vecs, classes)
        out.update(zip(ids, vecs, strict=True))
    return out


def _lake_only(rt: Runtime, at: datetime) -> None:
    """Compact every hot row into the lake's day files and evict it from the store."""
    compact(rt, at)
    assert rt.store.count("embeddings") == 0


def _names(root: str) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def _listing(rt: Runtime) -> dict[str, list[str]]:
    return {"lake": _names(rt.cfg.lake_root), "archive": _names(rt.cfg.archive_root)}


def _files(rt: Runtime, day: int, domain: str = "gaming") -> list[str]:
    folder = Path(rt.lake.base) / "embeddings" / f"day={(D0 + day * DAY).date()}" / f"domain={domain}"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _cold(rt: Runtime, day: int, domain: str = "gaming") -> bool:
    return rt.aging.archive.has((D0 + day * DAY).date(), domain)


def _tier(rt: Runtime, day: int, domain: str = "gaming") -> str | None:
    row = rt.store.access.stats().get(partition_key((D0 + day * DAY).date(), domain))
    return None if row is None else row["tier"]


def _cosines(rt: Runtime, truth: dict[str, np.ndarray], ids: list[str] | None = None) -> np.ndarray:
    """Cosine of every vector Runtime.vectors returns to the one stored (all ids found, in order)."""
    ids = ids or sorted(truth)
    got = rt.vectors("gaming", ids)
    want = np.stack([truth[v] for v in ids])
    return (got * want).sum(1) / np.linalg.norm(got, axis=1)


# ---------------------------------------------------------------------------------------------- the rule


def test_target_tier_counts_age_from_the_end_of_the_day() -> None:
    rule = {"warm_after_days": 2, "archive_after_days": 5, "min_accesses": 2}
    day = date(2024, 3, 1)  # ends 2024-03-02 00:00
    just = timedelta(microseconds=1)
    assert target_class(day, datetime(2024, 3, 4, tzinfo=UTC) - just, 0, **rule) == "hot"
    assert target_class(day, datetime(2024, 3, 4, tzinfo=UTC), 0, **rule) == "warm"
    assert target_class(day, datetime(2024, 3, 7, tzinfo=UTC) - just, 0, **rule) == "warm"
    assert target_class(day, datetime(2024, 3, 7, tzinfo=UTC), 1, **rule) == "cold"
    assert target_class(day, datetime(2024, 3, 7, tzinfo=UTC), 2, **rule) == "warm"  # read often enough
    assert target_class(day, datetime(2025, 3, 7, tzinfo=UTC), 2, **rule) == "warm"  # however old
    plus2 = timezone(timedelta(hours=2))  # event time in another zone counts in UTC
    assert target_class(day, datetime(2024, 3, 4, 2, tzinfo=plus2), 0, **rule) == "warm"
    assert target_class(day, datetime(2024, 3, 4, 1, tzinfo=plus2), 0, **rule) == "hot"


def test_archive_config_is_validated(tmp_path: Path) -> None:
    from ray_topics.config import ConfigError

    with pytest.raises(ConfigError, match=r"archive_after_days must be >= archive\.warm_after_days"):
        make_config(tmp_path, "archive.warm_after_days=10", "archive.archive_after_days=5")
    with pytest.raises(ConfigError, match=r"must divide embedding\.dim"):
        make_config(tmp_path, "archive.pq_subquantizers=50")
    cfg = make_config(tmp_path)
    assert cfg.archive_root == f"{tmp_path}/archive" and cfg.archive.warm_after_days == 30


# ---------------------------------------------------------------------------------------------- moves


def test_a_partition_moves_hot_warm_cold_by_age(rt: Runtime) -> None:
    truth = _ingest(rt, "gaming", range(2))
    _lake_only(rt, D0 + 30 * DAY)
    assert _files(rt, 0) == _files(rt, 1) == [DAY_FILE]

    stats = rt.aging.apply(D0 + 3 * DAY - timedelta(microseconds=1))
    assert stats["hot"] == 2 and stats["warm"] == stats["cold"] == 0
    assert _files(rt, 0) == [DAY_FILE]

    stats = rt.aging.apply(D0 + 3 * DAY)  # day 0 ended 2 days ago
    assert (stats["warm"], stats["hot"], stats["cold"]) == (1, 1, 0)
    assert _files(rt, 0) == [WARM_FILE] and _files(rt, 1) == [DAY_FILE]
    assert _tier(rt, 0) == "warm"
    # the lake reads a warm day transparently: the same ids, vectors within int8 error
    ids, vecs = rt.lake.read(D0, D0 + 2 * DAY)
    assert sorted(ids) == sorted(truth) and vecs.dtype == np.float32
    want = np.stack([truth[v] for v in ids])
    assert ((vecs * want).sum(1) / np.linalg.norm(vecs, axis=1)).min() > 0.999
    np.testing.assert_array_equal(vecs[[i for i, v in enumerate(ids) if v.startswith("gaming-1-")]],
                                  np.stack([truth[v] for v in ids if v.startswith("gaming-1-")]))  # fmt: skip

    stats = rt.aging.apply(D0 + 6 * DAY)  # day 0 ended 5 days ago, never read: cold
    assert (stats["cold"], stats["warm"], stats["codebooks"], stats["int8_cold"]) == (1, 1, 1, 0)
    assert _files(rt, 0) == [] and _cold(rt, 0) and _tier(rt, 0) == "cold"
    assert _files(rt, 1) == [WARM_FILE]
    assert _listing(rt)["archive"] == [
        "codebooks/domain=gaming/pq-2024-03-07.npy",
        "embeddings/day=2024-03-01/domain=gaming/cold.parquet",
    ]
    cold = pq.read_table(rt.aging.archive.path((D0).date(), "gaming"))
    assert cold.num_rows == PER_DAY and cold.schema.field("pq_codes").type == pa.binary(4)
    assert cold.schema.metadata[b"ray_topics.codebook"] == b"codebooks/domain=gaming/pq-2024-03-07.npy"


def test_an_often_read_old_partition_stays_warm(rt: Runtime) -> None:
    _ingest(rt, "gaming", range(2))
    _lake_only(rt, D0 + 30 * DAY)
    rt.aging.apply(D0 + 4 * DAY)  # both warm
    for _ in range(2):  # min_accesses reads of day 1 (each a window of several hours: one access)
        ids, _ = rt.aging.read(D0 + DAY + timedelta(hours=2), D0 + DAY + timedelta(hours=9), ["gaming"])
        assert ids
    assert rt.store.access.stats()[partition_key((D0 + DAY).date(), "gaming")]["accesses"] == 2
    stats = rt.aging.apply(D0 + 30 * DAY)
    assert (stats["cold"], stats["kept_warm"]) == (1, 1)
    assert _cold(rt, 0) and _files(rt, 0) == []
    assert _files(rt, 1) == [WARM_FILE] and not _cold(rt, 1) and _tier(rt, 1) == "warm"


def test_reads_of_a_young_day_do_not_keep_it_warm(rt: Runtime) -> None:
    """Accesses count from the day a partition turns warm: the jobs' reads of recent days do not."""
    _ingest(rt, "gaming", range(2))
    _lake_only(rt, D0 + 30 * DAY)
    for _ in range(3):  # min_accesses (2) and more reads of both days while they are hot
        ids, _ = rt.aging.read(D0, D0 + 2 * DAY, ["gaming"])
        assert ids
    assert {s["accesses"] for s in rt.store.access.stats().values()} == {3}
    rt.aging.apply(D0 + 4 * DAY)  # both warm, counts start again
    assert {(s["tier"], s["accesses"]) for s in rt.store.access.stats().values()} == {("warm", 0)}
    rt.aging.read(D0 + DAY + timedelta(hours=2), D0 + DAY + timedelta(hours=9), ["gaming"])  # day 1 once, warm
    stats = rt.aging.apply(D0 + 30 * DAY)
    assert (stats["cold"], stats["kept_warm"]) == (2, 0)
    assert _tier(rt, 0) == _tier(rt, 1) == "cold"


def test_reads_count_one_access_per_partition_with_one_upsert(rt: Runtime) -> None:
    _ingest(rt, "gaming", range(3))
    _ingest(rt, "news", range(1))
    _lake_only(rt, D0 + 30 * DAY)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "access_stats" in statement:
            statements.append(statement.split()[0].upper())

    event.listen(rt.store.engine, "before_cursor_execute", count)
    ids, _ = rt.aging.read(D0, D0 + 3 * DAY, ["gaming"], at=D0 + 10 * DAY)
    event.remove(rt.store.engine, "before_cursor_execute", count)
    assert len(ids) == 3 * PER_DAY
    # the cold check before the scan and after it (an archive run during it), and one upsert, whatever the rows
    assert statements == ["SELECT", "SELECT", "INSERT"]
    stats = rt.store.access.stats()
    assert set(stats) == {partition_key((D0 + d * DAY).date(), "gaming") for d in range(3)}
    assert {s["accesses"] for s in stats.values()} == {1}
    assert {s["last_access_at"] for s in stats.values()} == {D0 + 10 * DAY}
    # only partitions that returned rows count; an earlier event time does not move last_access_at back
    rt.aging.read(D0, D0 + 3 * DAY, ["gaming"], video_ids=["gaming-2-5"], at=D0 + 5 * DAY)
    stats = rt.store.access.stats()
    assert [stats[partition_key((D0 + d * DAY).date(), "gaming")]["accesses"] for d in range(3)] == [1, 1, 2]
    assert stats[partition_key((D0 + 2 * DAY).date(), "gaming")]["last_access_at"] == D0 + 10 * DAY
    assert rt.aging.read(D0 + 40 * DAY, D0 + 41 * DAY)[0] == []  # nothing read, nothing counted
    assert len(rt.store.access.stats()) == 3


# ---------------------------------------------------------------------------------------------- restore


def test_reading_a_cold_day_restores_it_warm_and_counts_the_access(rt: Runtime) -> None:
    truth = _ingest(rt, "gaming", range(2))
    _lake_only(rt, D0 + 30 * DAY)
    rt.aging.apply(D0 + 8 * DAY)  # both cold
    assert _files(rt, 0) == _files(rt, 1) == [] and _cold(rt, 0) and _cold(rt, 1)
    stamp = Path(rt.aging.archive.path(D0.date(), "gaming")).stat().st_mtime_ns

    ids = [v for v in truth if v.startswith("gaming-0-")][:20]
    cos = _cosines(rt, truth, ids)  # Runtime.vectors -> AgingLake.read: restores day 0 only (it holds the ids)
    assert np.median(cos) > 0.95 and cos.min() > 0.8  # PQ at 4 dimensions per byte on these clusters
    assert _files(rt, 0) == [WARM_FILE] and _tier(rt, 0) == "warm"
    assert _files(rt, 1) == [] and _tier(rt, 1) == "cold"  # not needed by that read
    assert rt.store.access.stats()[partition_key(D0.date(), "gaming")]["accesses"] == 1
    assert _cold(rt, 0)  # the cold copy stays

    # a restored day read fewer than min_accesses times goes back to cold: only the lake copy is removed
    stats = rt.aging.apply(D0 + 9 * DAY)
    assert stats["cold"] == 1 and _files(rt, 0) == [] and _tier(rt, 0) == "cold"
    assert Path(rt.aging.archive.path(D0.date(), "gaming")).stat().st_mtime_ns == stamp
    # a whole-window read restores what it covers, and every vector is found
    assert len(rt.aging.read(D0, D0 + 2 * DAY)[0]) == 2 * PER_DAY
    assert _files(rt, 0) == _files(rt, 1) == [WARM_FILE]


def test_runtime_vectors_finds_every_embedding_in_every_tier(rt_lite: Runtime) -> None:
    rt = rt_lite
    truth = _ingest(rt, "gaming", range(6))
    _lake_only(rt, D0 + 30 * DAY)
    hot = _ingest(rt, "gaming", range(30, 31), n=5, prefix="hot-")  # still in the store's hot table
    rt.aging.apply(D0 + 8 * DAY)  # days 0-2 cold, 3-5 warm
    assert [_tier(rt, d) for d in range(6)] == ["cold"] * 3 + ["warm"] * 3
    truth.update(hot)
    cos = _cosines(rt, truth)  # every id found (else LookupError), in order
    assert cos.min() > 0.8
    warm = [i for i, v in enumerate(sorted(truth)) if v.split("-")[1] in "345"]
    assert cos[warm].min() > 0.999
    assert cos[[i for i, v in enumerate(sorted(truth)) if v.startswith("hot-")]].min() > 0.99999


def test_restoring_a_day_whose_cold_file_is_gone_says_so(rt_lite: Runtime) -> None:
    rt = rt_lite
    truth = _ingest(rt, "gaming", range(1))
    _lake_only(rt, D0 + 30 * DAY)
    rt.aging.apply(D0 + 8 * DAY)
    Path(rt.aging.archive.path(D0.date(), "gaming")).unlink()
    with pytest.raises(FileNotFoundError, match=r"marked cold but .* is missing: is archive\.root"):
        rt.vectors("gaming", sorted(truth)[:3])


# ---------------------------------------------------------------------------------------------- idempotence


def test_the_archive_job_twice_changes_nothing(rt: Runtime) -> None:
    _ingest(rt, "gaming", range(4))
    _lake_only(rt, D0 + 30 * DAY)
    at = D0 + 8 * DAY  # days 0-2 cold, 3 warm
    first = run_archive(rt, at)
    assert (first["cold"], first["warm"]) == (3, 1)

    def state() -> dict[str, Any]:
        files = [p for p in Path(rt.cfg.workdir).rglob("*.parquet")] + list(Path(rt.cfg.workdir).rglob("*.npy"))
        return {"files": {str(p): p.stat().st_mtime_ns for p in files}, "stats": rt.store.access.stats()}

    before = state()
    assert run_archive(rt, at)["skipped"] is True
    again = run_archive(rt, at, force=True)
    assert again == {"warm": 0, "cold": 0, "kept_warm": 0, "hot": 0, "codebooks": 0, "int8_cold": 0}
    assert state() == before
    assert [r["status"] for r in rt.store.runs.all() if r["job"] == "archive"] == ["succeeded"]


def test_the_archive_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rt = _runtime(tmp_path)
    _ingest(rt, "gaming", range(2))
    _lake_only(rt, D0 + 30 * DAY)
    args = ["archive", "--as-of", "2024-03-05", "--workdir", str(tmp_path), *[x for r in RULE for x in ("--set", r)]]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["warm"] == 2
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] is True
    assert _files(rt, 0) == _files(rt, 1) == [WARM_FILE]


# ---------------------------------------------------------------------------------------------- crashes


def test_a_crash_after_the_warm_file_is_written_leaves_each_row_once(rt_lite: Runtime) -> None:
    rt = rt_lite
    truth = _ingest(rt, "gaming", range(1))
    _lake_only(rt, D0 + 30 * DAY)
    folder = Path(rt.lake.base) / "embeddings" / f"day={D0.date()}" / "domain=gaming"
    saved = (folder / DAY_FILE).read_bytes()
    rt.aging.apply(D0 + 3 * DAY)
    (folder / DAY_FILE).write_bytes(saved)  # the state a crash leaves: warm file written, day file still there
    (folder / (WARM_FILE + ".tmp")).write_bytes(b"a torn rewrite")  # and a torn temporary file is ignored
    assert rt.lake.files(D0, D0 + DAY) == [str(folder / WARM_FILE)]
    ids, _ = rt.lake.read(D0, D0 + DAY)
    assert sorted(ids) == sorted(truth)  # no row twice
    stamp = (folder / WARM_FILE).stat().st_mtime_ns
    stats = rt.aging.apply(D0 + 3 * DAY)  # the next run removes the leftover without rewriting
    assert stats["warm"] == 0 and sorted(p.name for p in folder.iterdir()) == [WARM_FILE, WARM_FILE + ".tmp"]
    assert (folder / WARM_FILE).stat().st_mtime_ns == stamp
    assert rt.lake.compact_days([D0.date()]) == []  # refine leaves a warm day alone


@pytest.mark.parametrize("tier_written", [False, True])
def test_a_crash_before_the_lake_copy_is_removed_leaves_each_row_once(
    rt_lite: Runtime, monkeypatch: pytest.MonkeyPatch, tier_written: bool
) -> None:
    """Crash after the cold file is written (before or after its tier is recorded), before the lake removal."""
    rt = rt_lite
    truth = _ingest(rt, "gaming", range(1))
    _lake_only(rt, D0 + 30 * DAY)
    rt.aging.apply(D0 + 3 * DAY)
    lake_copy = _names(rt.cfg.lake_root)

    def crash(*_a: Any) -> None:
        raise KeyboardInterrupt("killed")

    if tier_written:
        monkeypatch.setattr(Lake, "delete_partition", crash)
    else:
        monkeypatch.setattr(
            type(rt.store.access),
            "set_classes",
            lambda self, tiers, **_kw: crash() if "cold" in tiers.values() else None,
        )
    with pytest.raises(KeyboardInterrupt):
        rt.aging.apply(D0 + 6 * DAY)
    monkeypatch.undo()
    assert _cold(rt, 0) and _names(rt.cfg.lake_root) == lake_copy  # both copies exist
    assert _tier(rt, 0) == ("cold" if tier_written else "warm")
    stamp = Path(rt.aging.archive.path(D0.date(), "gaming")).stat().st_mtime_ns
    ids, vecs = rt.aging.read(D0, D0 + DAY)  # the lake copy is read (it wins over the cold one), each row once
    assert sorted(ids) == sorted(truth) and _files(rt, 0) == [WARM_FILE]
    want = np.stack([truth[v] for v in ids])
    assert ((vecs * want).sum(1) / np.linalg.norm(vecs, axis=1)).min() > 0.999
    # accessed once (< min_accesses): the next run finishes the move without rewriting the cold file
    assert rt.aging.apply(D0 + 6 * DAY)["cold"] == 1
    assert _files(rt, 0) == [] and _tier(rt, 0) == "cold"
    assert Path(rt.aging.archive.path(D0.date(), "gaming")).stat().st_mtime_ns == stamp
    assert sorted(rt.aging.read(D0, D0 + DAY)[0]) == sorted(truth)


# ---------------------------------------------------------------------------------------------- late rows, codebooks


def test_late_arrivals_join_warm_and_cold_days(rt_lite: Runtime) -> None:
    rt = rt_lite
    truth = _ingest(rt, "gaming", range(2))
    _lake_only(rt, D0 + 30 * DAY)
    rt.aging.apply(D0 + 6 * DAY)  # day 0 cold, day 1 warm
    late = _ingest(rt, "gaming", range(2), n=3, prefix="late-")
    compact(rt, D0 + 30 * DAY)  # refine writes them: into day 1's warm file, into a new file for day 0
    assert _files(rt, 1) == [WARM_FILE] and _files(rt, 0) == [DAY_FILE]
    assert _tier(rt, 0) == "cold"
    truth.update(late)
    cos = _cosines(rt, truth)  # day 0 restored: its cold rows and the late ones
    assert cos.min() > 0.8 and len(cos) == 2 * PER_DAY + 6
    assert _files(rt, 0) == [WARM_FILE]
    # archived again: the late rows are added to the cold file, which keeps its codebook
    rt.aging.apply(D0 + 8 * DAY)
    cold = pq.read_table(rt.aging.archive.path(D0.date(), "gaming"))
    assert cold.num_rows == PER_DAY + 3 and cold.schema.metadata[b"ray_topics.codec"] == b"pq"
    assert len(set(cold.column("video_id").to_pylist())) == PER_DAY + 3
    assert sorted(rt.aging.read(D0, D0 + 2 * DAY)[0]) == sorted(truth)


def test_late_rows_of_a_cold_day_read_often_enough_keep_the_archived_rows(rt_lite: Runtime) -> None:
    """A cold day that late rows bring back into the lake and that stays warm holds every row, archived ones too."""
    rt = rt_lite
    truth = _ingest(rt, "gaming", range(1))
    _lake_only(rt, D0 + 30 * DAY)
    rt.aging.apply(D0 + 6 * DAY)  # day 0 cold
    truth.update(_ingest(rt, "gaming", range(1), n=3, prefix="late-"))
    compact(rt, D0 + 30 * DAY)  # the late rows: a new day file in the lake, the tier still cold
    assert _tier(rt, 0) == "cold" and _files(rt, 0) == [DAY_FILE]
    key = partition_key(D0.date(), "gaming")
    rt.store.access.record([key, key], D0 + 7 * DAY)  # read often enough to stay warm (min_accesses 2)
    rt.store.access.record([key], D0 + 7 * DAY)
    rt.aging.apply(D0 + 8 * DAY)
    assert _tier(rt, 0) == "warm" and _files(rt, 0) == [WARM_FILE]
    ids, _vecs = rt.lake.read(D0, D0 + DAY, ["gaming"])
    assert sorted(ids) == sorted(truth)  # the archived rows and the late ones


def test_a_read_restores_a_day_whose_lake_copy_an_archive_run_removed(rt_lite: Runtime) -> None:
    """The archive job deleted the lake copy after a restore marked the day warm: the next read restores it."""
    rt = rt_lite
    truth = _ingest(rt, "gaming", range(1))
    _lake_only(rt, D0 + 30 * DAY)
    rt.aging.apply(D0 + 6 * DAY)  # day 0 cold: archived, lake copy removed
    rt.store.access.set_classes({partition_key(D0.date(), "gaming"): "warm"})  # what a racing restore leaves
    assert _files(rt, 0) == [] and _cold(rt, 0)
    cos = _cosines(rt, truth)  # Runtime.vectors finds every id
    assert len(cos) == PER_DAY and cos.min() > 0.8
    assert _files(rt, 0) == [WARM_FILE]


def test_late_rows_written_where_a_lake_copy_was_removed_do_not_hide_the_archived_rows(rt_lite: Runtime) -> None:
    """As above, and late rows of that day land in the lake since (a new day file holding them alone): a read
    of the archived ids restores them beside the late ones, and the next archive run merges both instead of
    making a warm file of the late rows alone."""
    rt = rt_lite
    truth = _ingest(rt, "gaming", range(1))
    _lake_only(rt, D0 + 30 * DAY)
    rt.aging.apply(D0 + 6 * DAY)
    rt.store.access.set_classes({partition_key(D0.date(), "gaming"): "warm"})
    late = _ingest(rt, "gaming", range(1), n=3, prefix="late-")
    compact(rt, D0 + 30 * DAY)
    assert _files(rt, 0) == [DAY_FILE]  # the late rows alone
    ids = sorted(truth)[:5] + sorted(late)
    assert rt.vectors("gaming", ids).shape == (len(ids), DIM)
    assert _files(rt, 0) == [WARM_FILE] and len(rt.aging.lake.partition_table("gaming", D0.date())) == PER_DAY + 3
    rt2 = _runtime(Path(rt.cfg.workdir) / "again")  # the archive run's side, on a fresh store and lake
    truth2 = _ingest(rt2, "gaming", range(1))
    _lake_only(rt2, D0 + 30 * DAY)
    rt2.aging.apply(D0 + 6 * DAY)
    rt2.store.access.set_classes({partition_key(D0.date(), "gaming"): "warm"})
    for _ in range(3):  # read often since: it stays warm
        rt2.store.access.record([partition_key(D0.date(), "gaming")], D0 + 6 * DAY)
    _ingest(rt2, "gaming", range(1), n=3, prefix="late-")
    compact(rt2, D0 + 30 * DAY)
    rt2.aging.apply(D0 + 7 * DAY)
    assert len(rt2.aging.lake.partition_table("gaming", D0.date())) == PER_DAY + 3 and len(truth2) == PER_DAY
    rt2.store.dispose()


def test_an_archive_run_waits_while_a_read_restores_and_scans_and_one_during_a_scan_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read of an archived day restores it and scans the lake under the lake's lease: an archive run at that
    moment (another process) waits, instead of moving the restored day out before the scan (the read then lost
    its rows: by id a LookupError, by window nothing). A read that found nothing archived but during whose
    scan an archive run moved a day out (its class first, its files last) reads again, restoring it."""
    rt = _runtime(tmp_path, "execution.lease_wait_seconds=0")
    truth = _ingest(rt, "gaming", range(2))
    _lake_only(rt, D0 + 30 * DAY)
    rt.aging.apply(D0 + 6 * DAY)  # day 0 cold
    other = Runtime(rt.cfg)  # the archive job
    real, refused = Lake.read_table, []

    def archive_meanwhile(self: Lake, *a: Any, **kw: Any) -> pa.Table:
        if not refused:
            with pytest.raises(LeaseBusy):
                other.aging.apply(D0 + 6 * DAY)
            refused.append(True)
        return real(self, *a, **kw)

    monkeypatch.setattr(Lake, "read_table", archive_meanwhile)
    day0 = sorted(v for v in truth if v.startswith("gaming-0-"))
    assert rt.vectors("gaming", day0[:5]).shape == (5, DIM) and refused
    ids, _ = rt.aging.read(D0, D0 + DAY, ["gaming"])  # restored warm by the read above: read as it is
    assert sorted(ids) == day0
    moved: list[dict[str, Any]] = []

    def archive_during_scan(self: Lake, *a: Any, **kw: Any) -> pa.Table:
        if not moved:  # day 1 goes cold after the read looked for cold days and before its scan ends
            moved.append(other.aging.apply(D0 + 7 * DAY))
        return real(self, *a, **kw)

    monkeypatch.setattr(Lake, "read_table", archive_during_scan)
    ids, _ = rt.aging.read(D0 + DAY, D0 + 2 * DAY, ["gaming"])
    assert moved[0]["cold"] >= 1 and sorted(ids) == sorted(v for v in truth if v.startswith("gaming-1-"))
    other.store.dispose()


def test_a_day_archived_straight_from_hot_forgets_its_young_reads(tmp_path: Path) -> None:
    """Reads of a young day say nothing of an old day's use: a day that goes from hot to cold in one run keeps no
    count of them, so one read of it restored later does not keep it warm for ever (4 >= min_accesses 2)."""
    rt = _runtime(tmp_path)
    truth = _ingest(rt, "gaming", range(1))
    _lake_only(rt, D0 + 30 * DAY)
    key = partition_key(D0.date(), "gaming")
    for _ in range(3):
        assert rt.aging.read(D0, D0 + DAY, ["gaming"])[0]
    rt.aging.apply(D0 + 8 * DAY)  # hot -> cold
    assert rt.store.access.stats()[key]["tier"] == "cold"
    rt.vectors("gaming", sorted(truth)[:3])  # restored warm: one read
    assert rt.aging.apply(D0 + 9 * DAY)["cold"] == 1 and rt.store.access.stats()[key]["tier"] == "cold"


def test_a_naive_hour_is_utc_on_a_machine_that_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        lake = Lake(str(tmp_path / "lake"), 4)
        rows = [{"video_id": "v", "published_at": datetime(2024, 3, 1, 23, 30), "vector": np.ones(4, np.float32)}]
        assert "day=2024-03-01/domain=gaming/hour=23.parquet" in lake.append_hour(
            "gaming", datetime(2024, 3, 1, 23), rows
        )
        assert lake.read(datetime(2024, 3, 1), datetime(2024, 3, 2), ["gaming"])[0] == ["v"]
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_codebooks_per_domain_reused_then_retrained_and_int8_when_too_few_rows(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, "archive.codebook_max_age_days=3")
    truth = _ingest(rt, "gaming", range(6))
    small = _ingest(rt, "news", range(1), n=40)  # too few rows for a codebook
    _lake_only(rt, D0 + 30 * DAY)
    first = rt.aging.apply(D0 + 6 * DAY)  # gaming day 0 and news day 0 go cold
    assert (first["cold"], first["codebooks"], first["int8_cold"]) == (2, 1, 1)
    news = pq.read_table(rt.aging.archive.path(D0.date(), "news"))
    assert news.schema.metadata[b"ray_topics.codec"] == b"int8" and "embedding_i8" in news.column_names
    assert rt.aging.apply(D0 + 7 * DAY)["codebooks"] == 0  # day 1 reuses gaming's codebook
    assert rt.aging.apply(D0 + 10 * DAY)["codebooks"] == 1  # older than 3 days: a new one for days 2-4
    books = rt.aging.archive.codebooks("gaming")
    assert books == ["codebooks/domain=gaming/pq-2024-03-07.npy", "codebooks/domain=gaming/pq-2024-03-11.npy"]
    meta = {d: pq.read_schema(rt.aging.archive.path((D0 + d * DAY).date(), "gaming")).metadata for d in range(5)}
    assert [meta[d][b"ray_topics.codebook"].decode() for d in range(5)] == [books[0]] * 2 + [books[1]] * 3
    # each cold file decoded with its own codebook (a wrong one gives cosines near 0.2); FAISS's
    # k-means under other OpenMP thread counts moves the worst of 1,800 rows by a few hundredths
    assert _cosines(rt, truth).min() > 0.7
    assert rt.vectors("news", sorted(small)).shape == (40, DIM)


# ---------------------------------------------------------------------------------------------- Ray Data


class _FakeDataset:
    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def map_batches(self, fn: Any, batch_format: str) -> _FakeDataset:
        assert batch_format == "pyarrow"
        return _FakeDataset(fn(self.table))

    def union(self, *others: _FakeDataset) -> _FakeDataset:
        return _FakeDataset(pa.concat_tables([self.table, *[o.table for o in others]]))


def test_ray_dataset_dequantises_warm_files(rt_lite: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray Data reads the warm files apart and maps :func:`from_warm` over them (stood in for without Ray)."""
    rt = rt_lite
    truth = _ingest(rt, "gaming", range(2))
    _lake_only(rt, D0 + 30 * DAY)
    rt.aging.apply(D0 + 3 * DAY)  # day 0 warm, day 1 hot
    data = types.ModuleType("ray.data")
    data.read_parquet = lambda files, filesystem=None: _FakeDataset(pa.concat_tables(pq.read_table(f) for f in files))
    ray = types.ModuleType("ray")
    ray.data = data  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setitem(sys.modules, "ray.data", data)
    table = lake_dataset(rt.lake, D0, D0 + 2 * DAY).table
    assert table.schema.equals(embedding_schema(DIM)) and table.num_rows == 2 * PER_DAY
    vecs = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, DIM)
    want = np.stack([truth[v] for v in table.column("video_id").to_pylist()])
    assert ((vecs * want).sum(1) / np.linalg.norm(vecs, axis=1)).min() > 0.999


def test_warm_conversion_round_trip() -> None:
    vecs = _vectors("x", 10, seed=1)
    table = pa.table(
        {
            "video_id": [f"v{i}" for i in range(10)],
            "domain": ["gaming"] * 10,
            "published_at": [D0 + timedelta(minutes=i) for i in range(10)],
            "channel_id": ["c"] * 10,
            "views": list(range(10)),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel(), pa.float32()), DIM),
        },
        schema=embedding_schema(DIM),
    )
    warm = to_warm(table)
    assert warm.column("embedding_i8").type == pa.binary(DIM) and warm.column("scale").type == pa.float32()
    back = from_warm(warm)
    assert back.schema.equals(embedding_schema(DIM))
    assert back.drop_columns(["embedding"]).equals(table.drop_columns(["embedding"]))
    got = back.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, DIM)
    assert ((got * vecs).sum(1) / np.linalg.norm(got, axis=1)).min() > 0.999
    assert from_warm(to_warm(table.slice(3, 4))).num_rows == 4  # sliced batches (Ray's) decode at their offset
    np.testing.assert_array_equal(
        from_warm(to_warm(table).slice(3, 4)).column("embedding").combine_chunks().flatten().to_numpy(),
        got[3:7].ravel(),
    )
