"""The story view puts a story's videos in a second domain under the story's topic, and nothing else."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from ray_topics.cli import main
from ray_topics.core import neighbours, stories
from ray_topics.core.index import Match, normalize
from ray_topics.core.lifecycle import reclassified
from ray_topics.core.sampling import stable_key
from ray_topics.core.stories import story_labels
from ray_topics.core.types import TopicStatus
from ray_topics.execution.runtime import Runtime
from ray_topics.ops.report import write_report
from ray_topics.ops.stories import placed_stories
from ray_topics.storage.runs import ALL_DOMAINS
from ray_topics.tiers.stories import StalePlacement, run_stories, story_fit, story_view
from tests.test_tiers import DAY, _blob, _ingest, _seed_topic

DIM = 64


def _around(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
    return normalize(centre + spread * rng.standard_normal((n, DIM)))


@pytest.mark.parametrize("chunk", [stories.CHUNK, 7])  # one block, and several
def test_a_storys_part_in_a_broad_topic_of_another_domain_joins_the_story(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stories, "CHUNK", chunk)
    rng = np.random.default_rng(1)
    story_c, broad_c, other_c = normalize(rng.standard_normal((3, DIM)))
    # world:2 is the story (tight); politics:0 is a broad topic whose answer the story's part in politics got
    in_world = _around(rng, story_c, 20, 0.05)
    part_in_politics = _around(rng, story_c, 6, 0.05)
    politics_own = _around(rng, broad_c, 30, 0.15)
    misfits = _around(rng, story_c, 3, 0.05)
    vecs = np.concatenate([in_world, part_in_politics, politics_own, misfits])
    labels: list[str | None] = ["world:2"] * 20 + ["politics:0"] * 36 + [None] * 3
    fits = np.array([True] * 56 + [False] * 3)
    cents = np.stack([story_c, broad_c, other_c])
    out = story_labels(vecs, labels, fits, cents, ["world:2", "politics:0", "sports:1"])
    assert out[:26] == ["world:2"] * 26  # the whole story under one topic
    assert out[26:56] == ["politics:0"] * 30  # the broad topic keeps its own videos
    assert out[56:] == [None] * 3  # a misfit stays a misfit, even near a story
    assert labels[20:26] == ["politics:0"] * 6  # the domains' own answers are not touched


def test_without_topics_the_labels_are_kept() -> None:
    vecs = np.eye(3, DIM, dtype=np.float32)
    assert story_labels(vecs, ["a:0", None, "b:1"], np.array([True, False, True]), np.zeros((0, DIM)), []) == [
        "a:0",
        None,
        "b:1",
    ]


def _story_in_broad_topics(rng: np.random.Generator) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """Three broad topics (30 videos each) and a tight story of 9 videos between them, answered by the three
    (5 politics:0, 2 world:1, 2 business:2): (vectors, answers, centroids, topic ids); the story comes last."""
    cents = normalize(rng.standard_normal((3, DIM)))
    ids = ["politics:0", "world:1", "business:2"]
    broad = np.concatenate([_around(rng, c, 30, 0.15) for c in cents])
    story = _around(rng, normalize(cents.sum(axis=0)), 9, 0.03)
    answers = [t for t in ids for _ in range(30)] + ["politics:0"] * 5 + ["world:1"] * 2 + ["business:2"] * 2
    return np.concatenate([broad, story]), answers, cents, ids


@pytest.mark.parametrize(("exact_up_to", "backend"), [(10_000, "auto"), (0, "auto"), (10_000, "numpy")])
def test_by_neighbours_a_story_inside_broad_topics_goes_under_the_answer_most_of_it_got(
    exact_up_to: int, backend: str
) -> None:
    """No centroid is the story's: by centroid its videos scatter over the broad topics. Each of its videos'
    10 nearest videos are 9 of the story and one other, so the vote puts all 9 under politics:0 (5 of 9);
    the broad topics' own videos keep their answers. Exact, through the inverted file, and without FAISS."""
    vecs, answers, cents, ids = _story_in_broad_topics(np.random.default_rng(3))
    by_centroid = story_labels(vecs, answers, np.ones(len(vecs), bool), cents, ids)
    assert len(set(by_centroid[90:])) > 1  # the failure the vote mends
    voters = neighbours.Voters(vecs, answers, 10, exact_up_to=exact_up_to, nprobe=8, backend=backend)
    placed = voters.place(vecs)
    assert placed[90:] == ["politics:0"] * 9
    assert placed[:90] == answers[:90]
    assert voters.place(vecs[:0]) == []


def test_a_tie_goes_to_the_nearest_voters_answer() -> None:
    vecs = normalize(np.array([[1, 0, 0], [1, 0.1, 0], [1, 0, 0.3], [1, 0.3, 0.3]], np.float32))
    voters = neighbours.Voters(vecs, ["a:0", "b:0", "b:0", "a:0"], 4, exact_up_to=10, nprobe=1)
    assert voters.place(vecs[:1]) == ["a:0"]  # two votes each: itself, the nearest, is a:0
    assert voters.place(vecs[1:2]) == ["b:0"]


