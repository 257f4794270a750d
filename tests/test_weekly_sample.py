"""The weekly tier on a bounded per-topic sample: bottom-k selection, exact counts, count-weighted prototype."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np
import pytest

from ray_topics.core.drift import bounded_update, evolve_topics
from ray_topics.core.index import normalize
from ray_topics.core.sampling import bottom_k, stable_pick
from ray_topics.core.types import LIVE_STATUSES
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers.weekly import plan_weekly, run_weekly, topic_keywords, week_sample
from tests.test_tiers import DAY, START, _blob, _ingest, _seed_topic

AS_OF = START + 7 * DAY


def test_bottom_k_is_stable_pick_per_group_with_exact_counts() -> None:
    rng = np.random.default_rng(0)
    groups = ["t0", "t1", "t2", None, "small"]
    pairs = [(f"v{i}", groups[i % 4] if i < 990 else "small") for i in range(1000)]
    salt = "2026-03-09"
    sample = bottom_k(pairs, 50, salt=salt)
    shuffled = [pairs[i] for i in rng.permutation(len(pairs))]
    assert bottom_k(shuffled, 50, salt=salt) == sample  # independent of arrival order
    assert {g: n for g, (_ids, n) in sample.items()} == Counter(g for _v, g in pairs)  # exact counts
    for g in groups:
        members = [v for v, gg in pairs if gg == g]
        picked = stable_pick(members, 50, salt=salt)
        if len(members) > 50:
            assert sample[g][0] == picked and len(picked) == 50
        else:  # under k: the whole group (stable_pick keeps input order, bottom_k hash order)
            assert sorted(sample[g][0]) == sorted(picked) == sorted(members)
    assert bottom_k(pairs, 50, salt="another week")["t0"][0] != sample["t0"][0]


def _week_groups(rt: Runtime) -> Counter:
    rows = rt.store.classifications.window("gaming", AS_OF - 7 * DAY, AS_OF, with_text=False)
    return Counter(r["topic_id"] for r in rows)


def _directions(rt: Runtime, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(old centre, the centre it drifted to 0.5 rad away, an unrelated centre)."""
    rng = np.random.default_rng(seed)
    dim = rt.cfg.embedding.dim
    old = normalize(rng.standard_normal(dim))
    ortho = normalize(rng.standard_normal(dim) - (rng.standard_normal(dim) @ old) * old)
    return old, normalize(np.cos(0.5) * old + np.sin(0.5) * ortho), normalize(rng.standard_normal(dim))


