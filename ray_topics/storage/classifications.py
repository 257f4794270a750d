"""Classifications: the answer stored for every video, the refinement queue, and the reads the tiers make."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, text, update

from ray_topics.core.timeutil import as_utc
from ray_topics.core.types import ClassificationStatus
from ray_topics.storage.db import Database, chunks
from ray_topics.storage.schema import QUEUE_WHERE

__all__ = ["Classifications"]

STREAM_CHUNK = 10_000  # rows per page of a streamed scan (Classifications._stream)


class Classifications:
    """Repository of ``classifications`` (joined with ``videos`` where a read needs metadata)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, video_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored row of each given id that exists."""
        t = self.db.table("classifications")
        out: dict[str, dict[str, Any]] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(video_ids)):
                out.update(
                    {r.video_id: dict(r._mapping) for r in conn.execute(select(t).where(t.c.video_id.in_(chunk)))}
                )
        return out

    def pending(self, domain: str, limit: int, published_before: datetime | None = None) -> list[dict[str, Any]]:
        """Preliminary classifications of a domain (the refinement queue), oldest first.

        A range scan of the partial index ``ix_class_queue`` (domain,
        published_at, video_id of the queue's rows): it reads the queue only,
        in order, and stops at ``limit``.
        """
        c = self.db.table("classifications")
        q = (
            select(c.c.video_id, c.c.published_at, c.c.model_version)
            .where(text(QUEUE_WHERE), c.c.domain == domain)
            .order_by(c.c.published_at, c.c.video_id)
            .limit(limit)
        )
        if published_before is not None:
            q = q.where(c.c.published_at < published_before)
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def newest_pending(self, domain: str) -> datetime | None:
        """Publication time of the newest row of a domain's refinement queue (None: the queue is empty); one
        lookup at the end of ``ix_class_queue``."""
        c = self.db.table("classifications")
        q = select(func.max(c.c.published_at)).where(text(QUEUE_WHERE), c.c.domain == domain)
        with self.db.connect() as conn:
            found = conn.execute(q).scalar_one_or_none()
        return None if found is None else as_utc(found)

    def update(self, rows: list[dict[str, Any]], conn: Connection | None = None) -> None:
        """Set topic, confidence, status and model version of existing rows (see :func:`reclassified`)."""
        if not rows:
            return
        t = self.db.table("classifications")
        stmt = update(t).where(t.c.video_id == bindparam("b_video_id")).values(**self._set_columns())
        with self.db.writing(conn) as tx:
            tx.execute(stmt, [self._params(r) for r in rows])

    def update_pending(
        self,
        rows: list[dict[str, Any]],
        read_versions: dict[str, str],
        *,
        lock: str | None = None,
        still_newest: Callable[[Connection], bool] | None = None,
    ) -> bool:
        """Like :meth:`update`, only for rows still preliminary under the model version they were read at.

        ``read_versions`` maps each video id to the ``model_version`` :meth:`pending` returned. A row
        that a job reclassified meanwhile (a monthly merge, a daily birth) keeps that newer answer.
        With ``lock`` the transaction first takes that lock (the domain's commit lock) and writes only
        if ``still_newest(conn)``: rows classified with a model a job has since replaced are not
        written. Returns whether the rows were written.
        """
        if not rows:
            return True
        stmt = self._update_if_unchanged().values(**self._set_columns())
        params = [{**self._params(r), "b_read_version": read_versions[r["video_id"]]} for r in rows]
        with self.db.begin() as tx:
            if lock is not None:
                self.db.lock(tx, lock)
            if still_newest is not None and not still_newest(tx):
                return False
            tx.execute(stmt, params)
        return True

    def set_aside(self, read_versions: dict[str, str]) -> int:
        """Take rows out of the refinement queue (status ``set_aside``), if still preliminary under the version read.

        ``read_versions`` maps each video id to the ``model_version`` :meth:`pending` returned. The rows
        keep Tier 1's answer. Returns how many rows were set aside.
        """
        if not read_versions:
            return 0
        stmt = self._update_if_unchanged().values(status=ClassificationStatus.SET_ASIDE)
        with self.db.begin() as tx:
            res = tx.execute(stmt, [{"b_video_id": v, "b_read_version": m} for v, m in read_versions.items()])
            return int(res.rowcount or 0)

    def _update_if_unchanged(self) -> Any:
        """An UPDATE of the row ``b_video_id`` only while it is preliminary under ``b_read_version``."""
        t = self.db.table("classifications")
        return update(t).where(
            t.c.video_id == bindparam("b_video_id"),
            t.c.status == ClassificationStatus.PRELIMINARY,
            t.c.model_version == bindparam("b_read_version"),
        )

    @staticmethod
    def _set_columns() -> dict[str, Any]:
        return {
            "topic_id": bindparam("b_topic_id"),
            "confidence": bindparam("b_confidence"),
            "status": bindparam("b_status"),
            "model_version": bindparam("b_model_version"),
            "classified_at": bindparam("b_classified_at"),
        }

    @staticmethod
    def _params(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "b_video_id": r["video_id"],
            "b_topic_id": r["topic_id"],
            "b_confidence": float(r["confidence"]),
            "b_status": r["status"],
            "b_model_version": r["model_version"],
            "b_classified_at": r["classified_at"],
        }

    def window(
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
        c, v = self.db.table("classifications"), self.db.table("videos")
        q = (
            select(*self._columns(with_text))
            .join(v, v.c.video_id == c.c.video_id)
            .where(*self._in_window(domain, start, end))
            .order_by(c.c.published_at, c.c.video_id)
        )
        if misfit_below is not None:
            q = q.where(self._misfit(misfit_below))
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def nth_newest_misfit(
        self, domain: str, start: datetime, end: datetime, misfit_below: float, n: int
    ) -> datetime | None:
        """Publication time of the ``n``-th newest misfit (as :meth:`window`) of a domain in ``[start, end)``.

        None when the range holds fewer than ``n``. A backward range scan of ``ix_class_domain_published``
        that stops at the ``n``-th misfit.
        """
        c = self.db.table("classifications")
        q = (
            select(c.c.published_at)
            .where(*self._in_window(domain, start, end), self._misfit(misfit_below))
            .order_by(c.c.published_at.desc())
            .offset(n - 1)
            .limit(1)
        )
        with self.db.connect() as conn:
            found = conn.execute(q).scalar_one_or_none()
        return None if found is None else as_utc(found)

    def _in_window(self, domain: str, start: datetime, end: datetime) -> tuple[Any, ...]:
        """A domain's classifications published in ``[start, end)`` (the conditions of a window's read)."""
        c = self.db.table("classifications")
        return c.c.domain == domain, c.c.published_at >= start, c.c.published_at < end

    def _misfit(self, below: float) -> Any:
        """No topic, or a confidence below ``below``."""
        c = self.db.table("classifications")
        return or_(c.c.topic_id.is_(None), c.c.confidence < below)

    def rows_for(self, video_ids: Sequence[str], with_text: bool = True) -> list[dict[str, Any]]:
        """Classification joined with video metadata for the given ids, in their order."""
        c, v = self.db.table("classifications"), self.db.table("videos")
        found: dict[str, dict[str, Any]] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(video_ids)):
                q = (
                    select(*self._columns(with_text))
                    .join(v, v.c.video_id == c.c.video_id)
                    .where(c.c.video_id.in_(chunk))
                )
                found.update({r.video_id: dict(r._mapping) for r in conn.execute(q)})
        return [found[i] for i in video_ids if i in found]

    def _columns(self, with_text: bool) -> list[Any]:
        c, v = self.db.table("classifications"), self.db.table("videos")
        cols = [c.c.video_id, c.c.published_at, c.c.topic_id, c.c.confidence, c.c.status, v.c.channel_id, v.c.views]
        return [*cols, v.c.title, v.c.description, v.c.tags] if with_text else cols

    def iter_window_ids(
        self, domain: str, start: datetime, end: datetime, chunk: int = STREAM_CHUNK
    ) -> Iterator[tuple[str, str | None]]:
        """(video_id, topic_id) of every classification of a domain published in ``[start, end)``, streamed.

        Rows come oldest first in pages of at most ``chunk``, each page its
        own short read (:meth:`_stream`), so a week of a busy domain is never
        held in memory and no transaction stays open while the caller works
        on a page. Range scans of ``ix_class_domain_published``.
        """
        c = self.db.table("classifications")
        yield from self._stream(domain, (c.c.video_id, c.c.topic_id), (), start, end, chunk)

    def iter_window_fitting(
        self, domain: str, start: datetime, end: datetime, fit: float, chunk: int = STREAM_CHUNK
    ) -> Iterator[tuple[str, str, datetime]]:
        """(video_id, topic_id, published_at) of a domain's videos published in ``[start, end)`` that fit their
        answer (a topic, at a confidence of at least ``fit``), streamed as :meth:`iter_window_ids`."""
        c = self.db.table("classifications")
        cols = (c.c.video_id, c.c.topic_id, c.c.published_at)
        yield from self._stream(domain, cols, (~self._misfit(fit),), start, end, chunk)

    def iter_window_misfits(
        self, domain: str, start: datetime, end: datetime, misfit_below: float, chunk: int = STREAM_CHUNK
    ) -> Iterator[tuple[str, str | None, datetime]]:
        """(video_id, topic_id, published_at) of a domain's misfits (no topic, or a confidence below
        ``misfit_below``) published in ``[start, end)``, streamed as :meth:`iter_window_ids`."""
        c = self.db.table("classifications")
        cols = (c.c.video_id, c.c.topic_id, c.c.published_at)
        yield from self._stream(domain, cols, (self._misfit(misfit_below),), start, end, chunk)

    def count_window_fitting(self, domain: str, start: datetime, end: datetime, fit: float) -> dict[str, int]:
        """{topic: rows} of what :meth:`iter_window_fitting` yields for the same arguments (one grouped count, no
        row read)."""
        c = self.db.table("classifications")
        q = (
            select(c.c.topic_id, func.count())
            .where(*self._in_window(domain, start, end), ~self._misfit(fit))
            .group_by(c.c.topic_id)
        )
        with self.db.connect() as conn:
            return {tid: int(n) for tid, n in conn.execute(q)}

    def window_fitting_answers(
        self, domain: str, start: datetime, end: datetime, fit: float, video_ids: Sequence[str]
    ) -> dict[str, str]:
        """{video id: topic} of those of ``video_ids`` that :meth:`iter_window_fitting` yields for the same window
        (a read of the given ids only, a chunk at a time).

        The rows are found by primary key alone and the window's conditions
        tested on them here: given the conditions in SQL, SQLite ranges over
        ``ix_class_domain_published`` instead, and every chunk walks the
        domain's whole window (millions of rows at 500,000 videos a day).
        """
        c = self.db.table("classifications")
        lo, hi = as_utc(start), as_utc(end)
        cols = (c.c.video_id, c.c.topic_id, c.c.confidence, c.c.domain, c.c.published_at)
        out: dict[str, str] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(video_ids)):
                for r in conn.execute(select(*cols).where(c.c.video_id.in_(chunk))):
                    fits = r.topic_id is not None and r.confidence is not None and r.confidence >= fit
                    if fits and r.domain == domain and lo <= as_utc(r.published_at) < hi:
                        out[r.video_id] = r.topic_id
        return out

    def misfit_answers(self, domain: str, start: datetime, end: datetime, misfit_below: float) -> dict[str, int]:
        """{topic: misfits answered with it} of a domain's videos published in ``[start, end)`` (one grouped read;
        a misfit without a topic is not counted)."""
        c = self.db.table("classifications")
        q = (
            select(c.c.topic_id, func.count())
            .where(*self._in_window(domain, start, end))
            .where(c.c.topic_id.is_not(None), self._misfit(misfit_below))
            .group_by(c.c.topic_id)
        )
        with self.db.connect() as conn:
            return {tid: int(n) for tid, n in conn.execute(q)}

    def _stream(
        self, domain: str, cols: Sequence[Any], where: Sequence[Any], start: datetime, end: datetime, chunk: int
    ) -> Iterator[tuple[Any, ...]]:
        """``cols`` of a domain's classifications matching ``where`` published in ``[start, end)``, oldest
        first, read a page at a time, each page its own short read.

        A page is a span of instants holding at most ``chunk`` of the
        domain's rows: its end is found first, by an index-only scan of
        ``ix_class_domain_published`` (the entry ``chunk`` entries on), and its
        rows are then read within those bounds, so a page costs about
        ``chunk`` index entries whatever ``where`` keeps and whatever plan the
        database picks. Rows sharing an instant are never split between
        pages; an instant holding more than a page (dates without a time) is
        read in pages of its own, by video id. No cursor or transaction stays
        open between pages: a long job holds back neither PostgreSQL's vacuum
        nor SQLite's WAL checkpoint, and ``idle_in_transaction_session_timeout``
        cannot cut it. Each row is read once, as it stands when its page is
        read (a row written or updated meanwhile may show either way).
        """
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, not {chunk}")
        c = self.db.table("classifications")
        at = c.c.published_at
        rows = select(*cols).where(c.c.domain == domain, *where).order_by(at)
        lower = at >= start
        while True:
            with self.db.connect() as conn:
                entries = select(at).where(c.c.domain == domain, lower, at < end).order_by(at)
                first = conn.execute(entries.limit(1)).scalar()
                upper = None if first is None else conn.execute(entries.offset(chunk).limit(1)).scalar()
                if first is None or first == upper:
                    page = []
                else:  # one upper bound only: given two, SQLite's range scan may stop at the looser one
                    page = conn.execute(rows.where(lower, at < (end if upper is None else upper))).all()
            yield from (tuple(r) for r in page)
            if upper is None:  # the rest fitted in this page
                return
            if first == upper:  # one instant holds more than a page
                yield from self._instant(domain, cols, where, first, chunk)
                lower = at > first
            else:
                lower = at >= upper

    def _instant(
        self, domain: str, cols: Sequence[Any], where: Sequence[Any], instant: datetime, chunk: int
    ) -> Iterator[tuple[Any, ...]]:
        """:meth:`_stream`'s rows published at one ``instant``, in pages of ``chunk`` by video id."""
        c = self.db.table("classifications")
        q = select(*cols, c.c.video_id).where(c.c.domain == domain, c.c.published_at == instant, *where)
        q = q.order_by(c.c.video_id)
        last = None
        while True:
            with self.db.connect() as conn:
                page = conn.execute((q if last is None else q.where(c.c.video_id > last)).limit(chunk)).all()
            yield from (tuple(r)[:-1] for r in page)
            if len(page) < chunk:
                return
            last = page[-1][-1]

    def last_seen(
        self, domain: str, start: datetime, end: datetime, min_confidence: float = 0.0
    ) -> dict[str, datetime]:
        """Newest publication time per topic of a domain among its videos published in ``[start, end)``.

        Only videos classified with at least ``min_confidence`` count as seeing the topic (a range scan of
        the window; :meth:`newest_published` finds a topic's newest video however old, by index probes).
        """
        c = self.db.table("classifications")
        q = (
            select(c.c.topic_id, func.max(c.c.published_at))
            .where(*self._in_window(domain, start, end))
            .where(c.c.confidence >= min_confidence, c.c.topic_id.is_not(None))
            .group_by(c.c.topic_id)
        )
        with self.db.connect() as conn:
            return {t: ts for t, ts in conn.execute(q)}

    def newest_published(self, topic_ids: Sequence[str], before: datetime) -> dict[str, datetime]:
        """Publication time of each given topic's newest video published before ``before``; a topic without
        one, or not stored in ``topics``, is left out.

        One probe of ``ix_class_topic_published`` per topic (the newest entry before ``before``), so the
        cost follows the number of topics, not the history (a grouped max over the history would scan every
        video ever classified).
        """
        c, t = self.db.table("classifications"), self.db.table("topics")
        newest = (
            select(func.max(c.c.published_at))
            .where(c.c.topic_id == t.c.topic_id, c.c.published_at < before)
            .scalar_subquery()
        )
        out: dict[str, datetime] = {}
        with self.db.connect() as conn:
            for part in chunks(list(topic_ids)):
                rows = conn.execute(select(t.c.topic_id, newest).where(t.c.topic_id.in_(part)))
                out.update({tid: at for tid, at in rows if at is not None})
        return out

    def topic_sizes(self, domain: str, topic_ids: Sequence[str] | None = None) -> dict[str, int]:
        """Videos currently assigned to each topic of the domain (all time), or to each of ``topic_ids`` only.

        With ``topic_ids`` the count reads ``ix_class_topic_published`` alone (its ranges of those topics, no
        row of the table): the jobs that count a domain's live topics (weekly, monthly) skip its misfits and
        its dead and merged topics' history, and the per-row lookup of the domain. Without, every row of the
        domain is read (the ``topics`` command, an export). ``topic_ids`` are the domain's (a topic id
        names its domain; ``domain`` is not checked against them).
        """
        c = self.db.table("classifications")
        q = select(c.c.topic_id, func.count()).group_by(c.c.topic_id)
        with self.db.connect() as conn:
            if topic_ids is None:
                rows = conn.execute(q.where(c.c.domain == domain, c.c.topic_id.is_not(None)))
                return {t: int(n) for t, n in rows}
            out: dict[str, int] = {}
            for part in chunks(sorted(set(topic_ids))):
                out.update({t: int(n) for t, n in conn.execute(q.where(c.c.topic_id.in_(part)))})
            return out

    def members_of(self, topic_ids: Sequence[str]) -> list[dict[str, Any]]:
        """(video_id, topic_id, published_at) of every video assigned to these topics."""
        c = self.db.table("classifications")
        out: list[dict[str, Any]] = []
        with self.db.connect() as conn:
            for chunk in chunks(list(topic_ids)):
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
        c, v = self.db.table("classifications"), self.db.table("videos")
        key = {
            "views": func.coalesce(v.c.views, -1).desc(),
            "low_confidence": c.c.confidence.asc(),
            "recent": c.c.published_at.desc(),
        }[order]
        q = (
            select(c.c.video_id)
            .join(v, v.c.video_id == c.c.video_id)
            .where(*self._in_window(domain, start, end))
            .order_by(key, c.c.video_id)
            .limit(limit)
        )
        if topic_id is not None:
            q = q.where(c.c.topic_id == topic_id)
        with self.db.connect() as conn:
            return list(conn.execute(q).scalars())