def test_a_video_whose_probed_lists_hold_no_voter_keeps_its_fallback() -> None:
    """The inverted file may find fewer than k voters, or none: a video with none keeps its own answer."""
    voters = neighbours.Voters(np.eye(3, DIM, dtype=np.float32), ["a:0", "b:0", "c:0"], 2, exact_up_to=10, nprobe=1)
    voters.nearest = lambda v: np.array([[-1, -1], [1, -1]])  # type: ignore[method-assign]
    both = np.eye(2, DIM, dtype=np.float32)
    assert voters.place(both, fallback=["own:0", "own:1"]) == ["own:0", "b:0"]
    with pytest.raises(ValueError, match="no fallback"):
        voters.place(both)


def test_the_voters_are_a_bounded_sample_whatever_the_order_and_only_of_allowed_answers() -> None:
    rng = np.random.default_rng(4)
    ids = [f"v{i}" for i in range(50)]
    vecs = normalize(rng.standard_normal((50, DIM)))
    answers = ["t:0"] * 25 + ["gone:1"] * 25  # gone:1 is merged: its answers do not vote
    one, two = neighbours.VoterSample(10, allowed={"t:0"}), neighbours.VoterSample(10, allowed={"t:0"})
    one.offer(ids, vecs, answers)
    for lo in range(45, -5, -5):  # the same videos, backwards, five at a time
        two.offer(ids[lo : lo + 5], vecs[lo : lo + 5], answers[lo : lo + 5])
    kept = sorted(range(25), key=lambda i: stable_key(ids[i], one.salt))[:10]
    assert len(one) == 10 and set(one.labels) == {"t:0"}
    assert np.allclose(np.sort(one.vectors, axis=0), np.sort(vecs[kept], axis=0))
    assert np.allclose(np.sort(two.vectors, axis=0), np.sort(one.vectors, axis=0))
    assert len(neighbours.VoterSample(10).voters(3, exact_up_to=5, nprobe=1)) == 0


