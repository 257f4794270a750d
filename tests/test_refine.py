"""Refine's compaction step: closed hours into the lake, closed days into one file, old hot rows evicted."""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from ray_topics.core.types import ClassificationStatus
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers.refine import DAY_LOOKBACK, closed_days, compact

H = timedelta(hours=1)
D1 = datetime(2024, 3, 1, tzinfo=UTC)


def _vec(vid: str, dim: int) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(vid.encode())).standard_normal(dim).astype(np.float32)


def _ingest(rt: Runtime, *specs: tuple[str, str, datetime, str]) -> None:
    """Store (video_id, domain, published_at, status) rows with deterministic vectors."""
    dim = rt.cfg.embedding.dim
    videos = [
        {"video_id": v, "domain": d, "channel_id": f"ch-{v}", "published_at": at, "views": 7} for v, d, at, _ in specs
    ]
    classes = [
        {"video_id": v, "domain": d, "published_at": at, "topic_id": None, "confidence": 0.5, "status": st,
         "model_version": f"{d}@v1", "classified_at": at}
        for v, d, at, st in specs
    ]  # fmt: skip
    rt.store.videos.ingest(videos, np.stack([_vec(v, dim) for v, *_ in specs]), classes)


def _listing(rt: Runtime, day: date, domain: str) -> list[str]:
    folder = Path(rt.lake.base) / "embeddings" / f"day={day.isoformat()}" / f"domain={domain}"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _lake_ids(rt: Runtime) -> list[str]:
    ids, vecs = rt.lake.read(D1 - 5 * H, D1 + 48 * H)
    assert len(ids) == len(set(ids)), "a row was read twice"
    for vid, vec in zip(ids, vecs, strict=True):
        np.testing.assert_array_equal(vec, _vec(vid, rt.cfg.embedding.dim))
    return sorted(ids)


def test_closed_days() -> None:
    midnight = datetime(2024, 3, 2, tzinfo=UTC)
    assert DAY_LOOKBACK == 2
    assert closed_days(midnight) == [date(2024, 2, 29), date(2024, 3, 1)]
    assert closed_days(midnight, {date(2024, 2, 10), date(2024, 3, 1)}) == [
        date(2024, 2, 10),
        date(2024, 2, 29),
        date(2024, 3, 1),
    ]
    # the day of a cutoff after its midnight is still open, whatever was written to it
    assert closed_days(midnight + 5 * H, {date(2024, 3, 2)}) == [date(2024, 2, 29), date(2024, 3, 1)]


def test_compact_rewrites_closed_days_into_one_file_each(runtime: Runtime) -> None:
    rt = runtime
    _ingest(
        rt,
        ("g1", "gaming", D1 + 1 * H, ClassificationStatus.REFINED),
        ("g5", "gaming", D1 + 5 * H + 10 * timedelta(minutes=1), ClassificationStatus.PRELIMINARY),
        ("g23", "gaming", D1 + 23 * H + 59 * timedelta(minutes=1), ClassificationStatus.REFINED),
        ("c5", "cooking", D1 + 5 * H, ClassificationStatus.REFINED),
        ("g24", "gaming", D1 + 24 * H + timedelta(minutes=1), ClassificationStatus.REFINED),  # 2024-03-02 00:01
        ("g26", "gaming", D1 + 26 * H, ClassificationStatus.REFINED),  # 02:00, an open hour at the first run
    )
    stats = compact(rt, D1 + 25 * H + timedelta(minutes=30))  # cutoff 2024-03-02 01:00
    assert stats == {"compacted": 5, "hours": 5, "days": 2, "evicted": 0}
    assert _listing(rt, date(2024, 3, 1), "gaming") == ["day.parquet"]
    assert _listing(rt, date(2024, 3, 1), "cooking") == ["day.parquet"]
    assert _listing(rt, date(2024, 3, 2), "gaming") == ["hour=00.parquet"]  # its day is open
    assert _lake_ids(rt) == ["c5", "g1", "g23", "g24", "g5"]
    assert [r["video_id"] for r in rt.store.videos.uncompacted(before=D1 + 48 * H)] == ["g26"]

    # the same run again changes nothing; a late arrival for the closed day joins its day file
    assert compact(rt, D1 + 25 * H + timedelta(minutes=30)) == {"compacted": 0, "hours": 0, "days": 0, "evicted": 0}
    _ingest(rt, ("late", "gaming", D1 + 10 * H, ClassificationStatus.PRELIMINARY))
    assert compact(rt, D1 + 27 * H)["compacted"] == 2  # late and g26
    assert _listing(rt, date(2024, 3, 1), "gaming") == ["day.parquet"]
    assert _listing(rt, date(2024, 3, 2), "gaming") == ["hour=00.parquet", "hour=02.parquet"]
    assert _lake_ids(rt) == ["c5", "g1", "g23", "g24", "g26", "g5", "late"]

    # the next midnight closes 2024-03-02; hot rows stay until hot_retention_days, then the refined go
    assert compact(rt, D1 + 48 * H)["days"] == 1
    assert _listing(rt, date(2024, 3, 2), "gaming") == ["day.parquet"]
    assert _lake_ids(rt) == ["c5", "g1", "g23", "g24", "g26", "g5", "late"]
    assert rt.store.count("embeddings") == 7
    keep = rt.cfg.refine.hot_retention_days
    stats = compact(rt, D1 + timedelta(days=keep) + 25 * H)  # evicts what was published before 03-02 01:00
    assert stats["evicted"] == 4  # g1, g23, c5, g24: refined; g5 and late are still preliminary
    assert set(rt.store.videos.hot_vectors(["g1", "g5", "g23", "c5", "g24", "g26", "late"])) == {"g5", "late", "g26"}
    assert _lake_ids(rt) == ["c5", "g1", "g23", "g24", "g26", "g5", "late"]


