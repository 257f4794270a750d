"""Topics whose stored history goes back to the refinement queue, a chunk per transaction.

A monthly merge or split changes the answer of every video the topic ever held: all
of its history, which grows for as long as the topic lives. Rewritten inside the
monthly commit, it held SQLite's write lock (and Tier 1's commits behind it) for as
long as that history is long. The commit records each such topic here instead (one
row, in the commit's transaction), and :meth:`RequeueBacklog.drain` puts the topic's
videos back in the refinement queue a chunk at a time after it. Each chunk is one
short transaction under the domain's commit lock that also moves the topic's cursor
(its last requeued video, in ``(published_at, video_id)`` order), so a drain stopped
half way (a killed job) goes on where it stopped and requeues every video once.
Refine then classifies them with the newest model
(:func:`ray_topics.tiers.refine.refine_domain`, which drains the backlog first: the
hourly job finishes what a killed monthly job left).

Until then a video of a merged topic still names that topic (refined, then
preliminary once requeued): ``GET /v1/videos/{id}`` answers it and sizes count
it there. Refine sets aside a video whose embedding cannot be read; it keeps
its answer, a merged topic's included, and is counted and named.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from ray_topics.core.types import ClassificationStatus
from ray_topics.storage.db import Database, chunks

__all__ = ["RequeueBacklog"]


class RequeueBacklog:
    """Repository of ``requeue_backlog``.

    Example:
        >>> from datetime import UTC, datetime
        >>> from ray_topics.storage.store import Store
        >>> s = Store("sqlite://")
        >>> with s.begin() as conn:
        ...     s.backlog.add("gaming", ["gaming:3"], datetime(2026, 3, 1, tzinfo=UTC), conn)
        >>> s.backlog.topics("gaming"), s.backlog.drain("gaming", chunk=100, lock="domain-commit:gaming")
        (['gaming:3'], 0)
        >>> s.backlog.topics("gaming")
        []
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, domain: str, topic_ids: Sequence[str], at: datetime, conn: Connection) -> None:
        """Record ``topic_ids`` in ``conn``'s transaction: their whole history is requeued from its start.

        A topic already waiting starts again from its first video (a second split of a
        part-drained topic changes its older answers too).
        """
        b = self.db.table("requeue_backlog")
        for part in chunks(sorted(set(topic_ids))):
            conn.execute(delete(b).where(b.c.topic_id.in_(part)))
            conn.execute(insert(b), [{"topic_id": t, "domain": domain, "added_at": at} for t in part])

    def topics(self, domain: str | None = None) -> list[str]:
        """Topics whose history is not all requeued yet (of ``domain``, or of every domain)."""
        b = self.db.table("requeue_backlog")
        q = select(b.c.topic_id).order_by(b.c.topic_id)
        if domain is not None:
            q = q.where(b.c.domain == domain)
        with self.db.connect() as conn:
            return list(conn.execute(q).scalars())

    def drain(self, domain: str, chunk: int, lock: str) -> int:
        """Requeue the domain's backlog, ``chunk`` videos per transaction; returns the rows put back in the queue.

        Each transaction takes ``lock`` (the domain's commit lock: no job commits the
        domain meanwhile, and two drains take turns), reads a topic's cursor, puts the
        next ``chunk`` of its videos back in the queue (refined rows only: preliminary
        ones are queued already, set-aside ones have no usable embedding) and moves the
        cursor past them, or drops the topic once its last video is passed. Videos
        published while the drain runs are classified by the new model already; the
        drain may pass them too (they are preliminary).
        """
        b, c = self.db.table("requeue_backlog"), self.db.table("classifications")
        first = select(b).where(b.c.domain == domain).order_by(b.c.topic_id).limit(1)
        requeued = 0
        while True:
            with self.db.connect() as conn:  # most hours nothing waits: no lock (SQLite's write lock) for that
                if conn.execute(first).first() is None:
                    return requeued
            with self.db.begin() as tx:
                self.db.lock(tx, lock)
                entry = tx.execute(first).first()
                if entry is None:  # another drain finished it meanwhile
                    return requeued
                on_topic = c.c.topic_id == entry.topic_id
                after = (
                    and_(
                        c.c.published_at >= entry.cursor_at,
                        or_(c.c.published_at > entry.cursor_at, c.c.video_id > entry.cursor_video),
                    )
                    if entry.cursor_at is not None
                    else None
                )
                q = select(c.c.published_at, c.c.video_id).where(on_topic)
                if after is not None:
                    q = q.where(after)
                rows = tx.execute(q.order_by(c.c.published_at, c.c.video_id).limit(chunk)).all()
                if rows:
                    last_at, last_video = rows[-1]
                    through = and_(  # the first term bounds the index range (the planners do not take it from OR)
                        c.c.published_at <= last_at,
                        or_(c.c.published_at < last_at, c.c.video_id <= last_video),
                    )
                    move = update(c).where(on_topic, through, c.c.status == ClassificationStatus.REFINED)
                    if after is not None:
                        move = move.where(after)
                    requeued += tx.execute(move.values(status=ClassificationStatus.PRELIMINARY)).rowcount or 0
                if len(rows) < chunk:
                    tx.execute(delete(b).where(b.c.topic_id == entry.topic_id))
                else:
                    tx.execute(
                        update(b)
                        .where(b.c.topic_id == entry.topic_id)
                        .values(cursor_at=last_at, cursor_video=last_video)
                    )
