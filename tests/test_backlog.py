"""The requeue backlog: a merged or split topic's history goes back to the refinement queue after the commit,
a chunk per transaction, each video once, whoever drains it and however often it is stopped or started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text

from ray_topics.core.types import ClassificationStatus as Status
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.store import Store
from ray_topics.tiers.job import commit_lock
from tests.conftest import at_once, query_plans

T0 = datetime(2024, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)
LOCK = commit_lock("gaming")


def _store_rows(store: Store, topic: str, n: int, prefix: str, status: Status = Status.REFINED) -> list[str]:
    """``n`` answers on ``topic``, two per published hour (the drain breaks the tie by id); their ids in order."""
    rows = [
        {
            "video_id": f"{prefix}{i:03d}",
            "domain": topic.split(":")[0],
            "published_at": T0 + (i // 2) * H,
            "topic_id": topic,
            "confidence": 0.9,
            "status": status,
            "model_version": "v1",
            "classified_at": T0,
        }
        for i in range(n)
    ]
    with store.begin() as conn:
        conn.execute(insert(store.table("classifications")), rows)
    return [r["video_id"] for r in rows]


def _status(store: Store, ids: list[str]) -> list[str]:
    got = store.classifications.get(ids)
    return [got[v]["status"] for v in ids]


def _add(store: Store, domain: str, *topics: str) -> None:
    with store.begin() as conn:
        store.backlog.add(domain, list(topics), T0, conn)


def _counting_locks(store: Store, monkeypatch: pytest.MonkeyPatch, stop_at: int | None = None) -> list[str]:
    """Record each lock the store takes (one per drain transaction); raise at the ``stop_at``-th (a killed job)."""
    taken: list[str] = []
    real = store.lock

    def lock(conn: Any, key: str) -> None:
        taken.append(key)
        if len(taken) == stop_at:
            raise RuntimeError("killed")
        real(conn, key)

    monkeypatch.setattr(store, "lock", lock)
    return taken


def test_the_drain_requeues_a_topics_refined_history_a_chunk_per_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged = _store_rows(store, "gaming:1", 11, "m")
    aside = _store_rows(store, "gaming:1", 1, "x", Status.SET_ASIDE)
    other = _store_rows(store, "gaming:0", 4, "o")
    cooking = _store_rows(store, "cooking:1", 3, "c")
    _add(store, "gaming", "gaming:1")
    _add(store, "cooking", "cooking:1")
    assert set(_status(store, merged + other + cooking)) == {Status.REFINED}  # recording them moved nothing
    locks = _counting_locks(store, monkeypatch)

    assert store.backlog.drain("gaming", chunk=4, lock=LOCK) == 11
    # 12 rows on the topic: 4 + 4 + 4, and a fourth chunk finds none and drops it; an empty backlog takes no lock
    assert locks == [LOCK] * 4
    assert set(_status(store, merged)) == {Status.PRELIMINARY}
    assert _status(store, aside) == [Status.SET_ASIDE]  # no usable embedding: not queued again
    assert set(_status(store, other + cooking)) == {Status.REFINED}  # other topics, other domains
    assert store.backlog.topics() == ["cooking:1"]
    assert store.backlog.drain("gaming", chunk=4, lock=LOCK) == 0 and len(locks) == 4


def test_a_stopped_drain_goes_on_where_it_stopped(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each video is requeued once: those refined again (kept by a split's parent) after a stop are not requeued."""
    parent = _store_rows(store, "gaming:2", 10, "p")
    _add(store, "gaming", "gaming:2")
    with monkeypatch.context() as m:
        _counting_locks(store, m, stop_at=3)
        with pytest.raises(RuntimeError, match="killed"):
            store.backlog.drain("gaming", chunk=3, lock=LOCK)
    assert _status(store, parent) == [Status.PRELIMINARY] * 6 + [Status.REFINED] * 4
    # refine answers the first six meanwhile, and they stay on the parent
    again = {"topic_id": "gaming:2", "confidence": 0.8, "status": Status.REFINED, "model_version": "v2"}
    store.classifications.update([{**again, "video_id": v, "classified_at": T0 + H} for v in parent[:6]])

    assert store.backlog.drain("gaming", chunk=3, lock=LOCK) == 4
    assert _status(store, parent) == [Status.REFINED] * 6 + [Status.PRELIMINARY] * 4
    assert store.backlog.topics() == []


