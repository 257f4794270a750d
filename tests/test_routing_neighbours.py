"""Routing by neighbours end to end: every refine keeps each domain's labelled videos of the day so far, the first
daily run measures the floors from them, routers vote with them, and an uncategorised video follows the domain
its labelled neighbours are in."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import numpy as np

from ray_topics.core.sampling import slot_quota
from ray_topics.execution.runtime import Runtime
from ray_topics.ops.health import routing_from_config
from ray_topics.storage.routing import ExemplarWindow
from ray_topics.storage.store import Store
from ray_topics.streams.replay import Replay
from ray_topics.tiers.exemplars import EPOCH, publish_exemplars
from tests.test_routing_floor import DAYS, START
from tests.test_routing_floor import _stream as floored_stream

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)  # the window health reports


def test_exemplars_are_kept_per_domain_and_slot_replaced_and_pruned(store: Store) -> None:
    """SQLite and PostgreSQL: a slot's row replaces the one written before it, the window reads the slots
    from ``since`` in a fixed order, pruning drops one domain's old slots only, and a window held in memory
    reads only what changed."""
    ex = store.exemplars
    e = np.eye(4, dtype=np.float32)
    window = ExemplarWindow(ex)
    ex.save("a", START, ["a1", "a2"], e[:2], at=START)
    ex.save("a", START + HOUR, ["a3"], e[2:3], at=START)
    ex.save("b", START, ["b1"], e[3:], at=START)
    assert window.refresh(None) and not window.refresh(None)
    ex.save("a", START, ["a1"], e[:1], at=START + DAY)  # a re-run of that slot's job writes it again
    vecs, domains = ex.window()
    assert domains == ["a", "a", "b"] and vecs is not None
    np.testing.assert_array_equal(vecs, e[[0, 2, 3]])
    assert window.refresh(None)  # the rewritten slot is read again
    np.testing.assert_array_equal(window.matrix()[0], vecs)
    ex.save("a", START, ["a1", "a4"], e[[0, 1]], at=START + DAY)  # again for the same hour, late videos since
    assert window.refresh(None)  # read again although written "at" the same time
    np.testing.assert_array_equal(window.matrix()[0], e[[0, 1, 2, 3]])
    ex.save("a", START, ["a1"], e[:1], at=START + DAY)
    assert ex.window(START + HOUR)[1] == ["a"]
    assert ex.prune("a", START + HOUR) == 1
    assert ex.window()[1] == ["a", "b"]  # b's slot at START stays: pruning is per domain
    assert window.refresh(None) and window.matrix()[1] == ["a", "b"]
    assert ex.window(START + DAY) == (None, [])


def _stream_without_some_categories(share: float):
    """test_routing_floor's stream (gaming and cooking, 8 days from a Monday), ``share`` of it uncategorised."""
    stream = floored_stream()
    truth = stream.videos["domain"].copy()
    blank = np.random.default_rng(1).random(len(truth)) < share
    stream.videos.loc[blank, ["domain", "category"]] = None
    return stream, truth, blank


