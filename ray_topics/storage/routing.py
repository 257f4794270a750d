"""Routing exemplars: each domain's labelled videos of each day, by which uncategorised videos are routed.

The refine job rewrites, every run, one row per domain for the day it is in
(the day's labelled videos of the domain so far, a bounded stable-hash
sample, with their embeddings) and drops the domain's rows that left the
window (:mod:`ray_topics.tiers.exemplars`). Routers (every Serve Ingress replica, a
replay) hold the window's rows in an :class:`ExemplarWindow`, which reads
only the rows written since its last read, and vote with them
(:meth:`ray_topics.core.router.DomainRouter.set_exemplars`): every replica
routes by the same sample, and a replay reproduces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Connection, delete, select, tuple_

from ray_topics.storage.db import Database, chunks
from ray_topics.storage.schema import pack

__all__ = ["ExemplarWindow", "RoutingExemplars"]

Key = tuple[str, datetime]  # (domain, start of the day)


class RoutingExemplars:
    """Repository of ``routing_exemplars``.

    Example:
        >>> from datetime import UTC
        >>> from ray_topics.storage.store import Store
        >>> ex = Store("sqlite://").exemplars
        >>> t = datetime(2024, 1, 1, tzinfo=UTC)
        >>> ex.save("a", t, ["v1", "v2"], np.eye(2, dtype=np.float32), at=t)
        >>> vecs, domains = ex.window(t)
        >>> vecs.shape, domains
        ((2, 2), ['a', 'a'])
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(
        self,
        domain: str,
        start: datetime,
        video_ids: Sequence[str],
        vectors: np.ndarray,
        at: datetime,
        conn: Connection | None = None,
    ) -> None:
        """Set the domain's exemplars of the day (slot) starting ``start``, replacing the row written before.

        ``updated_at`` is ``at``, or a microsecond after the row's own where that is not older (a refine run
        again for the same hour after late videos arrived): every :class:`ExemplarWindow` reads a rewritten
        slot again, as it keys freshness on ``updated_at``.
        """
        if len(video_ids) != len(vectors):
            raise ValueError(f"{len(video_ids)} ids but {len(vectors)} vectors")
        t = self.db.table("routing_exemplars")
        with self.db.writing(conn) as tx:
            q = select(t.c.updated_at).where(t.c.domain == domain, t.c.start == start)
            before = tx.execute(q).scalar_one_or_none()
            stamp = at if before is None or before < at else before + timedelta(microseconds=1)
            row = {
                "domain": domain,
                "start": start,
                "video_ids": list(video_ids),
                "vectors": pack(vectors),
                "updated_at": stamp,
            }
            self.db.upsert(tx, "routing_exemplars", ["domain", "start"], [row])

    def prune(self, domain: str, before: datetime, conn: Connection | None = None) -> int:
        """Drop the domain's slots that start before ``before``; how many rows went."""
        t = self.db.table("routing_exemplars")
        with self.db.writing(conn) as tx:
            return tx.execute(delete(t).where(t.c.domain == domain, t.c.start < before)).rowcount

    def keys(self, since: datetime | None = None, domain: str | None = None) -> dict[Key, datetime]:
        """``(domain, slot start) -> updated_at`` of the slots from ``since`` (of one ``domain``; no vectors read)."""
        t = self.db.table("routing_exemplars")
        q = select(t.c.domain, t.c.start, t.c.updated_at)
        if since is not None:
            q = q.where(t.c.start >= since)
        if domain is not None:
            q = q.where(t.c.domain == domain)
        with self.db.connect() as conn:
            return {(d, s): u for d, s, u in conn.execute(q)}

    def blocks(self, keys: Sequence[Key]) -> dict[Key, np.ndarray]:
        """The vectors of the slots ``keys`` (one matrix each; a slot without videos is left out)."""
        t = self.db.table("routing_exemplars")
        out: dict[Key, np.ndarray] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(keys)):
                q = select(t.c.domain, t.c.start, t.c.video_ids, t.c.vectors).where(
                    tuple_(t.c.domain, t.c.start).in_(chunk)
                )
                for d, s, ids, blob in conn.execute(q):
                    if ids:
                        out[(d, s)] = np.frombuffer(blob, dtype=np.float32).reshape(len(ids), -1)
        return out

    def window(self, since: datetime | None = None, domain: str | None = None) -> tuple[np.ndarray | None, list[str]]:
        """(exemplar vectors, the domain of each row) of every slot from ``since`` (None: all kept), of every
        domain or of one."""
        w = ExemplarWindow(self, domain)
        w.refresh(since)
        return w.matrix()


class ExemplarWindow:
    """The exemplars of a sliding window, kept in memory: :meth:`refresh` reads the slots written or
    rewritten since the last call and forgets those that left the window.

    Example:
        >>> from datetime import UTC, timedelta
        >>> from ray_topics.storage.store import Store
        >>> s, t = Store("sqlite://"), datetime(2024, 1, 1, tzinfo=UTC)
        >>> w = ExemplarWindow(s.exemplars)
        >>> s.exemplars.save("a", t, ["v1"], np.ones((1, 2), np.float32), at=t)
        >>> w.refresh(t), w.refresh(t), w.refresh(t + timedelta(hours=1))  # read, unchanged, slid past it
        (True, False, True)
        >>> w.matrix()
        (None, [])
    """

    def __init__(self, repo: RoutingExemplars, domain: str | None = None) -> None:
        self.repo = repo
        self.domain = domain
        self._seen: dict[Key, datetime] = {}
        self._blocks: dict[Key, np.ndarray] = {}

    def refresh(self, since: datetime | None) -> bool:
        """Bring the window up to the store (slots from ``since``); whether anything changed."""
        now = self.repo.keys(since, self.domain)
        gone = [k for k in self._seen if k not in now]
        fresh = [k for k, u in now.items() if self._seen.get(k) != u]
        for k in gone:
            self._seen.pop(k)
            self._blocks.pop(k, None)
        if fresh:
            got = self.repo.blocks(fresh)
            for k in fresh:
                self._seen[k] = now[k]
                if k in got:
                    self._blocks[k] = got[k]
                else:
                    self._blocks.pop(k, None)
        return bool(gone or fresh)

    def matrix(self) -> tuple[np.ndarray | None, list[str]]:
        """(vectors, the domain of each row), slots in a fixed order (domain, start): every router reading the
        same store votes with the same matrix. ``(None, [])`` when the window is empty."""
        keys = sorted(self._blocks)
        if not keys:
            return None, []
        return np.concatenate([self._blocks[k] for k in keys]), [d for k in keys for d in [k[0]] * len(self._blocks[k])]
