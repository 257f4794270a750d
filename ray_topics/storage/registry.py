"""Model registry: immutable per-domain snapshots of the topic model, kept in the store.

Every job that changes a domain's topics publishes a new version in the same
transaction as the change. Tier 1 and refine classify with the newest
version; every answer names it as ``domain@vN``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select

from ray_topics.core.snapshot import ModelSnapshot, version_name
from ray_topics.core.types import LIVE_STATUSES
from ray_topics.storage.db import Database

if TYPE_CHECKING:
    from ray_topics.storage.store import Store

__all__ = ["ModelRegistry", "ModelVersions"]


class ModelVersions:
    """Repository of ``model_versions``: one row per (domain, version), the snapshot as its payload."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, snapshot: ModelSnapshot, at: datetime, job: str, conn: Connection) -> None:
        t = self.db.table("model_versions")
        conn.execute(
            t.insert().values(
                domain=snapshot.domain,
                version=snapshot.version,
                created_at=at,
                job=job,
                n_topics=len(snapshot.topic_ids),
                payload=snapshot.to_bytes(),
            )
        )

    def next_version(self, domain: str, conn: Connection) -> int:
        t = self.db.table("model_versions")
        q = select(func.coalesce(func.max(t.c.version), 0)).where(t.c.domain == domain)
        return int(conn.execute(q).scalar_one()) + 1

    def latest_version(self, domain: str, conn: Connection) -> int:
        """The domain's newest version inside ``conn`` (0 when it has none)."""
        return self.next_version(domain, conn) - 1

    def latest_versions(self) -> dict[str, int]:
        """Each domain's newest version, by a walk of the primary key: one lookup for each domain and one for
        its newest version. Every DomainModel replica asks every ``serve.model_poll_seconds``, and the table
        keeps every version ever published; a ``GROUP BY`` read all of them (neither store skips along an
        index on its own)."""
        t = self.db.table("model_versions")
        a, b = t.alias("a"), t.alias("b")
        first = select(func.min(t.c.domain).label("domain")).cte("domains", recursive=True)
        after = select(func.min(a.c.domain)).where(a.c.domain > first.c.domain).scalar_subquery()
        walk = first.union_all(select(after).where(first.c.domain.is_not(None)))
        newest = select(func.max(b.c.version)).where(b.c.domain == walk.c.domain).scalar_subquery()
        q = select(walk.c.domain, newest).where(walk.c.domain.is_not(None))
        with self.db.connect() as conn:
            return {d: int(v) for d, v in conn.execute(q)}

    def payload(self, domain: str, version: int) -> bytes | None:
        t = self.db.table("model_versions")
        with self.db.connect() as conn:
            return conn.execute(
                select(t.c.payload).where(t.c.domain == domain, t.c.version == version)
            ).scalar_one_or_none()


class ModelRegistry:
    """Publishes and loads :class:`ModelSnapshot` versions.

    Args:
        store: the operational store (its ``topics`` and ``models`` repositories).
        dim: embedding dimension (of an empty model).
    """

    def __init__(self, store: Store, dim: int) -> None:
        self.store = store
        self.dim = dim
        self._cache: dict[tuple[str, int], ModelSnapshot] = {}

    def publish(self, domain: str, at: datetime, job: str, conn: Connection) -> int:
        """Snapshot the domain's live topics as they are inside ``conn`` and record it as a new version."""
        topics = self.store.topics.list(domain, LIVE_STATUSES, conn=conn)  # (not every topic it ever had)
        version = self.store.models.next_version(domain, conn)
        self.store.models.insert(ModelSnapshot.from_topics(domain, version, topics, self.dim), at, job, conn)
        return version

    def latest_versions(self) -> dict[str, int]:
        return self.store.models.latest_versions()

    def load(self, domain: str, version: int) -> ModelSnapshot:
        key = (domain, version)
        if key not in self._cache:
            blob = self.store.models.payload(domain, version)
            if blob is None:
                raise KeyError(f"no model version {version_name(domain, version)}")
            self._cache[key] = ModelSnapshot.from_bytes(blob)
        return self._cache[key]

    def latest(self, domain: str) -> ModelSnapshot:
        """Newest version; an empty version-0 model when the domain has none yet."""
        v = self.latest_versions().get(domain)
        return ModelSnapshot.empty(domain, self.dim) if v is None else self.load(domain, v)
