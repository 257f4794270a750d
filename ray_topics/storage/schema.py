"""Operational store schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are stored as timezone-naive UTC (``DateTime``); :mod:`ray_topics.storage.store`
converts at the boundary. Vectors are float32 bytes (``LargeBinary``).
"""

from __future__ import annotations

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
)
from sqlalchemy import Table as _Table

__all__ = ["EVENT_TYPES", "PRELIMINARY", "REFINED", "RETIRED_INDEXES", "TOPIC_STATUSES", "build_metadata"]

PRELIMINARY = "preliminary"
REFINED = "refined"
TOPIC_STATUSES = ("active", "dying", "dead", "merged")
EVENT_TYPES = ("birth", "dying", "death", "revival", "merge", "split", "drift")
# indexes of earlier schema versions that a newer index replaces: (table, index), dropped on open
RETIRED_INDEXES = (("classifications", "ix_class_status"),)


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
        Column("published_at", DateTime, nullable=False),
        Column("title", Text, nullable=False, default=""),
        Column("description", Text, nullable=False, default=""),
        Column("tags", JSON, nullable=False, default=list),
        Column("category", String(128)),
        Column("views", BigInteger),  # the most viewed videos pass 2**31
        Index("ix_videos_domain_published", "domain", "published_at"),
    )
    # hot embeddings: written by Tier 1, compacted into the lake by refine
    table(
        "embeddings",
        Column("video_id", String(128), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("published_at", DateTime, nullable=False),
        Column("vector", LargeBinary, nullable=False),
        Column("compacted_at", DateTime),
        # uncompacted(): compacted_at IS NULL AND published_at < cutoff, in published order
        Index("ix_embeddings_compaction", "compacted_at", "published_at"),
        # evict_hot(): published_at < cutoff, a range over the old end of the hot table only
        Index("ix_embeddings_published", "published_at"),
    )
    table(
        "classifications",
        Column("video_id", String(128), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("published_at", DateTime, nullable=False),
        Column("topic_id", String(96)),
        Column("confidence", Float, nullable=False),
        Column("status", String(16), nullable=False),
        Column("model_version", String(96), nullable=False),
        Column("classified_at", DateTime, nullable=False),
        # pending(): status = ? AND domain = ? AND published_at < ?, ordered by (published_at, video_id);
        # its (status, domain) prefix also serves counts by status (replaces ix_class_status)
        Index("ix_class_pending", "status", "domain", "published_at", "video_id"),
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
        Column("born_at", DateTime, nullable=False),
        Column("last_seen_at", DateTime, nullable=False),
        Column("died_at", DateTime),
        Column("updated_at", DateTime, nullable=False),
        UniqueConstraint("domain", "number", name="uq_topic_domain_number"),
    )
    table(
        "topic_events",
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("domain", String(64), nullable=False),
        Column("topic_id", String(96), nullable=False),
        Column("type", String(16), nullable=False),
        Column("at", DateTime, nullable=False),
        Column("related", JSON, nullable=False, default=list),
        Column("details", JSON, nullable=False, default=dict),
        Column("job_run_id", Integer),
        UniqueConstraint("topic_id", "type", "at", name="uq_event"),
        Index("ix_events_domain_at", "domain", "at"),
    )
    table(
        "model_versions",
        Column("domain", String(64), primary_key=True),
        Column("version", Integer, primary_key=True),
        Column("created_at", DateTime, nullable=False),
        Column("job", String(32), nullable=False),
        Column("n_topics", Integer, nullable=False),
        Column("payload", LargeBinary, nullable=False),
    )
    table(
        "domain_prototypes",
        Column("domain", String(64), primary_key=True),
        Column("vector", LargeBinary, nullable=False),
        Column("n_seen", Integer, nullable=False, default=0),
        Column("updated_at", DateTime, nullable=False),
    )
    table(
        "job_runs",
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("job", String(32), nullable=False),
        Column("domain", String(64), nullable=False),
        Column("window_start", DateTime, nullable=False),
        Column("window_end", DateTime, nullable=False),
        Column("status", String(16), nullable=False),
        Column("started_at", DateTime, nullable=False),
        Column("finished_at", DateTime),
        Column("stats", JSON, nullable=False, default=dict),
        UniqueConstraint("job", "domain", "window_end", name="uq_job_window"),
    )
    table(
        "access_stats",
        Column("partition", String(256), primary_key=True),
        Column("accesses", Integer, nullable=False, default=0),
        Column("last_access_at", DateTime),
        Column("tier", String(8), nullable=False, default="hot"),
    )
    return md
