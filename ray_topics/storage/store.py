"""The operational store: one database handle and the small repositories over its tables.

Used by Tier 1, every job, ops and the CLI, on SQLite (embedded default) and
PostgreSQL (cluster) alike. Every write that a retry can repeat is
idempotent: videos, embeddings and classifications by ``video_id``, topic
events by ``(topic_id, type, at)``, job runs by ``(job, domain, window_end)``.
Every write method takes an optional ``conn`` to join the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from ray_topics.storage.access import AccessStats
from ray_topics.storage.activity import Activity
from ray_topics.storage.backlog import RequeueBacklog
from ray_topics.storage.bertopic_ids import BertopicIds
from ray_topics.storage.classifications import Classifications
from ray_topics.storage.db import Database
from ray_topics.storage.global_topics import GlobalTopics
from ray_topics.storage.leases import Leases
from ray_topics.storage.registry import ModelVersions
from ray_topics.storage.routing import RoutingExemplars
from ray_topics.storage.runs import JobRuns
from ray_topics.storage.shared_reads import SharedReads
from ray_topics.storage.stories import StoryMoves
from ray_topics.storage.topics import Prototypes, Topics
from ray_topics.storage.videos import Videos

__all__ = ["Store"]


class Store(Database):
    """The database and its repositories.

    Attributes:
        videos: videos and hot embeddings (:class:`Videos`).
        classifications: stored answers and the refinement queue (:class:`Classifications`).
        backlog: topics whose history goes back to that queue a chunk at a time (:class:`RequeueBacklog`).
        topics: topics and lineage events (:class:`Topics`).
        prototypes: domain routing prototypes (:class:`Prototypes`).
        exemplars: labelled videos that route uncategorised ones by neighbours (:class:`RoutingExemplars`).
        models: published model versions (:class:`ModelVersions`).
        runs: job runs and watermarks (:class:`JobRuns`).
        access: lake partitions' reads and storage classes (:class:`AccessStats`).
        activity: aggregates for health and the report (:class:`Activity`).
        bertopic_ids: imported BERTopic topic ids (:class:`BertopicIds`).
        global_topics: topics of different domains linked as one story (:class:`GlobalTopics`).
        stories: the daily placement's videos whose story is another topic (:class:`StoryMoves`).
        shared_reads: slow reads one Ingress replica computes for all (:class:`SharedReads`).
        leases: job-long exclusive leases (:class:`Leases`; ``lease_wait_seconds``, ``lease_poll_seconds``).

    ``pool`` holds :class:`Database`'s pool and timeout keywords.

    Example:
        >>> s = Store("sqlite://")
        >>> s.count("videos"), s.topics.list()
        (0, [])
    """

    def __init__(
        self,
        url: str,
        schema: str | None = None,
        create: bool = True,
        *,
        lease_wait_seconds: float = 0.0,
        lease_poll_seconds: float = 1.0,
        **pool: Any,
    ) -> None:
        super().__init__(url, schema=schema, create=create, **pool)
        self.leases = Leases(self, lease_wait_seconds, lease_poll_seconds)
        self.classifications = Classifications(self)
        self.backlog = RequeueBacklog(self)
        self.videos = Videos(self, self.classifications)
        self.topics = Topics(self)
        self.prototypes = Prototypes(self)
        self.exemplars = RoutingExemplars(self)
        self.models = ModelVersions(self)
        self.runs = JobRuns(self)
        self.access = AccessStats(self)
        self.activity = Activity(self)
        self.bertopic_ids = BertopicIds(self)
        self.global_topics = GlobalTopics(self, self.topics)
        self.stories = StoryMoves(self)
        self.shared_reads = SharedReads(self)
