"""Shared reads: a slow read's newest value, computed by one Ingress replica for all of them.

Each replica caches health and the story list for ``serve.health_cache_seconds``
on its own; without this table every replica would also compute them on its own,
N computations of a week's scan per period for N replicas. A replica past its period first reads the
stored value; only if that is old too does it *claim* the key (one atomic
statement: the claim is taken by one replica whatever the number asking at
once) and compute, and the others go on with the stored value meanwhile.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update

from ray_topics.storage.db import Database

__all__ = ["SharedReads"]


class SharedReads:
    """Repository of ``shared_reads``: per key, the newest value and the claim on the next computation.

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> from ray_topics.storage.store import Store
        >>> reads, t = Store("sqlite://").shared_reads, datetime(2024, 1, 1, tzinfo=UTC)
        >>> reads.claim("k", t, t + timedelta(minutes=1)), reads.claim("k", t, t + timedelta(minutes=1))
        (True, False)
        >>> reads.put("k", t, b"v", claim=t + timedelta(minutes=1)); reads.get("k") == (t, b"v")
        True
        >>> reads.claim("k", t, t + timedelta(minutes=1))  # a stored value ends the claim
        True
    """

    def __init__(self, db: Database, wait_s: float | None = None) -> None:
        self.db, self.wait_s = db, wait_s

    def waiting(self, wait_s: float) -> SharedReads:
        """These reads whose writes (claim, put, release) wait at most ``wait_s`` seconds for a lock another
        transaction holds, then fail (the caller computes on its own: :class:`serve.cache.SharedRead`)."""
        return SharedReads(self.db, wait_s)

    def get(self, key: str) -> tuple[datetime, bytes] | None:
        """(when its computation started, payload) of the stored value; None before the first."""
        t = self.db.table("shared_reads")
        with self.db.connect() as conn:
            row = conn.execute(select(t.c.computed_at, t.c.payload).where(t.c.key == key)).first()
        return None if row is None or row.computed_at is None else (row.computed_at, bytes(row.payload))

    def claim(self, key: str, now: datetime, until: datetime) -> bool:
        """Take the next computation of ``key`` until ``until``, unless another holder's claim runs past ``now``.

        One statement decides (an insert of the first row, else an update guarded by the claim's end), so of
        any number of replicas asking at once one gets it. Returns whether this caller did.
        """
        t = self.db.table("shared_reads")
        with self._writing() as conn:
            first = self.db.insert(conn, "shared_reads").on_conflict_do_nothing().returning(t.c.key)
            if conn.execute(first, {"key": key, "claimed_until": until}).first() is not None:
                return True  # (a RETURNING row, not the rowcount: psycopg reports -1 for this insert)
            free = or_(t.c.claimed_until.is_(None), t.c.claimed_until <= now)
            taken = conn.execute(update(t).where(t.c.key == key, free).values(claimed_until=until))
            return taken.rowcount == 1

    def put(self, key: str, computed_at: datetime, payload: bytes, claim: datetime | None = None) -> None:
        """Store a value computed from ``computed_at`` on, unless a newer one is stored; ``claim``: the end of
        the caller's claim (:meth:`claim`'s ``until``), which ends with it (not another replica's, taken since
        the caller's ran out)."""
        t = self.db.table("shared_reads")
        newer = or_(t.c.computed_at.is_(None), t.c.computed_at < computed_at)
        values: dict[str, Any] = {"computed_at": computed_at, "payload": payload}
        with self._writing() as conn:
            if claim is not None:
                self._release(conn, key, claim)
            if conn.execute(update(t).where(t.c.key == key, newer).values(**values)).rowcount == 0:
                conn.execute(self.db.insert_ignoring(conn, "shared_reads"), {"key": key, **values})

    def release(self, key: str, claim: datetime) -> None:
        """End the caller's claim on ``key`` (its computation failed: the next caller may claim it)."""
        with self._writing() as conn:
            self._release(conn, key, claim)

    def _writing(self) -> AbstractContextManager[Any]:
        return self.db.begin() if self.wait_s is None else self.db.begin_waiting(self.wait_s)

    def _release(self, conn: Any, key: str, claim: datetime) -> None:
        t = self.db.table("shared_reads")
        conn.execute(update(t).where(t.c.key == key, t.c.claimed_until == claim).values(claimed_until=None))
