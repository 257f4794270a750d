"""Topic lifecycle rules shared by the tiers: making a topic from members, dying and death, reassignment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ray_topics.core.coherence import cohesion
from ray_topics.core.index import CentroidIndex, calibrate
from ray_topics.core.keywords import label_from_keywords
from ray_topics.storage.registry import LIVE_STATUSES, DomainModel
from ray_topics.storage.store import Topic

__all__ = ["Plan", "commit_plan", "lifecycle_changes", "make_topic", "model_of", "reassign"]


@dataclass
class Plan:
    """What one job decided for one domain, computed without writing; committed by the driver."""

    domain: str
    topics: list[Topic] = field(default_factory=list)  # new or changed topics (full rows)
    events: list[dict[str, Any]] = field(default_factory=list)
    reassign: list[dict[str, Any]] = field(default_factory=list)  # classification updates
    prototype: np.ndarray | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.topics)


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
        status="active",
        born_at=born_at or at,
        last_seen_at=last_seen_at or at,
        updated_at=at,
    )


def lifecycle_changes(
    topics: Sequence[Topic], last_seen: dict[str, datetime], as_of: datetime, *, dying_after: int, dead_after: int
) -> tuple[list[Topic], list[dict[str, Any]]]:
    """Mark topics with no video for ``dying_after`` days dying, ``dead_after`` days dead; revive returning ones.

    ``last_seen`` holds the newest video time per topic seen by this run; a
    topic's stored ``last_seen_at`` is kept when it is newer.
    """
    changed: list[Topic] = []
    events: list[dict[str, Any]] = []
    for t in topics:
        if t.status not in LIVE_STATUSES:
            continue
        seen = max(t.last_seen_at, last_seen.get(t.topic_id, t.last_seen_at))
        idle = as_of - seen
        status = t.status
        if idle >= timedelta(days=dead_after):
            status = "dead"
        elif idle >= timedelta(days=dying_after):
            status = "dying"
        elif t.status == "dying":
            status = "active"
        if status == t.status and seen == t.last_seen_at:
            continue
        ev = {"dead": "death", "dying": "dying", "active": "revival"}[status] if status != t.status else None
        t.last_seen_at = seen
        t.updated_at = as_of
        if ev:
            t.status = status
            if status == "dead":
                t.died_at = as_of
            events.append(
                {
                    "domain": t.domain,
                    "topic_id": t.topic_id,
                    "type": ev,
                    "at": as_of,
                    "details": {"last_seen_at": seen.isoformat(), "idle_days": idle.days},
                }
            )
        changed.append(t)
    return changed, events


def model_of(domain: str, topics: Sequence[Topic], dim: int) -> DomainModel:
    """An unpublished model over the given topics (to classify with before the commit)."""
    return DomainModel.from_topics(domain, -1, list(topics), dim)


def reassign(
    ids: Sequence[str],
    vectors: np.ndarray,
    index: CentroidIndex,
    only_to: set[str],
    at: datetime,
    version_tag: str,
    status: str,
) -> list[dict[str, Any]]:
    """Classification updates for the rows whose nearest accepted topic is in ``only_to``."""
    m = index.search(vectors)
    return [
        {
            "video_id": vid,
            "topic_id": tid,
            "confidence": float(c),
            "status": status,
            "model_version": version_tag,
            "classified_at": at,
        }
        for vid, tid, c in zip(ids, m.topic_ids, m.confidences, strict=True)
        if tid in only_to
    ]


def commit_plan(rt: Any, plan: Plan, job: str, at: datetime, run_id: int, conn: Any) -> int | None:
    """Write a plan inside ``conn``: topics, events, a new model version if topics changed, reassignments.

    Returns the published version (None when nothing changed).
    """
    from ray_topics.storage.registry import version_name

    store = rt.store
    version = None
    if plan.topics:
        store.upsert_topics(plan.topics, conn)
    if plan.events:
        store.add_events([{**e, "job_run_id": run_id} for e in plan.events], conn)
    if plan.changed:
        version = rt.registry.publish(plan.domain, at, job, conn)
    if plan.reassign:
        tag = version_name(plan.domain, version) if version is not None else plan.reassign[0]["model_version"]
        store.update_classifications([{**r, "model_version": tag} for r in plan.reassign], conn)
    if plan.prototype is not None:
        store.save_prototype_in(conn, plan.domain, plan.prototype, at)
    return version
