"""The story view: computed over a window (``ray-topics stories``), and placed every midnight for the API.

Adapter over :mod:`ray_topics.core.stories`: each domain's classifications and
embeddings of a window are streamed (``monthly.reassign_chunk`` videos at a
time: memory does not grow with the volume) and every video that fits a topic
is placed under a topic of any domain (``global_topics.place_by``): by default
under the nearest centroid, or under the answer most of its nearest videos of
the window hold, of any domain, where it fits that answer's topic too (the
window's rows are then read twice: first for its voters, a sample stratified
by answer of at most ``global_topics.place_voters`` whose embeddings alone are
read). A topic whose story holds videos
of other domains is a story that the router or the publishers split: the
domains' own topics and answers are unchanged, the view is read beside them.

* :func:`story_view` computes the view of a window on request (the CLI): one
  read of every domain's window (two by neighbours), as the echo read does (2 s per domain and
  week at 17,000 videos a day for that read, RESULTS.md), but for its misfits'
  embeddings (a misfit keeps its own label: they are counted in one grouped
  read).
* :func:`run_stories`, the stories job, places the last ``place_days`` days
  every midnight, after the jobs that change topics, and stores the videos
  whose story is not their own answer (:class:`ray_topics.storage.stories.StoryMoves`),
  which the HTTP API (``GET /v1/stories``, a video's ``story_id``) and the
  report read without touching an embedding. The days placed before are placed
  again among the topics as they stand, so a story topic born after a story's
  first videos (a birth takes its pool window's videos) gathers them in the
  view too. The moves are staged a chunk at a time and take the place of the
  earlier ones when the run commits. A rerun of the same midnight, or two at
  once, writes the same rows (:data:`STORY_LOCK`,
  :func:`ray_topics.storage.runs.once`); an older midnight run after a newer
  one writes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import numpy as np
from sqlalchemy import Connection

from ray_topics.core.index import CentroidIndex
from ray_topics.core.neighbours import VoterSample, fitting_moves
from ray_topics.core.stories import story_labels
from ray_topics.core.timeutil import as_utc, floor_day
from ray_topics.core.types import Topic, TopicStatus
from ray_topics.execution.runtime import Runtime, yield_cpu
from ray_topics.storage.runs import ALL_DOMAINS, once
from ray_topics.storage.store import Store

__all__ = [
    "STORY_LOCK",
    "Fitting",
    "Placed",
    "StalePlacement",
    "fitting_chunks",
    "placements",
    "run_stories",
    "story_fit",
    "story_topics",
    "story_view",
    "window_sample",
]

log = logging.getLogger(__name__)

STORY_LOCK = "stories"  # one placement commits at a time; a second of the same midnight finds it done


def _placeable(store: Store) -> list[Topic]:
    return [t for t in store.topics.list() if t.status != TopicStatus.MERGED]


def _centroids(topics: Sequence[Topic]) -> tuple[np.ndarray, list[str]]:
    cents = np.stack([t.centroid for t in topics]) if topics else np.zeros((0, 0), np.float32)
    return cents, [t.topic_id for t in topics]


def story_topics(store: Store) -> tuple[np.ndarray, list[str]]:
    """(centroids, ids) of the topics a video can be placed under: every domain's, but merged ones (their
    videos went to the topic that absorbed them). Dead topics stay: a story's older videos are theirs."""
    return _centroids(_placeable(store))


def story_fit(rt: Runtime, topics: Sequence[Topic] | None = None) -> CentroidIndex:
    """The :func:`story_topics` (or ``topics``, as already read), each calibrated on its own videos: a video's
    confidence in a topic of any domain, as that domain's Tier 1 would give it (the fit check of the view by
    neighbours). Only :meth:`CentroidIndex.confidence_in` is asked of it: no search index is built."""
    topics = _placeable(rt.store) if topics is None else topics
    cents = np.stack([t.centroid for t in topics]) if topics else np.zeros((0, rt.cfg.embedding.dim), np.float32)
    mu, sigma = ([t.sim_mean for t in topics], [t.sim_std for t in topics])
    return CentroidIndex(**rt.confidence, backend="numpy").fit([t.topic_id for t in topics], cents, mu, sigma)


@dataclass(frozen=True)
class Placed:
    """Videos of one domain that fit their answers, with their answers and their stories (aligned lists):
    each story a topic of any domain (:mod:`ray_topics.core.stories`)."""

    domain: str
    video_ids: list[str]
    published: list[datetime]
    answers: list[str]
    stories: list[str]


@dataclass(frozen=True)
class Fitting:
    """A chunk of one domain's videos that fit their answers (aligned lists), with their embeddings."""

    domain: str
    video_ids: list[str]
    published: list[datetime]
    answers: list[str]
    vectors: np.ndarray


