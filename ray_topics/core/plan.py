"""What one job decided for one domain: computed without writing, committed by the job's driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ray_topics.core.types import Topic, TopicEvent

__all__ = ["Plan"]


@dataclass
class Plan:
    """A domain's decided changes.

    Attributes:
        topics: new or changed topics (full rows; the commit replaces them by id).
        events: their lineage events.
        reassign: classification updates (:func:`ray_topics.core.lifecycle.reclassified` rows);
            their ``model_version`` is set at commit to the version the plan publishes.
        prototype: the domain's new routing prototype, if it moves.
        routing: (mean, std, n) of the domain's labelled videos' similarity to that prototype
            (its routing floor, :func:`ray_topics.core.router.routing_floor`), if measured.
        routing_first: ``routing`` is a first measure (the daily job's): the commit writes it only
            while the domain still has no floor, so it never replaces the weekly job's measure.
        stats: what the job reports.
        requeue: topics whose every stored answer the plan changes (merged away, or split): the commit
            records them in the requeue backlog (:mod:`ray_topics.storage.backlog`), and their videos
            go back to the refinement queue a chunk at a time after it, however long their history.
        base_version: the domain's newest model version when planning began; the commit
            refuses the plan if another job published a version since (its topics, and the
            numbers it gave new topics, were decided on what that version replaced).
    """

    domain: str
    topics: list[Topic] = field(default_factory=list)
    events: list[TopicEvent] = field(default_factory=list)
    reassign: list[dict[str, Any]] = field(default_factory=list)
    prototype: np.ndarray | None = None
    routing: tuple[float, float, int] | None = None
    routing_first: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    base_version: int | None = None
    requeue: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.topics)