def test_a_topic_recorded_again_starts_over(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second split of a part-drained parent changes its older answers too: its history is requeued from the start."""
    parent = _store_rows(store, "gaming:2", 6, "p")
    _add(store, "gaming", "gaming:2")
    with monkeypatch.context() as m:
        _counting_locks(store, m, stop_at=2)
        with pytest.raises(RuntimeError):
            store.backlog.drain("gaming", chunk=2, lock=LOCK)
    again = {"topic_id": "gaming:2", "confidence": 0.8, "status": Status.REFINED, "model_version": "v2"}
    store.classifications.update([{**again, "video_id": v, "classified_at": T0 + H} for v in parent[:2]])
    _add(store, "gaming", "gaming:2")
    assert store.backlog.drain("gaming", chunk=2, lock=LOCK) == 6
    assert set(_status(store, parent)) == {Status.PRELIMINARY}


def test_two_drains_at_once_requeue_each_video_once(store: Store) -> None:
    """A scheduler starts the monthly job and the hourly refine at the same midnight: neither fails, each video
    goes back to the queue once, and the backlog ends empty."""
    merged = _store_rows(store, "gaming:1", 30, "m")
    split = _store_rows(store, "gaming:2", 21, "s")
    _add(store, "gaming", "gaming:1", "gaming:2")
    counts = at_once(*[lambda: store.backlog.drain("gaming", chunk=2, lock=LOCK)] * 2)
    assert sum(counts) == 51
    assert set(_status(store, merged + split)) == {Status.PRELIMINARY}
    assert store.backlog.topics() == []


def test_the_drain_reads_the_topics_index_not_the_history(store: Store) -> None:
    """Each chunk is a range of ``ix_class_topic_published``: its cost follows the chunk, not the stored history."""
    _store_rows(store, "gaming:0", 4000, "h")
    _store_rows(store, "gaming:1", 40, "m")
    _add(store, "gaming", "gaming:1")
    with store.begin() as conn:  # a cursor half way, as a drain leaves it between chunks
        conn.execute(store.table("requeue_backlog").update().values(cursor_at=T0 + 10 * H, cursor_video="m020"))
    if store.engine.dialect.name == "postgresql":  # the statistics a live database has
        with store.begin() as conn:
            conn.execute(text(f'ANALYZE "{store.schema}".classifications'))
    plans = query_plans(store, lambda: store.backlog.drain("gaming", chunk=8, lock=LOCK), kinds=("SELECT", "UPDATE"))
    assert "ix_class_topic_published" in plans, plans
    assert "SCAN classifications" not in plans and "Seq Scan on classifications" not in plans, plans
    # the update's range ends at the chunk's last video, not at the end of the topic's history
    sqlite = store.engine.dialect.name == "sqlite"
    assert ("published_at>? AND published_at<?" if sqlite else "(published_at <= ") in plans, plans


def test_the_monthly_job_names_a_domain_whose_requeue_failed_and_finishes_the_others(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One domain's failure after the commits leaves its backlog for the hourly refine; the others are refined, and
    videos whose embedding cannot be read are counted and named (they keep their answer)."""
    import ray_topics.tiers.monthly as monthly
    import ray_topics.tiers.refine as refine

    store = runtime.store
    _store_rows(store, "gaming:1", 4, "g")
    lost = _store_rows(store, "cooking:1", 3, "c")  # no embedding anywhere (a lost lake day)
    _add(store, "gaming", "gaming:1")
    _add(store, "cooking", "cooking:1")
    refine_domain = refine.refine_domain

    def failing_for_gaming(rt: Runtime, models: Any, domain: str, *args: Any, **kwargs: Any) -> Any:
        if domain == "gaming":
            raise RuntimeError("lake unreachable")
        return refine_domain(rt, models, domain, *args, **kwargs)

    monkeypatch.setattr(refine, "refine_domain", failing_for_gaming)
    plan_monthly = monthly.plan_monthly

    def failing_plan_for_tech(rt: Runtime, domain: str, as_of: Any) -> Any:
        if domain == "tech":
            raise ValueError("planted")
        return plan_monthly(rt, domain, as_of)

    monkeypatch.setattr(monthly, "plan_monthly", failing_plan_for_tech)
    out = monthly.run_monthly(runtime, T0 + timedelta(days=40))
    # both kinds of failure named: a domain's plan, another's requeue after the commits
    assert out["failed"] == {"gaming": "RuntimeError: lake unreachable", "tech": "ValueError: planted"}
    assert out["cooking"]["requeued"] == 3 and out["cooking"]["refined"] == 0
    assert out["cooking"]["set_aside"] == 3 and sorted(out["cooking"]["set_aside_examples"]) == lost
    assert store.backlog.topics() == ["gaming:1"]  # the next hourly refine takes it up
    assert _status(store, lost) == [Status.SET_ASIDE] * 3