def test_the_story_view_of_a_store_shows_a_story_split_by_the_router(
    sqlite_runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """news answered a product launch's few videos with its broad topic; tech holds the story's topic. The
    view puts those videos under tech's topic, keeps news' own under news', and the CLI lists the story with
    its part in news."""
    rt, rng = sqlite_runtime, np.random.default_rng(5)
    dim = rt.cfg.embedding.dim
    at = datetime(2026, 3, 2, tzinfo=UTC)
    broad_c = normalize(rng.standard_normal(dim))
    story_c = normalize(broad_c + 0.9 * normalize(rng.standard_normal(dim)))  # near enough for broad to answer
    _seed_topic(rt, "news", 0, broad_c, at - 10 * DAY, sim_mean=0.55, sim_std=0.08, keywords=["said"])
    _seed_topic(rt, "tech", 0, story_c, at - 10 * DAY, sim_mean=0.9, sim_std=0.02, keywords=["launch"])
    in_tech, in_news = _blob(rng, story_c, 20, cohesion=0.95), _blob(rng, story_c, 6, cohesion=0.95)
    _ingest(rt, in_tech, "tech", at - 3 * DAY, "w")
    part = _ingest(rt, in_news, "news", at - 3 * DAY, "p")
    _ingest(rt, _blob(rng, broad_c, 30, cohesion=0.9), "news", at - 3 * DAY, "own")
    fitted = rt.store.classifications.window("news", at - 7 * DAY, at, with_text=False)
    assert {r["topic_id"] for r in fitted if r["video_id"] in part} == {"news:0"}  # the router's split
    assert min(r["confidence"] for r in fitted) >= rt.cfg.daily.misfit_confidence  # ... answered with confidence

    exact = normalize(np.concatenate([in_tech, in_news]).mean(axis=0))  # nearer to the story than tech:0
    gone = _seed_topic(rt, "sports", 3, exact, at - 10 * DAY)  # ... but merged since
    with rt.store.begin() as conn:
        rt.store.topics.upsert([dataclasses.replace(gone, status=TopicStatus.MERGED)], conn)

    view = story_view(rt, at - 7 * DAY, at)
    assert view["tech:0"] == {"tech": 20, "news": 6}
    assert view["news:0"] == {"news": 30}
    assert set(view) == {"tech:0", "news:0"}  # a merged topic is nobody's story: its videos went elsewhere

    assert main(["stories", "--workdir", str(tmp_path), "--as-of", "2026-03-02"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].split()[:5] == ["tech:0", "active", "26", "20", "news"]


# ------------------------------------------------------------------- the day placed and stored (stories job)


def _split_story(rt: Runtime, day: datetime) -> tuple[list[str], list[str], np.ndarray]:
    """tech:0 is a product launch's story; news answered the story's 6 videos of ``day`` with its broad news:0.
    Returns (the 6 ids in news, news' own 30 ids, news' broad centroid)."""
    rng = np.random.default_rng(5)
    dim = rt.cfg.embedding.dim
    broad_c = normalize(rng.standard_normal(dim))
    story_c = normalize(broad_c + 0.9 * normalize(rng.standard_normal(dim)))
    _seed_topic(rt, "news", 0, broad_c, day - 10 * DAY, sim_mean=0.55, sim_std=0.08)
    _seed_topic(rt, "tech", 0, story_c, day - 10 * DAY, sim_mean=0.9, sim_std=0.02)
    _ingest(rt, _blob(rng, story_c, 20, cohesion=0.95), "tech", day, "w")
    part = _ingest(rt, _blob(rng, story_c, 6, cohesion=0.95), "news", day, "p")
    own = _ingest(rt, _blob(rng, broad_c, 30, cohesion=0.9), "news", day, "own")
    return part, own, broad_c


def _answer(rt: Runtime, ids: list[str], topic: str, confidence: float, at: datetime) -> None:
    """Store ``topic`` at ``confidence`` as the answer of ``ids`` (as a job's reassignment would)."""
    n = len(ids)
    rows = reclassified(ids, Match([topic] * n, [topic] * n, np.ones(n), np.full(n, confidence)), at)
    rt.store.classifications.update(rows)


def test_the_stories_job_stores_the_days_moves_and_reads_the_view_back_without_embeddings(runtime: Runtime) -> None:
    """On top of the split story: two of tech's story videos are misfits of tech:0 (they keep that answer), and
    two videos filed in tech near news' broad topic were answered tech:0 with confidence (their story is news:0):
    both stories cross domains, each loses and gains videos, and the stored view is the computed one."""
    rt, day = runtime, datetime(2026, 3, 1, tzinfo=UTC)
    end, fit = day + DAY, rt.cfg.daily.misfit_confidence
    rt.cfg.global_topics.place_by = "centroid"  # the moves asserted are the centroids' (neighbours: below)
    part, own, broad_c = _split_story(rt, day)
    _answer(rt, ["w0", "w1"], "tech:0", fit / 2, end)  # misfits that keep their answer
    near_news = _ingest(rt, _blob(np.random.default_rng(8), broad_c, 2, cohesion=0.9), "tech", day, "x")
    _answer(rt, near_news, "tech:0", 0.9, end)
    _ingest(rt, _blob(np.random.default_rng(9), normalize(np.ones(rt.cfg.embedding.dim)), 4), "tech", end, "next")

    out = run_stories(rt, end)
    days = rt.cfg.daily.pool_window_days  # the days placed (global_topics.place_days: null)
    assert out == {
        "days": days,
        "placed": {"tech": 20, "news": 36},
        "moved": {"news": 6, "tech": 2},
        "to_other_domains": 8,
    }
    stories = rt.store.stories.crossing(day, end, fit)
    assert [(s.topic_id, s.domain, s.videos, s.elsewhere) for s in stories] == [
        ("news:0", "news", {"news": 30, "tech": 2}, 2),
        ("tech:0", "tech", {"tech": 20, "news": 6}, 6),
    ]
    computed = story_view(rt, day, end)
    assert all(s.videos == computed[s.topic_id] for s in stories)  # stored = computed
    assert rt.store.stories.crossing(day, end, fit, domain="sports") == []
    assert rt.store.stories.stories_of([*part, *near_news, "w0", own[0], "nobody"], fit) == {
        **dict.fromkeys(part, "tech:0"),
        **dict.fromkeys(near_news, "news:0"),
    }
    assert rt.store.stories.crossing(end, end + DAY, fit) == []  # the next day is not placed yet
    with pytest.raises(ValueError, match="whole days"):
        run_stories(rt, end + timedelta(hours=5))

    # placed once: the same day again is skipped, forced it writes the same rows
    assert run_stories(rt, end)["skipped"]
    assert run_stories(rt, end, force=True)["moved"] == {"news": 6, "tech": 2}
    assert rt.store.count("story_moves") == 8

    # the next midnight places both days: the story over two days
    more = _ingest(
        rt, _blob(np.random.default_rng(3), rt.store.topics.get("tech:0").centroid, 4, 0.95), "news", end, "q"
    )
    assert run_stories(rt, end + DAY)["moved"] == {"news": 10, "tech": 2}
    m = rt.store.table("story_moves")
    with rt.store.connect() as conn:  # a move placed again keeps its row; only the difference was written
        placed_at = dict(conn.execute(select(m.c.video_id, m.c.placed_at)).all())
    assert {placed_at[v] for v in part} == {end} and {placed_at[v] for v in more} == {end + DAY}
    listed = placed_stories(rt.store, fit, 2)[1]
    assert listed[1]["videos"] == {"tech": 20, "news": 10}
    for story in listed:  # each story's own topic read for its label, keywords and status
        topic = rt.store.topics.get(story["topic_id"])
        assert (story["label"], story["keywords"], story["status"]) == (topic.label, topic.keywords, str(topic.status))
    assert placed_stories(rt.store, fit, 1)[1][0]["videos"] == {"news": 4}  # the newest day alone

    # a video whose answer changed since (a job reassigned it) is told under its answer again
    _answer(rt, [part[0]], "news:0", 0.2, end)
    assert rt.store.stories.crossing(day, end, fit)[1].videos == {"tech": 20, "news": 5}
    assert part[0] not in rt.store.stories.stories_of(part, fit)

    # a merged story topic is nobody's story: its moves no longer count
    with rt.store.begin() as conn:
        rt.store.topics.upsert([dataclasses.replace(rt.store.topics.get("tech:0"), status=TopicStatus.MERGED)], conn)
    assert [s.topic_id for s in rt.store.stories.crossing(day, end + DAY, fit)] == ["news:0"]
    assert rt.store.stories.stories_of([*part, *more], fit) == {}


def test_the_job_places_by_neighbours_a_story_that_no_centroid_tells_across_two_domains(runtime: Runtime) -> None:
    """A story half-way between news' and tech's broad topics: 6 of its videos filed in tech (answered tech:0),
    3 in news (news:0). Every video of it is about as near to both centroids, so by centroid the story
    scatters over both; by neighbours each of its videos' nearest are the story's, and all
    9 are placed under tech:0 (6 of 9): news' 3 move, the broad topics' own videos stay."""
    rt, day = runtime, datetime(2026, 3, 1, tzinfo=UTC)
    fit, rng, dim = rt.cfg.daily.misfit_confidence, np.random.default_rng(11), rt.cfg.embedding.dim
    news_c, tech_c = normalize(rng.standard_normal((2, dim)))
    for domain, c in (("news", news_c), ("tech", tech_c)):
        _seed_topic(rt, domain, 0, c, day - 10 * DAY, sim_mean=0.55, sim_std=0.08)
        _ingest(rt, _blob(rng, c, 30, cohesion=0.9), domain, day, f"{domain}-own")
    story_c = normalize(news_c + tech_c)
    in_tech = _ingest(rt, _blob(rng, story_c, 6, cohesion=0.97), "tech", day, "st")
    in_news = _ingest(rt, _blob(rng, story_c, 3, cohesion=0.97), "news", day, "sn")
    fitted = rt.store.classifications.window("news", day, day + DAY, with_text=False)
    assert all(r["confidence"] >= fit for r in fitted)  # every video fits its domain's broad topic

    rt.cfg.global_topics.place_by = "neighbours"
    assert run_stories(rt, day + DAY)["moved"] == {"news": 3}
    assert rt.store.stories.stories_of([*in_tech, *in_news], fit) == dict.fromkeys(in_news, "tech:0")
    assert rt.store.stories.crossing(day, day + DAY, fit)[0].videos == {"tech": 36, "news": 3}

    rt.cfg.global_topics.place_by = "centroid"
    by_centroid = run_stories(rt, day + DAY, force=True)["moved"]
    assert by_centroid.get("tech", 0) > 0 and by_centroid.get("news", 0) < 3  # the story over both topics


def test_a_story_topic_born_after_the_storys_first_videos_gathers_them_at_the_next_midnight(
    sqlite_runtime: Runtime,
) -> None:
    """The first midnight has no story topic to place the story's videos under; the story's topic is born the
    next day (in another domain): the next midnight places the first day again and moves them to it."""
    rt, day, fit = sqlite_runtime, datetime(2026, 3, 1, tzinfo=UTC), sqlite_runtime.cfg.daily.misfit_confidence
    rt.cfg.global_topics.place_by = "centroid"  # a topic born without videos: only a centroid can gather
    rng = np.random.default_rng(5)
    broad_c = normalize(rng.standard_normal(rt.cfg.embedding.dim))
    story_c = normalize(broad_c + 0.9 * normalize(rng.standard_normal(rt.cfg.embedding.dim)))
    _seed_topic(rt, "news", 0, broad_c, day - 10 * DAY, sim_mean=0.55, sim_std=0.08)
    part = _ingest(rt, _blob(rng, story_c, 6, cohesion=0.95), "news", day, "p")
    assert run_stories(rt, day + DAY)["moved"] == {}  # no topic yet that tells the story
    _seed_topic(rt, "tech", 0, story_c, day + DAY, sim_mean=0.9, sim_std=0.02)  # born the next day
    assert run_stories(rt, day + 2 * DAY)["moved"] == {"news": 6}
    assert rt.store.stories.stories_of(part, fit) == dict.fromkeys(part, "tech:0")
    rt.cfg.global_topics.place_days = 1  # a placement of its own day only would have left them at home
    assert run_stories(rt, day + 2 * DAY, force=True)["moved"] == {}
    assert rt.store.stories.stories_of(part, fit) == dict.fromkeys(part, "tech:0")  # day one keeps its moves


@pytest.mark.parametrize("place_by", ["centroid", "neighbours"])
def test_two_placements_of_one_day_at_once_store_it_once(runtime: Runtime, place_by: str) -> None:
    """A scheduler that starts the stories job twice at the same moment: one places the day, the other finds
    it done (or places the same rows again); never two copies of a move. By either rule."""
    rt, day = runtime, datetime(2026, 3, 1, tzinfo=UTC)
    rt.cfg.global_topics.place_by = place_by
    part, _own, _c = _split_story(rt, day)
    barrier = threading.Barrier(2)
    take_lock = rt.store.lock

    def lock(*a: Any, **kw: Any) -> None:
        barrier.wait(timeout=30)  # both computed the day before either takes the lock to write it
        take_lock(*a, **kw)

    rt.store.lock = lock  # type: ignore[method-assign]
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _i: run_stories(rt, day + DAY), range(2)))
    assert sorted(bool(o.get("skipped")) for o in outs) == [False, True]
    assert rt.store.count("story_moves") == len(part)


