"""Aggregates over classifications for health, the report and the daily tier's volume rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, null, select, union_all

from ray_topics.storage.db import Database

__all__ = ["Activity"]


class Activity:
    """Read-only aggregate queries over ``classifications`` (and ``videos`` for titles, and for the channel and
    route of rows stored before classifications carried them)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def domains(self) -> list[str]:
        """Every domain a classification is stored for, in order.

        One probe of ``ix_class_domain_published`` per domain (the next domain
        after the last one found), not a scan: the cost follows the number of
        domains, not the stored history.
        """
        c = self.db.table("classifications")
        found: list[str] = []
        with self.db.connect() as conn:
            while True:
                q = select(c.c.domain).order_by(c.c.domain).limit(1)
                if found:
                    q = q.where(c.c.domain > found[-1])
                nxt = conn.execute(q).scalar_one_or_none()
                if nxt is None:
                    return found
                found.append(nxt)

    def _in(self, domain: str | None) -> Any:
        """The condition of ``domain``'s rows, or of every stored domain's when None.

        A window's rows are a range of ``ix_class_domain_published`` only under
        a condition on the domain: without one, SQLite ranged over every
        classification with a topic (``ix_class_topic_published``) or scanned
        the whole index, so health's reads grew with the stored history, not
        the window.
        """
        c = self.db.table("classifications")
        return c.c.domain == domain if domain else c.c.domain.in_(self.domains())

    def _with_video(self, q: Select[Any], column: str, domain: str | None, also: tuple[str, ...] = ()) -> Any:
        """``q`` (a select from ``classifications``) of ``domain`` (:meth:`_in`) with the video's ``column``
        (``channel_id``, ``route``) added: the classification's copy (made at ingest) where it carries one,
        UNION ALL, joined with ``videos``, ``videos.<column>`` for the rows stored before classifications
        carried it. ``also``: more columns of ``videos``, read for those older rows only (NULL for the others).

        The join costs a primary-key lookup per row on SQLite (about half of health's read before the copy); a
        row that carries the copy never pays it.
        """
        c, v = self.db.table("classifications"), self.db.table("videos")
        rows = self._in(domain)
        own = q.add_columns(c.c[column], *(null().label(a) for a in also)).where(c.c[column].is_not(None), rows)
        old = (
            q.add_columns(v.c[column], *(v.c[a] for a in also))
            .join(v, v.c.video_id == c.c.video_id)
            .where(c.c[column].is_(None), rows)
        )
        return union_all(own, old).subquery()

    def topic_activity(
        self, domain: str | None, start: datetime, end: datetime, *, recent_start: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Per topic over ``[start, end)``: videos, mean confidence, distinct channels, top channel share.

        With ``recent_start``, also ``videos_recent`` and ``avg_confidence_recent`` over
        ``[recent_start, end)`` (health's day inside its week), from the same scan. The database
        aggregates: one row per topic comes back, not one per (topic, channel) pair, of which a
        busy week holds hundreds of thousands.
        """
        c = self.db.table("classifications")
        recent = c.c.published_at >= (recent_start if recent_start is not None else end)
        conf = func.coalesce(c.c.confidence, 0.0)
        rows = self._with_video(
            select(
                c.c.topic_id,
                conf.label("conf"),
                case((recent, 1), else_=0).label("n_recent"),
                case((recent, conf), else_=0.0).label("conf_recent"),
            ).where(c.c.topic_id.is_not(None), c.c.published_at >= start, c.c.published_at < end),
            "channel_id",
            domain,
        )
        pc = (
            select(
                rows.c.topic_id,
                func.count().label("n"),
                func.sum(rows.c.conf).label("conf"),
                func.sum(rows.c.n_recent).label("n_recent"),
                func.sum(rows.c.conf_recent).label("conf_recent"),
            )
            .group_by(rows.c.topic_id, rows.c.channel_id)
            .subquery()
        )
        q = select(
            pc.c.topic_id,
            func.sum(pc.c.n),
            func.sum(pc.c.conf),
            func.count(),
            func.max(pc.c.n),
            func.sum(pc.c.n_recent),
            func.sum(pc.c.conf_recent),
        ).group_by(pc.c.topic_id)
        out = []
        with self.db.connect() as conn:
            for tid, n, conf_sum, channels, top, n_recent, conf_recent in conn.execute(q):
                n, n_recent = int(n), int(n_recent)
                out.append(
                    {
                        "topic_id": tid,
                        "videos": n,
                        "avg_confidence": float(conf_sum) / n,
                        "channels": int(channels),
                        "top_channel_share": int(top) / n,
                        "videos_recent": n_recent,
                        "avg_confidence_recent": float(conf_recent) / n_recent if n_recent else None,
                    }
                )
        return out

    def route_counts(
        self, start: datetime, end: datetime, domain: str | None = None
    ) -> list[tuple[str, str | None, str | None, int]]:
        """(domain, category, stored route, videos) of the videos published in ``[start, end)`` (of ``domain``
        only, when given): one aggregate query, for health's routing shares.

        The category is read (from ``videos``) only for a row stored before classifications carried the
        route, whose route health may have to read back from it; it is None for every other.
        """
        c = self.db.table("classifications")
        window = select(c.c.domain).where(c.c.published_at >= start, c.c.published_at < end)
        rows = self._with_video(window, "route", domain, also=("category",))
        q = select(rows.c.domain, rows.c.category, rows.c.route, func.count()).group_by(
            rows.c.domain, rows.c.category, rows.c.route
        )
        with self.db.connect() as conn:
            return [(d, cat, how, int(n)) for d, cat, how, n in conn.execute(q)]

    def average_confidence(
        self, domain: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, tuple[int, float]]:
        """``topic_id -> (videos, mean confidence)`` over the videos published in ``[start, end)`` (bounds optional)."""
        c = self.db.table("classifications")
        q = select(c.c.topic_id, func.count(), func.avg(c.c.confidence))
        q = q.where(c.c.topic_id.is_not(None), self._in(domain))
        if start is not None:
            q = q.where(c.c.published_at >= start)
        if end is not None:
            q = q.where(c.c.published_at < end)
        with self.db.connect() as conn:
            return {tid: (int(n), float(avg)) for tid, n, avg in conn.execute(q.group_by(c.c.topic_id))}

    def daily_counts(
        self, domain: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[tuple[str, str, int]]:
        """(topic_id, day as ``YYYY-MM-DD``, videos) for every topic and day of ``[start, end)`` (bounds
        optional), for the report. With bounds the read is a range of the window, whatever the history."""
        c = self.db.table("classifications")
        day = func.date(c.c.published_at)
        q = select(c.c.topic_id, day, func.count()).where(c.c.topic_id.is_not(None), self._in(domain))
        if start is not None:
            q = q.where(c.c.published_at >= start)
        if end is not None:
            q = q.where(c.c.published_at < end)
        q = q.group_by(c.c.topic_id, day)
        with self.db.connect() as conn:
            return [(t, d if isinstance(d, str) else str(d), int(n)) for t, d, n in conn.execute(q)]

    def examples(
        self, domain: str, start: datetime | None, end: datetime, per_topic: int
    ) -> dict[str, list[dict[str, Any]]]:
        """Per topic, its ``per_topic`` most confident videos published in ``[start, end)``.

        Each row: ``video_id``, ``title``, ``channel_id``, ``confidence``; the
        report's example titles. Ranked in SQL (a window function), so a topic's
        other members never leave the database.
        """
        c, v = self.db.table("classifications"), self.db.table("videos")
        rank = (
            func.row_number()
            .over(partition_by=c.c.topic_id, order_by=(c.c.confidence.desc(), c.c.video_id))
            .label("rank")
        )
        q = (
            select(c.c.topic_id, c.c.video_id, v.c.title, v.c.channel_id, c.c.confidence, rank)
            .join(v, v.c.video_id == c.c.video_id)
            .where(c.c.domain == domain, c.c.topic_id.is_not(None), c.c.published_at < end)
        )
        if start is not None:
            q = q.where(c.c.published_at >= start)
        ranked = q.subquery()
        top = select(ranked).where(ranked.c.rank <= per_topic).order_by(ranked.c.topic_id, ranked.c.rank)
        out: dict[str, list[dict[str, Any]]] = {}
        with self.db.connect() as conn:
            for r in conn.execute(top):
                out.setdefault(r.topic_id, []).append(
                    {"video_id": r.video_id, "title": r.title, "channel_id": r.channel_id, "confidence": r.confidence}
                )
        return out

    def top_channels(
        self, domain: str, start: datetime | None, end: datetime, per_topic: int
    ) -> dict[str, list[tuple[str, int]]]:
        """Per topic, its ``per_topic`` busiest channels over ``[start, end)`` as (channel, videos), busiest first."""
        c, v = self.db.table("classifications"), self.db.table("videos")
        n = func.count().label("n")
        q = (
            select(c.c.topic_id, v.c.channel_id, n)
            .join(v, v.c.video_id == c.c.video_id)
            .where(c.c.domain == domain, c.c.topic_id.is_not(None), c.c.published_at < end)
            .group_by(c.c.topic_id, v.c.channel_id)
        )
        if start is not None:
            q = q.where(c.c.published_at >= start)
        counts = q.subquery()
        rank = (
            func.row_number()
            .over(partition_by=counts.c.topic_id, order_by=(counts.c.n.desc(), counts.c.channel_id))
            .label("rank")
        )
        ranked = select(counts, rank).subquery()
        top = select(ranked).where(ranked.c.rank <= per_topic).order_by(ranked.c.topic_id, ranked.c.rank)
        out: dict[str, list[tuple[str, int]]] = {}
        with self.db.connect() as conn:
            for r in conn.execute(top):
                out.setdefault(r.topic_id, []).append((r.channel_id, int(r.n)))
        return out

    def domain_volume(self, domain: str, start: datetime, end: datetime) -> int:
        """Videos of the domain published in ``[start, end)``."""
        c = self.db.table("classifications")
        q = select(func.count()).where(c.c.domain == domain, c.c.published_at >= start, c.c.published_at < end)
        with self.db.connect() as conn:
            return int(conn.execute(q).scalar_one())