def test_vectors_of_evicted_rows_come_from_the_day_file(runtime: Runtime) -> None:
    rt = runtime
    _ingest(rt, *[(f"v{i}", "gaming", D1 + i * H, ClassificationStatus.REFINED) for i in range(0, 24, 3)])
    compact(rt, D1 + timedelta(days=30))
    assert rt.store.count("embeddings") == 0
    assert _listing(rt, date(2024, 3, 1), "gaming") == ["day.parquet"]
    ids = ["v21", "v0", "v9"]
    got = rt.vectors("gaming", ids)
    np.testing.assert_array_equal(got, np.stack([_vec(v, rt.cfg.embedding.dim) for v in ids]))


def test_refine_keeps_an_answer_a_job_committed_after_refine_read_it(runtime: Runtime, monkeypatch) -> None:
    """A monthly merge moves a pending row while refine holds it: refine must not move it back."""
    from ray_topics.tiers.realtime import DomainClassifier
    from ray_topics.tiers.refine import refine_domain

    _ingest(runtime, *[(f"v{i}", "gaming", D1 + i * H / 4, ClassificationStatus.PRELIMINARY) for i in range(4)])
    merged = {
        "video_id": "v1",
        "topic_id": "gaming:5",
        "confidence": 0.95,
        "status": ClassificationStatus.REFINED,
        "model_version": "gaming@v3",
        "classified_at": D1 + 2 * H,
    }
    vectors = runtime.usable_vectors

    def read_then_a_job_commits(domain: str, ids: list[str]) -> tuple:
        out = vectors(domain, ids)
        runtime.store.classifications.update([merged])  # committed between refine's read and its write
        return out

    monkeypatch.setattr(runtime, "usable_vectors", read_then_a_job_commits)
    models = DomainClassifier(runtime.registry, runtime.confidence)
    assert refine_domain(runtime, models, "gaming", D1 + 2 * H).refined == 4
    rows = runtime.store.classifications.get([f"v{i}" for i in range(4)])
    assert {k: rows["v1"][k] for k in ("topic_id", "status", "model_version")} == {
        "topic_id": "gaming:5",
        "status": ClassificationStatus.REFINED,
        "model_version": "gaming@v3",
    }
    assert all(rows[v]["status"] == ClassificationStatus.REFINED for v in ("v0", "v2", "v3"))
    assert runtime.store.classifications.pending("gaming", 10) == []


def _topic(domain: str, number: int, centroid: np.ndarray, at: datetime):
    from ray_topics.core.index import normalize
    from ray_topics.core.types import Topic

    return Topic(
        f"{domain}:{number}", domain, number, f"t{number}", [], normalize(centroid), 0.0, 0.3, 1, "active", at, at
    )


