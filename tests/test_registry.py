"""Tests of the model registry (per-domain topic model versions), on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import insert, text

from ray_topics.core.snapshot import ModelSnapshot, version_name
from ray_topics.core.types import Topic
from ray_topics.storage.registry import ModelRegistry
from ray_topics.storage.store import Store
from tests.conftest import at_once, query_plans

T0 = datetime(2024, 3, 1, tzinfo=UTC)
DIM = 4
CONFIDENCE = dict(edge_sigmas=2.0, typical=0.9, min_sigma=0.03, reject_below=0.5)


def _topic(domain: str, number: int, status: str = "active", direction: int | None = None) -> Topic:
    centroid = np.eye(DIM, dtype=np.float32)[number % DIM if direction is None else direction]
    return Topic(
        topic_id=f"{domain}:{number}",
        domain=domain,
        number=number,
        label=f"{domain} label {number}",
        keywords=["k"],
        centroid=centroid,
        sim_mean=0.8 + 0.01 * number,
        sim_std=0.05,
        size=10,
        status=status,
        born_at=T0,
        last_seen_at=T0,
    )


def _publish(store: Store, registry: ModelRegistry, domain: str, topics: list[Topic], at: datetime = T0) -> int:
    """Write topics and publish a version in one transaction, as the jobs do."""
    with store.begin() as conn:
        store.topics.upsert(topics, conn)
        return registry.publish(domain, at, "daily", conn)


@pytest.fixture
def registry(store: Store) -> ModelRegistry:
    return ModelRegistry(store, dim=DIM)


def test_version_name() -> None:
    assert version_name("gaming", 3) == "gaming@v3"
    assert version_name("news", 0) == "news@v0"


def test_latest_is_an_empty_version_zero_before_any_publish(registry: ModelRegistry) -> None:
    m = registry.latest("gaming")
    assert (m.domain, m.version, m.name) == ("gaming", 0, "gaming@v0")
    assert m.topic_ids == [] and m.labels == []
    assert m.centroids.shape == (0, DIM) and m.centroids.dtype == np.float32
    assert registry.latest_versions() == {}
    match = m.index(**CONFIDENCE).search(np.ones((2, DIM), np.float32))
    assert match.topic_ids == [None, None]
    with pytest.raises(KeyError, match="gaming@v1"):
        registry.load("gaming", 1)


def test_publish_snapshots_live_topics_only(store: Store, registry: ModelRegistry) -> None:
    topics = [
        _topic("gaming", 0),
        _topic("gaming", 1, status="dying"),
        _topic("gaming", 2, status="dead"),
        _topic("gaming", 3, status="merged"),
        _topic("cooking", 0),
    ]
    assert _publish(store, registry, "gaming", topics) == 1
    m = registry.latest("gaming")
    assert m.version == 1 and m.name == "gaming@v1"
    assert m.topic_ids == ["gaming:0", "gaming:1"]
    assert m.labels == ["gaming label 0", "gaming label 1"]
    np.testing.assert_array_equal(m.centroids, np.eye(DIM, dtype=np.float32)[:2])
    np.testing.assert_allclose(m.sim_mean, [0.80, 0.81], rtol=1e-6)
    np.testing.assert_allclose(m.sim_std, [0.05, 0.05], rtol=1e-6)
    assert m.label_of("gaming:1") == "gaming label 1"
    assert m.label_of("gaming:2") is None and m.label_of(None) is None
    t = store.table("model_versions")
    with store.begin() as conn:
        n_topics, job = conn.execute(t.select().with_only_columns(t.c.n_topics, t.c.job)).one()
    assert (n_topics, job) == (2, "daily")


def test_publish_sees_the_changes_of_its_own_transaction(store: Store, registry: ModelRegistry) -> None:
    _publish(store, registry, "gaming", [_topic("gaming", 0), _topic("gaming", 1)])
    # a later job kills topic 1 and publishes, in one transaction
    _publish(store, registry, "gaming", [_topic("gaming", 1, status="dead"), _topic("gaming", 2)])
    assert registry.latest("gaming").topic_ids == ["gaming:0", "gaming:2"]
    # the earlier version is immutable
    assert registry.load("gaming", 1).topic_ids == ["gaming:0", "gaming:1"]


def test_publish_rolls_back_with_its_transaction(store: Store, registry: ModelRegistry) -> None:
    with pytest.raises(RuntimeError), store.begin() as conn:
        store.topics.upsert([_topic("gaming", 0)], conn)
        registry.publish("gaming", T0, "daily", conn)
        raise RuntimeError("crash before commit")
    assert registry.latest_versions() == {}
    assert registry.latest("gaming").version == 0
    assert store.count("topics") == 0


def test_versions_increase_per_domain_independently(store: Store, registry: ModelRegistry) -> None:
    assert _publish(store, registry, "gaming", [_topic("gaming", 0)]) == 1
    assert _publish(store, registry, "gaming", [_topic("gaming", 1)], T0 + timedelta(days=1)) == 2
    assert _publish(store, registry, "cooking", [_topic("cooking", 0)]) == 1
    assert _publish(store, registry, "gaming", [], T0 + timedelta(days=2)) == 3
    assert registry.latest_versions() == {"gaming": 3, "cooking": 1}
    assert registry.latest("gaming").name == "gaming@v3"
    assert registry.latest("gaming").topic_ids == ["gaming:0", "gaming:1"]
    assert registry.latest("cooking").topic_ids == ["cooking:0"]
    assert registry.latest("news").version == 0
    # a fresh registry on the same store reads the same versions
    again = ModelRegistry(store, dim=DIM)
    assert again.load("gaming", 2).topic_ids == ["gaming:0", "gaming:1"]
    assert again.load("gaming", 1).topic_ids == ["gaming:0"]


def test_domain_model_bytes_round_trip() -> None:
    rng = np.random.default_rng(0)
    m = ModelSnapshot(
        domain="gaming",
        version=7,
        topic_ids=["gaming:0", "gaming:3"],
        labels=["speedrun ünïcödé", 'with "quotes"'],
        centroids=rng.standard_normal((2, DIM)).astype(np.float32),
        sim_mean=np.array([0.8, 0.7], np.float32),
        sim_std=np.array([0.05, 0.1], np.float32),
    )
    back = ModelSnapshot.from_bytes(m.to_bytes())
    assert (back.domain, back.version, back.topic_ids, back.labels) == (m.domain, 7, m.topic_ids, m.labels)
    for name in ("centroids", "sim_mean", "sim_std"):
        a, b = getattr(m, name), getattr(back, name)
        assert b.dtype == np.float32 and b.tobytes() == a.tobytes()
    empty = ModelSnapshot.from_topics("news", 0, [], DIM)
    back = ModelSnapshot.from_bytes(empty.to_bytes())
    assert back.topic_ids == [] and back.centroids.shape == (0, DIM)


def test_the_newest_versions_are_read_by_a_walk_of_the_key_not_by_every_version(store: Store) -> None:
    """The model poll (every DomainModel replica, every ``serve.model_poll_seconds``) reads one entry per domain
    and its newest version, not every version a year of jobs published."""
    rows = [
        {"domain": d, "version": v, "created_at": T0, "job": "daily", "n_topics": 0, "payload": b"-"}
        for d in ("cooking", "gaming", "news")
        for v in range(1, 701 if d != "news" else 3)
    ]
    with store.begin() as conn:
        conn.execute(insert(store.table("model_versions")), rows)
    if store.engine.dialect.name == "postgresql":  # the statistics a live database has
        with store.begin() as conn:
            conn.execute(text(f'ANALYZE "{store.schema}".model_versions'))
    plans = query_plans(store, store.models.latest_versions, kinds=("WITH", "SELECT"), run=True)
    for whole in ("SCAN a", "SCAN b", "SCAN model_versions", "Seq Scan", "Aggregate", "Sort"):
        assert whole not in plans, plans  # (the step's lookups are index searches: SEARCH, Index Only Scan)
    if store.engine.dialect.name == "postgresql":  # the walk's step and the newest version, each by the key
        assert "model_versions_pkey on model_versions a" in plans and "model_versions_pkey on model_versions b" in plans
    assert store.models.latest_versions() == {"cooking": 700, "gaming": 700, "news": 2}
    with store.begin() as conn:
        conn.execute(text("DELETE FROM " + ("" if store.schema is None else f'"{store.schema}".') + "model_versions"))
    assert store.models.latest_versions() == {}


class _Finalized:
    """A self-referencing object with a finalizer: the cycle collector runs Python code while it frees it,
    which lets another thread run in the middle of whatever allocated (here: NumPy's header parse)."""

    def __del__(self) -> None:
        sum(range(20))


def test_snapshots_load_in_threads_at_once() -> None:
    """A replica's model poll beside its requests, or jobs started together in one process, load models at
    the same moment: every load gives the model (CPython 3.11 fails NumPy's header parse in threads at once
    with "AST constructor recursion depth mismatch"; ray_topics/core/arrays.py)."""
    rng = np.random.default_rng(0)
    n = 30  # a wider header: more allocations inside the parse
    blob = ModelSnapshot(
        domain="gaming",
        version=3,
        topic_ids=[f"gaming:{k}" for k in range(n)],
        labels=[f"topic {k}" for k in range(n)],
        centroids=rng.standard_normal((n, DIM)).astype(np.float32),
        sim_mean=np.full(n, 0.8, np.float32),
        sim_std=np.full(n, 0.05, np.float32),
    ).to_bytes()
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:

        def load_many() -> int:
            loaded = 0
            for _ in range(1500):
                loaded += len(ModelSnapshot.from_bytes(blob).topic_ids) == n
                for _ in range(10):
                    f = _Finalized()
                    f.cycle = f  # type: ignore[attr-defined]
            return loaded

        assert at_once(*[load_many] * 4) == [1500] * 4
    finally:
        sys.setswitchinterval(before)


def test_published_model_classifies_each_centroid_to_its_topic(store: Store, registry: ModelRegistry) -> None:
    topics = [_topic("gaming", n) for n in range(3)] + [_topic("gaming", 3, status="dead")]
    _publish(store, registry, "gaming", topics)
    model = registry.latest("gaming")
    for backend in ("numpy", "faiss"):
        index = model.index(**CONFIDENCE, backend=backend)
        live = np.stack([t.centroid for t in topics[:3]])
        match = index.search(live)
        assert match.topic_ids == ["gaming:0", "gaming:1", "gaming:2"]
        assert (match.confidences > 0.9).all()
        # the dead topic's direction is orthogonal to every live centroid: rejected
        assert index.search(topics[3].centroid[None, :]).topic_ids == [None]
