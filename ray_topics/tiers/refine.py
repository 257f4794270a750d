"""Refine (hourly): reclassify preliminary answers with the newest model; compact closed hours into the lake."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ray_topics.core.lifecycle import reclassified
from ray_topics.core.timeutil import floor_hour
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.aging import LAKE_LEASE
from ray_topics.storage.runs import ALL_DOMAINS, once
from ray_topics.tiers.job import commit_lock
from ray_topics.tiers.realtime import DomainClassifier

__all__ = ["DAY_LOOKBACK", "closed_days", "compact", "refine_domain", "run_refine"]

DAY_LOOKBACK = 2  # closed days every run checks for hour files to compact, besides those it wrote to


def refine_domain(rt: Runtime, models: DomainClassifier, domain: str, as_of: datetime) -> int:
    """Drain a domain's pending queue (published before ``as_of``) in batches; returns rows refined.

    Each batch is written under the domain's commit lock, and only if the model it was classified
    with is still the domain's newest: an answer from a model a merge has just replaced could name a
    topic that no longer exists, and nothing would ever look at the row again.
    """
    done = 0
    while True:
        rows = rt.store.classifications.pending(domain, rt.cfg.refine.batch_size, published_before=as_of)
        if not rows:
            return done
        ids = [r["video_id"] for r in rows]
        vecs = rt.vectors(domain, ids)
        model, index = models.model(domain)
        written = rt.store.classifications.update_pending(
            reclassified(ids, index.search(vecs), as_of, model_version=model.name),
            {r["video_id"]: r["model_version"] for r in rows},
            lock=commit_lock(domain),
            still_newest=lambda conn, v=model.version: rt.store.models.latest_version(domain, conn) == v,
        )
        if not written:  # a job published a newer model of the domain meanwhile: this batch again, with it
            models.refresh()
            continue
        done += len(rows)


def closed_days(cutoff: datetime, touched: Iterable[date] = ()) -> list[date]:
    """Days whose every hour ends by ``cutoff``: those in ``touched``, plus the last :data:`DAY_LOOKBACK`.

    The lookback catches a day whose last rows were compacted by an earlier
    run (or whose compaction a crash interrupted); a day it misses keeps its
    hour files, which readers still read correctly.
    """
    last = cutoff.astimezone(UTC).date()  # the day of cutoff is open unless cutoff is its midnight
    recent = {last - timedelta(days=i) for i in range(1, DAY_LOOKBACK + 1)}
    return sorted({d for d in touched if d < last} | recent)


def compact(rt: Runtime, as_of: datetime) -> dict[str, int]:
    """Write hot embeddings of closed hours (before ``floor_hour(as_of)``) to the lake, then evict old hot rows.

    Days that are closed once those hours are in the lake get their hour
    files rewritten into one file each (:meth:`Lake.compact_days`). Holds the
    lake's lease (:data:`ray_topics.storage.aging.LAKE_LEASE`) throughout.
    """
    with rt.store.leases.hold(LAKE_LEASE, "refine's compaction"):
        return _compact(rt, as_of)


def _compact(rt: Runtime, as_of: datetime) -> dict[str, int]:
    cutoff = floor_hour(as_of)
    rows = rt.store.videos.uncompacted(before=cutoff)
    groups: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["domain"], floor_hour(r["published_at"]))].append(r)
    for (domain, hour), members in sorted(groups.items()):
        rt.lake.append_hour(domain, hour, members)
        rt.store.videos.mark_compacted([m["video_id"] for m in members], at=as_of)
    days = rt.lake.compact_days(closed_days(cutoff, {hour.date() for _d, hour in groups}))
    evicted = rt.store.videos.evict_hot(before=as_of - timedelta(days=rt.cfg.refine.hot_retention_days))
    return {"compacted": len(rows), "hours": len(groups), "days": len(days), "evicted": evicted}


def run_refine(rt: Runtime, as_of: datetime, *, force: bool = False) -> dict[str, Any]:
    """The hourly job: refine every domain, then compact. Idempotent per ``as_of``."""
    models = DomainClassifier(rt.registry, rt.confidence)
    models.refresh()

    def work(_run_id: int) -> tuple[dict[str, Any], None]:
        refined = {d: refine_domain(rt, models, d, as_of) for d in rt.cfg.domains.names}
        return {"refined": refined, **compact(rt, as_of)}, None

    return once(rt.store.runs, "refine", ALL_DOMAINS, (as_of - timedelta(hours=1), as_of), work, force=force)