def test_the_job_places_a_chunk_at_a_time_and_a_reader_sees_no_part_of_a_placement(runtime: Runtime) -> None:
    """With a chunk of 4 videos, no read of embeddings holds more than 4 and the moves are staged chunk by
    chunk; until the run commits, the readers see the earlier placement whole, then this one whole."""
    rt, day = runtime, datetime(2026, 3, 1, tzinfo=UTC)
    fit = rt.cfg.daily.misfit_confidence
    part, _own, _c = _split_story(rt, day)
    rt.cfg.monthly.reassign_chunk = 4
    rt.cfg.global_topics.place_by = "neighbours"  # the window read twice, each read a chunk at a time
    reads: list[int] = []
    usable = rt.usable_vectors

    def counted(domain: str, ids: list[str]) -> Any:
        reads.append(len(ids))
        return usable(domain, ids)

    rt.usable_vectors = counted  # type: ignore[method-assign]
    stage = rt.store.stories.stage
    seen: list[dict[str, str]] = []

    def staged(attempt: str, moves: Any) -> None:
        seen.append(rt.store.stories.stories_of(part, fit))  # what a reader sees while the run stages
        stage(attempt, moves)

    rt.store.stories.stage = staged  # type: ignore[method-assign]
    assert run_stories(rt, day + DAY)["moved"] == {"news": 6}
    assert max(reads) == 4 and sum(reads) == 2 * 56  # the 20 + 36 fitting videos, four at a time: as voters,
    # then placed
    assert len(seen) == 14 and all(s == {} for s in seen)  # the first placement: nothing before it commits
    assert rt.store.stories.stories_of(part, fit) == dict.fromkeys(part, "tech:0")

    seen.clear()  # placed again (forced): the readers keep the first placement until the second commits
    assert run_stories(rt, day + DAY, force=True)["moved"] == {"news": 6}
    assert seen and all(s == dict.fromkeys(part, "tech:0") for s in seen)
    assert rt.store.count("story_moves") == 6 and rt.store.count("story_staging") == 0


