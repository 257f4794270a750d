"""Operational store schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are :class:`UTCDateTime`: stored as timezone-naive UTC, bound from and
returned as aware UTC datetimes, so no caller converts. Vectors are float32
bytes (``LargeBinary``, :func:`pack` / :func:`unpack`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import Table as _Table
from sqlalchemy.types import TypeDecorator

from ray_topics.core.timeutil import as_utc
from ray_topics.core.types import ClassificationStatus

__all__ = ["QUEUE_WHERE", "RETIRED_INDEXES", "UTCDateTime", "build_metadata", "pack", "unpack"]

# indexes of earlier schema versions that a newer index replaces: (table, index), dropped on open
RETIRED_INDEXES = (("classifications", "ix_class_status"), ("classifications", "ix_class_pending"))

# the refinement queue: the rows ``ix_class_queue`` holds. A literal, so that the planners of SQLite and
# PostgreSQL both see that a query naming it may use that partial index (a bound parameter would not do)
QUEUE_WHERE = f"status = '{ClassificationStatus.PRELIMINARY}'"


class UTCDateTime(TypeDecorator):
    """A ``DateTime`` column holding naive UTC; binds aware (or naive, taken as UTC), returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def pack(vec: np.ndarray) -> bytes:
    """A vector as stored: float32 bytes."""
    return np.ascontiguousarray(vec, dtype=np.float32).tobytes()


def unpack(blob: bytes) -> np.ndarray:
    """A stored vector (read-only view of the bytes)."""
    return np.frombuffer(blob, dtype=np.float32)


