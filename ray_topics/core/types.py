"""The values every layer passes around: topics, their statuses, lineage events, classification statuses.

Plain dataclasses and string enums (a ``StrEnum`` member compares and
serialises as its string, so stored rows and JSON keep their text).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np

__all__ = ["LIVE_STATUSES", "ClassificationStatus", "EventType", "Topic", "TopicEvent", "TopicStatus"]


class TopicStatus(StrEnum):
    """Where a topic is in its life: live (active, dying) or ended (dead, merged into another)."""

    ACTIVE = "active"
    DYING = "dying"
    DEAD = "dead"
    MERGED = "merged"


LIVE_STATUSES = (TopicStatus.ACTIVE, TopicStatus.DYING)


class ClassificationStatus(StrEnum):
    """A stored answer: Tier 1's preliminary one, or one a job has since refined."""

    PRELIMINARY = "preliminary"
    REFINED = "refined"
    # refine could not read the video's embedding (missing, wrong dimension, not finite): the row keeps
    # Tier 1's answer, leaves the queue, and its hot copy is never evicted (docs/operations.md)
    SET_ASIDE = "set_aside"


class EventType(StrEnum):
    """Kinds of lineage event recorded for a topic."""

    BIRTH = "birth"
    DYING = "dying"
    DEATH = "death"
    REVIVAL = "revival"
    MERGE = "merge"
    SPLIT = "split"
    DRIFT = "drift"


@dataclass(eq=False)
class Topic:
    """One topic of one domain. Ids are ``domain:number`` and survive every re-clustering."""

    topic_id: str
    domain: str
    number: int
    label: str
    keywords: list[str]
    centroid: np.ndarray
    sim_mean: float
    sim_std: float
    size: int
    status: str
    born_at: datetime
    last_seen_at: datetime
    coherence: float | None = None
    died_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES


@dataclass
class TopicEvent:
    """One lineage event: ``type`` happened to ``topic_id`` at event time ``at``.

    ``related`` names the other topics involved (merged into, split from, ...);
    ``details`` holds what a reader needs to understand the event.
    """

    domain: str
    topic_id: str
    type: EventType
    at: datetime
    related: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls, topic: Topic, type: EventType, at: datetime, related: list[str] | None = None, **details: Any
    ) -> TopicEvent:
        """The event ``type`` of ``topic`` at ``at``."""
        return cls(topic.domain, topic.topic_id, type, at, list(related or []), details)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TopicEvent:
        """The event a stored ``topic_events`` row holds."""
        return cls(
            row["domain"],
            row["topic_id"],
            EventType(row["type"]),
            row["at"],
            list(row["related"]),
            dict(row["details"]),
        )