def test_a_placement_killed_half_way_leaves_nothing_that_counts(runtime: Runtime) -> None:
    """An attempt that stops after staging never shows: the run stays undone and the next attempt places the
    day from scratch. One interrupted drops what it staged; one killed (SIGKILL: no cleanup runs) leaves its
    rows staged, and those go once the next midnight is placed."""
    rt, day = runtime, datetime(2026, 3, 1, tzinfo=UTC)
    fit = rt.cfg.daily.misfit_confidence
    part, own, _c = _split_story(rt, day)
    stage = rt.store.stories.stage
    stale = {"domain": "news", "published_at": day, "topic_id": "news:0", "story_id": "tech:0", "placed_at": day + DAY}

    def killed(attempt: str, moves: Any) -> None:
        stage(attempt, [{**stale, "video_id": v} for v in own[:3]])  # what an attempt staged before it died
        raise KeyboardInterrupt  # stopped before its commit

    rt.store.stories.stage = killed  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run_stories(rt, day + DAY)
    assert not rt.store.runs.done("stories", ALL_DOMAINS, day + DAY)
    assert rt.store.stories.stories_of(own, fit) == {} and rt.store.count("story_staging") == 0
    rt.store.stories.stage = stage  # type: ignore[method-assign]
    with rt.store.begin() as conn:  # an attempt killed after staging: nothing dropped its rows
        rt.store.insert_ignore(conn, "story_staging", [{**stale, "video_id": v, "attempt": "dead"} for v in own])

    assert run_stories(rt, day + DAY)["moved"] == {"news": 6}  # placed again, from scratch
    assert rt.store.stories.stories_of([*part, *own], fit) == dict.fromkeys(part, "tech:0")
    assert rt.store.count("story_staging") == len(own)  # a dead attempt of this midnight waits for the next
    run_stories(rt, day + 2 * DAY)
    assert rt.store.count("story_staging") == 0