def build_metadata(schema: str | None = None) -> MetaData:
    """All tables, optionally inside a PostgreSQL schema."""
    md = MetaData(schema=schema)

    def table(name: str, *cols: object) -> _Table:
        return _Table(name, md, *cols)

    table(
        "videos",
        Column("video_id", String(128), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("channel_id", String(128), nullable=False),
        Column("published_at", UTCDateTime, nullable=False),
        Column("title", Text, nullable=False, default=""),
        Column("description", Text, nullable=False, default=""),
        Column("tags", JSON, nullable=False, default=list),
        Column("category", String(128)),
        Column("views", BigInteger),  # the most viewed videos pass 2**31
        # how the router chose the domain (core.router.Route); NULL for a video stored before the column
        # existed (health reads its route back from domain and category) or written by an import
        Column("route", String(16)),
        Index("ix_videos_domain_published", "domain", "published_at"),
    )
    # hot embeddings: written by Tier 1, compacted into the lake by refine
    table(
        "embeddings",
        Column("video_id", String(128), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("published_at", UTCDateTime, nullable=False),
        Column("vector", LargeBinary, nullable=False),
        Column("compacted_at", UTCDateTime),
        # uncompacted(): compacted_at IS NULL AND published_at < cutoff, in published order
        Index("ix_embeddings_compaction", "compacted_at", "published_at"),
        # evict_hot(): published_at < cutoff, a range over the old end of the hot table only
        Index("ix_embeddings_published", "published_at"),
    )
    table(
        "classifications",
        Column("video_id", String(128), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("published_at", UTCDateTime, nullable=False),
        Column("topic_id", String(96)),
        Column("confidence", Float, nullable=False),
        Column("status", String(16), nullable=False),
        Column("model_version", String(96), nullable=False),
        Column("classified_at", UTCDateTime, nullable=False),
        # the video's channel and route (videos.channel_id, videos.route; a video is never rewritten), copied
        # at ingest so health's week of activity needs no join with videos. NULL for a row stored before the
        # columns existed: health then reads them from videos (storage/activity.py)
        Column("channel_id", String(128)),
        Column("route", String(16)),
        # pending(): the queue (QUEUE_WHERE) of a domain, published_at < ?, ordered by (published_at, video_id).
        # Partial: it holds the queue only (the last hours' videos), not an entry for every video ever
        # stored (~75 bytes a video on SQLite: over a gigabyte a year at 50,000 videos a day)
        Index(
            "ix_class_queue",
            "domain",
            "published_at",
            "video_id",
            sqlite_where=text(QUEUE_WHERE),
            postgresql_where=text(QUEUE_WHERE),
        ),
        Index("ix_class_domain_published", "domain", "published_at"),
        Index("ix_class_topic_published", "topic_id", "published_at"),
    )
    table(
        "topics",
        Column("topic_id", String(96), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("number", Integer, nullable=False),
        Column("label", Text, nullable=False),
        Column("keywords", JSON, nullable=False),
        Column("centroid", LargeBinary, nullable=False),
        Column("sim_mean", Float, nullable=False),
        Column("sim_std", Float, nullable=False),
        Column("size", Integer, nullable=False),
        Column("coherence", Float),
        Column("status", String(16), nullable=False),
        Column("born_at", UTCDateTime, nullable=False),
        Column("last_seen_at", UTCDateTime, nullable=False),
        Column("died_at", UTCDateTime),
        Column("updated_at", UTCDateTime, nullable=False),
        UniqueConstraint("domain", "number", name="uq_topic_domain_number"),
    )
    table(
        "topic_events",
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("domain", String(64), nullable=False),
        Column("topic_id", String(96), nullable=False),
        Column("type", String(16), nullable=False),
        Column("at", UTCDateTime, nullable=False),
        Column("related", JSON, nullable=False, default=list),
        Column("details", JSON, nullable=False, default=dict),
        Column("job_run_id", Integer),
        UniqueConstraint("topic_id", "type", "at", name="uq_event"),
        Index("ix_events_domain_at", "domain", "at"),
        # a job's events, read after every run that pushes metrics (ray_topics.ops.metrics): a year's events are
        # tens of thousands of rows
        Index("ix_events_job_run", "job_run_id"),
        # one type's events (the echo births the daily echo check reads: Topics.echoes), not every drift and
        # health event of the year
        Index("ix_events_type_at", "type", "at"),
    )
    table(
        "model_versions",
        Column("domain", String(64), primary_key=True),
        Column("version", Integer, primary_key=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("job", String(32), nullable=False),
        Column("n_topics", Integer, nullable=False),
        Column("payload", LargeBinary, nullable=False),
    )
    # each imported BERTopic topic's id and our topic (ray_topics/storage/bertopic_ids.py); a table of its own,
    # so a store made before it gains it on open (create_all) and no existing table changes
    table(
        "bertopic_ids",
        Column("domain", String(64), primary_key=True),
        Column("bertopic_id", Integer, primary_key=True),
        Column("topic_id", String(96), nullable=False),
        Column("source", Text, nullable=False),
        Column("imported_at", UTCDateTime, nullable=False),
        # BERTopic's representation of the topic at import: [[word, score], ...]
        Column("representation", JSON, nullable=False, default=list),
        Index("ix_bertopic_ids_topic", "topic_id"),
    )
    # global topics: topics of different domains that are one story (ray_topics/storage/global_topics.py).
    # Tables of their own, so a store made before them gains them on open (create_all). One row per id
    # ever given: its topics now, or the last ones when it ended (status ended), so an id comes back
    # when those topics link again.
    table(
        "global_topics",
        Column("global_id", Integer, primary_key=True, autoincrement=False),
        Column("status", String(16), nullable=False),
        Column("members", JSON, nullable=False, default=list),
        Column("formed_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Column("ended_at", UTCDateTime),
    )
    # each domain's labelled videos of a day that route uncategorised ones by neighbours
    # (ray_topics/storage/routing.py): one row per domain and day, rewritten by every refine run
    table(
        "routing_exemplars",
        Column("domain", String(64), primary_key=True),
        Column("start", UTCDateTime, primary_key=True),
        Column("video_ids", JSON, nullable=False, default=list),
        Column("vectors", LargeBinary, nullable=False),  # float32, len(video_ids) x dim
        Column("updated_at", UTCDateTime, nullable=False),
    )
    # the topics linked now, each in at most one global topic
    table(
        "global_topic_members",
        Column("topic_id", String(96), primary_key=True),
        Column("global_id", Integer, nullable=False),
        Column("domain", String(64), nullable=False),
        Column("linked_at", UTCDateTime, nullable=False),
        Index("ix_global_members_global", "global_id"),
    )
    # their lineage: every change of a global topic, with its topics after it
    table(
        "global_topic_events",
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("global_id", Integer, nullable=False),
        Column("type", String(16), nullable=False),
        Column("at", UTCDateTime, nullable=False),
        Column("members", JSON, nullable=False, default=list),
        Column("details", JSON, nullable=False, default=dict),
        Column("job", String(32)),
        Column("job_run_id", Integer),
        Index("ix_global_events_at", "at"),
        Index("ix_global_events_global", "global_id"),
    )
    # the story view, placed every midnight (ray_topics.tiers.stories): a video that fits a topic of its own domain
    # but whose nearest topic of any domain is another one. Only those videos: every other fitting video's
    # story is its own answer. A table of its own, so a store made before it gains it on open (create_all)
    table(
        "story_moves",
        Column("video_id", String(128), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("published_at", UTCDateTime, nullable=False),
        Column("topic_id", String(96), nullable=False),  # its own answer when placed
        Column("story_id", String(96), nullable=False),  # the topic its story is told under
        Column("placed_at", UTCDateTime, nullable=False),
        Index("ix_story_moves_published", "published_at"),
    )
    # topics whose stored history goes back to the refinement queue after a monthly merge or split: one row per
    # topic, committed with it; the drain (ray_topics.storage.backlog) requeues its videos a chunk per
    # transaction after the commit, in (published_at, video_id) order from the cursor, and deletes the row at the end
    table(
        "requeue_backlog",
        Column("topic_id", String(96), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("added_at", UTCDateTime, nullable=False),
        Column("cursor_at", UTCDateTime),  # the last video requeued (NULL: none yet)
        Column("cursor_video", String(128)),
    )
    # a placement's moves as it writes them, a chunk per transaction, keyed by the attempt (two runs of one
    # midnight at once stage apart); the run's commit writes the difference into story_moves, and the run
    # drops them after it
    table(
        "story_staging",
        Column("attempt", String(32), primary_key=True),
        Column("video_id", String(128), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("published_at", UTCDateTime, nullable=False),
        Column("topic_id", String(96), nullable=False),
        Column("story_id", String(96), nullable=False),
        Column("placed_at", UTCDateTime, nullable=False),  # the midnight placed (stale attempts: an older one)
    )
    table(
        "domain_prototypes",
        Column("domain", String(64), primary_key=True),
        Column("vector", LargeBinary, nullable=False),
        Column("n_seen", Integer, nullable=False, default=0),
        Column("updated_at", UTCDateTime, nullable=False),
    )
    # how similar each domain's labelled videos are to its prototype (the routing floor, core/router.py)
    table(
        "domain_routing",
        Column("domain", String(64), primary_key=True),
        Column("sim_mean", Float, nullable=False),
        Column("sim_std", Float, nullable=False),
        Column("n", Integer, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
    )
    table(
        "job_runs",
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("job", String(32), nullable=False),
        Column("domain", String(64), nullable=False),
        Column("window_start", UTCDateTime, nullable=False),
        Column("window_end", UTCDateTime, nullable=False),
        Column("status", String(16), nullable=False),
        Column("started_at", UTCDateTime, nullable=False),
        Column("finished_at", UTCDateTime),
        Column("stats", JSON, nullable=False, default=dict),
        UniqueConstraint("job", "domain", "window_end", name="uq_job_window"),
        # a job's runs by window whatever their domain (JobRuns.ids, newest_success: read after every run
        # that pushes metrics, and by the story view); the unique key leads with the domain after the job
        Index("ix_runs_job_end", "job", "window_end", "status"),
    )
    # a slow read one Ingress replica computes for all (health, the story list): its newest value and who
    # computes it next (serve.share_reads)
    table(
        "shared_reads",
        Column("key", String(256), primary_key=True),
        Column("computed_at", UTCDateTime),  # when the stored value's computation started
        Column("payload", LargeBinary),
        Column("claimed_until", UTCDateTime),  # a replica computes it until then; NULL: nobody
    )
    table(
        "access_stats",
        Column("partition", String(256), primary_key=True),
        Column("accesses", Integer, nullable=False, default=0),
        Column("last_access_at", UTCDateTime),
        Column("tier", String(8), nullable=False, default="hot"),
    )
    return md
