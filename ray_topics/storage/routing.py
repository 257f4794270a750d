"""Routing exemplars: each domain's labelled videos of each day, by which uncategorised videos are routed.

The daily job writes one row per domain for the day it closes (the day's
labelled videos of the domain, a bounded stable-hash sample, with their
embeddings) and drops the domain's rows that left the window, in the commit
of its plan. Routers (every Serve Ingress replica, a replay) read the rows of
the window (:meth:`RoutingExemplars.window`) and vote with them
(:meth:`ray_topics.core.router.DomainRouter.set_exemplars`): every replica
routes by the same sample, and a replay reproduces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, delete, select

from ray_topics.storage.db import Database
from ray_topics.storage.schema import pack

__all__ = ["RoutingExemplars"]


class RoutingExemplars:
    """Repository of ``routing_exemplars``.

    Example:
        >>> from datetime import UTC
        >>> from ray_topics.storage.store import Store
        >>> ex = Store("sqlite://").exemplars
        >>> day = datetime(2024, 1, 1, tzinfo=UTC)
        >>> ex.save("a", day, ["v1", "v2"], np.eye(2, dtype=np.float32), at=day)
        >>> vecs, domains = ex.window(day)
        >>> vecs.shape, domains
        ((2, 2), ['a', 'a'])
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(
        self,
        domain: str,
        day: datetime,
        video_ids: Sequence[str],
        vectors: np.ndarray,
        at: datetime,
        conn: Connection | None = None,
    ) -> None:
        """Set the domain's exemplars of ``day`` (replacing any written before: a re-run writes the same)."""
        if len(video_ids) != len(vectors):
            raise ValueError(f"{len(video_ids)} ids but {len(vectors)} vectors")
        row = {"domain": domain, "day": day, "video_ids": list(video_ids), "vectors": pack(vectors), "updated_at": at}
        with self.db.writing(conn) as tx:
            self.db.upsert(tx, "routing_exemplars", ["domain", "day"], [row])

    def prune(self, domain: str, before: datetime, conn: Connection | None = None) -> int:
        """Drop the domain's days before ``before``; how many rows went."""
        t = self.db.table("routing_exemplars")
        with self.db.writing(conn) as tx:
            return tx.execute(delete(t).where(t.c.domain == domain, t.c.day < before)).rowcount

    def window(self, since: datetime | None = None) -> tuple[np.ndarray | None, list[str]]:
        """(exemplar vectors, the domain of each row) of every day from ``since`` (None: all kept days).

        Rows come in a fixed order (domain, day, then as saved), so routers reading the same store vote with the
        same matrix. ``(None, [])`` when there is none.
        """
        t = self.db.table("routing_exemplars")
        q = select(t.c.domain, t.c.video_ids, t.c.vectors).order_by(t.c.domain, t.c.day)
        if since is not None:
            q = q.where(t.c.day >= since)
        blocks: list[np.ndarray] = []
        domains: list[str] = []
        with self.db.connect() as conn:
            for domain, ids, blob in conn.execute(q):
                if not ids:
                    continue
                blocks.append(np.frombuffer(blob, dtype=np.float32).reshape(len(ids), -1))
                domains += [domain] * len(ids)
        return (np.concatenate(blocks) if blocks else None), domains
