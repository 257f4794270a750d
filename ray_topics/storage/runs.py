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

from sqlalchemy import Connection

from ray_topics.storage.store import Store

__all__ = ["ALL_DOMAINS", "done", "once"]

log = logging.getLogger(__name__)

ALL_DOMAINS = "*"


def once(
    store: Store,
    job: str,
    domain: str,
    window: tuple[datetime, datetime],
    work: Callable[[int], tuple[dict[str, Any], Callable[[Connection], None] | None]],
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Run ``work(run_id)`` for one job window unless it already succeeded.

    ``work`` computes without writing and returns ``(stats, write)``; ``write``
    (if any) is called inside the transaction that also marks the run
    succeeded, so the window's result and its watermark commit together.
    """
    start, end = window
    if not force and done(store, job, domain, end):
        log.info("%s %s window ending %s already done; skipping", job, domain, end)
        return {**(store.job_run(job, domain, end) or {}).get("stats", {}), "skipped": True}
    run_id = store.start_run(job, domain, start, end, at=end)
    stats, write = work(run_id)
    with store.begin() as conn:
        if write is not None:
            write(conn)
        store.finish_run(run_id, stats, at=end, conn=conn)
    return stats


def done(store: Store, job: str, domain: str, window_end: datetime) -> bool:
    """Whether this job's window ending at ``window_end`` already succeeded for the domain."""
    prev = store.job_run(job, domain, window_end)
    return bool(prev and prev["status"] == "succeeded")