def fitting_chunks(
    rt: Runtime,
    start: datetime,
    end: datetime,
    domains: Sequence[str] | None = None,
    admit: Callable[[str, str], bool] | None = None,
) -> Iterator[Fitting]:
    """Every video published in ``[start, end)`` that fits its answer, with its embedding, domain by domain
    (``domains``, default every one), ``monthly.reassign_chunk`` at a time (a misfit's embedding is not read,
    nor is an unusable one). ``admit``: only the (id, answer) it passes are read (:meth:`VoterSample.admits`)."""
    fit = rt.cfg.daily.misfit_confidence  # a video fits its topic at this confidence, as Tier 1 counts it
    step = rt.cfg.monthly.reassign_chunk
    for domain in rt.cfg.domains.names if domains is None else domains:
        with closing(rt.store.classifications.iter_window_fitting(domain, start, end, fit)) as stream:
            rows = stream if admit is None else (r for r in stream if admit(r[0], r[1]))
            while batch := list(islice(rows, step)):
                row = {vid: (topic, at) for vid, topic, at in batch}
                vids, vecs, _bad = rt.usable_vectors(domain, list(row))
                if vids:
                    yield Fitting(domain, vids, [row[v][1] for v in vids], [row[v][0] for v in vids], vecs)


def window_sample(
    rt: Runtime,
    start: datetime,
    end: datetime,
    *,
    allowed: set[str],
    salt: str = "voters",
    domains: Sequence[str] | None = None,
    more: Mapping[str, int] | None = None,
) -> tuple[VoterSample, Callable[[str, str], bool] | None]:
    """A :class:`VoterSample` of ``global_topics.place_voters`` over the fitting videos of ``[start, end)``,
    stratified by their stored answer (counted per topic, domain by domain as :func:`fitting_chunks` reads them,
    ``more`` offered besides), and its :meth:`VoterSample.admits` for :func:`fitting_chunks`."""
    fit = rt.cfg.daily.misfit_confidence
    sizes: Counter[str] = Counter(more or {})
    for d in rt.cfg.domains.names if domains is None else domains:
        sizes.update(rt.store.classifications.count_window_fitting(d, start, end, fit))
    cap = rt.cfg.global_topics.place_voters
    sample = VoterSample(cap, allowed=allowed, salt=salt, sizes=sizes)
    return sample, sample.admits()


def _placer(
    rt: Runtime, start: datetime, end: datetime, stats: Counter[str]
) -> Callable[[np.ndarray, list[str]], list[str]] | None:
    """How a chunk's videos are placed (``global_topics.place_by``): (embeddings, answers) -> stories.
    None when there is nowhere to place them (no topic, or no voter). By neighbours, ``stats`` counts the
    videos voted under a topic they do not fit (``kept_not_fitting``: they keep their own answer)."""
    topics = _placeable(rt.store)  # read once: the vote's labels and the fit check's topics are the same set
    cents, ids = _centroids(topics)
    if not ids:
        return None
    g = rt.cfg.global_topics
    if g.place_by == "centroid":
        return lambda vecs, answers: story_labels(vecs, answers, np.ones(len(answers), bool), cents, ids)
    # a merged topic's answer does not vote; above place_voters a sample stratified by answer, each answer's
    # weight less daily.settle_vote_errors standard errors, as settling votes (RESULTS.md, "The story view by
    # neighbours, with settling's fit check")
    sample, admit = window_sample(rt, start, end, allowed=set(ids))
    for c in fitting_chunks(rt, start, end, admit=admit):  # the voters' embeddings
        sample.offer(c.video_ids, c.vectors, c.answers)
    if not len(sample):
        return None
    voters = sample.voters(
        g.place_neighbours, exact_up_to=g.place_exact_voters, nprobe=g.place_nprobe,
        errors=rt.cfg.daily.settle_vote_errors,
    )  # fmt: skip
    log.info("stories: %d voters over [%s, %s)", len(voters), start, end)
    fits, fit = story_fit(rt, topics), rt.cfg.daily.misfit_confidence
    stats.setdefault("kept_not_fitting", 0)  # reported by neighbours, even when nothing is refused

    def place(vecs: np.ndarray, answers: list[str]) -> list[str]:
        placed = voters.place(vecs, fallback=answers)  # no voter found: its own answer
        moves, _conf, refused = fitting_moves(vecs, answers, placed, fits.confidence_in, fit)
        stats["kept_not_fitting"] += refused
        out = list(answers)
        for i in moves:  # only to a topic it fits
            out[i] = placed[i]
        return out

    return place


def placements(rt: Runtime, start: datetime, end: datetime, stats: Counter[str] | None = None) -> Iterator[Placed]:
    """Every video published in ``[start, end)`` that fits its answer, placed, domain by domain; ``stats``:
    counts of the placement (by neighbours, ``kept_not_fitting``: the videos the vote put under a topic they
    do not fit, which keep their answer).

    The window's rows are streamed and placed ``monthly.reassign_chunk`` at a time (one chunk's rows and
    embeddings held, and by neighbours the voters: at most ``global_topics.place_voters``), so a busy week
    is placed in bounded memory; by neighbours the window's rows are read twice (its voters, then its videos),
    the first time reading the embeddings of the sampled voters only.
    """
    place = _placer(rt, start, end, Counter() if stats is None else stats)
    if place is None:
        return
    for c in fitting_chunks(rt, start, end):
        yield Placed(c.domain, c.video_ids, c.published, c.answers, place(c.vectors, c.answers))


