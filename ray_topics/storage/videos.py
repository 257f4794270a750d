"""Videos and their hot embeddings: Tier 1's durable write, and the hot table's compaction and eviction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, or_, select, update

from ray_topics.core.timeutil import as_utc
from ray_topics.core.types import ClassificationStatus
from ray_topics.storage.classifications import Classifications
from ray_topics.storage.db import Database, chunks
from ray_topics.storage.schema import pack, unpack

__all__ = ["Videos"]


class Videos:
    """Repository of ``videos`` and ``embeddings`` (the hot table)."""

    def __init__(self, db: Database, classifications: Classifications) -> None:
        self.db = db
        self.classifications = classifications
        self._ingest_videos: Any = None  # ingest's INSERT of videos, built once (Database.insert_ignoring)

    def ingest(
        self,
        videos: list[dict[str, Any]],
        vectors: np.ndarray,
        classifications: list[dict[str, Any]],
        conn: Connection | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Commit videos, hot embeddings and preliminary classifications together.

        Idempotent by ``video_id``: only a video whose row is new writes its
        embedding and classification, so a retry writes nothing, whether its
        first attempt's embedding is still in the hot table or already evicted
        to the lake, and whatever vector or time the retry carries. Returns the
        stored classification of every given id (the first answer, for a
        retry); an id given twice in one batch is stored and answered once.
        """
        vid_rows = [
            {
                "video_id": v["video_id"],
                "domain": v["domain"],
                "channel_id": v["channel_id"],
                "published_at": v["published_at"],
                "title": v.get("title") or "",
                "description": v.get("description") or "",
                "tags": list(v.get("tags") or []),
                "category": v.get("category"),
                "views": v.get("views"),
                "route": str(v["routed_by"]) if v.get("routed_by") else None,
            }
            for v in videos
        ]
        t = self.db.table("videos")
        with self.db.writing(conn) as tx:
            if self._ingest_videos is None:
                self._ingest_videos = self.db.insert_ignoring(tx, "videos").returning(t.c.video_id)
            stmt = self._ingest_videos
            new = set(tx.execute(stmt, vid_rows).scalars()) if vid_rows else set()
            first = _first_of_each(videos, new)
            emb_rows = [
                {
                    "video_id": v["video_id"],
                    "domain": v["domain"],
                    "published_at": v["published_at"],
                    "vector": pack(vec),
                }
                for i, (v, vec) in enumerate(zip(videos, vectors, strict=True))
                if i in first
            ]
            # each classification is its video's (same index); it carries the video's channel and route
            cls_rows = [
                {**c, "channel_id": vid_rows[i]["channel_id"], "route": vid_rows[i]["route"]}
                for i, c in enumerate(classifications)
                if i in first
            ]
            self.db.insert_ignore(tx, "embeddings", emb_rows)
            self.db.insert_ignore(tx, "classifications", cls_rows)
        # rows written now are answered as written; only retried ids are read back (their first answer)
        out = {
            c["video_id"]: {**c, "published_at": as_utc(c["published_at"]), "classified_at": as_utc(c["classified_at"])}
            for c in cls_rows
        }
        retried = [v["video_id"] for v in videos if v["video_id"] not in out]
        if retried:
            out.update(self.classifications.get(retried))
        return out

    def existing_ids(self, video_ids: Sequence[str]) -> set[str]:
        t = self.db.table("videos")
        found: set[str] = set()
        with self.db.connect() as conn:
            for chunk in chunks(list(video_ids)):
                found.update(conn.execute(select(t.c.video_id).where(t.c.video_id.in_(chunk))).scalars())
        return found

    def categories(self, video_ids: Sequence[str]) -> dict[str, str | None]:
        """The metadata category each stored video arrived with."""
        return self._column(video_ids, "category")

    def domains(self, video_ids: Sequence[str]) -> dict[str, str]:
        """The domain each stored video was routed to (ids not stored are left out)."""
        return self._column(video_ids, "domain")

    def routes(self, video_ids: Sequence[str]) -> dict[str, str | None]:
        """How the router chose each stored video's domain (a :class:`ray_topics.core.router.Route` value); None
        for a video stored before the store kept routes, or by an import."""
        return self._column(video_ids, "route")

    def _column(self, video_ids: Sequence[str], name: str) -> dict[str, Any]:
        t = self.db.table("videos")
        col = t.c[name]
        with self.db.connect() as conn:
            return {
                vid: value
                for chunk in chunks(list(video_ids))
                for vid, value in conn.execute(select(t.c.video_id, col).where(t.c.video_id.in_(chunk)))
            }

    def labelled_ids(self, domain: str, categories: Sequence[str], start: datetime, end: datetime) -> list[str]:
        """Ids of the domain's videos published in ``[start, end)`` whose category is one of ``categories``
        (compared case-insensitively; pass them lower-case)."""
        if not categories:
            return []
        t = self.db.table("videos")
        q = select(t.c.video_id).where(
            t.c.domain == domain,
            t.c.published_at >= start,
            t.c.published_at < end,
            func.lower(t.c.category).in_(list(categories)),
        )
        with self.db.connect() as conn:
            return list(conn.execute(q).scalars())

    def hot_vectors(self, video_ids: Sequence[str]) -> dict[str, np.ndarray]:
        t = self.db.table("embeddings")
        out: dict[str, np.ndarray] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(video_ids)):
                for vid, blob in conn.execute(select(t.c.video_id, t.c.vector).where(t.c.video_id.in_(chunk))):
                    out[vid] = unpack(blob)
        return out

    def published_range(self, video_ids: Sequence[str]) -> tuple[datetime, datetime]:
        """[earliest, latest + 1 µs) publication time of the given videos."""
        t = self.db.table("videos")
        lo, hi = None, None
        with self.db.connect() as conn:
            for chunk in chunks(list(video_ids)):
                a, b = conn.execute(
                    select(func.min(t.c.published_at), func.max(t.c.published_at)).where(t.c.video_id.in_(chunk))
                ).one()
                if a is not None:
                    lo = a if lo is None else min(lo, a)
                    hi = b if hi is None else max(hi, b)
        if lo is None or hi is None:
            raise LookupError("none of the videos is stored")
        return lo, hi + timedelta(microseconds=1)

    def published_days(self, video_ids: Sequence[str]) -> set[date]:
        """UTC days the given videos were published on: the lake day partitions that hold them."""
        t = self.db.table("videos")
        days: set[date] = set()
        with self.db.connect() as conn:
            for chunk in chunks(list(video_ids)):
                days.update(
                    ts.date() for ts in conn.execute(select(t.c.published_at).where(t.c.video_id.in_(chunk))).scalars()
                )
        return days

    def uncompacted(
        self,
        before: datetime,
        domain: str | None = None,
        *,
        limit: int | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Hot embeddings published before ``before`` not yet written to the lake, in (published_at, video_id)
        order: the first ``limit`` of them after the key ``after`` when given (keyset pages)."""
        e, v = self.db.table("embeddings"), self.db.table("videos")
        q = (
            select(e.c.video_id, e.c.domain, e.c.published_at, e.c.vector, v.c.channel_id, v.c.views)
            .join(v, v.c.video_id == e.c.video_id)
            .where(e.c.compacted_at.is_(None), e.c.published_at < before)
            .order_by(e.c.published_at, e.c.video_id)
        )
        if domain:
            q = q.where(e.c.domain == domain)
        if after is not None:  # the first term bounds the index range (the planners do not take it from OR)
            q = q.where(
                e.c.published_at >= after[0],
                or_(e.c.published_at > after[0], e.c.video_id > after[1]),
            )
        if limit is not None:
            q = q.limit(limit)
        with self.db.connect() as conn:
            return [{**r._mapping, "vector": unpack(r.vector)} for r in conn.execute(q)]

    def mark_compacted(self, video_ids: Sequence[str], at: datetime, conn: Connection | None = None) -> None:
        t = self.db.table("embeddings")
        with self.db.writing(conn) as tx:
            for chunk in chunks(list(video_ids)):
                tx.execute(update(t).where(t.c.video_id.in_(chunk)).values(compacted_at=at))

    def evict_hot(self, before: datetime) -> int:
        """Drop hot rows already in the lake, published before ``before``, and refined.

        Driven from the hot table: a range scan of ``ix_embeddings_published``
        over rows older than ``before`` (what is left of them: the evictable
        ones and the few still waiting for compaction or refinement), each
        checked against its own classification by primary key. The cost
        follows the hot table, not the store's history.
        """
        e, c = self.db.table("embeddings"), self.db.table("classifications")
        refined = (
            select(c.c.video_id)
            .where(c.c.video_id == e.c.video_id, c.c.status == ClassificationStatus.REFINED)
            .exists()
        )
        with self.db.begin() as conn:
            res = conn.execute(e.delete().where(e.c.published_at < before, e.c.compacted_at.is_not(None), refined))
            return int(res.rowcount or 0)


def _first_of_each(videos: list[dict[str, Any]], ids: set[str]) -> set[int]:
    """Positions of the first occurrence of each id of ``ids`` in ``videos``."""
    seen: dict[str, int] = {}
    for i, v in enumerate(videos):
        if v["video_id"] in ids:
            seen.setdefault(v["video_id"], i)
    return set(seen.values())