def test_a_placement_of_an_older_midnight_after_a_newer_one_places_only_the_days_the_newer_did_not(
    runtime: Runtime,
) -> None:
    """A scheduler catching up starts midnight 2 while midnight 3 is placed, or places it meanwhile: the older
    one must not put back a placement among older topics of the days the newer one placed. Known at its
    commit only, it stores nothing and fails (StalePlacement: not done, a retry places what is left); known
    before it places, it places only its days before the newer one's, and is done."""
    rt, day = runtime, datetime(2026, 3, 1, tzinfo=UTC)
    days = rt.cfg.global_topics.place_days or rt.cfg.daily.pool_window_days
    _split_story(rt, day)
    stage = rt.store.stories.stage
    newer: list[dict[str, Any]] = []

    def newer_commits_meanwhile(attempt: str, moves: Any) -> None:
        stage(attempt, moves)
        if not newer:
            rt.store.stories.stage = stage  # type: ignore[method-assign]
            newer.append(run_stories(rt, day + 2 * DAY))
            with rt.store.begin() as conn:  # the story's topic merged since: the older placement differs
                tech = rt.store.topics.get("tech:0")
                rt.store.topics.upsert([dataclasses.replace(tech, status=TopicStatus.MERGED)], conn)

    rt.store.stories.stage = newer_commits_meanwhile  # type: ignore[method-assign]
    with pytest.raises(StalePlacement):
        run_stories(rt, day + DAY)
    assert newer[0]["moved"] == {"news": 6}
    assert not rt.store.runs.done("stories", ALL_DOMAINS, day + DAY)  # the retry places what is left
    assert rt.store.count("story_moves") == 6 and rt.store.count("story_staging") == 0  # the newer ones

    older = run_stories(rt, day + DAY)  # its first day only: the newer placed the others, the story's day too
    assert older["placed_until"] == (day + 2 * DAY - days * DAY).isoformat() and older["placed"] == {}
    assert rt.store.runs.done("stories", ALL_DOMAINS, day + DAY) and rt.store.count("story_moves") == 6
    assert run_stories(rt, day + DAY, force=True) == older  # forced: the same days again, the same nothing
    assert rt.store.count("story_moves") == 6


def test_a_day_only_an_older_midnight_places_is_placed_after_a_newer_one(runtime: Runtime) -> None:
    """Each midnight places its own day (``place_days`` 1), and midnight 3 ran before midnight 2 (a second
    scheduler, a catch-up after an outage): the older run still places its day, which no newer run covers
    (it used to find itself superseded, and the day's moves were never stored, not even with --force)."""
    rt, day, fit = runtime, datetime(2026, 3, 1, tzinfo=UTC), runtime.cfg.daily.misfit_confidence
    rt.cfg.global_topics.place_by, rt.cfg.global_topics.place_days = "centroid", 1
    part, _own, _c = _split_story(rt, day)
    assert run_stories(rt, day + 2 * DAY)["moved"] == {}  # [day + 1, day + 2) holds nothing
    older = run_stories(rt, day + DAY)
    assert older["moved"] == {"news": 6} and "superseded" not in older and "placed_until" not in older
    assert rt.store.stories.stories_of(part, fit) == dict.fromkeys(part, "tech:0")


def test_a_video_placed_again_under_another_story_gets_it_and_a_naive_midnight_is_utc(runtime: Runtime) -> None:
    """Placed under tech:0, the story's videos go to tech:1 (born nearer to them) when the midnight is placed
    again: the stored move changes, not only its presence. ``as_of`` without a zone is taken as UTC."""
    rt, day = runtime, datetime(2026, 3, 1, tzinfo=UTC)
    fit = rt.cfg.daily.misfit_confidence
    rt.cfg.global_topics.place_by = "centroid"  # tech:1 is seeded without videos: only its centroid places
    part, _own, _c = _split_story(rt, day)
    assert run_stories(rt, day + DAY)["moved"] == {"news": 6}
    assert rt.store.stories.stories_of(part, fit) == dict.fromkeys(part, "tech:0")
    nearer = normalize(rt.usable_vectors("news", part)[1].mean(axis=0))  # the part's own centre
    _seed_topic(rt, "tech", 1, nearer, day, sim_mean=0.9, sim_std=0.02)
    again = run_stories(rt, (day + DAY).replace(tzinfo=None), force=True)
    assert again["moved"]["news"] == 6
    assert rt.store.stories.stories_of(part, fit) == dict.fromkeys(part, "tech:1")


