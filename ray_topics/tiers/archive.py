"""The archive job (daily): every lake partition to its storage class (hot, warm, cold) at ``as_of``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ray_topics.execution.runtime import Runtime, yield_cpu
from ray_topics.storage.runs import ALL_DOMAINS, once

__all__ = ["run_archive"]


def run_archive(rt: Runtime, as_of: datetime, *, force: bool = False) -> dict[str, Any]:
    """Move every lake partition to its storage class at ``as_of`` (:meth:`AgingLake.apply`); idempotent."""
    yield_cpu(rt.cfg.execution.job_niceness)  # batch work: Tier 1's replicas on this node go first

    def work(_run_id: int) -> tuple[dict[str, Any], None]:
        return rt.aging.apply(as_of), None

    return once(rt.store.runs, "archive", ALL_DOMAINS, (as_of - timedelta(days=1), as_of), work, force=force)
