"""Topics, their lineage events, and the domains' routing prototypes."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, literal, select, tuple_

from ray_topics.core.types import EventType, Topic, TopicEvent
from ray_topics.storage.db import Database
from ray_topics.storage.schema import pack, unpack

__all__ = ["Prototypes", "Topics", "topic_from_row", "topic_row"]


def topic_row(t: Topic) -> dict[str, Any]:
    """The ``topics`` row of a topic."""
    return {
        "topic_id": t.topic_id,
        "domain": t.domain,
        "number": t.number,
        "label": t.label,
        "keywords": list(t.keywords),
        "centroid": pack(t.centroid),
        "sim_mean": float(t.sim_mean),
        "sim_std": float(t.sim_std),
        "size": int(t.size),
        "coherence": None if t.coherence is None else float(t.coherence),
        "status": str(t.status),
        "born_at": t.born_at,
        "last_seen_at": t.last_seen_at,
        "died_at": t.died_at,
        "updated_at": t.updated_at or t.last_seen_at,
    }


def topic_from_row(r: Any) -> Topic:
    """A topic from its ``topics`` row."""
    m = r._mapping
    return Topic(
        topic_id=m["topic_id"],
        domain=m["domain"],
        number=m["number"],
        label=m["label"],
        keywords=list(m["keywords"] or []),
        centroid=unpack(m["centroid"]).copy(),
        sim_mean=m["sim_mean"],
        sim_std=m["sim_std"],
        size=m["size"],
        coherence=m["coherence"],
        status=m["status"],
        born_at=m["born_at"],
        last_seen_at=m["last_seen_at"],
        died_at=m["died_at"],
        updated_at=m["updated_at"],
    )


class Topics:
    """Repository of ``topics`` and ``topic_events``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def list(
        self,
        domain: str | None = None,
        statuses: Iterable[str] | None = None,
        conn: Connection | None = None,
        *,
        after: tuple[str, int] | None = None,
        limit: int | None = None,
        ids: Collection[str] | None = None,
    ) -> list[Topic]:
        """Topics in (domain, number) order, of one domain, some statuses and among ``ids`` if given.

        ``after`` and ``limit`` page through them: the ``limit`` topics that follow the
        ``(domain, number)`` ``after`` (keyset paging: a page costs its own rows, however deep).
        ``ids`` is a short list (one IN clause: a global topic's members, say).
        """
        t = self.db.table("topics")
        q = select(t).order_by(t.c.domain, t.c.number)
        if domain:
            q = q.where(t.c.domain == domain)
        if ids is not None:
            q = q.where(t.c.topic_id.in_(list(ids)))
        if statuses is not None:
            q = q.where(t.c.status.in_([str(s) for s in statuses]))
        if after is not None:
            q = q.where(tuple_(t.c.domain, t.c.number) > tuple_(literal(after[0]), literal(after[1])))
        if limit is not None:
            q = q.limit(limit)
        with self.db.reading(conn) as c:
            return [topic_from_row(r) for r in c.execute(q)]

    def get(self, topic_id: str) -> Topic | None:
        t = self.db.table("topics")
        with self.db.connect() as conn:
            r = conn.execute(select(t).where(t.c.topic_id == topic_id)).first()
        return None if r is None else topic_from_row(r)

    def next_number(self, domain: str, conn: Connection | None = None) -> int:
        """The number the domain's next new topic gets."""
        t = self.db.table("topics")
        q = select(func.coalesce(func.max(t.c.number), -1)).where(t.c.domain == domain)
        with self.db.reading(conn) as c:
            return int(c.execute(q).scalar_one()) + 1

    def upsert(self, topics: list[Topic], conn: Connection | None = None) -> None:
        """Insert new topics and replace existing ones (by topic_id)."""
        with self.db.writing(conn) as tx:
            self.db.upsert(tx, "topics", ["topic_id"], [topic_row(t) for t in topics])

    def add_events(
        self, events: list[TopicEvent], conn: Connection | None = None, *, job_run_id: int | None = None
    ) -> None:
        """Record lineage events (idempotent by topic, type and time), written by job run ``job_run_id``."""
        rows = [
            {
                "domain": e.domain,
                "topic_id": e.topic_id,
                "type": str(e.type),
                "at": e.at,
                "related": list(e.related),
                "details": dict(e.details),
                "job_run_id": job_run_id,
            }
            for e in events
        ]
        with self.db.writing(conn) as tx:
            self.db.insert_ignore(tx, "topic_events", rows)

    def echoes(self, since: datetime | None = None, conn: Connection | None = None) -> list[tuple[str, str]]:
        """(echo, the topic it echoes) of the echo births (:mod:`ray_topics.tiers.echo`) since ``since`` (every
        one without it), oldest first: a range of ``ix_events_type_at``, not the births of all time."""
        t = self.db.table("topic_events")
        echo_of = t.c.details["echo_of"].as_string()  # in the database: most births are no echo
        q = (
            select(t.c.topic_id, echo_of.label("echo_of"))
            .where(t.c.type == str(EventType.BIRTH), echo_of.is_not(None), echo_of != "")
            .order_by(t.c.at, t.c.id)
        )
        if since is not None:
            q = q.where(t.c.at >= since)
        with self.db.reading(conn) as c:
            return [(r.topic_id, r.echo_of) for r in c.execute(q)]

    def events(
        self,
        domain: str | None = None,
        types: Iterable[EventType | str] | None = None,
        *,
        job_run_ids: Iterable[int] | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Stored events (rows with ``id`` and ``job_run_id``), oldest first; of some job runs if given,
        and at times in ``(after, until]``."""
        t = self.db.table("topic_events")
        q = select(t).order_by(t.c.at, t.c.id)
        if domain:
            q = q.where(t.c.domain == domain)
        if after is not None:
            q = q.where(t.c.at > after)
        if until is not None:
            q = q.where(t.c.at <= until)
        if types is not None:
            q = q.where(t.c.type.in_([str(x) for x in types]))
        if job_run_ids is not None:
            q = q.where(t.c.job_run_id.in_(list(job_run_ids)))
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]


class Prototypes:
    """Repository of ``domain_prototypes``: each domain's routing vector."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> dict[str, tuple[np.ndarray, int]]:
        """``domain -> (vector, videos seen)``."""
        t = self.db.table("domain_prototypes")
        with self.db.connect() as conn:
            return {
                d: (unpack(v).copy(), int(n)) for d, v, n in conn.execute(select(t.c.domain, t.c.vector, t.c.n_seen))
            }

    def save(
        self, domain: str, vector: np.ndarray, at: datetime, n_seen: int = 0, conn: Connection | None = None
    ) -> None:
        """Set the domain's prototype."""
        row = {"domain": domain, "vector": pack(vector), "n_seen": int(n_seen), "updated_at": at}
        with self.db.writing(conn) as tx:
            self.db.upsert(tx, "domain_prototypes", ["domain"], [row])

    def calibrations(self) -> dict[str, tuple[float, float, int]]:
        """``domain -> (mean, std, n)`` of its labelled videos' similarity to its prototype."""
        t = self.db.table("domain_routing")
        with self.db.connect() as conn:
            rows = conn.execute(select(t.c.domain, t.c.sim_mean, t.c.sim_std, t.c.n))
            return {d: (float(m), float(s), int(n)) for d, m, s, n in rows}

    def calibration(self, domain: str, conn: Connection | None = None) -> tuple[float, float, int] | None:
        """``(mean, std, n)`` of one domain (None: never measured), read in ``conn``'s transaction if given."""
        t = self.db.table("domain_routing")
        q = select(t.c.sim_mean, t.c.sim_std, t.c.n).where(t.c.domain == domain)
        with self.db.reading(conn) as c:
            row = c.execute(q).first()
        return None if row is None else (float(row[0]), float(row[1]), int(row[2]))

    def calibrate(
        self, domain: str, sim_mean: float, sim_std: float, n: int, at: datetime, conn: Connection | None = None
    ) -> None:
        """Record how similar the domain's labelled videos are to its (new) prototype."""
        row = {"domain": domain, "sim_mean": sim_mean, "sim_std": sim_std, "n": int(n), "updated_at": at}
        with self.db.writing(conn) as tx:
            self.db.upsert(tx, "domain_routing", ["domain"], [row])