def test_refine_classifies_again_when_a_job_publishes_a_model_meanwhile(runtime: Runtime, monkeypatch) -> None:
    """A batch classified with a model a job replaced before refine wrote it is classified again."""
    from ray_topics.tiers.realtime import DomainClassifier
    from ray_topics.tiers.refine import refine_domain

    dim = runtime.cfg.embedding.dim
    with runtime.store.begin() as conn:
        runtime.store.topics.upsert([_topic("gaming", 0, _vec("a", dim), D1)], conn)
        runtime.registry.publish("gaming", D1, "test", conn)  # gaming@v1
    _ingest(runtime, *[(f"v{i}", "gaming", D1 + i * H / 4, ClassificationStatus.PRELIMINARY) for i in range(4)])
    models = DomainClassifier(runtime.registry, runtime.confidence)
    models.refresh()
    vectors, calls = runtime.usable_vectors, []

    def read_then_a_job_publishes(domain: str, ids: list[str]) -> tuple:
        calls.append(1)
        if len(calls) == 1:
            with runtime.store.begin() as conn:
                runtime.store.topics.upsert([_topic("gaming", 1, _vec("b", dim), D1)], conn)
                runtime.registry.publish("gaming", D1 + H, "monthly", conn)  # gaming@v2
        return vectors(domain, ids)

    monkeypatch.setattr(runtime, "usable_vectors", read_then_a_job_publishes)
    assert refine_domain(runtime, models, "gaming", D1 + 2 * H).refined == 4
    assert len(calls) == 2  # the first batch was not written: classified again with v2
    rows = runtime.store.classifications.get([f"v{i}" for i in range(4)])
    assert {r["model_version"] for r in rows.values()} == {"gaming@v2"}


def test_the_monthly_pass_over_the_whole_queue_ends_while_tier1_keeps_adding(runtime: Runtime, monkeypatch) -> None:
    """``whole_queue`` takes what is pending when it starts, however recent, and leaves the rows that arrive meanwhile
    to the hourly refine: a busy stream cannot keep it running."""
    from ray_topics.tiers.realtime import DomainClassifier
    from ray_topics.tiers.refine import refine_domain

    dim = runtime.cfg.embedding.dim
    with runtime.store.begin() as conn:
        runtime.store.topics.upsert([_topic("gaming", 0, _vec("a", dim), D1)], conn)
        runtime.registry.publish("gaming", D1, "test", conn)
    # pending before the job's as_of (D1 + 2 h) and after it (a job run late)
    _ingest(runtime, *[(f"v{i}", "gaming", D1 + i * H, ClassificationStatus.PRELIMINARY) for i in range(5)])
    models = DomainClassifier(runtime.registry, runtime.confidence)
    models.refresh()
    runtime.cfg.refine.batch_size = 2
    vectors, arrived = runtime.usable_vectors, []

    def tier1_adds_one_per_batch(domain: str, ids: list[str]) -> tuple:
        vid = f"new{len(arrived)}"
        arrived.append(vid)
        _ingest(runtime, (vid, "gaming", D1 + (10 + len(arrived)) * H, ClassificationStatus.PRELIMINARY))
        return vectors(domain, ids)

    monkeypatch.setattr(runtime, "usable_vectors", tier1_adds_one_per_batch)
    assert refine_domain(runtime, models, "gaming", D1 + 2 * H, whole_queue=True).refined == 5
    assert len(arrived) == 3  # batches of 2, 2, 1
    rows = runtime.store.classifications.get(arrived)
    assert {r["status"] for r in rows.values()} == {ClassificationStatus.PRELIMINARY}
    # the hourly refine of the job's hour takes only what was published before it
    assert refine_domain(runtime, models, "gaming", D1 + 2 * H).refined == 0


def _spoil(rt: Runtime, video_id: str, blob: bytes) -> None:
    """Overwrite a stored hot embedding with bytes no reader can use (corruption, an old dimension)."""
    from sqlalchemy import update

    t = rt.store.table("embeddings")
    with rt.store.begin() as conn:
        conn.execute(update(t).where(t.c.video_id == video_id).values(vector=blob))