def test_capped_week_still_records_drift_and_reads_a_bounded_sample(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    old, moved, other = _directions(runtime, 1)
    _seed_topic(runtime, "gaming", 0, old, START)
    _seed_topic(runtime, "gaming", 1, other, START)
    strays = normalize(rng.standard_normal((40, len(old))))  # fit no topic: the no-topic group
    vecs = np.concatenate([_blob(rng, moved, 150, 0.8), _blob(rng, other, 60, 0.8), strays])
    _ingest(runtime, vecs, "gaming", START + DAY, "w")
    groups = _week_groups(runtime)
    assert groups["gaming:0"] > 100 and groups["gaming:1"] > 50 and groups[None] > 30
    full = plan_weekly(runtime, "gaming", AS_OF)  # the whole week (every topic under the default cap)
    assert full.stats["sampled"] == full.stats["videos"] == len(vecs)

    cap = 20
    runtime.cfg.weekly.max_members_per_topic, runtime.cfg.weekly.min_members = cap, 5
    asked: list[int] = []
    usable = runtime.usable_vectors

    def counted(domain: str, ids: list[str], window: tuple[datetime, datetime] | None = None) -> Any:
        asked.append(len(ids))
        return usable(domain, ids, window)

    monkeypatch.setattr(runtime, "usable_vectors", counted)
    stats = run_weekly(runtime, AS_OF)["gaming"]
    assert asked and sum(asked) <= len(groups) * cap  # never more than groups x cap embeddings
    assert stats["videos"] == len(vecs) and stats["sampled"] == sum(min(n, cap) for n in groups.values())
    drift = runtime.store.topics.events("gaming", ["drift"])
    assert [e["topic_id"] for e in drift] == ["gaming:0"]
    assert drift[0]["details"]["members"] == groups["gaming:0"] and drift[0]["details"]["sampled"] == cap
    t = runtime.store.topics.get("gaming:0")
    expected, _step = bounded_update(old, moved, runtime.cfg.weekly.drift_rate)
    assert float(t.centroid @ expected) > 0.99
    assert float(t.centroid @ moved) > float(old @ moved)  # moved towards the planted direction
    whole = next(x for x in full.topics if x.topic_id == "gaming:0")
    # 20 members at cosine 0.8 average ~0.17 rad from the week's mean; a 0.3 step carries ~0.05 rad of it
    assert float(t.centroid @ whole.centroid) > 0.995


def test_domain_prototype_weights_each_topic_by_its_exact_count(runtime: Runtime) -> None:
    """A big topic capped at 20 and a small one read whole: the prototype is the whole week's mean."""
    rng = np.random.default_rng(2)
    dim = runtime.cfg.embedding.dim
    big, small = normalize(rng.standard_normal(dim)), normalize(rng.standard_normal(dim))
    _seed_topic(runtime, "gaming", 0, big, START)
    _seed_topic(runtime, "gaming", 1, small, START)
    vecs = np.concatenate([_blob(rng, big, 200, 0.9), _blob(rng, small, 12, 0.9)])
    _ingest(runtime, vecs, "gaming", START + DAY, "p")
    assert _week_groups(runtime) == {"gaming:0": 200, "gaming:1": 12}
    runtime.cfg.weekly.max_members_per_topic = 20
    plan = plan_weekly(runtime, "gaming", AS_OF)
    assert plan.stats["sampled"] == 32 and plan.stats["videos"] == 212
    sample = week_sample(runtime, "gaming", AS_OF)
    means = {g: runtime.vectors("gaming", got).mean(axis=0) for g, (got, _n) in sample.items()}
    weighted = normalize(200 * means["gaming:0"] + 12 * means["gaming:1"])
    naive = normalize((20 * means["gaming:0"] + 12 * means["gaming:1"]) / 32)  # the plain mean of the sample
    np.testing.assert_allclose(plan.prototype, weighted, atol=1e-5)
    whole = normalize(vecs.mean(axis=0))
    # within the big topic's sampling noise (20 members at cosine 0.9: ~0.995) of the whole week's mean,
    # where the plain sample mean, pulled towards the small topic, is far off
    assert float(plan.prototype @ whole) > 0.99 > 0.95 > float(naive @ whole)
    assert float(plan.prototype @ big) > float(naive @ big) + 0.05


def test_below_the_cap_the_plan_is_the_whole_weeks(runtime: Runtime) -> None:
    """Every topic under the cap: the same topics, events and prototype as evolving on every row of the week."""
    rng = np.random.default_rng(3)
    old, moved, other = _directions(runtime, 3)
    _seed_topic(runtime, "gaming", 0, old, START)
    _seed_topic(runtime, "gaming", 1, other, START)
    vecs = np.concatenate([_blob(rng, moved, 80, 0.8), _blob(rng, other, 40, 0.8)])
    _ingest(runtime, vecs, "gaming", START + DAY, "b")
    plan = plan_weekly(runtime, "gaming", AS_OF)

    cfg = runtime.cfg.weekly
    rows = runtime.store.classifications.window("gaming", AS_OF - 7 * DAY, AS_OF, with_text=False)
    live = runtime.store.topics.list("gaming", LIVE_STATUSES)
    week = runtime.vectors("gaming", [r["video_id"] for r in rows])
    changed, events = evolve_topics(
        live,
        [r["topic_id"] for r in rows],
        week,
        topic_keywords(runtime, "gaming", live, AS_OF),
        AS_OF,
        drift_rate=cfg.drift_rate,
        drift_event_threshold=cfg.drift_event_threshold,
        min_members=cfg.min_members,
        upper_quantile=cfg.calibration_upper_quantile,
    )
    assert plan.stats["videos"] == plan.stats["sampled"] == len(rows)
    assert [t.topic_id for t in plan.topics] == [t.topic_id for t in changed] == ["gaming:0", "gaming:1"]
    for got, want in zip(plan.topics, changed, strict=True):
        np.testing.assert_allclose(got.centroid, want.centroid, atol=1e-5)
        assert got.sim_mean == pytest.approx(want.sim_mean, abs=1e-5)
        assert got.sim_std == pytest.approx(want.sim_std, abs=1e-5)
        assert got.keywords == want.keywords
    assert [(e.topic_id, e.details["members"]) for e in plan.events] == [
        (e.topic_id, e.details["members"]) for e in events
    ]
    for got, want in zip(plan.events, events, strict=True):
        assert got.details["cosine_distance"] == pytest.approx(want.details["cosine_distance"], abs=1e-4)
    np.testing.assert_allclose(plan.prototype, normalize(week.mean(axis=0)), atol=1e-5)
