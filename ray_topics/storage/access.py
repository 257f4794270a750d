"""Access statistics of lake partitions: how often each day of each domain is read, and its storage class."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, or_, select

from ray_topics.storage.db import Database

__all__ = ["AccessStats"]


class AccessStats:
    """Repository of ``access_stats`` (keys ``day=YYYY-MM-DD/domain=NAME``; column ``tier`` holds the class)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, partitions: Iterable[str], at: datetime) -> None:
        """Count one read of each partition at event time ``at``.

        One upsert for all of them, whatever the rows read: a partition seen for
        the first time starts at one access, class ``hot``; ``last_access_at``
        keeps the latest event time.
        """
        keys = sorted(set(partitions))
        if not keys:
            return
        t = self.db.table("access_stats")
        with self.db.begin() as conn:
            stmt = self.db.insert(conn, "access_stats")
            later = or_(t.c.last_access_at.is_(None), t.c.last_access_at < stmt.excluded.last_access_at)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.partition],
                set_={
                    "accesses": t.c.accesses + 1,
                    "last_access_at": case((later, stmt.excluded.last_access_at), else_=t.c.last_access_at),
                },
            )
            conn.execute(stmt, [{"partition": k, "accesses": 1, "last_access_at": at, "tier": "hot"} for k in keys])

    def set_classes(self, classes: dict[str, str], *, reset_accesses: bool = False) -> None:
        """Record the storage class (``hot``, ``warm``, ``cold``) of partitions, keeping their access counts.

        With ``reset_accesses`` their counts start again from zero (a partition turning warm).
        """
        if not classes:
            return
        t = self.db.table("access_stats")
        with self.db.begin() as conn:
            stmt = self.db.insert(conn, "access_stats")
            values = {"tier": stmt.excluded.tier, **({"accesses": 0} if reset_accesses else {})}
            stmt = stmt.on_conflict_do_update(index_elements=[t.c.partition], set_=values)
            conn.execute(stmt, [{"partition": k, "accesses": 0, "tier": v} for k, v in sorted(classes.items())])

    def stats(
        self, lo: str | None = None, hi: str | None = None, storage_class: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Statistics by partition key: ``accesses``, ``last_access_at``, ``tier`` (the storage class).

        Optionally only keys in ``[lo, hi)`` (keys sort by day first, so a range
        of days is a range of keys on the primary key) and only one class.
        """
        t = self.db.table("access_stats")
        q = select(t)
        if lo is not None:
            q = q.where(t.c.partition >= lo)
        if hi is not None:
            q = q.where(t.c.partition < hi)
        if storage_class is not None:
            q = q.where(t.c.tier == storage_class)
        with self.db.connect() as conn:
            return {
                r.partition: {"accesses": int(r.accesses), "last_access_at": r.last_access_at, "tier": r.tier}
                for r in conn.execute(q)
            }
