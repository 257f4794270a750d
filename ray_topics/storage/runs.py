"""Job runs and watermarks: every tier job runs through :func:`once`.

A window that already succeeded is not run again (idempotent re-runs); a
window whose earlier attempt died half-way is run again from the start; each
job's own writes are atomic per domain, so a restart loses and duplicates
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select, update

from ray_topics.storage.db import Database

__all__ = ["ALL_DOMAINS", "JobRuns", "once"]

log = logging.getLogger(__name__)

ALL_DOMAINS = "*"
RUNNING, SUCCEEDED = "running", "succeeded"


class JobRuns:
    """Repository of ``job_runs``: one row per (job, domain, window end)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, job: str, domain: str, window_end: datetime, conn: Connection | None = None) -> dict[str, Any] | None:
        t = self.db.table("job_runs")
        q = select(t).where(t.c.job == job, t.c.domain == domain, t.c.window_end == window_end)
        with self.db.reading(conn) as c:
            r = c.execute(q).first()
        return None if r is None else dict(r._mapping)

    def done(self, job: str, domain: str, window_end: datetime, conn: Connection | None = None) -> bool:
        """Whether this job's window ending at ``window_end`` already succeeded for the domain."""
        prev = self.get(job, domain, window_end, conn)
        return bool(prev and prev["status"] == SUCCEEDED)

    def start(self, job: str, domain: str, window_start: datetime, window_end: datetime, at: datetime) -> int:
        """Record a run as started (or restarted, when an earlier attempt died half-way); returns its id.

        One statement (an upsert on the window's key), so two runs of one window started at once
        share one row instead of one of them failing on the key.
        """
        t = self.db.table("job_runs")
        with self.db.begin() as conn:
            stmt = self.db.insert(conn, "job_runs")
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.job, t.c.domain, t.c.window_end],
                # a forced re-run of a finished window keeps its success until it succeeds again
                set_={
                    "started_at": stmt.excluded.started_at,
                    "status": case((t.c.status == SUCCEEDED, SUCCEEDED), else_=RUNNING),
                },
            ).returning(t.c.id)
            row = {
                "job": job,
                "domain": domain,
                "window_start": window_start,
                "window_end": window_end,
                "status": RUNNING,
                "started_at": at,
                "stats": {},
            }
            return int(conn.execute(stmt, row).scalar_one())

    def finish(self, run_id: int, stats: dict[str, Any], at: datetime, conn: Connection | None = None) -> None:
        t = self.db.table("job_runs")
        stmt = update(t).where(t.c.id == run_id).values(status=SUCCEEDED, finished_at=at, stats=stats)
        with self.db.writing(conn) as tx:
            tx.execute(stmt)

    def ids(self, job: str, window_end: datetime) -> list[int]:
        """Ids of the job's runs (every domain's) for the window ending at ``window_end``."""
        t = self.db.table("job_runs")
        with self.db.connect() as conn:
            return list(conn.execute(select(t.c.id).where(t.c.job == job, t.c.window_end == window_end)).scalars())

    def newest_success(self, job: str, conn: Connection | None = None) -> datetime | None:
        """The end of the newest window the job finished, for any domain (None: never)."""
        t = self.db.table("job_runs")
        # newest first on ix_runs_job_end, ending at the first success (SQLite's max() would read the job's runs)
        q = (
            select(t.c.window_end)
            .where(t.c.job == job, t.c.status == SUCCEEDED)
            .order_by(t.c.window_end.desc())
            .limit(1)
        )
        with self.db.reading(conn) as c:
            return c.execute(q).scalar_one_or_none()

    def last_success(self, job: str, domain: str) -> datetime | None:
        """The watermark: end of the latest window this job finished for this domain."""
        t = self.db.table("job_runs")
        q = select(func.max(t.c.window_end)).where(t.c.job == job, t.c.domain == domain, t.c.status == SUCCEEDED)
        with self.db.connect() as conn:
            return conn.execute(q).scalar_one_or_none()

    def all(self) -> list[dict[str, Any]]:
        t = self.db.table("job_runs")
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id))]


def once(
    runs: JobRuns,
    job: str,
    domain: str,
    window: tuple[datetime, datetime],
    work: Callable[[int], tuple[dict[str, Any], Callable[[Connection], None] | None]],
    *,
    force: bool = False,
    lock: str | None = None,
) -> dict[str, Any]:
    """Run ``work(run_id)`` for one job window unless it already succeeded.

    ``work`` computes without writing and returns ``(stats, write)``; ``write``
    (if any) is called inside the transaction that also marks the run
    succeeded, so the window's result and its watermark commit together.
    With ``lock``, that transaction first takes the named lock
    (:meth:`Database.lock`) and looks again whether another run finished the
    window meanwhile: then nothing is written and the window is answered as done.
    """
    start, end = window
    if not force and runs.done(job, domain, end):
        return _skipped(runs, job, domain, end)
    run_id = runs.start(job, domain, start, end, at=end)
    stats, write = work(run_id)
    with runs.db.begin() as conn:
        if lock is not None:
            runs.db.lock(conn, lock)
            if not force and runs.done(job, domain, end, conn):
                conn.rollback()
                return _skipped(runs, job, domain, end)
        if write is not None:
            write(conn)
        runs.finish(run_id, stats, at=end, conn=conn)
    return stats


def _skipped(runs: JobRuns, job: str, domain: str, end: datetime) -> dict[str, Any]:
    log.info("%s %s window ending %s already done; skipping", job, domain, end)
    return {**(runs.get(job, domain, end) or {}).get("stats", {}), "skipped": True}
