"""Tests of the operational store and job runs, on SQLite and PostgreSQL, with known answers."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import IntegrityError, StatementError

from ray_topics.core.lifecycle import make_topic
from ray_topics.core.router import Route
from ray_topics.core.types import ClassificationStatus, EventType, Topic, TopicEvent
from ray_topics.storage.db import _add_column
from ray_topics.storage.runs import ALL_DOMAINS, once
from ray_topics.storage.store import Store
from tests.conftest import query_plans

REFINED = ClassificationStatus.REFINED

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
DAY = timedelta(days=1)
DIM = 4


def _vec(vid: str) -> np.ndarray:
    """A deterministic float32 vector per video id."""
    return np.random.default_rng(zlib.crc32(vid.encode())).standard_normal(DIM).astype(np.float32)


def _batch(*specs: dict[str, Any]) -> tuple[list[dict[str, Any]], np.ndarray, list[dict[str, Any]]]:
    """(videos, vectors, classifications) from specs: ``id`` plus optional overrides."""
    videos, vecs, classes = [], [], []
    for s in specs:
        vid, domain, at = s["id"], s.get("domain", "gaming"), s.get("at", T0)
        videos.append(
            {
                "video_id": vid,
                "domain": domain,
                "channel_id": s.get("channel", "ch0"),
                "published_at": at,
                "title": s.get("title", f"title {vid}"),
                "description": s.get("description", ""),
                "tags": s.get("tags", []),
                "category": s.get("category"),
                "views": s.get("views"),
                "routed_by": s.get("route"),
            }
        )
        vecs.append(s.get("vec", _vec(vid)))
        classes.append(
            {
                "video_id": vid,
                "domain": domain,
                "published_at": at,
                "topic_id": s.get("topic", f"{domain}:0"),
                "confidence": s.get("conf", 0.9),
                "status": s.get("status", ClassificationStatus.PRELIMINARY),
                "model_version": s.get("version", f"{domain}@v1"),
                "classified_at": s.get("classified_at", at),
            }
        )
    return videos, np.stack(vecs) if vecs else np.zeros((0, DIM), np.float32), classes


def _ingest(store: Store, *specs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return store.videos.ingest(*_batch(*specs))


def _v(vid: str, **kw: Any) -> dict[str, Any]:
    return {"id": vid, **kw}


def _counts(store: Store) -> tuple[int, int, int]:
    return store.count("videos"), store.count("embeddings"), store.count("classifications")


def _topic(domain: str, number: int, status: str = "active", **kw: Any) -> Topic:
    centroid = kw.pop("centroid", np.eye(DIM, dtype=np.float32)[number % DIM])
    return Topic(
        topic_id=f"{domain}:{number}",
        domain=domain,
        number=number,
        label=kw.pop("label", f"{domain} topic {number}"),
        keywords=kw.pop("keywords", ["alpha", "beta"]),
        centroid=centroid,
        sim_mean=kw.pop("sim_mean", 0.8),
        sim_std=kw.pop("sim_std", 0.05),
        size=kw.pop("size", 10),
        status=status,
        born_at=kw.pop("born_at", T0),
        last_seen_at=kw.pop("last_seen_at", T0),
        **kw,
    )


# ---------------------------------------------------------------------------------------------- ingest


def test_ingest_commits_videos_embeddings_and_classifications(store: Store) -> None:
    out = _ingest(store, _v("a", topic="gaming:1", conf=0.75), _v("b"), _v("c", domain="cooking", topic=None))
    assert _counts(store) == (3, 3, 3)
    assert set(out) == {"a", "b", "c"}
    assert out["a"]["topic_id"] == "gaming:1" and out["a"]["confidence"] == pytest.approx(0.75)
    assert out["a"]["status"] == ClassificationStatus.PRELIMINARY and out["a"]["model_version"] == "gaming@v1"
    assert out["c"]["topic_id"] is None and out["c"]["domain"] == "cooking"
    assert store.count("videos", domain="gaming") == 2
    assert store.videos.existing_ids(["a", "c", "zz"]) == {"a", "c"}


def test_ingest_stores_each_videos_route(store: Store) -> None:
    _ingest(store, _v("a", route=Route.NEIGHBOURS), _v("b", route=Route.EXPLICIT), _v("c"))
    assert store.videos.routes(["a", "b", "c"]) == {"a": "neighbours", "b": "explicit", "c": None}


def test_a_store_made_before_a_column_gains_it_on_open(store_url: tuple[str, str | None]) -> None:
    url, schema = store_url
    old = Store(url, schema=schema)
    _ingest(old, _v("before"))
    videos = old.table("videos")
    with old.begin() as conn:  # the store as an earlier version made it: no route column
        conn.execute(text(f"ALTER TABLE {conn.dialect.identifier_preparer.format_table(videos)} DROP COLUMN route"))
    old.dispose()
    # two processes (a scheduler's job and a replica) open the old store at the same moment: both open it
    openers = [Store(url, schema=schema, create=False) for _ in range(2)]
    both = threading.Barrier(2, timeout=60)
    failed: list[BaseException] = []

    def open_it(opener: Store) -> None:
        try:
            both.wait()
            opener.create()
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=open_it, args=(o,)) for o in openers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in openers:
        o.dispose()
    assert not failed, failed
    s = Store(url, schema=schema)  # the column is there; the rows stored before read NULL
    try:
        _ingest(s, _v("after", route=Route.PROTOTYPE))
        assert s.videos.routes(["before", "after"]) == {"before": None, "after": "prototype"}
        assert s.videos.domains(["before"]) == {"before": "gaming"}  # nothing else of the old row changed
        # a second process that read the catalogue before the first added the column adds it again: a no-op
        with s.begin() as conn:
            _add_column(conn, videos, videos.c.route)
        Store(url, schema=schema).dispose()
        assert s.videos.routes(["after"]) == {"after": "prototype"}
    finally:
        s.dispose()


def test_only_a_nullable_column_without_a_default_is_added_to_a_store() -> None:
    s = Store("sqlite://")
    with s.begin() as conn, pytest.raises(RuntimeError, match="nullable"):
        _add_column(conn, s.table("videos"), s.table("videos").c.domain)


def test_ingest_empty_batch_writes_nothing(store: Store) -> None:
    assert _ingest(store) == {}
    assert _counts(store) == (0, 0, 0)


def test_second_ingest_of_same_id_keeps_the_first_answer(store: Store) -> None:
    first = _ingest(store, _v("a", topic="gaming:0", conf=0.9, vec=np.ones(DIM, np.float32), title="first"))
    again = _ingest(
        store,
        _v("a", topic="gaming:7", conf=0.1, vec=np.full(DIM, 2.0, np.float32), title="second", version="gaming@v9"),
    )
    assert again == first
    assert again["a"]["topic_id"] == "gaming:0" and again["a"]["model_version"] == "gaming@v1"
    assert _counts(store) == (1, 1, 1)
    np.testing.assert_array_equal(store.videos.hot_vectors(["a"])["a"], np.ones(DIM, np.float32))  # not the retry's
    np.testing.assert_array_equal(store.videos.hot_vectors(["a"])["a"], np.ones(DIM, np.float32))
    assert store.classifications.rows_for(["a"])[0]["title"] == "first"


def test_mixed_batch_stores_only_the_new_ids(store: Store) -> None:
    _ingest(store, _v("a", topic="gaming:0"), _v("b", topic="gaming:0"))
    out = _ingest(store, _v("b", topic="gaming:5"), _v("c", topic="gaming:5"), _v("d", topic="gaming:6"))
    assert _counts(store) == (4, 4, 4)
    assert {k: r["topic_id"] for k, r in out.items()} == {"b": "gaming:0", "c": "gaming:5", "d": "gaming:6"}
    assert store.classifications.topic_sizes("gaming") == {"gaming:0": 2, "gaming:5": 1, "gaming:6": 1}


def test_timestamps_round_trip_to_aware_utc(store: Store) -> None:
    plus2 = timezone(timedelta(hours=2))
    aware = datetime(2024, 3, 1, 14, 0, 0, 123456, tzinfo=plus2)  # 12:00:00.123456 UTC
    naive = datetime(2024, 3, 1, 12, 30)  # taken as UTC
    out = _ingest(store, _v("aware", at=aware, classified_at=aware + H), _v("naive", at=naive))
    a, n = out["aware"], out["naive"]
    assert a["published_at"] == datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert a["classified_at"] == datetime(2024, 3, 1, 13, 0, 0, 123456, tzinfo=UTC)
    assert n["published_at"] == datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    for r in (a, n):
        assert r["published_at"].utcoffset() == timedelta(0)
        assert r["classified_at"].utcoffset() == timedelta(0)
    lo, hi = store.videos.published_range(["aware", "naive"])
    assert lo == datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert hi == datetime(2024, 3, 1, 12, 30, 0, 1, tzinfo=UTC)
    # a window given in another zone selects the same rows
    assert store.activity.domain_volume("gaming", aware, aware + timedelta(microseconds=1)) == 1


def test_tags_round_trip_as_json(store: Store) -> None:
    tags = ["speedrun", "ünïcödé", 'with "quotes"', "emoji 🎮", ""]
    _ingest(store, _v("a", tags=tags, description="d\nline"), _v("b"))
    rows = {r["video_id"]: r for r in store.classifications.rows_for(["a", "b"])}
    assert rows["a"]["tags"] == tags and rows["a"]["description"] == "d\nline"
    assert rows["b"]["tags"] == []


def test_large_view_counts_are_stored(store: Store) -> None:
    # the most viewed videos are well past 2**31 views
    _ingest(store, _v("viral", views=15_000_000_000), _v("small", views=3))
    assert {r["video_id"]: r["views"] for r in store.classifications.rows_for(["viral", "small"])} == {
        "viral": 15_000_000_000,
        "small": 3,
    }


def test_vectors_round_trip_exactly(store: Store) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((3, DIM)).astype(np.float32)
    vecs[1] = [1e-38, -3.4e38, np.float32(1) / 3, -0.0]
    specs = [_v(f"v{i}", at=T0 + i * H, vec=vecs[i]) for i in range(3)]
    # float64 input is stored as float32
    specs.append(_v("f64", at=T0 + 3 * H, vec=np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float64)))
    _ingest(store, *specs)
    hot = store.videos.hot_vectors(["v0", "v1", "v2", "f64", "missing"])
    assert set(hot) == {"v0", "v1", "v2", "f64"}
    for i in range(3):
        assert hot[f"v{i}"].dtype == np.float32
        assert hot[f"v{i}"].tobytes() == vecs[i].tobytes()
    np.testing.assert_array_equal(hot["f64"], np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32))
    cold = store.videos.uncompacted(before=T0 + DAY)
    assert [r["video_id"] for r in cold] == ["v0", "v1", "v2", "f64"]
    assert cold[1]["vector"].tobytes() == vecs[1].tobytes()


@pytest.mark.parametrize("broken", ["key_missing_everywhere", "null_in_one_row"])
def test_failed_ingest_stores_nothing_of_its_batch(store: Store, broken: str) -> None:
    _ingest(store, _v("old", topic="gaming:0", conf=0.9))
    videos, vecs, classes = _batch(_v("new1"), _v("new2"))
    if broken == "key_missing_everywhere":
        for c in classes:
            del c["confidence"]
    else:
        classes[1]["model_version"] = None
    with pytest.raises(StatementError):
        store.videos.ingest(videos, vecs, classes)
    assert _counts(store) == (1, 1, 1)
    assert store.videos.existing_ids(["old", "new1", "new2"]) == {"old"}
    assert store.videos.hot_vectors(["new1", "new2"]) == {}
    old = store.classifications.get(["old"])["old"]
    assert (old["topic_id"], old["confidence"]) == ("gaming:0", pytest.approx(0.9))
    # the same batch, repaired, goes in afterwards
    _ingest(store, _v("new1"), _v("new2"))
    assert _counts(store) == (3, 3, 3)


# ---------------------------------------------------------------------------------------------- classifications


def _queue(store: Store) -> None:
    _ingest(
        store,
        _v("late", at=T0 + 2 * H),
        _v("early", at=T0),
        _v("done", at=T0 + H, status=ClassificationStatus.REFINED),
        _v("mid-b", at=T0 + H),
        _v("mid-a", at=T0 + H),
        _v("other", domain="cooking", at=T0),
    )


def test_pending_is_preliminary_per_domain_oldest_first(store: Store) -> None:
    _queue(store)
    assert [r["video_id"] for r in store.classifications.pending("gaming", 10)] == ["early", "mid-a", "mid-b", "late"]
    assert [r["video_id"] for r in store.classifications.pending("gaming", 2)] == ["early", "mid-a"]
    assert [r["video_id"] for r in store.classifications.pending("gaming", 10, published_before=T0 + 2 * H)] == [
        "early",
        "mid-a",
        "mid-b",
    ]
    assert [r["video_id"] for r in store.classifications.pending("gaming", 10, published_before=T0 + H)] == ["early"]
    assert [r["video_id"] for r in store.classifications.pending("gaming", 10, published_before=T0)] == []
    assert [r["video_id"] for r in store.classifications.pending("cooking", 10)] == ["other"]
    assert store.classifications.pending("news", 10) == []
    assert store.classifications.pending("gaming", 1)[0]["model_version"] == "gaming@v1"


def test_update_classifications_refines_rows(store: Store) -> None:
    _queue(store)
    at = datetime(2024, 3, 2, 3, 0, tzinfo=timezone(timedelta(hours=3)))
    store.classifications.update(
        [
            {"video_id": "early", "topic_id": "gaming:3", "confidence": 0.42, "status": ClassificationStatus.REFINED,
             "model_version": "gaming@v2", "classified_at": at},
            {"video_id": "late", "topic_id": None, "confidence": 0.1, "status": ClassificationStatus.REFINED,
             "model_version": "gaming@v2", "classified_at": at},
        ]
    )  # fmt: skip
    got = store.classifications.get(["early", "late", "mid-a"])
    assert (got["early"]["topic_id"], got["early"]["confidence"]) == ("gaming:3", pytest.approx(0.42))
    assert got["early"]["status"] == ClassificationStatus.REFINED and got["early"]["model_version"] == "gaming@v2"
    assert got["early"]["classified_at"] == datetime(2024, 3, 2, 0, 0, tzinfo=UTC)
    assert got["late"]["topic_id"] is None
    assert got["mid-a"]["status"] == ClassificationStatus.PRELIMINARY and got["mid-a"]["model_version"] == "gaming@v1"
    assert [r["video_id"] for r in store.classifications.pending("gaming", 10)] == ["mid-a", "mid-b"]
    assert store.count("classifications", status=ClassificationStatus.REFINED) == 3
    store.classifications.update([])  # no-op


def test_update_classifications_joins_the_callers_transaction(store: Store) -> None:
    _queue(store)
    row = {"video_id": "early", "topic_id": "gaming:3", "confidence": 0.5, "status": ClassificationStatus.REFINED,
           "model_version": "gaming@v2", "classified_at": T0}  # fmt: skip
    with pytest.raises(RuntimeError), store.begin() as conn:
        store.classifications.update([row], conn=conn)
        raise RuntimeError("crash before commit")
    assert store.classifications.get(["early"])["early"]["status"] == ClassificationStatus.PRELIMINARY
    with store.begin() as conn:
        store.classifications.update([row], conn=conn)
    assert store.classifications.get(["early"])["early"]["status"] == ClassificationStatus.REFINED


def test_classified_window_bounds_and_misfits(store: Store) -> None:
    _ingest(
        store,
        _v("before", at=T0 - timedelta(microseconds=1), conf=0.1),
        _v("start", at=T0, conf=0.95, channel="c1", views=7),
        _v("low", at=T0 + H, conf=0.59),
        _v("edge", at=T0 + H, conf=0.6),
        _v("none", at=T0 + 2 * H, topic=None, conf=0.8),
        _v("end", at=T0 + 3 * H, conf=0.1),
        _v("cook", domain="cooking", at=T0 + H, conf=0.1),
    )
    rows = store.classifications.window("gaming", T0, T0 + 3 * H)
    assert [r["video_id"] for r in rows] == ["start", "edge", "low", "none"]
    first = rows[0]
    assert (first["channel_id"], first["views"], first["title"], first["tags"]) == ("c1", 7, "title start", [])
    misfits = store.classifications.window("gaming", T0, T0 + 3 * H, misfit_below=0.6)
    assert [r["video_id"] for r in misfits] == ["low", "none"]
    nth = [store.classifications.nth_newest_misfit("gaming", T0, T0 + 3 * H, 0.6, n) for n in (1, 2, 3)]
    assert nth == [T0 + 2 * H, T0 + H, None]
    assert store.classifications.nth_newest_misfit("gaming", T0 - H, T0 + 4 * H, 0.6, 4) == T0 - timedelta(
        microseconds=1
    )
    bare = store.classifications.window("gaming", T0, T0 + 3 * H, with_text=False)
    assert "title" not in bare[0] and bare[0]["confidence"] == pytest.approx(0.95)


def test_iter_window_ids_streams_the_window_in_pages(store: Store) -> None:
    """The window's (video_id, topic_id) rows, oldest first, each once, read a page at a time: rows sharing an
    instant across a page's end, and an instant holding more than a page, are neither lost nor repeated."""
    tie, crowd = T0 + H, T0 + 2 * H
    _ingest(
        store,
        _v("before", at=T0 - timedelta(microseconds=1)),
        *[_v(f"in{i:02d}", at=T0 + i * H / 40, topic=None if i % 3 == 0 else f"gaming:{i % 2}") for i in range(25)],
        *[_v(f"tie{i}", at=tie) for i in range(3)],  # straddles a page of 4
        *[_v(f"crowd{i}", at=crowd) for i in range(6)],  # one instant, more than a page
        _v("last", at=T0 + 3 * H - timedelta(microseconds=1)),
        _v("end", at=T0 + 3 * H),
        _v("cook", domain="cooking", at=T0 + H),
    )
    got: list[Any] = []
    marks: list[int] = []  # rows handed out when each read was sent

    def grab(_conn: Any, _cursor: Any, _statement: str, _parameters: Any, _ctx: Any, _many: bool) -> None:
        marks.append(len(got))

    event.listen(store.engine, "before_cursor_execute", grab)
    try:
        for row in store.classifications.iter_window_ids("gaming", T0, T0 + 3 * H, chunk=4):
            got.append(row)
    finally:
        event.remove(store.engine, "before_cursor_execute", grab)
    want = [(f"in{i:02d}", None if i % 3 == 0 else f"gaming:{i % 2}") for i in range(25)]
    want += [(f"tie{i}", "gaming:0") for i in range(3)] + [(f"crowd{i}", "gaming:0") for i in range(6)]
    assert sorted(got) == sorted([*want, ("last", "gaming:0")])
    assert got[:25] == want[:25] and got[-1] == ("last", "gaming:0")  # oldest first
    pages = [b - a for a, b in zip(marks, [*marks[1:], len(got)], strict=True)]
    assert max(pages) <= 4 and len([n for n in pages if n]) >= 35 / 4  # pages of at most a chunk, not one read
    fitting = list(store.classifications.iter_window_fitting("gaming", T0, T0 + 3 * H, 0.5, chunk=4))
    assert sorted(v for v, _t, _at in fitting) == sorted(v for v, t in got if t is not None)
    assert [at for _v, _t, at in fitting] == sorted(at for _v, _t, at in fitting)
    # the misfits (what the monthly job reclassifies after births, merges, splits): the rest, as window() has them
    misfits = list(store.classifications.iter_window_misfits("gaming", T0, T0 + 3 * H, 0.5, chunk=4))
    listed = store.classifications.window("gaming", T0, T0 + 3 * H, misfit_below=0.5, with_text=False)
    assert (
        sorted(v for v, _t, _at in misfits)
        == sorted(v for v, t in got if t is None)
        == sorted(r["video_id"] for r in listed)
    )
    assert [at for _v, _t, at in misfits] == sorted(at for _v, _t, at in misfits)
    plan = query_plans(store, lambda: list(store.classifications.iter_window_ids("gaming", T0, T0 + 3 * H)))
    if store.engine.dialect.name == "sqlite":
        assert "ix_class_domain_published" in plan and "TEMP B-TREE" not in plan, plan


