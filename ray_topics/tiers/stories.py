"""The story view: computed over a window (``ray-topics stories``), and placed every midnight for the API.

Adapter over :mod:`ray_topics.core.stories`: each domain's classifications and
embeddings of a window are read (``monthly.reassign_chunk`` embeddings at a
time, as the daily job reads its window) and every video that fits a topic is
placed under its nearest topic of any domain. A topic whose story holds videos
of other domains is a story that the router or the publishers split: the
domains' own topics and answers are unchanged, the view is read beside them.

* :func:`story_view` computes the view of a window on request (the CLI): one
  read of every domain's window, as the echo read does (2 s per domain and
  week at 17,000 videos a day for that read, RESULTS.md), but for its misfits'
  embeddings (a misfit keeps its own label), one domain's classifications of
  the window held at a time.
* :func:`run_stories`, the stories job, places the last ``place_days`` days
  every midnight, after the jobs that change topics, and stores the videos
  whose story is not their own answer (:class:`ray_topics.storage.stories.StoryMoves`),
  which the HTTP API (``GET /v1/stories``, a video's ``story_id``) and the
  report read without touching an embedding. The days placed before are placed
  again among the topics as they stand, so a story topic born after a story's
  first videos (a birth takes its pool window's videos) gathers them in the
  view too. A rerun of the same midnight, or two at once, writes the same rows
  (:data:`STORY_LOCK`, :func:`ray_topics.storage.runs.once`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ray_topics.core.stories import story_labels
from ray_topics.core.timeutil import as_utc, floor_day
from ray_topics.core.types import TopicStatus
from ray_topics.execution.runtime import Runtime, yield_cpu
from ray_topics.storage.runs import ALL_DOMAINS, once
from ray_topics.storage.store import Store

__all__ = ["STORY_LOCK", "Placed", "placements", "run_stories", "story_topics", "story_view"]

STORY_LOCK = "stories"  # one placement commits at a time; a second of the same midnight finds it done


def story_topics(store: Store) -> tuple[np.ndarray, list[str]]:
    """(centroids, ids) of the topics a video can be placed under: every domain's, but merged ones (their
    videos went to the topic that absorbed them). Dead topics stay: a story's older videos are theirs."""
    topics = [t for t in store.topics.list() if t.status != TopicStatus.MERGED]
    cents = np.stack([t.centroid for t in topics]) if topics else np.zeros((0, 0), np.float32)
    return cents, [t.topic_id for t in topics]


@dataclass(frozen=True)
class Placed:
    """Videos of one domain with their own answers and their stories (aligned lists).

    ``fitted``: the videos fit their answers, and each story is the nearest topic of any domain;
    else they are misfits, and a misfit's story is its answer (a topic it fits too loosely, or
    None), read from its row without its embedding. A video classified after its domain's rows
    were read has neither answer nor story.
    """

    domain: str
    fitted: bool
    video_ids: list[str]
    published: list[datetime]
    answers: list[str | None]
    stories: list[str | None]


def placements(rt: Runtime, start: datetime, end: datetime) -> Iterator[Placed]:
    """Every classified video published in ``[start, end)``, domain by domain, a chunk at a time."""
    cents, ids = story_topics(rt.store)
    fit = rt.cfg.daily.misfit_confidence  # a video fits its topic at this confidence, as Tier 1 counts it
    for domain in rt.cfg.domains.names:
        rows = {r["video_id"]: r for r in rt.store.classifications.window(domain, start, end, with_text=False)}
        fitting = {v: r["topic_id"] for v, r in rows.items() if r["topic_id"] is not None and r["confidence"] >= fit}
        others = [v for v in rows if v not in fitting]
        if others:
            answers = [rows[v]["topic_id"] for v in others]
            yield Placed(domain, False, others, [rows[v]["published_at"] for v in others], answers, answers)
        if not ids:
            continue
        for vids, vecs in rt.window_vectors(domain, (start, end), skip=set(others)):
            labels = [fitting.get(v) for v in vids]  # None: classified after the rows above were read
            fits = np.array([lab is not None for lab in labels])
            published = [rows[v]["published_at"] if v in rows else start for v in vids]
            yield Placed(domain, True, list(vids), published, labels, story_labels(vecs, labels, fits, cents, ids))


def story_view(rt: Runtime, start: datetime, end: datetime) -> dict[str, Counter[str]]:
    """{topic id: {domain: videos}} of the story view over the videos published in ``[start, end)``."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for p in placements(rt, start, end):
        for story in p.stories:
            if story is not None:
                out[story][p.domain] += 1
    return out


def run_stories(rt: Runtime, as_of: datetime, *, force: bool = False) -> dict[str, Any]:
    """The stories job: place the days ending ``as_of`` and store their moves (every midnight, after the jobs
    that change topics).

    The days: ``global_topics.place_days`` (default ``daily.pool_window_days``). Idempotent per
    ``as_of``: the days' earlier moves are replaced in the transaction that marks the run done, under
    :data:`STORY_LOCK`. Returns the run's summary: the days, videos placed per domain, those whose
    story is another topic, and how many of those went to another domain's topic.
    """
    if as_utc(as_of) != floor_day(as_of):
        raise ValueError(f"the stories job places whole days: --as-of must be a midnight (UTC), not {as_of}")
    yield_cpu(rt.cfg.execution.job_niceness)  # batch work: Tier 1's replicas on this node go first
    days = rt.cfg.global_topics.place_days or rt.cfg.daily.pool_window_days
    start = as_of - timedelta(days=days)

    def work(_run_id: int) -> tuple[dict[str, Any], Any]:
        domain_of = {t.topic_id: t.domain for t in rt.store.topics.list()}
        moves: list[dict[str, Any]] = []
        placed: Counter[str] = Counter()
        for p in placements(rt, start, as_of):
            if not p.fitted:
                continue
            for vid, at, answer, story in zip(p.video_ids, p.published, p.answers, p.stories, strict=True):
                if answer is None:  # classified after its domain's rows were read: its story is its answer
                    continue
                placed[p.domain] += 1
                if story != answer:
                    moves.append(
                        {
                            "video_id": vid,
                            "domain": p.domain,
                            "published_at": at,
                            "topic_id": answer,
                            "story_id": story,
                            "placed_at": as_of,
                        }
                    )
        stats = {
            "days": days,
            "placed": dict(placed),
            "moved": dict(Counter(m["domain"] for m in moves)),
            "to_other_domains": sum(1 for m in moves if domain_of.get(m["story_id"]) != m["domain"]),
        }
        return stats, lambda conn: rt.store.stories.replace(start, as_of, moves, conn)

    return once(rt.store.runs, "stories", ALL_DOMAINS, (start, as_of), work, force=force, lock=STORY_LOCK)