def test_staged_moves_leave_after_the_commit_and_a_failed_run_keeps_other_attempts(runtime: Runtime) -> None:
    """The commit writes the moves only (its lock is not held to empty staging); the run drops its own
    staged rows after it, and older midnights' dead attempts only once its midnight is done: a run that
    fails leaves another attempt's rows be (it may still be placing)."""
    rt, day = runtime, datetime(2026, 3, 1, tzinfo=UTC)
    move = {"domain": "news", "published_at": day, "topic_id": "news:0", "story_id": "tech:0"}
    rt.store.stories.stage("a", [{**move, "video_id": v, "placed_at": day + DAY} for v in ("v1", "v2")])
    with rt.store.begin() as conn:
        rt.store.stories.promote("a", day, day + DAY, 2, conn)
    assert rt.store.count("story_moves") == 2 and rt.store.count("story_staging") == 2
    rt.store.stories.discard("a")
    assert rt.store.count("story_staging") == 0

    _part, own, _c = _split_story(rt, day)
    rt.store.stories.stage("older", [{**move, "video_id": v, "placed_at": day} for v in own])
    stage = rt.store.stories.stage

    def broken(_attempt: str, _moves: Any) -> None:
        raise OSError("disk full")

    rt.store.stories.stage = broken  # type: ignore[method-assign]
    with pytest.raises(OSError):
        run_stories(rt, day + DAY)
    assert rt.store.count("story_staging") == len(own)  # the older midnight's attempt is left alone
    rt.store.stories.stage = stage  # type: ignore[method-assign]
    run_stories(rt, day + DAY)
    assert rt.store.count("story_staging") == 0  # this midnight done: the older attempt's rows are dead


def test_a_promote_that_finds_fewer_staged_moves_than_written_refuses(runtime: Runtime) -> None:
    rt, day = runtime, datetime(2026, 3, 1, tzinfo=UTC)
    move = {"video_id": "v", "domain": "news", "published_at": day, "topic_id": "news:0", "story_id": "tech:0"}
    rt.store.stories.stage("a", [{**move, "placed_at": day + DAY}])
    with pytest.raises(RuntimeError, match="1 staged moves found, 2 written"), rt.store.begin() as conn:
        rt.store.stories.promote("a", day, day + DAY, 2, conn)
    assert rt.store.count("story_moves") == 0 and rt.store.count("story_staging") == 1


def test_the_report_lists_the_placed_stories_that_cross_domains(sqlite_runtime: Runtime, tmp_path: Path) -> None:
    rt, day = sqlite_runtime, datetime(2026, 3, 1, tzinfo=UTC)
    _split_story(rt, day)
    fit = rt.cfg.daily.misfit_confidence
    before = write_report(rt.store, tmp_path / "before.html", day + DAY, health_cfg=rt.cfg.health, story_fit=fit,
                          story_days=1).read_text()  # fmt: skip
    assert "Stories across domains" in before and "data-story=" not in before  # the day is not placed yet
    run_stories(rt, day + DAY)
    page = write_report(rt.store, tmp_path / "r.html", day + DAY, health_cfg=rt.cfg.health, story_fit=fit,
                        story_days=1).read_text()  # fmt: skip
    (row,) = re.findall(r'<tr data-story="([^"]+)">(.*?)</tr>', page)
    assert row[0] == "tech:0" and "tech 20, news 6" in row[1] and row[1].endswith("<td class=num>6</td>")
    plain = write_report(rt.store, tmp_path / "plain.html", day + DAY, health_cfg=rt.cfg.health).read_text()
    assert "Stories across domains" not in plain  # without the story settings the report has no such table