def test_refine_sets_bad_rows_aside_and_goes_on(runtime: Runtime) -> None:
    """Unreadable embeddings are set aside (counted, named); every other row is refined and compacted."""
    from ray_topics.tiers.refine import run_refine

    dim = runtime.cfg.embedding.dim
    specs = [(f"g{i}", "gaming", D1 + i * H / 4, ClassificationStatus.PRELIMINARY) for i in range(4)]
    specs += [(f"c{i}", "cooking", D1 + i * H / 4, ClassificationStatus.PRELIMINARY) for i in range(3)]
    _ingest(runtime, *specs)
    _spoil(runtime, "g1", np.ones(dim // 2, np.float32).tobytes())  # wrong dimension
    _spoil(runtime, "g2", np.full(dim, np.nan, np.float32).tobytes())  # not finite

    stats = run_refine(runtime, D1 + 2 * H)

    assert stats["refined"] == {**{d: 0 for d in runtime.cfg.domains.names}, "gaming": 2, "cooking": 3}
    assert stats["set_aside"] == {"gaming": 2}
    assert set(stats["set_aside_examples"]) == {"g1", "g2"}
    assert "expected" in stats["set_aside_examples"]["g1"] and "NaN" in stats["set_aside_examples"]["g2"]
    assert "failed" not in stats
    assert stats["compacted"] == 5 and stats["not_compacted"] == 2
    rows = runtime.store.classifications.get([v for v, *_ in specs])
    assert {v for v, r in rows.items() if r["status"] == ClassificationStatus.SET_ASIDE} == {"g1", "g2"}
    assert {v for v, r in rows.items() if r["status"] == ClassificationStatus.REFINED} == {"g0", "g3", "c0", "c1", "c2"}
    assert _lake_ids(runtime) == ["c0", "c1", "c2", "g0", "g3"]
    # the next hour: nothing is set aside again, the bad rows stay hot (never evicted) and are counted
    again = run_refine(runtime, D1 + 3 * H)
    assert again["set_aside"] == {} and again["not_compacted"] == 2
    assert set(runtime.store.videos.hot_vectors(["g1", "g2"])) == {"g1", "g2"}


def test_compaction_in_pages_writes_every_row_once_and_skips_the_unreadable(runtime: Runtime) -> None:
    """A catch-up after an outage holds one page of hot rows at a time (``refine.compact_page_rows``), not
    every row the outage left: here pages of 2 over 9 rows in two days and two domains, two unreadable ones
    among them (each page's end the key of the next, so an unreadable row is never read again as a page)."""
    rt = runtime
    rt.cfg.refine.compact_page_rows = 2
    dim = rt.cfg.embedding.dim
    specs = [(f"g{i}", "gaming", D1 + i * 5 * H, ClassificationStatus.REFINED) for i in range(7)]  # to 03-02 06:00
    specs += [(f"c{i}", "cooking", D1 + i * H, ClassificationStatus.REFINED) for i in range(2)]
    _ingest(rt, *specs)
    _spoil(rt, "g1", np.ones(dim // 2, np.float32).tobytes())
    _spoil(rt, "g2", np.full(dim, np.nan, np.float32).tobytes())
    stats = compact(rt, D1 + 48 * H)
    assert stats == {"compacted": 7, "hours": 7, "days": 3, "evicted": 0, "not_compacted": 2}
    assert _lake_ids(rt) == ["c0", "c1", "g0", "g3", "g4", "g5", "g6"]
    assert _listing(rt, date(2024, 3, 1), "gaming") == ["day.parquet"]
    assert sorted(r["video_id"] for r in rt.store.videos.uncompacted(before=D1 + 48 * H)) == ["g1", "g2"]
    assert compact(rt, D1 + 48 * H)["compacted"] == 0


def test_refine_failing_in_one_domain_refines_the_others(runtime: Runtime, monkeypatch) -> None:
    """A domain whose refinement raises is named under failed; the others and compaction go on."""
    from ray_topics.tiers.realtime import DomainClassifier
    from ray_topics.tiers.refine import run_refine

    _ingest(
        runtime,
        ("g0", "gaming", D1, ClassificationStatus.PRELIMINARY),
        ("c0", "cooking", D1, ClassificationStatus.PRELIMINARY),
    )
    model = DomainClassifier.model

    def broken_for_cooking(self, domain: str):
        if domain == "cooking":
            raise RuntimeError("cooking's model cannot be read")
        return model(self, domain)

    monkeypatch.setattr(DomainClassifier, "model", broken_for_cooking)
    stats = run_refine(runtime, D1 + 2 * H)
    assert stats["failed"] == {"cooking": "RuntimeError: cooking's model cannot be read"}
    assert stats["refined"]["gaming"] == 1 and "cooking" not in stats["refined"]
    assert stats["compacted"] == 2
    rows = runtime.store.classifications.get(["g0", "c0"])
    assert rows["g0"]["status"] == ClassificationStatus.REFINED
    assert rows["c0"]["status"] == ClassificationStatus.PRELIMINARY  # still queued: the next run retries it
