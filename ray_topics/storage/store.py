"""Operational store: the repository layer over the SQLAlchemy schema.

One class, :class:`Store`, used by Tier 1, every job, health and the CLI. The
same code runs on SQLite (embedded default) and PostgreSQL (cluster). Every
write that a retry can repeat is idempotent: videos, embeddings and
classifications by ``video_id``, topic events by ``(topic_id, type, at)``,
job runs by ``(job, domain, window_end)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    Connection,
    and_,
    case,
    create_engine,
    event,
    func,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex

from ray_topics.storage.schema import PRELIMINARY, REFINED, RETIRED_INDEXES, build_metadata

__all__ = ["Store", "Topic", "from_naive_utc", "pack", "to_naive_utc", "unpack"]

log = logging.getLogger(__name__)

_IN_CHUNK = 500  # ids per IN (...) clause: below SQLite's and psycopg's parameter limits
_STREAM_CHUNK = 10_000  # rows per fetch of a streamed scan (server-side cursor on PostgreSQL)


def to_naive_utc(ts: datetime) -> datetime:
    """Aware or naive (taken as UTC) datetime -> naive UTC, as stored."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def from_naive_utc(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts.replace(tzinfo=UTC)


def pack(vec: np.ndarray) -> bytes:
    return np.ascontiguousarray(vec, dtype=np.float32).tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


@dataclass(eq=False)
class Topic:
    """One topic of one domain, as stored. Ids are ``domain:number``."""

    topic_id: str
    domain: str
    number: int
    label: str
    keywords: list[str]
    centroid: np.ndarray
    sim_mean: float
    sim_std: float
    size: int
    status: str
    born_at: datetime
    last_seen_at: datetime
    coherence: float | None = None
    died_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "topic_id": self.topic_id,
            "domain": self.domain,
            "number": self.number,
            "label": self.label,
            "keywords": list(self.keywords),
            "centroid": pack(self.centroid),
            "sim_mean": float(self.sim_mean),
            "sim_std": float(self.sim_std),
            "size": int(self.size),
            "coherence": None if self.coherence is None else float(self.coherence),
            "status": self.status,
            "born_at": to_naive_utc(self.born_at),
            "last_seen_at": to_naive_utc(self.last_seen_at),
            "died_at": None if self.died_at is None else to_naive_utc(self.died_at),
            "updated_at": to_naive_utc(self.updated_at or self.last_seen_at),
        }

    @classmethod
    def from_row(cls, r: Any) -> Topic:
        m = r._mapping
        return cls(
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
            born_at=from_naive_utc(m["born_at"]),
            last_seen_at=from_naive_utc(m["last_seen_at"]),
            died_at=from_naive_utc(m["died_at"]),
            updated_at=from_naive_utc(m["updated_at"]),
        )