def test_place_stories_is_a_job_command(
    sqlite_runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ray-topics place-stories`` (what jobs/stories.py runs) places the day once; again, it is skipped."""
    rt, day = sqlite_runtime, datetime(2026, 3, 1, tzinfo=UTC)
    _split_story(rt, day)
    argv = ["place-stories", "--workdir", str(tmp_path), "--as-of", "2026-03-02"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["moved"] == {"news": 6}
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["skipped"] is True
    assert rt.store.runs.done("stories", ALL_DOMAINS, day + DAY)
    view = ["stories", "--workdir", str(tmp_path), "--as-of", "2026-03-02", "--days", "1"]
    assert main([*view, "--placed"]) == 0
    placed = capsys.readouterr().out
    assert placed.split()[:5] == ["tech:0", "active", "26", "20", "news"]
    assert main(view) == 0 and capsys.readouterr().out == placed  # the stored view is the computed one
    with pytest.raises(SystemExit, match="--all"):
        main([*view, "--placed", "--all"])


def _story_beside_broad(
    rt: Runtime, day: datetime, seed: int, story: int, part: int, cohesion: float, broad: int
) -> tuple[list[str], np.ndarray]:
    """tech:0 a tight story (``story`` videos at cosine 0.95 to it, calibrated so), news:0 a broad topic
    (``broad`` videos), and the story's ``part`` (videos at about ``cohesion`` to it) filed in news, answered
    by news:0: the part's ids and embeddings."""
    rng, dim = np.random.default_rng(seed), rt.cfg.embedding.dim
    broad_c = normalize(rng.standard_normal(dim))
    story_c = normalize(broad_c + 0.9 * normalize(rng.standard_normal(dim)))
    _seed_topic(rt, "news", 0, broad_c, day - 10 * DAY, sim_mean=0.55, sim_std=0.08)
    _seed_topic(rt, "tech", 0, story_c, day - 10 * DAY, sim_mean=0.95, sim_std=0.02)
    _ingest(rt, _blob(rng, story_c, story, cohesion=0.95), "tech", day, "w")
    vecs = _blob(rng, story_c, part, cohesion=cohesion)
    ids = _ingest(rt, vecs, "news", day, "p")
    _ingest(rt, _blob(rng, broad_c, broad, cohesion=0.9), "news", day, "own")
    fit = rt.cfg.daily.misfit_confidence
    assert all(r["topic_id"] == "news:0" and r["confidence"] >= fit for r in rt.store.classifications.get(ids).values())
    return ids, vecs


@pytest.mark.parametrize(("cohesion", "moved", "refused"), [(0.95, {"news": 6}, 0), (0.8, {}, 6)])
def test_by_neighbours_a_video_moves_only_to_a_story_it_fits(
    runtime: Runtime, cohesion: float, moved: dict[str, int], refused: int
) -> None:
    """Six videos filed in news near tech's story (20 videos at cosine 0.95 to it, tech:0 calibrated on them),
    answered by news' broad topic: their nearest voters are the story's, so the vote puts them under tech:0
    either way. Near the story (cosine 0.95) they fit tech:0 and move; looser (0.8, below tech:0's edge) they
    do not fit it and stay under news:0, as settling's fit check keeps them."""
    rt, day, fit = runtime, datetime(2026, 3, 1, tzinfo=UTC), runtime.cfg.daily.misfit_confidence
    part, near = _story_beside_broad(rt, day, 5, 20, 6, cohesion, 30)
    rt.cfg.global_topics.place_by = "neighbours"
    summary = run_stories(rt, day + DAY)
    assert summary["moved"] == moved and summary["kept_not_fitting"] == refused  # voted under tech:0 either way
    assert rt.store.stories.stories_of(part, fit) == dict.fromkeys(part if moved else [], "tech:0")
    fits = story_fit(rt).confidence_in(near, ["tech:0"] * 6) >= fit
    assert fits.all() if moved else not fits.any()


def test_by_neighbours_a_sampled_window_keeps_a_small_storys_voters_whole(runtime: Runtime) -> None:
    """40 voters of a window of 212 fitting videos: news' broad topic (204: 200 of its own and the story's part
    of 4) and tech's story (8). Sampled by answer, tech:0 votes with all 8 of its videos and news:0 with 32, each
    standing for about 6: the part's nearest voters are the story's, and it moves. A uniform sample of 40
    would keep about 1.5 of the story's 8, and the part's nearest would be broad videos."""
    rt, day, fit = runtime, datetime(2026, 3, 1, tzinfo=UTC), runtime.cfg.daily.misfit_confidence
    part, _vecs = _story_beside_broad(rt, day, 3, 8, 4, 0.95, 200)
    rt.cfg.global_topics.place_by = "neighbours"
    rt.cfg.global_topics.place_voters = 40
    assert run_stories(rt, day + DAY)["moved"] == {"news": 4}
    assert rt.store.stories.stories_of(part, fit) == dict.fromkeys(part, "tech:0")


def test_by_neighbours_a_window_above_the_cap_reads_the_sampled_voters_embeddings_only(runtime: Runtime) -> None:
    """``place_voters`` 4 of the window's 56 fitting videos (20 answered tech:0, 36 news:0): the first read (the
    voters) reads the embeddings of the ids :meth:`VoterSample.admits` passes (a sample stratified by answer: a
    quota of 2 each, about 2 x 1.1 + 4 sqrt(2) of each let through), not all 56; the second places all 56."""
    rt, day = runtime, datetime(2026, 3, 1, tzinfo=UTC)
    _split_story(rt, day)
    rt.cfg.global_topics.place_by = "neighbours"
    rt.cfg.global_topics.place_voters = 4
    reads: list[list[str]] = []
    usable = rt.usable_vectors
    rt.usable_vectors = lambda domain, ids: (reads.append(ids), usable(domain, ids))[1]  # type: ignore[method-assign]
    run_stories(rt, day + DAY)
    voters_read = sum(len(r) for r in reads) - 56
    assert 4 <= voters_read <= 30, voters_read  # about 16 expected; a stable hash, so this draw is fixed
    first = [v for r in reads for v in r][:voters_read]  # the voters' read comes first
    placed = [v for r in reads for v in r][voters_read:]
    answers = {v: row["topic_id"] for v, row in rt.store.classifications.get(placed).items()}
    admit = neighbours.VoterSample(4, sizes=Counter(answers.values())).admits()
    assert admit is not None and all(admit(v, answers[v]) for v in first)