def test_uncategorised_videos_follow_their_labelled_neighbours(sqlite_runtime: Runtime) -> None:
    """Default config (fallback ``general``). On the first day no domain has a floor and uncategorised videos
    go to the fallback; the first daily run measures each domain's floor from its exemplars (the weekly run
    would be six days later), and from the second day uncategorised videos go to their planted domain by
    neighbours. Exemplars are labelled videos only, each day's at most its quota (``slot_quota``)."""
    rt = sqlite_runtime
    stream, truth, blank = _stream_without_some_categories(0.4)
    result = Replay(rt).run(stream.videos, stream.embeddings)

    d = rt.cfg.domains
    vecs, domains = rt.store.exemplars.window()
    assert vecs is not None and set(domains) == {"gaming", "cooking"}
    t = rt.store.table("routing_exemplars")
    with rt.store.connect() as conn:
        rows = list(conn.execute(t.select()))
    quota = {r.start: slot_quota(d.vote_exemplars, d.vote_window_days, (r.start - EPOCH) // DAY) for r in rows}
    assert {(r.domain, r.start) for r in rows} == {
        (g, START + i * DAY) for g in ("gaming", "cooking") for i in range(DAYS)
    }
    # ~70 labelled gaming videos a day against a quota of 35 or 36: every day's row is full
    assert all(len(r.video_ids) == quota[r.start] for r in rows if r.domain == "gaming")
    ids = [v for r in rows for v in r.video_ids]
    labelled = stream.videos.set_index("video_id").loc[ids]
    assert labelled["category"].notna().all()  # no uncategorised video votes
    # a scheduler may run the last refine twice: the day's row is written again, the same. A run at noon
    # writes the morning's smallest hashes: every morning video of the whole day's sample is among them
    last = START + DAYS * DAY
    day = {r.domain: r.video_ids for r in rows if r.start == last - DAY}
    publish_exemplars(rt, last)
    assert _day_rows(rt, last - DAY) == day
    noon = last - 12 * HOUR
    publish_exemplars(rt, noon)
    morning = _day_rows(rt, noon - 12 * HOUR)
    published = stream.videos.set_index("video_id")["published_at"]
    for g, ids in day.items():
        assert all(published[v] < noon for v in morning[g])
        assert {v for v in ids if published[v] < noon} <= set(morning[g]) and len(morning[g]) <= quota[last - DAY]

    stored = _stored_domains(rt, stream.videos["video_id"])
    published = stream.videos["published_at"]
    first_day = (blank & (published < START + DAY)).to_numpy()
    later = (blank & (published >= START + DAY)).to_numpy()
    assert (stored[first_day] == "general").all()  # no floor measured yet: nothing is voted into a domain
    assert result.routed["neighbours"] >= 0.9 * later.sum()
    assert (stored[later] == truth[later].to_numpy()).mean() >= 0.95
    # each video's route is stored with it, so health counts the router's own choices, neighbours included
    routes = rt.store.videos.routes(list(stream.videos["video_id"]))
    assert Counter(routes.values()) == +Counter({str(k): n for k, n in result.routed.items()})
    week = set(stream.videos.loc[stream.videos["published_at"] >= last - WEEK, "video_id"])
    shares = routing_from_config(rt.store, last, rt.cfg)["videos"]
    assert shares["neighbours"] == sum(1 for v, r in routes.items() if r == "neighbours" and v in week) > 0


def test_vote_neighbours_zero_keeps_no_exemplars(tmp_path) -> None:
    """With the vote off, refine writes no exemplars and the router holds none."""
    from tests.conftest import make_config

    rt = Runtime(make_config(tmp_path, "domains.vote_neighbours=0"))
    stream, _truth, _blank = _stream_without_some_categories(0.4)
    first_day = (stream.videos["published_at"] < START + DAY).to_numpy()  # a day: every refine runs
    result = Replay(rt).run(stream.videos[first_day], stream.embeddings[first_day])
    assert rt.store.count("videos") == first_day.sum() and result.routed.get("neighbours", 0) == 0
    assert publish_exemplars(rt, START + DAY) == {} and rt.store.exemplars.window() == (None, [])
    rt.store.dispose()


def _day_rows(rt: Runtime, day: datetime) -> dict[str, list[str]]:
    t = rt.store.table("routing_exemplars")
    with rt.store.connect() as conn:
        return {r.domain: r.video_ids for r in conn.execute(t.select()) if r.start == day}


def _stored_domains(rt: Runtime, video_ids) -> np.ndarray:
    got = rt.store.videos.domains(list(video_ids))
    return np.array([got.get(v) for v in video_ids], dtype=object)


def test_a_first_floor_never_replaces_a_measured_one(sqlite_runtime: Runtime) -> None:
    """The daily job's first floor is written only while the domain has no floor at commit: a weekly run that
    committed first keeps its measure; a calibration of too few videos (no floor) is replaced."""
    from ray_topics.core.plan import Plan
    from ray_topics.tiers.job import commit_plan

    rt = sqlite_runtime
    rt.store.prototypes.calibrate("gaming", 0.5, 0.1, 200, at=START)  # the weekly job's measure
    rt.store.prototypes.calibrate("cooking", 0.5, 0.1, 3, at=START)  # too few labelled videos: no floor
    for domain in ("gaming", "cooking"):
        with rt.store.begin() as conn:
            commit_plan(rt, Plan(domain, routing=(0.1, 0.2, 40), routing_first=True), "daily", START, 0, conn)
    assert rt.store.prototypes.calibration("gaming") == (0.5, 0.1, 200)
    assert rt.store.prototypes.calibration("cooking") == (0.1, 0.2, 40)
