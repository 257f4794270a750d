"""Topic lifecycle rules shared by the tiers: a topic from its members, dying and death, reclassification rows.

Pure functions: they return new values and never change their inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ray_topics.core.coherence import cohesion
from ray_topics.core.index import CentroidIndex, Match, calibrate
from ray_topics.core.keywords import label_from_keywords
from ray_topics.core.snapshot import ModelSnapshot
from ray_topics.core.types import ClassificationStatus, EventType, Topic, TopicEvent, TopicStatus

__all__ = [
    "LIFECYCLE_EVENTS",
    "known_at",
    "lifecycle_changes",
    "make_topic",
    "model_of",
    "reassign",
    "recentred",
    "reclassified",
    "returned_details",
    "returning",
    "revived",
    "status_at",
]

_EVENT_OF = {
    TopicStatus.DEAD: EventType.DEATH,
    TopicStatus.DYING: EventType.DYING,
    TopicStatus.ACTIVE: EventType.REVIVAL,
}


def make_topic(
    domain: str,
    number: int,
    members: np.ndarray,
    keywords: Sequence[str],
    at: datetime,
    *,
    upper_quantile: float,
    coherence: float | None = None,
    born_at: datetime | None = None,
    last_seen_at: datetime | None = None,
) -> Topic:
    """A new active topic whose centroid and calibration come from its member embeddings."""
    centroid, _mean, _std = cohesion(members)
    mu, sigma = calibrate(members @ centroid, upper_quantile)
    tid = f"{domain}:{number}"
    return Topic(
        topic_id=tid,
        domain=domain,
        number=number,
        label=label_from_keywords(list(keywords), fallback=tid),
        keywords=list(keywords),
        centroid=centroid,
        sim_mean=mu,
        sim_std=sigma,
        size=len(members),
        coherence=coherence,
        status=TopicStatus.ACTIVE,
        born_at=born_at or at,
        last_seen_at=last_seen_at or at,
        updated_at=at,
    )


def recentred(t: Topic, members: np.ndarray, keywords: Sequence[str], at: datetime, *, upper_quantile: float) -> Topic:
    """``t`` re-centred on ``members`` and recalibrated, with ``keywords`` when any; the id is kept."""
    centroid, _m, _s = cohesion(members)
    mu, sigma = calibrate(members @ centroid, upper_quantile)
    kw = list(keywords) or list(t.keywords)
    return dataclasses.replace(
        t,
        centroid=centroid,
        sim_mean=mu,
        sim_std=sigma,
        keywords=kw,
        label=label_from_keywords(kw, t.topic_id),
        updated_at=at,
    )


def returning(dead: Sequence[Topic], centroid: np.ndarray, threshold: float) -> Topic | None:
    """The dead topic a newborn cluster with this ``centroid`` is the return of, or None.

    A story that goes quiet long enough dies; when it comes back (a season, a sequel, a trial's verdict) its
    misfits cluster again. Born as a new topic it would get a new id, and every chart, alert and client that
    followed the old one would lose it. The nearest dead topic at cosine ``threshold`` or more (the bar at
    which a candidate is the same topic as a live one) is the one that returns.

    Example:
        >>> from datetime import datetime
        >>> at = datetime(2026, 1, 1)
        >>> old = make_topic("news", 3, np.array([[1.0, 0.0], [0.98, 0.2]], np.float32), ["eclipse"], at,
        ...                  upper_quantile=0.9)
        >>> old = dataclasses.replace(old, status=TopicStatus.DEAD, died_at=at)
        >>> returning([old], np.array([0.99, 0.1], np.float32), 0.9).topic_id
        'news:3'
        >>> returning([old], np.array([0.0, 1.0], np.float32), 0.9) is None
        True
    """
    if not dead:
        return None
    sims = np.stack([t.centroid for t in dead]) @ centroid
    best = int(np.argmax(sims))
    return dead[best] if sims[best] >= threshold else None


def revived(
    t: Topic,
    members: np.ndarray,
    keywords: Sequence[str],
    at: datetime,
    *,
    last_seen_at: datetime,
    upper_quantile: float,
    coherence: float | None = None,
) -> Topic:
    """Dead topic ``t`` active again, re-centred on the ``members`` it returns with; its id and birth are kept.

    ``coherence``: the returning cluster's (None keeps the topic's own).
    """
    new = recentred(t, members, keywords, at, upper_quantile=upper_quantile)
    return dataclasses.replace(
        new,
        status=TopicStatus.ACTIVE,
        died_at=None,
        size=t.size + len(members),
        last_seen_at=max(t.last_seen_at, last_seen_at),
        coherence=t.coherence if coherence is None else coherence,
    )


def returned_details(dead: Topic, keywords: Sequence[str]) -> dict[str, Any]:
    """The details of the revival event of dead topic ``dead`` returning with ``keywords`` (daily and monthly)."""
    return {
        "returned": True,
        "keywords": list(keywords)[:5],
        "dead_since": dead.died_at.isoformat() if dead.died_at else None,
    }


def lifecycle_changes(
    topics: Sequence[Topic], last_seen: dict[str, datetime], as_of: datetime, *, dying_after: int, dead_after: int
) -> tuple[list[Topic], list[TopicEvent]]:
    """Topics with no video for ``dying_after`` days go dying, ``dead_after`` days dead; returning ones revive.

    ``last_seen`` holds the newest video time per topic seen by this run; a
    topic's stored ``last_seen_at`` is kept when it is newer. Returns the
    changed topics (new values) and their events.
    """
    changed: list[Topic] = []
    events: list[TopicEvent] = []
    for t in topics:
        if not t.live:
            continue
        seen = max(t.last_seen_at, last_seen.get(t.topic_id, t.last_seen_at))
        idle = as_of - seen
        status = TopicStatus(t.status)
        if idle >= timedelta(days=dead_after):
            status = TopicStatus.DEAD
        elif idle >= timedelta(days=dying_after):
            status = TopicStatus.DYING
        elif t.status == TopicStatus.DYING:
            status = TopicStatus.ACTIVE
        if status == t.status and seen == t.last_seen_at:
            continue
        new = dataclasses.replace(t, last_seen_at=seen, updated_at=as_of)
        if status != t.status:
            new.status = status
            if status == TopicStatus.DEAD:
                new.died_at = as_of
            details = {"last_seen_at": seen.isoformat(), "idle_days": idle.days}
            events.append(TopicEvent.of(new, _EVENT_OF[status], as_of, **details))
        changed.append(new)
    return changed, events


def model_of(domain: str, topics: Sequence[Topic], dim: int) -> ModelSnapshot:
    """An unpublished model over the given topics (to classify with before the commit)."""
    return ModelSnapshot.from_topics(domain, -1, list(topics), dim)


def reclassified(
    ids: Sequence[str],
    match: Match,
    at: datetime,
    *,
    model_version: str = "",
    status: ClassificationStatus = ClassificationStatus.REFINED,
) -> list[dict[str, Any]]:
    """Classification update rows of ``ids`` from an index's ``match`` (one row per id, in order).

    The one row builder of every job that reclassifies (refine, daily, monthly).
    ``model_version`` may stay empty when the commit names the version it publishes.
    """
    return [
        {
            "video_id": vid,
            "topic_id": tid,
            "confidence": float(c),
            "status": status,
            "model_version": model_version,
            "classified_at": at,
        }
        for vid, tid, c in zip(ids, match.topic_ids, match.confidences, strict=True)
    ]


def reassign(
    ids: Sequence[str], vectors: np.ndarray, index: CentroidIndex, only_to: set[str], at: datetime
) -> list[dict[str, Any]]:
    """Refined rows of the videos whose nearest accepted topic is in ``only_to`` (version named at commit)."""
    return [r for r in reclassified(ids, index.search(vectors), at) if r["topic_id"] in only_to]


# the events that move a topic's status; every other kind leaves it as it was
LIFECYCLE_EVENTS = (EventType.DYING, EventType.REVIVAL, EventType.DEATH, EventType.MERGE)


def status_at(topic: Topic, events: Sequence[TopicEvent], at: datetime) -> str | None:
    """The topic's status at ``at``, replayed from its lifecycle events; None before its birth.

    The store keeps only the current status; a report or health at a past
    ``as_of``, and the topic map's slider, need the past ones. An ended topic
    (``died_at`` set) keeps its stored status from then on.

    Example:
        >>> from datetime import UTC
        >>> t = Topic("d:0", "d", 0, "x", [], np.zeros(2), 0, 0, 1, "active", datetime(2024, 1, 1, tzinfo=UTC),
        ...           datetime(2024, 1, 1, tzinfo=UTC))
        >>> ev = [TopicEvent("d", "d:0", EventType.DYING, datetime(2024, 1, 5, tzinfo=UTC))]
        >>> [status_at(t, ev, datetime(2024, 1, day, tzinfo=UTC)) for day in (1, 4, 6)]
        ['active', 'active', 'dying']
    """
    if topic.born_at > at:
        return None
    if topic.died_at is not None and topic.died_at <= at:
        return topic.status
    status = TopicStatus.ACTIVE
    for e in sorted(events, key=lambda e: e.at):
        if e.at > at:
            break
        if e.type == EventType.DYING:
            status = TopicStatus.DYING
        elif e.type == EventType.REVIVAL:
            status = TopicStatus.ACTIVE
        elif e.type == EventType.DEATH:
            status = TopicStatus.DEAD
        elif e.type == EventType.MERGE and "into" in e.details:
            status = TopicStatus.MERGED
    return str(status)


def known_at(
    topics: Sequence[Topic], events: Sequence[TopicEvent], later: Sequence[TopicEvent], at: datetime
) -> list[Topic]:
    """``topics`` (born by ``at``) as ``at`` knew them: the status each had then, no end after it.

    ``events``: the topics' lifecycle events up to ``at`` (others are ignored);
    ``later``: those after it, or at least one per topic whose status moved
    since. A topic with none keeps its stored status.
    """
    ended_after = {t.topic_id for t in topics if t.died_at is not None and t.died_at > at}
    moved = ended_after | {e.topic_id for e in later if e.type in LIFECYCLE_EVENTS}
    if not moved:
        return list(topics)
    mine: dict[str, list[TopicEvent]] = {}
    for e in events:
        if e.topic_id in moved and e.at <= at:
            mine.setdefault(e.topic_id, []).append(e)
    out = []
    for t in topics:
        if t.topic_id in moved:
            then = dataclasses.replace(t, died_at=None) if t.topic_id in ended_after else t
            t = dataclasses.replace(then, status=TopicStatus(status_at(then, mine.get(t.topic_id, []), at)))
        out.append(t)
    return out