def story_view(rt: Runtime, start: datetime, end: datetime) -> dict[str, Counter[str]]:
    """{topic id: {domain: videos}} of the story view over the videos published in ``[start, end)``: those
    that fit their answers placed, and the misfits told under the topic that answered them, if any."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    fit = rt.cfg.daily.misfit_confidence
    for domain in rt.cfg.domains.names:
        for topic, n in rt.store.classifications.misfit_answers(domain, start, end, fit).items():
            out[topic][domain] += n
    for p in placements(rt, start, end):
        for story in p.stories:
            out[story][p.domain] += 1
    return out


class StalePlacement(RuntimeError):
    """A newer midnight's placement committed while this one placed days it has placed: run it again."""


def run_stories(rt: Runtime, as_of: datetime, *, force: bool = False) -> dict[str, Any]:
    """The stories job: place the days ending ``as_of`` and store their moves (every midnight, after the jobs
    that change topics).

    The days: ``global_topics.place_days`` (default ``daily.pool_window_days``). The moves are staged a
    chunk at a time (the job's memory and each staging transaction bounded by ``monthly.reassign_chunk``,
    whatever the volume), then written, inside the database, as the difference from the days' stored
    moves in the transaction that marks the run done, under :data:`STORY_LOCK`: a reader sees the
    earlier placement or this one, never a part. Idempotent per ``as_of``. A placement of an older midnight
    than one already placed (a catch-up run after a newer one, a second scheduler) places only its days the
    newer one did not (``placed_until``: the newer placed the later days among newer topics), and where it
    has none writes nothing and is marked done with ``superseded``; a newer placement committed while this
    one placed makes its commit raise :class:`StalePlacement` (nothing written; the next try places the
    days left). Returns the run's
    summary: the days, videos placed per domain, those whose story is another topic, how many of
    those went to another domain's topic, and by neighbours how many the vote put under a topic they do not
    fit (``kept_not_fitting``: they stay).
    """
    as_of = as_utc(as_of)
    if as_of != floor_day(as_of):
        raise ValueError(f"the stories job places whole days: --as-of must be a midnight (UTC), not {as_of}")
    yield_cpu(rt.cfg.execution.job_niceness)  # batch work: Tier 1's replicas on this node go first
    days = rt.cfg.global_topics.place_days or rt.cfg.daily.pool_window_days
    start = as_of - timedelta(days=days)
    attempt = uuid.uuid4().hex  # two runs of one midnight at once stage apart

    def placed_until(conn: Connection | None = None) -> datetime:
        """The end of this run's days no newer placement placed: ``as_of``, or the first day a newer one did."""
        newest = rt.store.runs.newest_success("stories", conn)
        return as_of if newest is None or newest <= as_of else min(as_of, newest - timedelta(days=days))

    def work(_run_id: int) -> tuple[dict[str, Any], Any]:
        end = placed_until()
        if end <= start:  # a newer placement placed every day of this one: nothing to place
            return {"days": days, "placed": {}, "moved": {}, "to_other_domains": 0, "superseded": True}, None
        domain_of = {t.topic_id: t.domain for t in rt.store.topics.list()}
        placed: Counter[str] = Counter()
        moved: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        elsewhere = 0
        for p in placements(rt, start, end, counts):
            placed[p.domain] += len(p.video_ids)
            where = {"domain": p.domain, "placed_at": as_of}
            moves = [
                {"video_id": v, "published_at": at, "topic_id": a, "story_id": s, **where}
                for v, at, a, s in zip(p.video_ids, p.published, p.answers, p.stories, strict=True)
                if s != a
            ]
            rt.store.stories.stage(attempt, moves)
            moved[p.domain] += len(moves)
            elsewhere += sum(1 for m in moves if domain_of.get(m["story_id"]) != p.domain)
        stats = {"days": days, "placed": dict(placed), "moved": dict(+moved), "to_other_domains": elsewhere}
        stats.update(counts)  # by neighbours: kept_not_fitting
        if end < as_of:
            stats["placed_until"] = end.isoformat()

        def write(conn: Connection) -> None:
            if placed_until(conn) < end:  # a newer midnight committed while this one placed some of its days
                raise StalePlacement(f"a newer story placement committed while the one of {as_of} placed")
            rt.store.stories.promote(attempt, start, end, sum(moved.values()), conn)

        return stats, write

    done = False
    try:
        out = once(rt.store.runs, "stories", ALL_DOMAINS, (start, as_of), work, force=force, lock=STORY_LOCK)
        done = True
        return out
    finally:
        try:  # after the commit, outside its lock; once this midnight is done, older attempts' rows are dead
            rt.store.stories.discard(attempt, older_than=as_of if done else None)
        except Exception:  # the store is down: the next midnight's run drops them; keep the first error
            log.warning("stories: could not drop the staged moves of attempt %s", attempt, exc_info=True)