def _chunks(seq: Sequence[Any], n: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class Store:
    """Repository over the operational database.

    Args:
        url: SQLAlchemy URL (``sqlite:///path.db`` or ``postgresql+psycopg://...``).
        schema: PostgreSQL schema to use (created if missing); ignored on SQLite.
        create: create missing tables.

    Example:
        >>> s = Store("sqlite://")
        >>> s.count("videos")
        0
    """

    def __init__(self, url: str, schema: str | None = None, create: bool = True) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        is_sqlite = url.startswith("sqlite")
        if is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if url in ("sqlite://", "sqlite:///:memory:"):
                kwargs["poolclass"] = StaticPool
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.schema = None if is_sqlite else schema
        self.metadata = build_metadata(self.schema)
        self.t = self.metadata.tables  # name -> Table (schema-qualified keys on PG)
        if create:
            self.create()

    # ------------------------------------------------------------------ basics
    def table(self, name: str) -> Any:
        return self.t[f"{self.schema}.{name}" if self.schema else name]

    def create(self) -> None:
        """Create missing tables and indexes, and drop indexes a newer one replaced.

        ``create_all`` skips a table that exists, indexes included, so a store
        made by an earlier version gains its new indexes here. Existing indexes
        are looked up in the catalogue first: no DDL (and no table lock) runs
        when nothing is missing.
        """
        with self.engine.begin() as conn:
            if self.schema:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            self.metadata.create_all(conn)
            insp = inspect(conn)
            for table in self.metadata.sorted_tables:
                have = {ix["name"] for ix in insp.get_indexes(table.name, schema=self.schema)}
                for ix in sorted(table.indexes, key=lambda i: str(i.name)):
                    if ix.name not in have:
                        conn.execute(CreateIndex(ix, if_not_exists=True))
            prep = conn.dialect.identifier_preparer
            for tname, iname in RETIRED_INDEXES:
                if iname in {ix["name"] for ix in insp.get_indexes(tname, schema=self.schema)}:
                    qualified = (
                        f"{prep.quote_schema(self.schema)}.{prep.quote(iname)}" if self.schema else prep.quote(iname)
                    )
                    conn.execute(text(f"DROP INDEX IF EXISTS {qualified}"))

    def drop(self) -> None:
        with self.engine.begin() as conn:
            if self.schema:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            else:
                self.metadata.drop_all(conn)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction; everything inside commits together or not at all."""
        with self.engine.begin() as conn:
            yield conn

    def count(self, name: str, **where: Any) -> int:
        t = self.table(name)
        q = select(func.count()).select_from(t)
        for k, v in where.items():
            q = q.where(t.c[k] == v)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def _insert_ignore(self, conn: Connection, name: str, rows: list[dict[str, Any]]) -> None:
        """INSERT ... ON CONFLICT DO NOTHING (idempotent writes), on both dialects."""
        if not rows:
            return
        conn.execute(_upsert(conn, self.table(name)).on_conflict_do_nothing(), rows)

    # ------------------------------------------------------------------ Tier 1
    def ingest(
        self,
        videos: list[dict[str, Any]],
        vectors: np.ndarray,
        classifications: list[dict[str, Any]],
    ) -> dict[str, dict[str, Any]]:
        """Commit videos, hot embeddings and preliminary classifications together.

        Idempotent by ``video_id``: a video already stored keeps its stored
        rows. Returns the stored classification of every given id, so a retry
        receives the answer it was first given.
        """
        ids = [v["video_id"] for v in videos]
        emb_rows = [
            {
                "video_id": v["video_id"],
                "domain": v["domain"],
                "published_at": to_naive_utc(v["published_at"]),
                "vector": pack(vectors[i]),
            }
            for i, v in enumerate(videos)
        ]
        vid_rows = [
            {
                "video_id": v["video_id"],
                "domain": v["domain"],
                "channel_id": v["channel_id"],
                "published_at": to_naive_utc(v["published_at"]),
                "title": v.get("title") or "",
                "description": v.get("description") or "",
                "tags": list(v.get("tags") or []),
                "category": v.get("category"),
                "views": v.get("views"),
            }
            for v in videos
        ]
        cls_rows = [
            {**c, "published_at": to_naive_utc(c["published_at"]), "classified_at": to_naive_utc(c["classified_at"])}
            for c in classifications
        ]
        with self.engine.begin() as conn:
            self._insert_ignore(conn, "videos", vid_rows)
            self._insert_ignore(conn, "embeddings", emb_rows)
            t = self.table("classifications")
            stmt = _upsert(conn, t).on_conflict_do_nothing().returning(t.c.video_id)
            inserted = set(conn.execute(stmt, cls_rows).scalars()) if cls_rows else set()
        # rows written now are answered as written; only retried ids are read back (their first answer)
        out = {
            c["video_id"]: {
                **c,
                "published_at": from_naive_utc(c["published_at"]),
                "classified_at": from_naive_utc(c["classified_at"]),
            }
            for c in cls_rows
            if c["video_id"] in inserted
        }
        retried = [i for i in ids if i not in out]
        if retried:
            out.update(self.get_classifications(retried))
        return out

    def get_classifications(self, video_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        t = self.table("classifications")
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(video_ids)):
                for r in conn.execute(select(t).where(t.c.video_id.in_(chunk))):
                    m = dict(r._mapping)
                    m["published_at"] = from_naive_utc(m["published_at"])
                    m["classified_at"] = from_naive_utc(m["classified_at"])
                    out[m["video_id"]] = m
        return out

    def existing_video_ids(self, video_ids: Sequence[str]) -> set[str]:
        t = self.table("videos")
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(list(video_ids)):
                found.update(conn.execute(select(t.c.video_id).where(t.c.video_id.in_(chunk))).scalars())
        return found

    # ------------------------------------------------------------------ vectors
    def hot_vectors(self, video_ids: Sequence[str]) -> dict[str, np.ndarray]:
        t = self.table("embeddings")
        out: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(video_ids)):
                for vid, blob in conn.execute(select(t.c.video_id, t.c.vector).where(t.c.video_id.in_(chunk))):
                    out[vid] = unpack(blob)
        return out

    def published_range(self, video_ids: Sequence[str]) -> tuple[datetime, datetime]:
        """[earliest, latest + 1 µs) publication time of the given videos (aware UTC)."""
        from datetime import timedelta

        t = self.table("videos")
        lo, hi = None, None
        with self.engine.connect() as conn:
            for chunk in _chunks(list(video_ids)):
                a, b = conn.execute(
                    select(func.min(t.c.published_at), func.max(t.c.published_at)).where(t.c.video_id.in_(chunk))
                ).one()
                if a is not None:
                    lo = a if lo is None else min(lo, a)
                    hi = b if hi is None else max(hi, b)
        if lo is None:
            raise LookupError("none of the videos is stored")
        return from_naive_utc(lo), from_naive_utc(hi + timedelta(microseconds=1))

    def uncompacted(self, before: datetime, domain: str | None = None) -> list[dict[str, Any]]:
        """Hot embeddings published before ``before`` not yet written to the lake."""
        e, v = self.table("embeddings"), self.table("videos")
        q = (
            select(e.c.video_id, e.c.domain, e.c.published_at, e.c.vector, v.c.channel_id, v.c.views)
            .join(v, v.c.video_id == e.c.video_id)
            .where(e.c.compacted_at.is_(None), e.c.published_at < to_naive_utc(before))
            .order_by(e.c.published_at, e.c.video_id)
        )
        if domain:
            q = q.where(e.c.domain == domain)
        with self.engine.connect() as conn:
            return [{**r._mapping, "vector": unpack(r.vector)} for r in conn.execute(q)]

    def mark_compacted(self, video_ids: Sequence[str], at: datetime) -> None:
        t = self.table("embeddings")
        with self.engine.begin() as conn:
            for chunk in _chunks(list(video_ids)):
                conn.execute(update(t).where(t.c.video_id.in_(chunk)).values(compacted_at=to_naive_utc(at)))

    def evict_hot(self, before: datetime) -> int:
        """Drop hot rows already in the lake, published before ``before``, and refined.

        Driven from the hot table: a range scan of ``ix_embeddings_published``
        over rows older than ``before`` (what is left of them: the evictable
        ones and the few still waiting for compaction or refinement), each
        checked against its own classification by primary key. The cost
        follows the hot table, not the store's history.
        """
        e, c = self.table("embeddings"), self.table("classifications")
        refined = select(c.c.video_id).where(c.c.video_id == e.c.video_id, c.c.status == REFINED).exists()
        with self.engine.begin() as conn:
            res = conn.execute(
                e.delete().where(
                    e.c.published_at < to_naive_utc(before),
                    e.c.compacted_at.is_not(None),
                    refined,
                )
            )
            return int(res.rowcount or 0)

    # ------------------------------------------------------------------ classifications
    def pending(self, domain: str, limit: int, published_before: datetime | None = None) -> list[dict[str, Any]]:
        """Preliminary classifications of a domain (the refinement queue), oldest first.

        A range scan of ``ix_class_pending`` (status, domain, published_at,
        video_id): it reads the queue only, in order, and stops at ``limit``.
        """
        c = self.table("classifications")
        q = (
            select(c.c.video_id, c.c.published_at, c.c.model_version)
            .where(c.c.status == PRELIMINARY, c.c.domain == domain)
            .order_by(c.c.published_at, c.c.video_id)
            .limit(limit)
        )
        if published_before is not None:
            q = q.where(c.c.published_at < to_naive_utc(published_before))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def update_classifications(self, rows: list[dict[str, Any]], conn: Connection | None = None) -> None:
        """Set topic, confidence, status and model version of existing rows."""
        if not rows:
            return
        t = self.table("classifications")
        from sqlalchemy import bindparam

        stmt = (
            update(t)
            .where(t.c.video_id == bindparam("b_video_id"))
            .values(
                topic_id=bindparam("b_topic_id"),
                confidence=bindparam("b_confidence"),
                status=bindparam("b_status"),
                model_version=bindparam("b_model_version"),
                classified_at=bindparam("b_classified_at"),
            )
        )
        params = [
            {
                "b_video_id": r["video_id"],
                "b_topic_id": r["topic_id"],
                "b_confidence": float(r["confidence"]),
                "b_status": r["status"],
                "b_model_version": r["model_version"],
                "b_classified_at": to_naive_utc(r["classified_at"]),
            }
            for r in rows
        ]
        if conn is not None:
            conn.execute(stmt, params)
        else:
            with self.engine.begin() as c2:
                c2.execute(stmt, params)

    def classified_window(
        self,
        domain: str,
        start: datetime,
        end: datetime,
        *,
        misfit_below: float | None = None,
        with_text: bool = True,
    ) -> list[dict[str, Any]]:
        """Classifications of a domain published in ``[start, end)``, joined with video metadata.

        With ``misfit_below``: only misfits (no topic, or confidence below it).
        """
        c, v = self.table("classifications"), self.table("videos")
        cols = [
            c.c.video_id,
            c.c.published_at,
            c.c.topic_id,
            c.c.confidence,
            c.c.status,
            v.c.channel_id,
            v.c.views,
        ]
        if with_text:
            cols += [v.c.title, v.c.description, v.c.tags]
        q = (
            select(*cols)
            .join(v, v.c.video_id == c.c.video_id)
            .where(
                c.c.domain == domain,
                c.c.published_at >= to_naive_utc(start),
                c.c.published_at < to_naive_utc(end),
            )
            .order_by(c.c.published_at, c.c.video_id)
        )
        if misfit_below is not None:
            q = q.where(or_(c.c.topic_id.is_(None), c.c.confidence < misfit_below))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def iter_window_ids(
        self, domain: str, start: datetime, end: datetime, chunk: int = _STREAM_CHUNK
    ) -> Iterator[tuple[str, str | None]]:
        """(video_id, topic_id) of every classification of a domain published in ``[start, end)``, streamed.

        Rows are fetched ``chunk`` at a time (a server-side cursor on
        PostgreSQL, SQLite's own cursor), so a week of a busy domain is never
        held in memory; no order is promised. A range scan of
        ``ix_class_domain_published``.
        """
        c = self.table("classifications")
        q = select(c.c.video_id, c.c.topic_id).where(
            c.c.domain == domain,
            c.c.published_at >= to_naive_utc(start),
            c.c.published_at < to_naive_utc(end),
        )
        with self.engine.connect() as conn:
            for part in conn.execution_options(yield_per=chunk).execute(q).partitions():
                yield from ((vid, tid) for vid, tid in part)

    def last_seen(
        self, domain: str, start: datetime, end: datetime, min_confidence: float = 0.0
    ) -> dict[str, datetime]:
        """Newest publication time per topic among the domain's videos in ``[start, end)``.

        Only videos classified with at least ``min_confidence`` count as seeing the topic.
        """
        c = self.table("classifications")
        q = (
            select(c.c.topic_id, func.max(c.c.published_at))
            .where(
                c.c.confidence >= min_confidence,
                c.c.domain == domain,
                c.c.topic_id.is_not(None),
                c.c.published_at >= to_naive_utc(start),
                c.c.published_at < to_naive_utc(end),
            )
            .group_by(c.c.topic_id)
        )
        with self.engine.connect() as conn:
            return {t: from_naive_utc(ts) for t, ts in conn.execute(q)}

    def topic_sizes(self, domain: str) -> dict[str, int]:
        """Videos currently assigned to each topic of the domain (all time)."""
        c = self.table("classifications")
        q = (
            select(c.c.topic_id, func.count())
            .where(c.c.domain == domain, c.c.topic_id.is_not(None))
            .group_by(c.c.topic_id)
        )
        with self.engine.connect() as conn:
            return {t: int(n) for t, n in conn.execute(q)}

    def members_of(self, topic_ids: Sequence[str]) -> list[dict[str, Any]]:
        """(video_id, topic_id, published_at) of every video assigned to these topics."""
        c = self.table("classifications")
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(list(topic_ids)):
                q = select(c.c.video_id, c.c.topic_id, c.c.published_at).where(c.c.topic_id.in_(chunk))
                out += [dict(r._mapping) for r in conn.execute(q)]
        return out

    def ranked(
        self, domain: str, start: datetime, end: datetime, order: str, limit: int, topic_id: str | None = None
    ) -> list[str]:
        """Video ids of a domain in ``[start, end)`` ranked by ``order``.

        ``order``: ``views`` (most viewed first), ``low_confidence`` (least
        confident first) or ``recent`` (newest first). Ties break by video_id.
        """
        c, v = self.table("classifications"), self.table("videos")
        key = {
            "views": func.coalesce(v.c.views, -1).desc(),
            "low_confidence": c.c.confidence.asc(),
            "recent": c.c.published_at.desc(),
        }[order]
        q = (
            select(c.c.video_id)
            .join(v, v.c.video_id == c.c.video_id)
            .where(c.c.domain == domain, c.c.published_at >= to_naive_utc(start), c.c.published_at < to_naive_utc(end))
            .order_by(key, c.c.video_id)
            .limit(limit)
        )
        if topic_id is not None:
            q = q.where(c.c.topic_id == topic_id)
        with self.engine.connect() as conn:
            return list(conn.execute(q).scalars())

    def rows_for(self, video_ids: Sequence[str], with_text: bool = True) -> list[dict[str, Any]]:
        """Classification joined with video metadata for the given ids, in their order."""
        c, v = self.table("classifications"), self.table("videos")
        cols = [c.c.video_id, c.c.published_at, c.c.topic_id, c.c.confidence, c.c.status, v.c.channel_id, v.c.views]
        if with_text:
            cols += [v.c.title, v.c.description, v.c.tags]
        found: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(video_ids)):
                q = select(*cols).join(v, v.c.video_id == c.c.video_id).where(c.c.video_id.in_(chunk))
                found.update({r.video_id: dict(r._mapping) for r in conn.execute(q)})
        return [found[i] for i in video_ids if i in found]

    # ------------------------------------------------------------------ topics
    def topics(self, domain: str | None = None, statuses: Iterable[str] | None = None) -> list[Topic]:
        t = self.table("topics")
        q = select(t).order_by(t.c.domain, t.c.number)
        if domain:
            q = q.where(t.c.domain == domain)
        if statuses is not None:
            q = q.where(t.c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            return [Topic.from_row(r) for r in conn.execute(q)]

    def topic(self, topic_id: str) -> Topic | None:
        t = self.table("topics")
        with self.engine.connect() as conn:
            r = conn.execute(select(t).where(t.c.topic_id == topic_id)).first()
        return None if r is None else Topic.from_row(r)

    def next_topic_number(self, domain: str, conn: Connection | None = None) -> int:
        t = self.table("topics")
        q = select(func.coalesce(func.max(t.c.number), -1)).where(t.c.domain == domain)
        if conn is not None:
            return int(conn.execute(q).scalar_one()) + 1
        with self.engine.connect() as c2:
            return int(c2.execute(q).scalar_one()) + 1

    def upsert_topics(self, topics: list[Topic], conn: Connection) -> None:
        """Insert new topics and replace existing ones (by topic_id), inside ``conn``."""
        t = self.table("topics")
        for tp in topics:
            row = tp.row()
            res = conn.execute(update(t).where(t.c.topic_id == tp.topic_id).values(**row))
            if not res.rowcount:
                conn.execute(t.insert().values(**row))

    def add_events(self, events: list[dict[str, Any]], conn: Connection) -> None:
        rows = [
            {
                "domain": e["domain"],
                "topic_id": e["topic_id"],
                "type": e["type"],
                "at": to_naive_utc(e["at"]),
                "related": list(e.get("related") or []),
                "details": dict(e.get("details") or {}),
                "job_run_id": e.get("job_run_id"),
            }
            for e in events
        ]
        self._insert_ignore(conn, "topic_events", rows)

    def events(self, domain: str | None = None, types: Iterable[str] | None = None) -> list[dict[str, Any]]:
        t = self.table("topic_events")
        q = select(t).order_by(t.c.at, t.c.id)
        if domain:
            q = q.where(t.c.domain == domain)
        if types is not None:
            q = q.where(t.c.type.in_(list(types)))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        for r in rows:
            r["at"] = from_naive_utc(r["at"])
        return rows

    # ------------------------------------------------------------------ model registry rows
    def insert_model_version(
        self, domain: str, payload: bytes, n_topics: int, at: datetime, job: str, conn: Connection
    ) -> int:
        t = self.table("model_versions")
        q = select(func.coalesce(func.max(t.c.version), 0)).where(t.c.domain == domain)
        version = int(conn.execute(q).scalar_one()) + 1
        conn.execute(
            t.insert().values(
                domain=domain,
                version=version,
                created_at=to_naive_utc(at),
                job=job,
                n_topics=n_topics,
                payload=payload,
            )
        )
        return version

    def latest_versions(self) -> dict[str, int]:
        t = self.table("model_versions")
        q = select(t.c.domain, func.max(t.c.version)).group_by(t.c.domain)
        with self.engine.connect() as conn:
            return {d: int(v) for d, v in conn.execute(q)}

    def model_payload(self, domain: str, version: int) -> bytes | None:
        t = self.table("model_versions")
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.c.payload).where(t.c.domain == domain, t.c.version == version)
            ).scalar_one_or_none()

    # ------------------------------------------------------------------ domain prototypes
    def prototypes(self) -> dict[str, tuple[np.ndarray, int]]:
        t = self.table("domain_prototypes")
        with self.engine.connect() as conn:
            return {
                d: (unpack(v).copy(), int(n)) for d, v, n in conn.execute(select(t.c.domain, t.c.vector, t.c.n_seen))
            }

    def save_prototype(self, domain: str, vector: np.ndarray, n_seen: int, at: datetime) -> None:
        with self.engine.begin() as conn:
            self.save_prototype_in(conn, domain, vector, at, n_seen)

    def save_prototype_in(
        self, conn: Connection, domain: str, vector: np.ndarray, at: datetime, n_seen: int = 0
    ) -> None:
        t = self.table("domain_prototypes")
        row = {"vector": pack(vector), "n_seen": int(n_seen), "updated_at": to_naive_utc(at)}
        res = conn.execute(update(t).where(t.c.domain == domain).values(**row))
        if not res.rowcount:
            conn.execute(t.insert().values(domain=domain, **row))

    # ------------------------------------------------------------------ job runs
    def job_run(self, job: str, domain: str, window_end: datetime) -> dict[str, Any] | None:
        t = self.table("job_runs")
        with self.engine.connect() as conn:
            r = conn.execute(
                select(t).where(t.c.job == job, t.c.domain == domain, t.c.window_end == to_naive_utc(window_end))
            ).first()
        return None if r is None else dict(r._mapping)

    def start_run(self, job: str, domain: str, window_start: datetime, window_end: datetime, at: datetime) -> int:
        """Record a run as started (or restarted, when an earlier attempt died half-way)."""
        t = self.table("job_runs")
        existing = self.job_run(job, domain, window_end)
        with self.engine.begin() as conn:
            if existing:
                # a forced re-run of a finished window keeps its success until it succeeds again
                status = "succeeded" if existing["status"] == "succeeded" else "running"
                conn.execute(
                    update(t).where(t.c.id == existing["id"]).values(status=status, started_at=to_naive_utc(at))
                )
                return int(existing["id"])
            res = conn.execute(
                t.insert().values(
                    job=job,
                    domain=domain,
                    window_start=to_naive_utc(window_start),
                    window_end=to_naive_utc(window_end),
                    status="running",
                    started_at=to_naive_utc(at),
                    stats={},
                )
            )
            return int(res.inserted_primary_key[0])

    def finish_run(self, run_id: int, stats: dict[str, Any], at: datetime, conn: Connection | None = None) -> None:
        t = self.table("job_runs")
        stmt = update(t).where(t.c.id == run_id).values(status="succeeded", finished_at=to_naive_utc(at), stats=stats)
        if conn is not None:
            conn.execute(stmt)
        else:
            with self.engine.begin() as c2:
                c2.execute(stmt)

    def last_success(self, job: str, domain: str) -> datetime | None:
        """The watermark: end of the latest window this job finished for this domain."""
        t = self.table("job_runs")
        q = select(func.max(t.c.window_end)).where(t.c.job == job, t.c.domain == domain, t.c.status == "succeeded")
        with self.engine.connect() as conn:
            return from_naive_utc(conn.execute(q).scalar_one_or_none())

    def runs(self) -> list[dict[str, Any]]:
        t = self.table("job_runs")
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id))]

    # ------------------------------------------------------------------ WAL checkpoints (SQLite)
    def defer_checkpoints(self) -> bool:
        """SQLite: this process's commits stop checkpointing the WAL; :meth:`checkpoint` does it instead.

        A commit that crosses SQLite's auto-checkpoint size copies the WAL into
        the database and fsyncs it, inside the commit: on a loaded disk that
        stalled a serving replica's commit, and every request behind it, for
        hundreds of milliseconds. A process that serves requests defers it and
        calls :meth:`checkpoint` off the request path. Returns False (nothing to
        do) on PostgreSQL and for an in-memory database (no WAL; reconnecting
        would lose it).
        """
        if self.engine.dialect.name != "sqlite" or isinstance(self.engine.pool, StaticPool):
            return False
        event.listen(self.engine, "connect", _no_autocheckpoint)
        self.engine.dispose()  # connections opened so far reconnect with the setting
        return True

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database without waiting for readers or writers (PASSIVE)."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    # ------------------------------------------------------------------ access statistics (lake tiers)
    def record_access(self, partitions: Iterable[str], at: datetime) -> None:
        """Count one read of each lake partition (keys ``day=YYYY-MM-DD/domain=NAME``) at event time ``at``.

        One upsert for all of them, whatever the rows read: a partition seen for
        the first time starts at one access, tier ``hot``; ``last_access_at``
        keeps the latest event time.
        """
        keys = sorted(set(partitions))
        if not keys:
            return
        t = self.table("access_stats")
        at = to_naive_utc(at)
        with self.engine.begin() as conn:
            stmt = _upsert(conn, t)
            later = or_(t.c.last_access_at.is_(None), t.c.last_access_at < stmt.excluded.last_access_at)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.partition],
                set_={
                    "accesses": t.c.accesses + 1,
                    "last_access_at": case((later, stmt.excluded.last_access_at), else_=t.c.last_access_at),
                },
            )
            conn.execute(stmt, [{"partition": k, "accesses": 1, "last_access_at": at, "tier": "hot"} for k in keys])

    def set_tiers(self, tiers: dict[str, str], *, reset_accesses: bool = False) -> None:
        """Record the tier (``hot``, ``warm``, ``cold``) of partitions, keeping their access counts.

        With ``reset_accesses`` their counts start again from zero (a partition turning warm).
        """
        if not tiers:
            return
        t = self.table("access_stats")
        with self.engine.begin() as conn:
            stmt = _upsert(conn, t)
            values = {"tier": stmt.excluded.tier, **({"accesses": 0} if reset_accesses else {})}
            stmt = stmt.on_conflict_do_update(index_elements=[t.c.partition], set_=values)
            conn.execute(stmt, [{"partition": k, "accesses": 0, "tier": v} for k, v in sorted(tiers.items())])

    def access_stats(
        self, lo: str | None = None, hi: str | None = None, tier: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Access statistics by partition key: ``accesses``, ``last_access_at`` (aware UTC), ``tier``.

        Optionally only keys in ``[lo, hi)`` (keys sort by day first, so a range
        of days is a range of keys on the primary key) and only one tier.
        """
        t = self.table("access_stats")
        q = select(t)
        if lo is not None:
            q = q.where(t.c.partition >= lo)
        if hi is not None:
            q = q.where(t.c.partition < hi)
        if tier is not None:
            q = q.where(t.c.tier == tier)
        with self.engine.connect() as conn:
            return {
                r.partition: {
                    "accesses": int(r.accesses),
                    "last_access_at": from_naive_utc(r.last_access_at),
                    "tier": r.tier,
                }
                for r in conn.execute(q)
            }

    def published_days(self, video_ids: Sequence[str]) -> set[date]:
        """UTC days the given videos were published on: the lake day partitions that hold them."""
        t = self.table("videos")
        days: set[date] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(list(video_ids)):
                days.update(
                    ts.date() for ts in conn.execute(select(t.c.published_at).where(t.c.video_id.in_(chunk))).scalars()
                )
        return days

    # ------------------------------------------------------------------ health aggregates
    def topic_activity(self, domain: str | None, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Per topic over ``[start, end)``: videos, mean confidence, distinct channels, top channel share."""
        c, v = self.table("classifications"), self.table("videos")
        base = (
            select(c.c.topic_id, v.c.channel_id, func.count().label("n"), func.sum(c.c.confidence).label("conf"))
            .join(v, v.c.video_id == c.c.video_id)
            .where(
                c.c.topic_id.is_not(None),
                c.c.published_at >= to_naive_utc(start),
                c.c.published_at < to_naive_utc(end),
            )
            .group_by(c.c.topic_id, v.c.channel_id)
        )
        if domain:
            base = base.where(c.c.domain == domain)
        per: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for tid, _ch, n, conf in conn.execute(base):
                a = per.setdefault(
                    tid, {"topic_id": tid, "videos": 0, "conf_sum": 0.0, "channels": 0, "top_channel": 0}
                )
                a["videos"] += int(n)
                a["conf_sum"] += float(conf or 0.0)
                a["channels"] += 1
                a["top_channel"] = max(a["top_channel"], int(n))
        out = []
        for a in per.values():
            out.append(
                {
                    "topic_id": a["topic_id"],
                    "videos": a["videos"],
                    "avg_confidence": a["conf_sum"] / a["videos"],
                    "channels": a["channels"],
                    "top_channel_share": a["top_channel"] / a["videos"],
                }
            )
        return out

    def daily_counts(self, domain: str | None = None) -> list[tuple[str, datetime, int]]:
        """(topic_id, day, videos) for every topic and day, for the report."""
        c = self.table("classifications")
        day = func.date(c.c.published_at)
        q = select(c.c.topic_id, day, func.count()).where(c.c.topic_id.is_not(None)).group_by(c.c.topic_id, day)
        if domain:
            q = q.where(c.c.domain == domain)
        with self.engine.connect() as conn:
            return [(t, d if isinstance(d, str) else str(d), int(n)) for t, d, n in conn.execute(q)]

    def domain_volume(self, domain: str, start: datetime, end: datetime) -> int:
        c = self.table("classifications")
        q = select(func.count()).where(
            and_(c.c.domain == domain, c.c.published_at >= to_naive_utc(start), c.c.published_at < to_naive_utc(end))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())


def _upsert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT of ``table`` (it has ON CONFLICT on PostgreSQL and SQLite alike)."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