def _vm_steps(store: Store, call: Callable[[], Any]) -> int:
    """SQLite's virtual-machine steps (in hundreds) that ``call`` makes on ``store``: a count of work, not a time."""
    steps = [0]

    def count(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1) or 0, 100)

    event.listen(store.engine, "connect", count)
    store.engine.dispose()
    try:
        call()
    finally:
        event.remove(store.engine, "connect", count)
        store.engine.dispose()
    return steps[0]


def test_a_streamed_scan_costs_in_proportion_to_the_window(tmp_path: Path) -> None:
    """Each page reads its own rows, not the rest of the window: four times the rows cost about four times
    SQLite's steps, not sixteen."""

    def scan(n: int) -> int:
        store = Store(f"sqlite:///{tmp_path / f'scan{n}.db'}")
        _ingest(store, *[_v(f"v{i:04d}", at=T0 + i * H / n) for i in range(n)])
        rows = store.classifications.iter_window_fitting
        got: list[Any] = []
        steps = _vm_steps(store, lambda: got.extend(rows("gaming", T0, T0 + 2 * H, 0.5, chunk=20)))
        assert len(got) == n
        return steps

    small, large = scan(200), scan(800)
    assert large < 6 * small, (small, large)


def test_the_newest_video_of_each_topic_costs_the_same_whatever_the_history(tmp_path: Path) -> None:
    """Health's last-video read probes each topic's newest entry: eight times the history, about the same
    SQLite steps (a scan of the history would cost eight times as many)."""

    def newest(n: int) -> int:
        store = Store(f"sqlite:///{tmp_path / f'newest{n}.db'}")
        with store.begin() as conn:
            store.topics.upsert([_topic("gaming", 0), _topic("gaming", 1), _topic("gaming", 2)], conn)
        _ingest(store, *[_v(f"v{i:04d}", at=T0 + i * H / n, topic=f"gaming:{i % 2}") for i in range(n)])
        got: dict[str, datetime] = {}
        ids = ["gaming:0", "gaming:1", "gaming:2"]  # gaming:2 has no video
        steps = _vm_steps(store, lambda: got.update(store.classifications.newest_published(ids, T0 + H / 2)))
        assert got == {"gaming:0": T0 + (n // 2 - 2) * H / n, "gaming:1": T0 + (n // 2 - 1) * H / n}  # before it
        return steps

    small, large = newest(200), newest(1600)
    assert large < 2 * small, (small, large)


def test_the_fitting_answers_of_given_ids_are_those_the_window_yields(store: Store) -> None:
    """Of the ids asked for, exactly those :meth:`iter_window_fitting` yields for the same window and fit come
    back: not a misfit, an unanswered video, another domain's, one published at the window's end or before it."""
    _ingest(
        store,
        *[_v(f"in{i}", at=T0 + i * H, topic=f"gaming:{i % 2}") for i in range(4)],
        _v("first", at=T0 - H),  # the window's start is in it
        _v("unsure", at=T0 + H, conf=0.2),
        _v("none", at=T0 + H, topic=None, conf=0.0),
        _v("early", at=T0 - 2 * H),
        _v("end", at=T0 + 4 * H),  # the window's end is not
        _v("cook", domain="cooking", at=T0 + H),
    )
    start, end = T0 - H, T0 + 4 * H
    fitting = {v: t for v, t, _at in store.classifications.iter_window_fitting("gaming", start, end, 0.5)}
    asked = ["in0", "in3", "first", "unsure", "none", "early", "end", "cook", "unknown"]
    got = store.classifications.window_fitting_answers("gaming", start, end, 0.5, asked)
    assert got == {"in0": "gaming:0", "in3": "gaming:1", "first": "gaming:0"}
    assert got == {v: t for v, t in fitting.items() if v in asked}


def test_the_fitting_answers_of_given_ids_cost_the_same_whatever_the_window(tmp_path: Path) -> None:
    """Settling looks up the few ids its run moved: eight times the window's rows, about the same SQLite
    steps. Given the window's conditions, SQLite walked the window's index for every chunk of ids (settling
    at 500,000 videos a day did not finish)."""

    def lookup(n: int) -> int:
        store = Store(f"sqlite:///{tmp_path / f'answers{n}.db'}")
        _ingest(store, *[_v(f"v{i:05d}", at=T0 + i * H / n) for i in range(n)])
        ids = [f"v{i:05d}" for i in range(0, n, n // 20)]
        got: dict[str, str] = {}
        answers = store.classifications.window_fitting_answers
        steps = _vm_steps(store, lambda: got.update(answers("gaming", T0, T0 + H, 0.5, ids)))
        assert sorted(got) == ids
        return steps

    small, large = lookup(400), lookup(3200)
    assert large < 2 * small, (small, large)


def test_a_streamed_scan_holds_nothing_open_between_pages(store: Store) -> None:
    """While the caller works on a page, no read transaction stays open: PostgreSQL's
    ``idle_in_transaction_session_timeout`` does not cut the scan, and SQLite's WAL can be checkpointed whole."""
    _ingest(store, *[_v(f"v{i:02d}", at=T0 + i * H / 10) for i in range(12)])
    pg = store.engine.dialect.name == "postgresql"
    if pg:

        def short_idle(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET idle_in_transaction_session_timeout = 100")

        event.listen(store.engine, "connect", short_idle)
        store.engine.dispose()
    got = []
    for vid, _topic in store.classifications.iter_window_ids("gaming", T0, T0 + 2 * H, chunk=3):
        got.append(vid)
        if pg:
            time.sleep(0.15)  # past the timeout: a transaction held across pages would be terminated
        else:
            with store.engine.connect() as conn:
                busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            assert busy == 0  # no reader holds an old snapshot
    assert got == [f"v{i:02d}" for i in range(12)]


def test_last_seen_topic_sizes_and_members(store: Store) -> None:
    sizes_of: dict[str, int] = {}
    _ingest(
        store,
        _v("a", at=T0, topic="gaming:0"),
        _v("b", at=T0 + 2 * H, topic="gaming:0"),
        _v("c", at=T0 + 5 * H, topic="gaming:0"),  # outside [T0, T0 + 5h)
        _v("d", at=T0 + H, topic="gaming:1"),
        _v("e", at=T0 + H, topic=None),
        _v("f", domain="cooking", at=T0 + H, topic="cooking:0"),
    )
    assert store.classifications.last_seen("gaming", T0, T0 + 5 * H) == {"gaming:0": T0 + 2 * H, "gaming:1": T0 + H}
    assert store.classifications.last_seen("gaming", T0 + 6 * H, T0 + 7 * H) == {}
    assert store.classifications.topic_sizes("gaming") == {"gaming:0": 3, "gaming:1": 1}
    assert store.classifications.topic_sizes("cooking") == {"cooking:0": 1}
    # the live topics a job names: their counts alone, from the topic index (no row of the table)
    sizes = query_plans(
        store, lambda: sizes_of.update(store.classifications.topic_sizes("gaming", ["gaming:1", "gaming:7"]))
    )
    assert sizes_of == {"gaming:1": 1}
    if store.engine.dialect.name == "sqlite":
        assert "COVERING INDEX ix_class_topic_published" in sizes, sizes
    members = store.classifications.members_of(["gaming:1", "gaming:0"])
    assert sorted((m["video_id"], m["topic_id"]) for m in members) == [
        ("a", "gaming:0"), ("b", "gaming:0"), ("c", "gaming:0"), ("d", "gaming:1"),
    ]  # fmt: skip
    assert store.classifications.members_of([]) == []


def test_ranked_orders_and_breaks_ties_by_id(store: Store) -> None:
    _ingest(
        store,
        _v("a", at=T0, views=100, conf=0.5, topic="gaming:0"),
        _v("b", at=T0 + H, views=500, conf=0.9, topic="gaming:1"),
        _v("c", at=T0 + 2 * H, views=None, conf=0.3, topic="gaming:0"),
        _v("d", at=T0 + H, views=500, conf=0.5, topic="gaming:0"),
        _v("out", at=T0 + 3 * H, views=10**6, conf=0.0),
        _v("cook", domain="cooking", at=T0, views=10**6, conf=0.0),
    )
    end = T0 + 3 * H
    assert store.classifications.ranked("gaming", T0, end, "views", 10) == ["b", "d", "a", "c"]
    assert store.classifications.ranked("gaming", T0, end, "low_confidence", 10) == ["c", "a", "d", "b"]
    assert store.classifications.ranked("gaming", T0, end, "recent", 10) == ["c", "b", "d", "a"]
    assert store.classifications.ranked("gaming", T0, end, "views", 2) == ["b", "d"]
    assert store.classifications.ranked("gaming", T0, end, "views", 10, topic_id="gaming:0") == ["d", "a", "c"]
    assert store.classifications.ranked("gaming", T0 + H, end, "recent", 10, topic_id="gaming:0") == ["c", "d"]
    with pytest.raises(KeyError):
        store.classifications.ranked("gaming", T0, end, "random", 10)


def test_rows_for_keeps_the_requested_order(store: Store) -> None:
    _ingest(store, *[_v(f"v{i}", at=T0 + i * H, channel=f"ch{i}") for i in range(5)])
    order = ["v3", "v0", "nope", "v4", "v1"]
    rows = store.classifications.rows_for(order)
    assert [r["video_id"] for r in rows] == ["v3", "v0", "v4", "v1"]
    assert [r["channel_id"] for r in rows] == ["ch3", "ch0", "ch4", "ch1"]
    assert "title" not in store.classifications.rows_for(order, with_text=False)[0]


def test_published_range_and_domain_volume(store: Store) -> None:
    _ingest(
        store,
        _v("a", at=T0 + H),
        _v("b", at=T0 + 5 * H),
        _v("c", at=T0),
        _v("cook", domain="cooking", at=T0 + 2 * H),
    )
    assert store.videos.published_range(["a", "b", "missing"]) == (T0 + H, T0 + 5 * H + timedelta(microseconds=1))
    assert store.videos.published_range(["c"]) == (T0, T0 + timedelta(microseconds=1))
    with pytest.raises(LookupError):
        store.videos.published_range(["missing"])
    assert store.activity.domain_volume("gaming", T0, T0 + 5 * H) == 2
    assert store.activity.domain_volume("gaming", T0, T0 + 5 * H + timedelta(microseconds=1)) == 3
    assert store.activity.domain_volume("cooking", T0, T0 + DAY) == 1
    assert store.activity.domain_volume("news", T0, T0 + DAY) == 0


# ---------------------------------------------------------------------------------------------- hot embeddings


def test_uncompacted_and_mark_compacted(store: Store) -> None:
    _ingest(
        store,
        _v("b", at=T0 + H, channel="cb", views=3),
        _v("a", at=T0),
        _v("c", at=T0 + 2 * H),
        _v("cook", domain="cooking", at=T0),
    )
    rows = store.videos.uncompacted(before=T0 + 2 * H)
    assert [r["video_id"] for r in rows] == ["a", "cook", "b"]
    b = rows[2]
    assert isinstance(b["vector"], np.ndarray) and b["vector"].dtype == np.float32
    np.testing.assert_array_equal(b["vector"], _vec("b"))
    assert (b["domain"], b["channel_id"], b["views"]) == ("gaming", "cb", 3)
    assert [r["video_id"] for r in store.videos.uncompacted(before=T0 + 2 * H, domain="gaming")] == ["a", "b"]
    store.videos.mark_compacted(["a", "b"], at=T0 + 3 * H)
    assert [r["video_id"] for r in store.videos.uncompacted(before=T0 + DAY)] == ["cook", "c"]
    store.videos.mark_compacted([], at=T0 + 3 * H)  # no-op
    # compacted rows stay hot until evicted
    assert set(store.videos.hot_vectors(["a", "b", "c"])) == {"a", "b", "c"}


def test_a_retry_after_hot_eviction_writes_nothing(store: Store) -> None:
    """Retried with another vector and time once the first attempt's embedding left the hot table."""
    first = _ingest(store, _v("a", at=T0, vec=np.ones(DIM, np.float32), status=ClassificationStatus.REFINED))
    store.videos.mark_compacted(["a"], at=T0 + DAY)
    assert store.videos.evict_hot(before=T0 + DAY) == 1
    again = _ingest(store, _v("a", at=T0 + 5 * DAY, vec=np.full(DIM, 2.0, np.float32), topic="gaming:9"))
    assert again == first  # the stored answer, not the retry's
    assert _counts(store) == (1, 0, 1)  # no hot row came back: compaction would write it to the lake again
    assert store.videos.uncompacted(before=T0 + 10 * DAY) == []
    assert store.videos.published_range(["a"])[0] == T0


def test_a_batch_naming_one_id_twice_stores_and_answers_the_first(store: Store) -> None:
    out = _ingest(store, _v("a", topic="gaming:1", vec=np.ones(DIM, np.float32)), _v("a", topic="gaming:2"))
    assert _counts(store) == (1, 1, 1)
    assert out["a"]["topic_id"] == "gaming:1"
    np.testing.assert_array_equal(store.videos.hot_vectors(["a"])["a"], np.ones(DIM, np.float32))


def test_evict_hot_drops_only_compacted_refined_old_rows(store: Store) -> None:
    old, new = T0, T0 + 2 * DAY
    _ingest(
        store,
        _v("gone", at=old, status=ClassificationStatus.REFINED),
        _v("prelim", at=old),
        _v("hot", at=old, status=ClassificationStatus.REFINED),
        _v("recent", at=new, status=ClassificationStatus.REFINED),
    )
    store.videos.mark_compacted(["gone", "prelim", "recent"], at=new)
    assert store.videos.evict_hot(before=T0 + DAY) == 1
    assert set(store.videos.hot_vectors(["gone", "prelim", "hot", "recent"])) == {"prelim", "hot", "recent"}
    # only the hot embedding goes; the video and its classification stay
    assert _counts(store) == (4, 3, 4)
    assert store.videos.evict_hot(before=T0 + DAY) == 0


def test_evict_hot_deletes_exactly_the_compacted_refined_rows_before_the_cutoff(store: Store) -> None:
    """Every combination of compacted x refined x age (the cutoff itself is not before it), two domains."""
    cutoff = T0 + DAY
    ages = {"old": T0, "edge": cutoff - timedelta(microseconds=1), "at": cutoff, "new": cutoff + H}
    specs, expected = [], set()
    for domain in ("gaming", "cooking"):
        for age, at in ages.items():
            for compacted in (True, False):
                for status in (ClassificationStatus.REFINED, ClassificationStatus.PRELIMINARY):
                    vid = f"{domain}-{age}-{'c' if compacted else 'u'}-{status[0]}"
                    specs.append(_v(vid, domain=domain, at=at, status=status, compacted=compacted))
                    if compacted and status == ClassificationStatus.REFINED and at < cutoff:
                        expected.add(vid)
    _ingest(store, *[{k: v for k, v in s.items() if k != "compacted"} for s in specs])
    store.videos.mark_compacted([s["id"] for s in specs if s["compacted"]], at=cutoff + 2 * H)
    every = [s["id"] for s in specs]
    assert len(expected) == 4
    assert store.videos.evict_hot(before=cutoff) == len(expected)
    assert set(store.videos.hot_vectors(every)) == set(every) - expected
    # videos and classifications stay, classifications unchanged
    assert store.videos.existing_ids(every) == set(every)
    got = store.classifications.get(every)
    assert {v for v in every if got[v]["status"] == ClassificationStatus.REFINED} == {
        v for v in every if v.endswith("-r")
    }
    # a second run finds nothing; a later cutoff takes the rows that became old enough
    assert store.videos.evict_hot(before=cutoff) == 0
    assert store.videos.evict_hot(before=cutoff + H) == 2  # gaming-at-c-r, cooking-at-c-r
    assert set(store.videos.hot_vectors(every)) == {v for v in every if not (v.endswith("-c-r") and "-new-" not in v)}


def test_pending_pages_through_a_queue_inside_a_refined_history(store: Store) -> None:
    """Equal publication times break by video_id; refining a page moves the queue on (what refine_domain does)."""
    history = [
        _v(f"h{i:03d}", at=T0 - DAY + i * timedelta(minutes=3), status=ClassificationStatus.REFINED) for i in range(300)
    ]
    queue = [_v(f"q{i % 7}-{i:02d}", at=T0 + (i % 4) * H) for i in range(24)]
    _ingest(store, *history, *queue, _v("cook", domain="cooking", at=T0), _v("future", at=T0 + DAY))
    want = sorted((s["at"], s["id"]) for s in queue)
    assert [r["video_id"] for r in store.classifications.pending("gaming", 100, published_before=T0 + DAY)] == [
        v for _a, v in want
    ]
    pages: list[list[str]] = []
    while rows := store.classifications.pending("gaming", 10, published_before=T0 + DAY):
        pages.append([r["video_id"] for r in rows])
        assert [r["published_at"] for r in rows] == sorted(r["published_at"] for r in rows)
        store.classifications.update(
            [{"video_id": r["video_id"], "topic_id": "gaming:1", "confidence": 0.8, "status": REFINED,
              "model_version": "gaming@v2", "classified_at": T0 + DAY} for r in rows]
        )  # fmt: skip
    assert [len(p) for p in pages] == [10, 10, 4]
    assert [v for page in pages for v in page] == [v for _a, v in want]
    assert [r["video_id"] for r in store.classifications.pending("gaming", 10)] == ["future"]
    assert [r["video_id"] for r in store.classifications.pending("cooking", 10, published_before=T0 + DAY)] == ["cook"]


def _index_columns(store: Store, table: str) -> dict[str, list[str]]:
    from sqlalchemy import inspect

    with store.engine.connect() as conn:
        return {ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes(table, schema=store.schema)}


def test_schema_indexes_exist_on_both_backends(store: Store) -> None:
    cls, emb = _index_columns(store, "classifications"), _index_columns(store, "embeddings")
    assert cls["ix_class_queue"] == ["domain", "published_at", "video_id"]  # partial: the queue's rows only
    assert "ix_class_status" not in cls and "ix_class_pending" not in cls  # retired: ix_class_queue serves pending()
    assert emb["ix_embeddings_published"] == ["published_at"]
    assert emb["ix_embeddings_compaction"] == ["compacted_at", "published_at"]


def test_a_store_made_before_the_new_indexes_gains_them_on_open(store_url: tuple[str, str | None]) -> None:
    url, schema = store_url
    first = Store(url, schema=schema)
    _ingest(first, _v("a", status=ClassificationStatus.REFINED), _v("b"))
    prefix = f'"{schema}".' if schema else ""
    with first.begin() as conn:  # earlier schemas: ix_class_status, then ix_class_pending; no ix_embeddings_published
        conn.execute(text(f"DROP INDEX {prefix}ix_class_queue"))
        conn.execute(text(f"DROP INDEX {prefix}ix_embeddings_published"))
        conn.execute(text(f"DROP INDEX {prefix}ix_runs_job_end"))  # session 35's
        conn.execute(text(f"DROP INDEX {prefix}ix_events_type_at"))
        conn.execute(text(f"CREATE INDEX ix_class_status ON {prefix}classifications (status, domain)"))
        conn.execute(
            text(f"CREATE INDEX ix_class_pending ON {prefix}classifications (status, domain, published_at, video_id)")
        )
    assert "ix_class_queue" not in _index_columns(first, "classifications")
    first.dispose()
    for _ in range(2):  # the second open finds nothing to do
        s = Store(url, schema=schema)
        cls, emb = _index_columns(s, "classifications"), _index_columns(s, "embeddings")
        assert "ix_class_queue" in cls and "ix_embeddings_published" in emb
        assert "ix_class_status" not in cls and "ix_class_pending" not in cls
        assert _index_columns(s, "job_runs")["ix_runs_job_end"] == ["job", "window_end", "status"]
        assert _index_columns(s, "topic_events")["ix_events_type_at"] == ["type", "at"]
        assert [r["video_id"] for r in s.classifications.pending("gaming", 10)] == ["b"]
        assert _counts(s) == (2, 2, 2)
        s.dispose()


def test_refine_queries_read_the_queue_and_the_hot_table_not_the_history(store: Store) -> None:
    """Plans of pending, evict_hot and uncompacted: index ranges, never a pass over all classifications."""
    from sqlalchemy import insert

    row = {"topic_id": "gaming:0", "confidence": 0.9, "status": ClassificationStatus.REFINED, "model_version": "v"}
    history = [
        {
            **row,
            "video_id": f"h{i:05d}",
            "domain": ("gaming", "cooking")[i % 2],
            "classified_at": T0,
            "published_at": T0 - i * H / 8,
        }
        for i in range(4000)
    ]
    with store.begin() as conn:
        conn.execute(insert(store.table("classifications")), history)
    _ingest(store, *[_v(f"q{i}", at=T0 + i * H) for i in range(8)])
    if store.engine.dialect.name == "postgresql":  # the statistics a live database has
        with store.begin() as conn:
            conn.execute(text(f'ANALYZE "{store.schema}".classifications, "{store.schema}".embeddings'))
    pending = query_plans(store, lambda: store.classifications.pending("gaming", 10, published_before=T0 + 2 * H))
    evict = query_plans(store, lambda: store.videos.evict_hot(before=T0 + 2 * H))
    uncompacted = query_plans(store, lambda: store.videos.uncompacted(before=T0 + 2 * H))
    assert "ix_class_queue" in pending, pending
    for plan in (evict, uncompacted):  # classifications: primary-key lookups only, if at all
        assert "ix_class_" not in plan and "Seq Scan on classifications" not in plan, plan
        assert "SCAN classifications" not in plan and "LIST SUBQUERY" not in plan, plan
    if store.engine.dialect.name == "sqlite":  # PostgreSQL may as well scan a hot table of 8 rows
        assert "ix_embeddings_published" in evict and "ix_embeddings_compaction" in uncompacted, (evict, uncompacted)
    assert [r["video_id"] for r in store.classifications.pending("gaming", 10, published_before=T0 + 2 * H)] == [
        "q0",
        "q1",
    ]


# ---------------------------------------------------------------------------------------------- topics


def test_upsert_topics_inserts_then_replaces(store: Store) -> None:
    with store.begin() as conn:
        store.topics.upsert([_topic("gaming", 0), _topic("gaming", 1)], conn)
    assert store.count("topics") == 2
    replaced = _topic(
        "gaming", 1, status="dead", label="renamed", keywords=["x"], size=99, coherence=0.7,
        centroid=np.array([0.5, 0.5, 0.0, 0.0], np.float32), died_at=T0 + DAY, updated_at=T0 + DAY,
    )  # fmt: skip
    with store.begin() as conn:
        store.topics.upsert([replaced, _topic("gaming", 2)], conn)
    assert store.count("topics") == 3
    t = store.topics.get("gaming:1")
    assert t is not None
    assert (t.label, t.keywords, t.size, t.status, t.coherence) == ("renamed", ["x"], 99, "dead", pytest.approx(0.7))
    assert (t.died_at, t.updated_at, t.born_at) == (T0 + DAY, T0 + DAY, T0)
    np.testing.assert_array_equal(t.centroid, [0.5, 0.5, 0.0, 0.0])
    assert store.topics.get("gaming:0").label == "gaming topic 0"
    assert store.topics.get("gaming:9") is None


def test_upsert_topics_rolls_back_with_its_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store.begin() as conn:
        store.topics.upsert([_topic("gaming", 0)], conn)
        raise RuntimeError("crash before commit")
    assert store.count("topics") == 0


def test_topics_filter_and_order(store: Store) -> None:
    with store.begin() as conn:
        store.topics.upsert(
            [
                _topic("gaming", 3, status="dying"),
                _topic("gaming", 0),
                _topic("cooking", 1, status="merged"),
                _topic("gaming", 10, status="dead"),
                _topic("gaming", 2),
                _topic("cooking", 0),
            ],
            conn,
        )
    ids = [t.topic_id for t in store.topics.list()]
    assert ids == ["cooking:0", "cooking:1", "gaming:0", "gaming:2", "gaming:3", "gaming:10"]
    assert [t.number for t in store.topics.list("gaming")] == [0, 2, 3, 10]
    live = store.topics.list("gaming", statuses=("active", "dying"))
    assert [t.topic_id for t in live] == ["gaming:0", "gaming:2", "gaming:3"]
    assert [t.topic_id for t in store.topics.list(statuses=["merged", "dead"])] == ["cooking:1", "gaming:10"]
    assert store.topics.list("gaming", statuses=[]) == []
    assert store.topics.list("news") == []
    assert all(t.topic_id == f"{t.domain}:{t.number}" for t in store.topics.list())


def test_next_topic_number(store: Store) -> None:
    assert store.topics.next_number("gaming") == 0
    with store.begin() as conn:
        store.topics.upsert([_topic("gaming", 0), _topic("gaming", 4, status="dead"), _topic("cooking", 0)], conn)
    assert store.topics.next_number("gaming") == 5
    assert store.topics.next_number("cooking") == 1
    assert store.topics.next_number("news") == 0
    with store.begin() as conn:
        store.topics.upsert([_topic("gaming", 5)], conn)
        assert store.topics.next_number("gaming", conn=conn) == 6  # sees its own uncommitted insert


def test_topic_round_trips_centroid_and_times(store: Store) -> None:
    centroid = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    members = np.random.default_rng(2).standard_normal((20, DIM)).astype(np.float32)
    made = make_topic("gaming", 7, members, ["alpha", "beta"], T0, upper_quantile=0.9, coherence=0.8)
    assert made.topic_id == "gaming:7"
    at = datetime(2024, 3, 1, 15, 0, tzinfo=timezone(timedelta(hours=3)))  # 12:00 UTC
    plain = _topic("gaming", 1, centroid=centroid.astype(np.float64), born_at=at, last_seen_at=at + H)
    with store.begin() as conn:
        store.topics.upsert([made, plain], conn)
    back = store.topics.get("gaming:1")
    assert back.centroid.dtype == np.float32
    assert back.centroid.tobytes() == centroid.tobytes()
    assert back.centroid.flags.writeable
    assert (back.born_at, back.last_seen_at, back.updated_at) == (T0, T0 + H, T0 + H)
    assert back.born_at.utcoffset() == timedelta(0)
    assert back.died_at is None and back.coherence is None
    m = store.topics.get("gaming:7")
    assert m.centroid.tobytes() == made.centroid.astype(np.float32).tobytes()
    assert (m.sim_mean, m.sim_std, m.coherence) == (
        pytest.approx(made.sim_mean), pytest.approx(made.sim_std), pytest.approx(0.8),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- events


def _event(topic: str, kind: str, at: datetime, **kw: Any) -> TopicEvent:
    return TopicEvent(topic.split(":")[0], topic, EventType(kind), at, **kw)


def test_add_events_is_idempotent_and_round_trips_json(store: Store) -> None:
    details = {"similarity": 0.93, "sizes": [10, 20], "nested": {"k": "ünï"}}
    evs = [
        _event("gaming:2", "merge", T0 + 2 * H, related=["gaming:0", "gaming:1"], details=details),
        _event("gaming:0", "birth", T0),
        _event("cooking:0", "birth", T0 + H),
        _event("gaming:0", "dying", T0 + 3 * H),
    ]
    with store.begin() as conn:
        store.topics.add_events(evs[:1], conn, job_run_id=7)
        store.topics.add_events(evs[1:], conn)
    with store.begin() as conn:  # a retried job writes the same events again, with other details
        retried = dataclasses.replace(evs[0], details={"other": 1})
        store.topics.add_events([retried, _event("gaming:0", "birth", T0), evs[3]], conn)
    assert store.count("topic_events") == 4
    got = store.topics.events("gaming")
    assert [(e["topic_id"], e["type"]) for e in got] == [("gaming:0", "birth"), ("gaming:2", "merge"),
                                                         ("gaming:0", "dying")]  # fmt: skip
    merge = got[1]
    assert merge["related"] == ["gaming:0", "gaming:1"] and merge["details"] == details
    assert merge["job_run_id"] == 7 and merge["at"] == T0 + 2 * H and merge["at"].utcoffset() == timedelta(0)
    assert got[0]["related"] == [] and got[0]["details"] == {}
    assert [e["topic_id"] for e in store.topics.events(types=["birth"])] == ["gaming:0", "cooking:0"]
    assert [e["type"] for e in store.topics.events("gaming", types=("merge", "dying"))] == ["merge", "dying"]
    assert [e["topic_id"] for e in store.topics.events()] == ["gaming:0", "cooking:0", "gaming:2", "gaming:0"]
    # the same topic and type at another time is another event
    with store.begin() as conn:
        store.topics.add_events([_event("gaming:0", "birth", T0 + DAY)], conn)
    assert store.count("topic_events", type="birth") == 3


def test_a_jobs_events_are_read_by_its_run_not_by_a_pass_over_every_event(store: Store) -> None:
    """The metrics of a run read its events (``ix_events_job_run``), not a year of every job's."""
    for run in range(1, 41):
        with store.begin() as conn:
            evs = [_event(f"gaming:{k}", "drift", T0 + run * H) for k in range(25)]
            store.topics.add_events(evs, conn, job_run_id=run)
    if store.engine.dialect.name == "postgresql":  # the statistics a live database has
        with store.begin() as conn:
            conn.execute(text(f'ANALYZE "{store.schema}".topic_events'))
    plans = query_plans(store, lambda: store.topics.events(job_run_ids=[17]))
    assert "ix_events_job_run" in plans, plans
    got = store.topics.events(job_run_ids=[17, 40])
    assert len(got) == 50 and {e["job_run_id"] for e in got} == {17, 40}


# ---------------------------------------------------------------------------------------------- prototypes


def test_prototypes_insert_then_update(store: Store) -> None:
    assert store.prototypes.all() == {}
    first = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    store.prototypes.save("gaming", first, T0, n_seen=3)
    store.prototypes.save("cooking", np.full(DIM, 0.5, np.float32), T0)
    second = np.array([0.1, 0.2, 0.3, 1 / 3], np.float32)
    store.prototypes.save("gaming", second, T0 + DAY, n_seen=10)
    protos = store.prototypes.all()
    assert set(protos) == {"gaming", "cooking"}
    vec, n = protos["gaming"]
    assert n == 10 and vec.dtype == np.float32 and vec.tobytes() == second.tobytes()
    assert protos["cooking"][1] == 0
    assert store.count("domain_prototypes") == 2
    with store.begin() as conn:
        store.prototypes.save("news", first, T0, conn=conn)
    assert store.prototypes.all()["news"][1] == 0


# ---------------------------------------------------------------------------------------------- job runs


def _work(stats: dict[str, Any], write: Callable[[Connection], None] | None = None, calls: list[int] | None = None):
    def work(run_id: int) -> tuple[dict[str, Any], Callable[[Connection], None] | None]:
        if calls is not None:
            calls.append(run_id)
        return stats, write

    return work


def _write_prototype(store: Store, value: float) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        store.prototypes.save("gaming", np.full(DIM, value, np.float32), T0, n_seen=int(value), conn=conn)

    return write


def test_once_skips_a_window_that_succeeded(store: Store) -> None:
    window = (T0, T0 + H)
    calls: list[int] = []
    first = once(store.runs, "refine", "gaming", window, _work({"refined": 5}, _write_prototype(store, 1), calls))
    assert first == {"refined": 5} and len(calls) == 1
    assert store.runs.done("refine", "gaming", T0 + H)
    again = once(store.runs, "refine", "gaming", window, _work({"refined": 99}, _write_prototype(store, 2), calls))
    assert again == {"refined": 5, "skipped": True}
    assert len(calls) == 1 and store.prototypes.all()["gaming"][1] == 1
    # another domain, job or window is its own run
    once(store.runs, "refine", "cooking", window, _work({}, None, calls))
    once(store.runs, "daily", "gaming", window, _work({}, None, calls))
    once(store.runs, "refine", "gaming", (T0 + H, T0 + 2 * H), _work({}, None, calls))
    assert len(calls) == 4 and store.count("job_runs") == 4


def test_once_force_runs_again(store: Store) -> None:
    window = (T0, T0 + H)
    calls: list[int] = []
    once(store.runs, "weekly", ALL_DOMAINS, window, _work({"n": 1}, _write_prototype(store, 1), calls))
    out = once(
        store.runs, "weekly", ALL_DOMAINS, window, _work({"n": 2}, _write_prototype(store, 2), calls), force=True
    )
    assert out == {"n": 2} and calls[0] == calls[1]
    assert store.runs.get("weekly", ALL_DOMAINS, T0 + H)["stats"] == {"n": 2}
    assert store.prototypes.all()["gaming"][1] == 2 and store.count("job_runs") == 1


@pytest.mark.parametrize("where", ["work", "write", "finish"])
def test_crashed_run_commits_nothing_and_restarts(store: Store, where: str) -> None:
    window = (T0, T0 + H)

    def crashing(run_id: int) -> tuple[dict[str, Any], Callable[[Connection], None]]:
        if where == "work":
            raise RuntimeError("worker died")
        if where == "finish":  # write succeeds, then marking the run succeeded fails: the write must go too
            return {"n": object()}, _write_prototype(store, 1)

        def write(conn: Connection) -> None:
            _write_prototype(store, 1)(conn)
            raise RuntimeError("died half-way through writing")

        return {"n": 1}, write

    with pytest.raises((RuntimeError, StatementError, TypeError)):
        once(store.runs, "daily", "gaming", window, crashing)
    run = store.runs.get("daily", "gaming", T0 + H)
    assert run["status"] == "running" and run["finished_at"] is None and run["stats"] == {}
    assert store.prototypes.all() == {}
    assert store.runs.last_success("daily", "gaming") is None
    assert not store.runs.done("daily", "gaming", T0 + H)

    calls: list[int] = []
    out = once(store.runs, "daily", "gaming", window, _work({"n": 2}, _write_prototype(store, 2), calls))
    assert out == {"n": 2} and calls == [run["id"]]
    run = store.runs.get("daily", "gaming", T0 + H)
    assert run["status"] == "succeeded" and run["stats"] == {"n": 2} and store.count("job_runs") == 1
    assert store.prototypes.all()["gaming"][1] == 2
    assert store.runs.last_success("daily", "gaming") == T0 + H


def test_last_success_is_the_watermark(store: Store) -> None:
    assert store.runs.last_success("daily", "gaming") is None
    for k in range(3):
        once(store.runs, "daily", "gaming", (T0 + k * DAY, T0 + (k + 1) * DAY), _work({"k": k}))
    once(store.runs, "daily", "cooking", (T0 + 5 * DAY, T0 + 6 * DAY), _work({}))
    with pytest.raises(ZeroDivisionError):
        once(store.runs, "daily", "gaming", (T0 + 3 * DAY, T0 + 4 * DAY), lambda _rid: (1 / 0, None))
    assert store.runs.last_success("daily", "gaming") == T0 + 3 * DAY
    assert store.runs.last_success("daily", "gaming").utcoffset() == timedelta(0)
    assert store.runs.last_success("daily", "cooking") == T0 + 6 * DAY
    assert store.runs.last_success("weekly", "gaming") is None
    assert [r["status"] for r in store.runs.all()] == ["succeeded"] * 4 + ["running"]


def test_job_window_is_unique(store: Store) -> None:
    a = store.runs.start("daily", "gaming", T0, T0 + DAY, at=T0 + DAY)
    b = store.runs.start("daily", "gaming", T0 - DAY, T0 + DAY, at=T0 + DAY + H)  # restart: same row
    assert a == b and store.count("job_runs") == 1
    t = store.table("job_runs")
    row = {"job": "daily", "domain": "gaming", "window_start": T0.replace(tzinfo=None),
           "window_end": (T0 + DAY).replace(tzinfo=None), "status": "running",
           "started_at": T0.replace(tzinfo=None), "stats": {}}  # fmt: skip
    with pytest.raises(IntegrityError), store.begin() as conn:
        conn.execute(t.insert().values(**row))
    assert store.count("job_runs") == 1


def test_a_jobs_runs_are_read_by_window_not_by_a_pass_over_the_jobs_year(store: Store) -> None:
    """``runs.ids`` and ``runs.newest_success`` (after every run that pushes metrics; the story view) read the
    job's window end on ``ix_runs_job_end``: not every run of the job (a year of hourly refines), not every job's."""
    from sqlalchemy import insert

    rows = [
        {"job": job, "domain": domain, "window_start": T0 + (i - 1) * H, "window_end": T0 + i * H,
         "status": "succeeded", "started_at": T0 + i * H, "finished_at": T0 + i * H, "stats": {}}
        for i in range(1500)
        for job, domain in (("refine", "*"), ("stories", "*"), ("daily", ("gaming", "cooking")[i % 2]))
    ]  # fmt: skip
    rows[-1]["status"] = "running"  # the newest daily run has not finished
    with store.begin() as conn:
        conn.execute(insert(store.table("job_runs")), rows)
    if store.engine.dialect.name == "postgresql":  # the statistics a live database has
        with store.begin() as conn:
            conn.execute(text(f'ANALYZE "{store.schema}".job_runs'))
    for read in (lambda: store.runs.ids("refine", T0 + 700 * H), lambda: store.runs.newest_success("stories")):
        plans = query_plans(store, read)
        assert "ix_runs_job_end" in plans, plans
    assert len(store.runs.ids("daily", T0 + 700 * H)) == 1
    assert store.runs.newest_success("stories") == T0 + 1499 * H
    assert store.runs.newest_success("daily") == T0 + 1498 * H  # the running one does not count
    assert store.runs.newest_success("weekly") is None


def test_echo_births_are_read_by_type_not_by_a_pass_over_every_event(store: Store) -> None:
    """``topics.echoes`` (the daily echo check) reads the births on ``ix_events_type_at``, not a year of drift
    and health events."""
    with store.begin() as conn:
        store.topics.add_events([_event(f"gaming:{k}", "drift", T0 + k * H) for k in range(2000)], conn)
        store.topics.add_events(
            [
                _event("gaming:3", "birth", T0 + 2 * DAY, details={"echo_of": "gaming:1"}),
                _event("gaming:2", "birth", T0 + DAY),  # no echo
                _event("cooking:5", "birth", T0 + DAY, details={"echo_of": "cooking:0"}),
            ],
            conn,
        )
    if store.engine.dialect.name == "postgresql":  # the statistics a live database has
        with store.begin() as conn:
            conn.execute(text(f'ANALYZE "{store.schema}".topic_events'))
    plans = query_plans(store, store.topics.echoes)
    assert "ix_events_type_at" in plans, plans
    assert store.topics.echoes() == [("cooking:5", "cooking:0"), ("gaming:3", "gaming:1")]
    since = T0 + DAY + H  # the daily check's reach: a range of the index, not every birth ever recorded
    assert "ix_events_type_at" in query_plans(store, lambda: store.topics.echoes(since=since))
    assert store.topics.echoes(since=since) == [("gaming:3", "gaming:1")]


# ---------------------------------------------------------------------------------------------- health aggregates


def test_topic_activity_is_exact(store: Store) -> None:
    _ingest(
        store,
        _v("a1", at=T0, channel="alpha", conf=0.9),
        _v("a2", at=T0 + H, channel="alpha", conf=0.8),
        _v("a3", at=T0 + 2 * H, channel="alpha", conf=0.7),
        _v("b1", at=T0 + H, channel="beta", conf=0.2),
        _v("g1", at=T0 + H, channel="gamma", conf=0.5, topic="gaming:1"),
        _v("late", at=T0 + DAY, channel="beta", conf=0.1),  # outside [T0, T0 + 1 day)
        _v("early", at=T0 - H, channel="beta", conf=0.1),  # outside
        _v("none", at=T0 + H, channel="beta", conf=0.3, topic=None),
        _v("cook", domain="cooking", at=T0, channel="chef", conf=0.6),
    )
    got = {a["topic_id"]: a for a in store.activity.topic_activity("gaming", T0, T0 + DAY)}
    assert set(got) == {"gaming:0", "gaming:1"}
    g0 = got["gaming:0"]
    assert (g0["videos"], g0["channels"]) == (4, 2)
    assert g0["avg_confidence"] == pytest.approx(0.65)
    assert g0["top_channel_share"] == pytest.approx(0.75)
    g1 = got["gaming:1"]
    assert (g1["videos"], g1["channels"], g1["top_channel_share"]) == (1, 1, pytest.approx(1.0))
    assert g1["avg_confidence"] == pytest.approx(0.5)
    everywhere = {a["topic_id"] for a in store.activity.topic_activity(None, T0, T0 + DAY)}
    assert everywhere == {"gaming:0", "gaming:1", "cooking:0"}
    assert store.activity.topic_activity("gaming", T0 + 3 * DAY, T0 + 4 * DAY) == []
    assert (g0["videos_recent"], g0["avg_confidence_recent"]) == (0, None)  # no recent_start: nothing is recent
    # recent from T0 + 90 min to the window's end, from the same scan: only a3 (alpha, 0.7); a1, a2, b1 are before
    split = {a["topic_id"]: a for a in store.activity.topic_activity("gaming", T0, T0 + DAY, recent_start=T0 + 1.5 * H)}
    assert split["gaming:0"]["videos"] == 4 and split["gaming:0"]["channels"] == 2  # the window's figures unchanged
    assert split["gaming:0"]["videos_recent"] == 1
    assert split["gaming:0"]["avg_confidence_recent"] == pytest.approx(0.7)
    assert (split["gaming:1"]["videos_recent"], split["gaming:1"]["avg_confidence_recent"]) == (0, None)


def test_the_weeks_activity_costs_the_same_whatever_the_history(tmp_path: Path) -> None:
    """Health's reads over every domain (the window's topic activity, routes and mean confidences) and the
    report's daily counts over its window range over the window's rows: eight times the history before the
    window, about the same SQLite steps, and the same answers. Without a condition on the domain, SQLite walked
    every classification with a topic, or the whole ``ix_class_domain_published``: health's cost grew with the
    stored history (and the report's daily counts read every day stored, whatever its window)."""
    domains = ("cooking", "gaming")

    def spec(vid: str, i: int, at: datetime) -> dict[str, Any]:
        d = domains[i % 2]
        return _v(vid, domain=d, at=at, topic=f"{d}:{i % 3}", channel=f"ch{i % 7}")

    def week(history: int) -> tuple[list[Any], list[int]]:
        store = Store(f"sqlite:///{tmp_path / f'week{history}.db'}")
        _ingest(store, *[spec(f"w{i:03d}", i, T0 + i * H / 10) for i in range(200)])
        _ingest(store, *[spec(f"o{i:05d}", i, T0 - 30 * DAY + i * H / 10) for i in range(history)])
        act, got = store.activity, []
        reads = [
            lambda: act.topic_activity(None, T0, T0 + DAY, recent_start=T0 + H),
            lambda: act.route_counts(T0, T0 + DAY),
            lambda: act.average_confidence(None, T0, T0 + DAY),
            lambda: sorted(act.daily_counts("gaming", T0, T0 + DAY)),  # the report's, over its --window-days
        ]
        return got, [_vm_steps(store, lambda read=read: got.append(read())) for read in reads]

    (short, short_steps), (long, long_steps) = week(200), week(1600)
    assert long == short
    assert {a["topic_id"] for a in short[0]} == {f"{d}:{k}" for d in domains for k in range(3)}
    assert sum(a["videos"] for a in short[0]) == 200
    for small, large in zip(short_steps, long_steps, strict=True):
        assert large < 2 * small, (short_steps, long_steps)


def test_the_stored_domains_are_found_by_probes(store: Store) -> None:
    assert store.activity.domains() == []
    _ingest(
        store, _v("g", domain="gaming"), _v("c1", domain="cooking"), _v("c2", domain="cooking"), _v("n", domain="news")
    )
    assert store.activity.domains() == ["cooking", "gaming", "news"]


def test_daily_counts(store: Store) -> None:
    _ingest(
        store,
        _v("a", at=datetime(2024, 3, 1, 0, 0, tzinfo=UTC)),
        _v("b", at=datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC)),
        _v("c", at=datetime(2024, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=2)))),  # 2024-03-01 23:00 UTC
        _v("d", at=datetime(2024, 3, 2, 0, 0, tzinfo=UTC)),
        _v("e", at=datetime(2024, 3, 2, 5, 0, tzinfo=UTC), topic="gaming:1"),
        _v("f", at=datetime(2024, 3, 2, 5, 0, tzinfo=UTC), topic=None),
        _v("g", domain="cooking", at=datetime(2024, 3, 1, 5, 0, tzinfo=UTC)),
    )
    assert sorted(store.activity.daily_counts("gaming")) == [
        ("gaming:0", "2024-03-01", 3),
        ("gaming:0", "2024-03-02", 1),
        ("gaming:1", "2024-03-02", 1),
    ]
    assert sorted(store.activity.daily_counts()) == [
        ("cooking:0", "2024-03-01", 1),
        ("gaming:0", "2024-03-01", 3),
        ("gaming:0", "2024-03-02", 1),
        ("gaming:1", "2024-03-02", 1),
    ]
    day2 = datetime(2024, 3, 2, tzinfo=UTC)
    assert sorted(store.activity.daily_counts("gaming", day2, day2 + timedelta(hours=1))) == [
        ("gaming:0", "2024-03-02", 1)
    ]
    assert sorted(store.activity.daily_counts(None, None, day2)) == [
        ("cooking:0", "2024-03-01", 1),
        ("gaming:0", "2024-03-01", 3),
    ]


# ---------------------------------------------------------------------------------------------- isolation


def test_stores_on_other_schemas_do_not_see_each_other(
    store: Store, store_url: tuple[str, str | None], tmp_path: Path
) -> None:
    """On PostgreSQL: a second schema on the same database. On SQLite: a second file."""
    url, schema = store_url
    if schema is None:
        other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    else:
        assert url.startswith("postgresql") and store.schema == schema
        other = Store(url, schema=f"t_{uuid.uuid4().hex[:12]}")
        assert other.schema != store.schema
    try:
        _ingest(store, _v("a"), _v("b"))
        _ingest(other, _v("a", topic="gaming:9"))
        with store.begin() as conn:
            store.topics.upsert([_topic("gaming", 0)], conn)
        once(store.runs, "daily", "gaming", (T0, T0 + DAY), _work({"n": 1}))
        assert _counts(store) == (2, 2, 2) and _counts(other) == (1, 1, 1)
        assert other.classifications.get(["a", "b"])["a"]["topic_id"] == "gaming:9"
        assert store.classifications.get(["a"])["a"]["topic_id"] == "gaming:0"
        assert other.topics.list() == [] and other.topics.next_number("gaming") == 0
        assert other.runs.last_success("daily", "gaming") is None
        assert not other.runs.done("daily", "gaming", T0 + DAY)
    finally:
        other.drop()
        other.dispose()


# ---------------------------------------------------------------------------------------------- WAL checkpoints


def test_deferred_checkpoints_leave_the_wal_to_checkpoint(store: Store, store_url: tuple[str, str | None]) -> None:
    """A serving process's commits never checkpoint (fsync) the WAL; checkpoint() copies it, losing nothing."""
    if store.engine.dialect.name != "sqlite":
        assert store.defer_checkpoints() is False
        store.checkpoint()  # a no-op on PostgreSQL
        return
    db = Path(store_url[0].removeprefix("sqlite:///"))
    wal = db.with_name(db.name + "-wal")
    assert store.defer_checkpoints()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    _ingest(store, *[_v(f"w{i}", title="x" * 2000) for i in range(3000)])  # far past 1,000 WAL pages
    size_before = db.stat().st_size
    assert wal.stat().st_size > 1000 * 4096  # an auto-checkpoint would have stopped it near there
    store.checkpoint()
    assert db.stat().st_size > size_before + 1000 * 4096  # the rows are in the database file now
    assert _counts(store) == (3000, 3000, 3000)


def test_pool_and_statement_timeout_reach_postgresql() -> None:
    from tests.conftest import PG_URL, require_postgres

    require_postgres()
    s = Store(PG_URL, create=False, pool_size=2, max_overflow=1, statement_timeout_s=1.5)
    with s.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1500ms"
    assert s.engine.pool.size() == 2
    s.dispose()


def test_a_role_given_only_its_schema_opens_the_store_on_postgresql() -> None:
    """Found by review: opening a store ran ``CREATE SCHEMA IF NOT EXISTS``, and PostgreSQL checks the
    database's CREATE privilege before IF NOT EXISTS: a least-privilege role (its schema's tables, no more:
    what every job and replica should run as) could not open the store an administrator had made."""
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL, require_postgres

    require_postgres()
    schema, role = f"t_{uuid.uuid4().hex[:12]}", f"rt_{uuid.uuid4().hex[:12]}"
    admin = Store(PG_URL, schema=schema)  # made by the administrator, tables and all
    try:
        with admin.engine.begin() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
            conn.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
            conn.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
            create = conn.execute(text(f"SELECT has_database_privilege('{role}', current_database(), 'CREATE')"))
            assert create.scalar() is False  # the role may not create schemas
        mine = Store(make_url(PG_URL).set(username=role).render_as_string(hide_password=False), schema=schema)
        try:
            assert mine.count("topics") == 0
        finally:
            mine.dispose()
    finally:
        admin.drop()
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()
