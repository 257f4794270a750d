"""Imported BERTopic topic ids: which topic of ours each BERTopic topic became, per domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from ray_topics.storage.db import Database

__all__ = ["BertopicIds"]


class BertopicIds:
    """Repository of ``bertopic_ids``: one row per (domain, BERTopic topic id), written by an import."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        domain: str,
        mapping: dict[int, str],
        representations: dict[int, list[tuple[str, float]]],
        source: str,
        at: datetime,
        conn: Connection | None = None,
    ) -> None:
        """Record ``mapping`` (BERTopic id -> our topic id) of one domain, with each topic's representation."""
        rows = [
            {
                "domain": domain,
                "bertopic_id": int(k),
                "topic_id": tid,
                "source": source,
                "imported_at": at,
                "representation": [[str(w), float(s)] for w, s in representations.get(k, [])],
            }
            for k, tid in sorted(mapping.items())
        ]
        with self.db.writing(conn) as tx:
            self.db.upsert(tx, "bertopic_ids", ["domain", "bertopic_id"], rows)

    def of_domain(self, domain: str | None = None) -> list[dict[str, Any]]:
        """Stored rows, by domain and BERTopic id (of one domain if given)."""
        t = self.db.table("bertopic_ids")
        q = select(t).order_by(t.c.domain, t.c.bertopic_id)
        if domain:
            q = q.where(t.c.domain == domain)
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def by_topic(self, domain: str | None = None) -> dict[str, int]:
        """Our topic id -> the BERTopic id it was imported from."""
        return {r["topic_id"]: int(r["bertopic_id"]) for r in self.of_domain(domain)}
