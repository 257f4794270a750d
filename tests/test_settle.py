"""Settling: a day's videos go to the answer of their nearest videos of the domain, where they fit it, once."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from ray_topics.config import ConfigError
from ray_topics.core.index import normalize
from ray_topics.core.neighbours import VoterSample
from ray_topics.core.plan import Plan
from ray_topics.core.snapshot import version_name
from ray_topics.core.types import TopicStatus
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers import job
from ray_topics.tiers import settle as settle_module
from ray_topics.tiers.daily import plan_daily, run_daily
from ray_topics.tiers.settle import settle
from ray_topics.tiers.stories import Fitting
from tests.conftest import make_config
from tests.test_stories import _answer
from tests.test_tiers import DAY, _blob, _ingest, _seed_topic

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)


def _broad_centroids(rt: Runtime) -> np.ndarray:
    """The centroids of news:0..2, the broad topics of :func:`_story_in_broad_topics`."""
    return normalize(np.random.default_rng(7).standard_normal((3, rt.cfg.embedding.dim)))


def _story_in_broad_topics(
    rt: Runtime, day: datetime, prefix: str = "", other_story: bool = False
) -> tuple[list[str], list[list[str]]]:
    """Three broad topics of news (news:0..2, 30 videos each on ``day``) and a tight story of 9 videos between
    them that Tier 1 scattered over the three (5 news:0, 2 news:1, 2 news:2), each fitting its answer
    (``other_story``: another story, apart from the first). Returns (the story's ids, each broad topic's own ids)."""
    dim = rt.cfg.embedding.dim
    cents = _broad_centroids(rt)
    rng = np.random.default_rng(len(prefix))  # the same topics, other videos
    centre = cents.sum(axis=0) + (np.sqrt(3) * normalize(rng.standard_normal(dim)) if other_story else 0)
    if not rt.store.topics.list("news"):
        for i, c in enumerate(cents):
            _seed_topic(rt, "news", i, c, day - 10 * DAY, sim_mean=0.55, sim_std=0.08)
    own = [_ingest(rt, _blob(rng, c, 30, cohesion=0.9), "news", day, f"{prefix}own{i}-") for i, c in enumerate(cents)]
    for i, ids in enumerate(own):
        _answer(rt, ids, f"news:{i}", 0.9, day + DAY)
    story = _ingest(rt, _blob(rng, normalize(centre), 9, cohesion=0.97), "news", day, f"{prefix}story")
    for ids, topic in ((story[:5], "news:0"), (story[5:7], "news:1"), (story[7:], "news:2")):
        _answer(rt, ids, topic, 0.8, day + DAY)  # each fits its answer, as Tier 1 left it
    return story, own


def _answers(rt: Runtime, ids: list[str]) -> list[str]:
    got = rt.store.classifications.get(ids)
    return [got[v]["topic_id"] for v in ids]


def test_the_settled_day_gathers_a_story_tier1_scattered_over_broad_topics(runtime: Runtime) -> None:
    """Each story video's 10 nearest are the 9 of the story and one broad video: the 4 answered by news:1 and
    news:2 (2 of the 10 hold their answer: fewer than settle_keep_share's 3) move to news:0 (5 of 9), which
    they fit too, as refined answers of the domain's current model version. The broad topics' videos keep
    their answers, another story of the day after the settled one is not touched, and settling the day again
    moves nothing (a settled answer is stable under its own vote)."""
    rt = runtime
    rt.cfg.daily.settle_after_days = 1
    assert rt.cfg.daily.settle_keep_share == 0.3  # the default: 3 of 10 neighbours keep a video's answer
    story, own = _story_in_broad_topics(rt, DAY0)
    later, _ = _story_in_broad_topics(rt, DAY0 + DAY, prefix="later-", other_story=True)
    out = run_daily(rt, DAY0 + 2 * DAY)  # settles [DAY0, DAY0 + 1 day)
    assert out["news"]["settled"]["moved"] == 4 and out["news"]["settled"]["day"] == DAY0.isoformat()
    assert _answers(rt, story) == ["news:0"] * 9
    got = rt.store.classifications.get(story)
    assert all(got[v]["confidence"] >= rt.cfg.daily.misfit_confidence for v in story)
    version = version_name("news", rt.store.models.latest_versions()["news"])
    assert {(got[v]["status"], got[v]["model_version"]) for v in story[5:]} == {("refined", version)}
    assert all(_answers(rt, ids) == [f"news:{i}"] * 30 for i, ids in enumerate(own))
    assert _answers(rt, later) == ["news:0"] * 5 + ["news:1"] * 2 + ["news:2"] * 2  # not its day yet
    assert run_daily(rt, DAY0 + 2 * DAY, force=True)["news"]["settled"]["moved"] == 0


def test_a_video_whose_answer_enough_neighbours_share_keeps_it(sqlite_runtime: Runtime) -> None:
    """The story's news:1 and news:2 videos each have 2 of their 10 neighbours on their answer: with
    settle_keep_share 0.2 (2 of 10) they stay; with 0.3, or 0 (no keeping), they go to the plurality's
    news:0 (5 of 9)."""
    rt = sqlite_runtime
    rt.cfg.daily.settle_after_days = 1
    story, _own = _story_in_broad_topics(rt, DAY0)
    rt.cfg.daily.settle_keep_share = 0.2
    rows, stats = settle(rt, "news", rt.store.topics.list("news"), {}, DAY0 + 2 * DAY)
    assert rows == [] and stats["placed"] == 99
    for share in (0.3, 0.0):  # 0: the plurality alone
        rt.cfg.daily.settle_keep_share = share
        rows, _stats = settle(rt, "news", rt.store.topics.list("news"), {}, DAY0 + 2 * DAY)
        assert {r["video_id"]: r["topic_id"] for r in rows} == dict.fromkeys(story[5:], "news:0")


def test_settling_is_on_by_default_and_null_turns_it_off(runtime: Runtime, tmp_path: Path) -> None:
    daily = make_config(tmp_path).daily
    assert daily.settle_after_days == daily.pool_window_days
    runtime.cfg.daily.settle_after_days = None
    story, _own = _story_in_broad_topics(runtime, DAY0)
    out = run_daily(runtime, DAY0 + 2 * DAY)
    assert "settled" not in out["news"]
    assert _answers(runtime, story) == ["news:0"] * 5 + ["news:1"] * 2 + ["news:2"] * 2


def test_a_video_moves_only_to_a_topic_it_fits(sqlite_runtime: Runtime) -> None:
    """news:0 made narrow (members within 0.99 of its centroid): the story's videos do not fit it, so the vote for
    news:0 moves none of them; they are counted as kept."""
    rt = sqlite_runtime
    rt.cfg.daily.settle_after_days = 1
    story, _own = _story_in_broad_topics(rt, DAY0)
    narrow = rt.store.topics.get("news:0")
    with rt.store.begin() as conn:
        rt.store.topics.upsert([dataclasses.replace(narrow, sim_mean=0.99, sim_std=0.001)], conn)
        rt.registry.publish("news", DAY0, "test", conn)
    stats = run_daily(rt, DAY0 + 2 * DAY)["news"]["settled"]
    assert stats["moved"] == 0 and stats["kept_not_fitting"] == 4
    assert _answers(rt, story) == ["news:0"] * 5 + ["news:1"] * 2 + ["news:2"] * 2


def test_the_runs_own_moves_vote_with_their_new_answer_and_are_not_settled_again(sqlite_runtime: Runtime) -> None:
    """``moved``: a birth moved 4 of news:0's story videos to news:2 in this run. They are not settled again, and
    vote for news:2, which now holds 6 of 9: the story's other 3 (news:0 and news:1) move to it. A dead topic's
    video neither votes nor moves."""
    rt = sqlite_runtime
    rt.cfg.daily.settle_after_days = 1
    story, _own = _story_in_broad_topics(rt, DAY0)
    topics = {t.topic_id: t for t in rt.store.topics.list("news")}
    moved = dict.fromkeys(story[:4], "news:2")
    rows, stats = settle(rt, "news", list(topics.values()), moved, DAY0 + 2 * DAY)
    assert {r["video_id"]: r["topic_id"] for r in rows} == dict.fromkeys([story[4], *story[5:7]], "news:2")
    assert stats["placed"] == 9 + 90 - 4

    topics["news:1"] = dataclasses.replace(topics["news:1"], status=TopicStatus.DEAD)
    rows, stats = settle(rt, "news", list(topics.values()), {}, DAY0 + 2 * DAY)
    assert {r["video_id"]: r["topic_id"] for r in rows} == dict.fromkeys(story[7:], "news:0")  # news:1's stay
    assert stats["placed"] == 9 + 90 - 2 - 30


def _decisive(rt: Runtime, at: datetime, prefix: str, n: int = 30) -> list[str]:
    """``n`` videos at the story's centre published at ``at``, answered news:2 (fitting it): where they vote,
    every story video's 10 nearest are theirs."""
    cents = _broad_centroids(rt)
    ids = _ingest(
        rt, _blob(np.random.default_rng(99), normalize(cents.sum(axis=0)), n, cohesion=0.99), "news", at, prefix
    )
    _answer(rt, ids, "news:2", 0.8, at + DAY)
    return ids


def test_only_the_days_within_settle_after_days_of_the_settled_day_vote(sqlite_runtime: Runtime) -> None:
    """Decisive voters published just before the window and at the run's midnight (outside it) change nothing;
    the same voters inside the window (the day after the settled one) carry the vote."""
    rt = sqlite_runtime
    rt.cfg.daily.settle_after_days = 1  # settles [DAY0, DAY0 + 1 day), voters of [DAY0 - 1 day, DAY0 + 2 days)
    story, _own = _story_in_broad_topics(rt, DAY0)
    _decisive(rt, DAY0 - DAY - timedelta(minutes=601), "before")  # _ingest spreads them over 600 minutes
    _decisive(rt, DAY0 + 2 * DAY, "after")
    topics = rt.store.topics.list("news")
    rows, _stats = settle(rt, "news", topics, {}, DAY0 + 2 * DAY)
    assert {r["video_id"]: r["topic_id"] for r in rows} == dict.fromkeys(story[5:], "news:0")
    _decisive(rt, DAY0 + DAY, "inside")
    rows, _stats = settle(rt, "news", topics, {}, DAY0 + 2 * DAY)
    assert {r["video_id"]: r["topic_id"] for r in rows} == dict.fromkeys(story[:7], "news:2")


def test_capped_voters_are_a_sample_of_the_window_stratified_by_answer_whose_embeddings_alone_are_read(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window holds 129 fitting videos (the settled day's 99, and 30 decisive voters at the story's centre
    the day after, answered news:2, as a topic born since holds a story's later videos), the cap 60: 20 of
    each answer's. The sample spreads over both days, as the uncapped vote does, so the day after's voters
    still decide: the story goes to news:2, as with every voter (reading the settled day first, the cap held
    only its own 99 and the story went to news:0). Only the admitted ids' embeddings are read for the voters."""
    rt = sqlite_runtime
    rt.cfg.daily.settle_after_days = 1
    story, _own = _story_in_broad_topics(rt, DAY0)
    nxt = _decisive(rt, DAY0 + DAY, "next")
    topics = rt.store.topics.list("news")
    uncapped, _stats = settle(rt, "news", topics, {}, DAY0 + 2 * DAY)
    assert {r["video_id"]: r["topic_id"] for r in uncapped} == dict.fromkeys(story[:7], "news:2")

    read: list[int] = []
    usable = rt.usable_vectors
    monkeypatch.setattr(rt, "usable_vectors", lambda d, ids: (read.append(len(ids)), usable(d, ids))[1])
    rt.cfg.global_topics.place_voters = 60
    errors: list[float] = []
    voters = VoterSample.voters
    monkeypatch.setattr(
        VoterSample, "voters", lambda self, *a, **kw: (errors.append(kw["errors"]), voters(self, *a, **kw))[1]
    )
    rows, stats = settle(rt, "news", topics, {}, DAY0 + 2 * DAY)
    assert stats["voters"] == 60 and errors == [rt.cfg.daily.settle_vote_errors] == [1.0]  # sampled: less one error
    assert {r["video_id"]: r["topic_id"] for r in rows} == dict.fromkeys(story[:7], "news:2")
    assert read[-1] == 99  # the settled day, placed whole
    assert 60 <= sum(read[:-1]) < 129  # the voters' read: the quotas' admitted ids, not the whole window
    fit = rt.cfg.daily.misfit_confidence
    every = list(rt.store.classifications.iter_window_fitting("news", DAY0 - DAY, DAY0 + 3 * DAY, fit))
    sample = VoterSample(60, salt="settle", sizes=Counter(t for _v, t, _at in every))
    sample.offer([v for v, _t, _at in every], np.zeros((len(every), 1), np.float32), [t for _v, t, _at in every])
    assert sample.quota == {"news:0": 20, "news:1": 20, "news:2": 20}
    assert len(set(sample.ids) & set(nxt)) >= 20 * 30 / 62 / 2  # both days of news:2 in it, in about their shares


def test_above_the_cap_the_videos_a_birth_of_this_run_moved_count_under_their_new_answer(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The day after's 30 decisive videos, stored as news:0 and moved by this run's birth to news:2: the
    stratified sample counts them under news:2 (a newborn's stratum, whole below the level), not under the
    broad news:0 they leave, and reads them as news:2's; the story goes to news:2 as with every voter."""
    rt = sqlite_runtime
    rt.cfg.daily.settle_after_days = 1
    story, _own = _story_in_broad_topics(rt, DAY0)
    nxt = _decisive(rt, DAY0 + DAY, "next")
    _answer(rt, nxt, "news:0", 0.8, DAY0 + 2 * DAY)  # stored: the broad topic; this run's birth moves them
    moved = dict.fromkeys(nxt, "news:2")
    topics = rt.store.topics.list("news")
    uncapped, _stats = settle(rt, "news", topics, moved, DAY0 + 2 * DAY)
    sizes: list[dict[str, int]] = []
    real = settle_module.window_sample

    def spy(*args: object, **kwargs: object) -> object:
        out = real(*args, **kwargs)  # type: ignore[arg-type]
        sizes.append(dict(out[0].sizes or {}))
        return out

    monkeypatch.setattr(settle_module, "window_sample", spy)
    rt.cfg.global_topics.place_voters = 60
    rows, _stats = settle(rt, "news", topics, moved, DAY0 + 2 * DAY)
    assert sizes == [{"news:0": 35, "news:1": 32, "news:2": 62}]  # 30 of news:0's 65 counted under news:2
    assert {r["video_id"]: r["topic_id"] for r in rows} == {r["video_id"]: r["topic_id"] for r in uncapped}
    assert set(story[:7]) <= {r["video_id"] for r in rows if r["topic_id"] == "news:2"}


def test_the_misfits_a_birth_takes_vote_on_the_settled_day(sqlite_runtime: Runtime) -> None:
    """``core``: 8 videos at the story's centre that the run's birth took (stored as misfits, so not read as
    voters): with them, news:1 holds 10 of the story's 17 and the story goes there; without, to news:0."""
    rt = sqlite_runtime
    rt.cfg.daily.settle_after_days = 1
    story, _own = _story_in_broad_topics(rt, DAY0)
    taken = _decisive(rt, DAY0 + DAY, "taken", n=8)
    _answer(rt, taken, "news:1", 0.1, DAY0 + 2 * DAY)  # misfits in the store
    vecs = rt.vectors("news", taken)
    published = [rt.store.classifications.get([v])[v]["published_at"] for v in taken]
    core = Fitting("news", taken, published, ["news:1"] * 8, vecs)
    topics = rt.store.topics.list("news")
    moved = dict.fromkeys(taken, "news:1")
    with_core, _stats = settle(rt, "news", topics, moved, DAY0 + 2 * DAY, core)
    assert {r["video_id"]: r["topic_id"] for r in with_core} == dict.fromkeys([*story[:5], *story[7:]], "news:1")
    without, _stats = settle(rt, "news", topics, moved, DAY0 + 2 * DAY)
    assert {r["video_id"]: r["topic_id"] for r in without} == dict.fromkeys(story[5:], "news:0")


def test_two_daily_runs_at_once_settle_the_day_once(runtime: Runtime) -> None:
    """A scheduler starts the daily twice at the same moment: both settle the day in their plans before either
    commits; one commits its plan with the settled answers, the other finds the domain done."""
    rt = runtime
    rt.cfg.daily.settle_after_days = 1
    story, _own = _story_in_broad_topics(rt, DAY0)
    as_of = DAY0 + 2 * DAY
    both_planned = threading.Barrier(2, timeout=120)

    def plan_then_wait(r: Runtime, domain: str, at: datetime) -> Plan:
        plan = plan_daily(r, domain, at)
        if domain == "news":
            both_planned.wait()  # neither commits before the other has settled the day too
        return plan

    def run(_k: int) -> dict:
        return job.run_tier(Runtime(rt.cfg), "daily", plan_then_wait, as_of, rt.cfg.daily.pool_window_days)

    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(run, range(2)))
    news = sorted((o["news"] for o in outs), key=lambda s: bool(s.get("skipped")))
    assert news[0]["settled"]["moved"] == 4 and news[1].get("skipped")
    assert _answers(rt, story) == ["news:0"] * 9


@pytest.mark.parametrize(
    "override",
    [
        "daily.settle_after_days=0",
        "daily.settle_after_days=-1",
        "daily.settle_keep_share=1.5",
        "daily.settle_vote_errors=-1",
    ],
)
def test_settling_takes_whole_positive_days_and_a_share(tmp_path: Path, override: str) -> None:
    with pytest.raises(ConfigError, match=override.split("=")[0].split(".")[1]):
        make_config(tmp_path, override)
