"""Global topics: the stored links between topics of different domains that are one story.

:meth:`GlobalTopics.relink` applies the rule of :mod:`ray_topics.core.global_topics`
to every live topic of every domain and writes what changed: the groups, who is
linked now, and one lineage event per change. Jobs call it inside the commit
that changes topics (:func:`ray_topics.tiers.job.commit_plan`), after the domain's
own writes, so the links always describe the topics as committed.

Two domains' jobs may commit at the same moment: a relink first takes the lock
:data:`GLOBAL_LOCK` (:meth:`ray_topics.storage.db.Database.lock`), always after
the domain's commit lock, so relinks run one at a time and each one reads every
topic committed before it (on PostgreSQL the later relink waits for the earlier
commit, then reads it; on SQLite the lock is the database's write lock). Two
newborn duplicates committed at once by two domains are therefore linked by
whichever commits second.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, func, select

from ray_topics.core.global_topics import Relink, assign_ids, link_groups
from ray_topics.core.timeutil import as_utc
from ray_topics.core.types import LIVE_STATUSES
from ray_topics.storage.db import Database, chunks
from ray_topics.storage.topics import Topics

__all__ = ["ENDED", "GLOBAL_LOCK", "LINKED", "GlobalTopics"]

GLOBAL_LOCK = "global-topics"
LINKED, ENDED = "linked", "ended"


class GlobalTopics:
    """Repository of ``global_topics``, ``global_topic_members`` and ``global_topic_events``.

    Example:
        >>> from ray_topics.storage.store import Store
        >>> s = Store("sqlite://")
        >>> s.global_topics.groups(), s.global_topics.of_topics(["news:0"])
        ({}, {})
    """

    def __init__(self, db: Database, topics: Topics) -> None:
        self.db = db
        self.topics = topics

    # ------------------------------------------------------------------ writing
    def relink(
        self,
        threshold: float,
        at: datetime,
        conn: Connection | None = None,
        *,
        job: str | None = None,
        job_run_id: int | None = None,
    ) -> Relink:
        """Link the live topics by the rule at ``threshold`` and store what changed (see module doc).

        Returns the groups after it and the events written (none when nothing changed).
        """
        with self.db.writing(conn) as tx:
            self.db.lock(tx, GLOBAL_LOCK)
            live = self.topics.list(statuses=LIVE_STATUSES, conn=tx)
            dim = live[0].centroid.shape[0] if live else 1
            cents = np.stack([t.centroid for t in live]) if live else np.zeros((0, dim), np.float32)
            groups = link_groups([t.topic_id for t in live], [t.domain for t in live], cents, threshold)
            stored = self._rows(tx)
            current = {g: r["members"] for g, r in stored.items() if r["status"] == LINKED}
            ended = {g: r["members"] for g, r in stored.items() if r["status"] == ENDED}
            result = assign_ids(groups, current, ended, max(stored, default=0) + 1)
            if result.events:
                # the links are those of the topics as committed now: a job of an earlier as_of committing
                # after a later one's (a retry, a --force, an hours-long monthly) changes them at the newest
                # time the lineage knows, never before it (a link before its form, a topic linked before birth)
                ev = self.db.table("global_topic_events")
                newest = tx.execute(select(func.max(ev.c.at))).scalar()
                stamp = at if newest is None or as_utc(newest) <= as_utc(at) else as_utc(newest)
                self._write(tx, result, stored, {t.topic_id: t.domain for t in live}, stamp, job, job_run_id)
        return result

    def _rows(self, conn: Connection) -> dict[int, dict[str, Any]]:
        t = self.db.table("global_topics")
        return {int(r.global_id): {**r._mapping, "members": list(r.members)} for r in conn.execute(select(t))}

    def _write(
        self,
        conn: Connection,
        result: Relink,
        stored: dict[int, dict[str, Any]],
        domains: dict[str, str],
        at: datetime,
        job: str | None,
        job_run_id: int | None,
    ) -> None:
        touched = {e.global_id for e in result.events}
        rows = []
        for gid in sorted(touched):
            prev = stored.get(gid)
            members = result.groups.get(gid)
            rows.append(
                {
                    "global_id": gid,
                    "status": LINKED if members else ENDED,
                    "members": list(members) if members else (prev or {}).get("members", []),
                    "formed_at": at if prev is None or prev["status"] == ENDED else prev["formed_at"],
                    "updated_at": at,
                    "ended_at": None if members else at,
                }
            )
        self.db.upsert(conn, "global_topics", ["global_id"], rows)
        before = {tid: gid for gid, r in stored.items() if r["status"] == LINKED for tid in r["members"]}
        after = {tid: gid for gid, members in result.groups.items() for tid in members}
        moved = sorted(tid for tid in set(before) | set(after) if before.get(tid) != after.get(tid))
        m = self.db.table("global_topic_members")
        for part in chunks(moved):
            conn.execute(delete(m).where(m.c.topic_id.in_(list(part))))
        linked = [
            {"topic_id": tid, "global_id": after[tid], "domain": domains[tid], "linked_at": at}
            for tid in moved
            if tid in after
        ]
        if linked:
            conn.execute(m.insert(), linked)
        conn.execute(
            self.db.table("global_topic_events").insert(),
            [
                {
                    "global_id": e.global_id,
                    "type": str(e.type),
                    "at": at,
                    "members": list(e.members),
                    "details": dict(e.details),
                    "job": job,
                    "job_run_id": job_run_id,
                }
                for e in result.events
            ],
        )

    # ------------------------------------------------------------------ reading
    def groups(self, conn: Connection | None = None) -> dict[int, list[str]]:
        """The global topics now: id -> its topic ids, sorted."""
        m = self.db.table("global_topic_members")
        out: dict[int, list[str]] = {}
        with self.db.reading(conn) as c:
            for gid, tid in c.execute(select(m.c.global_id, m.c.topic_id).order_by(m.c.global_id, m.c.topic_id)):
                out.setdefault(int(gid), []).append(tid)
        return out

    def members(self, global_id: int, conn: Connection | None = None) -> list[str]:
        """The topic ids global topic ``global_id`` links now, sorted (none for an unknown or ended id)."""
        m = self.db.table("global_topic_members")
        q = select(m.c.topic_id).where(m.c.global_id == int(global_id)).order_by(m.c.topic_id)
        with self.db.reading(conn) as c:
            return list(c.execute(q).scalars())

    def of_topics(self, topic_ids: Iterable[str] | None = None, conn: Connection | None = None) -> dict[str, int]:
        """Topic id -> the global topic linking it now, for ``topic_ids`` (every linked topic when None)."""
        m = self.db.table("global_topic_members")
        q = select(m.c.topic_id, m.c.global_id)
        out: dict[str, int] = {}
        with self.db.reading(conn) as c:
            if topic_ids is None:
                return {tid: int(gid) for tid, gid in c.execute(q)}
            for part in chunks(sorted(set(topic_ids))):
                out.update({tid: int(gid) for tid, gid in c.execute(q.where(m.c.topic_id.in_(list(part))))})
        return out

    def events(self, global_id: int | None = None) -> list[dict[str, Any]]:
        """Stored lineage events (rows with ``id``), oldest first; of one global topic if given."""
        t = self.db.table("global_topic_events")
        q = select(t).order_by(t.c.at, t.c.id)
        if global_id is not None:
            q = q.where(t.c.global_id == int(global_id))
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def at(self, as_of: datetime) -> dict[int, list[str]]:
        """The global topics as they were at ``as_of``: each id's topics after its last event by then."""
        t = self.db.table("global_topic_events")
        last = select(func.max(t.c.id).label("id")).where(t.c.at <= as_of).group_by(t.c.global_id).subquery("last")
        q = select(t.c.global_id, t.c.members).join(last, t.c.id == last.c.id).order_by(t.c.global_id)
        with self.db.connect() as conn:
            return {int(gid): sorted(members) for gid, members in conn.execute(q) if members}
