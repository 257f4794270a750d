"""Refine (hourly): reclassify preliminary answers with the newest model; rewrite the day's routing exemplars
(:mod:`ray_topics.tiers.exemplars`); compact closed hours into the lake."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ray_topics.core.lifecycle import reclassified
from ray_topics.core.timeutil import as_utc, floor_hour
from ray_topics.core.validation import InvalidVideo, validate_vector
from ray_topics.execution.runtime import Runtime, yield_cpu
from ray_topics.storage.aging import LAKE_LEASE
from ray_topics.storage.runs import ALL_DOMAINS, once
from ray_topics.tiers.exemplars import publish_exemplars
from ray_topics.tiers.job import commit_lock, what_failed
from ray_topics.tiers.realtime import DomainClassifier

__all__ = ["DAY_LOOKBACK", "Refined", "closed_days", "compact", "refine_domain", "refine_domains", "run_refine"]

log = logging.getLogger(__name__)

DAY_LOOKBACK = 2  # closed days every run checks for hour files to compact, besides those it wrote to
SET_ASIDE_EXAMPLES = 10  # ids (with the reason) a run's summary names per domain; the count covers all


@dataclass
class Refined:
    """What refining one domain did: rows requeued from the backlog, refined, set aside (and why, for the first few)."""

    requeued: int = 0
    refined: int = 0
    set_aside: int = 0
    examples: dict[str, str] = field(default_factory=dict)


def refine_domain(
    rt: Runtime, models: DomainClassifier, domain: str, as_of: datetime, *, whole_queue: bool = False
) -> Refined:
    """Requeue the domain's backlog, then drain its pending queue (published before ``as_of``) in batches.

    ``whole_queue``: every row pending when the queue is first read, however recent (the monthly job's
    pass after its merges: a merged topic's videos published after its ``as_of`` move too); videos
    Tier 1 adds meanwhile are left to the hourly refine, so the pass ends however busy the stream.

    The backlog (:mod:`ray_topics.storage.backlog`) holds the topics a monthly merge or split changed all
    the answers of; it is requeued ``refine.batch_size`` rows per transaction, so a monthly job that
    stopped before its own requeue is finished here.

    Each batch is written under the domain's commit lock, and only if the model it was classified
    with is still the domain's newest: an answer from a model a merge has just replaced could name a
    topic that no longer exists, and nothing would ever look at the row again.

    A row whose embedding cannot be read (missing, wrong dimension, not finite) is *set aside*:
    it keeps Tier 1's answer and leaves the queue, so one bad row neither stops the run nor comes
    back every hour; the count and a few ids with the reason go to the run's summary and the log.
    """
    out = Refined(requeued=rt.store.backlog.drain(domain, rt.cfg.refine.batch_size, commit_lock(domain)))
    until = as_of
    if whole_queue:
        newest = rt.store.classifications.newest_pending(domain)
        if newest is None:
            return out
        until = newest + timedelta(microseconds=1)
    while True:
        rows = rt.store.classifications.pending(domain, rt.cfg.refine.batch_size, published_before=until)
        if not rows:
            return out
        read = {r["video_id"]: r["model_version"] for r in rows}
        ids, vecs, bad = rt.usable_vectors(domain, list(read))
        if bad:
            out.set_aside += rt.store.classifications.set_aside({v: read[v] for v in bad})
            for v, why in list(bad.items())[:SET_ASIDE_EXAMPLES]:
                out.examples.setdefault(v, why)
            log.warning("refine %s: %d rows set aside, e.g. %s", domain, len(bad), next(iter(bad.items())))
        if not ids:
            continue
        model, index = models.model(domain)
        written = rt.store.classifications.update_pending(
            reclassified(ids, index.search(vecs), as_of, model_version=model.name),
            {v: read[v] for v in ids},
            lock=commit_lock(domain),
            still_newest=lambda conn, v=model.version: rt.store.models.latest_version(domain, conn) == v,
        )
        if not written:  # a job published a newer model of the domain meanwhile: this batch again, with it
            models.refresh()
            continue
        out.refined += len(ids)


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
    compacted, unreadable = 0, 0
    hours: set[tuple[str, datetime]] = set()
    touched: set[date] = set()
    after = None
    # a page at a time (refine.compact_page_rows): an hour of a busy stream is one page, a catch-up of days
    # after an outage holds one page in memory, not every hot row it left
    while page := rt.store.videos.uncompacted(before=cutoff, limit=rt.cfg.refine.compact_page_rows, after=after):
        after = (page[-1]["published_at"], page[-1]["video_id"])
        rows, bad = _readable(page, rt.cfg.embedding.dim)
        unreadable += len(bad)
        groups: dict[tuple[str, date], list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            groups[(r["domain"], as_utc(r["published_at"]).date())].append(r)
        for (domain, day), members in sorted(groups.items()):  # a compacted day's file rewritten once a page
            rt.lake.append_day(domain, day, members)
            rt.store.videos.mark_compacted([m["video_id"] for m in members], at=as_of)
        compacted += len(rows)
        hours |= {(r["domain"], floor_hour(r["published_at"])) for r in rows}
        touched |= {day for _d, day in groups}
    days = rt.lake.compact_days(closed_days(cutoff, touched))
    evicted = rt.store.videos.evict_hot(before=as_of - timedelta(days=rt.cfg.refine.hot_retention_days))
    out = {"compacted": compacted, "hours": len(hours), "days": len(days), "evicted": evicted}
    return {**out, "not_compacted": unreadable} if unreadable else out


def _readable(rows: list[dict[str, Any]], dim: int) -> tuple[list[dict[str, Any]], list[str]]:
    """(hot rows whose embedding can be written to the lake, ids of those that cannot).

    An unreadable row stays hot and uncompacted (so never evicted), and is counted in every run's
    summary until someone deletes or repairs it; it never stops the compaction of the others.
    """
    good, bad = [], []
    for r in rows:
        try:
            validate_vector(r["vector"], dim)
            good.append(r)
        except InvalidVideo as exc:
            bad.append(r["video_id"])
            log.warning("compaction: video %s stays hot: %s", r["video_id"], exc.message)
    return good, bad


def refine_domains(
    rt: Runtime,
    models: DomainClassifier,
    domains: Sequence[str],
    as_of: datetime,
    *,
    whole_queue: bool = False,
    job: str = "refine",
) -> tuple[dict[str, Refined], dict[str, str]]:
    """:func:`refine_domain` for each of ``domains``: (what each did, {domain: its error} of those that failed).

    One domain's failure does not hold back the others: its traceback goes to the log, its first line
    to the run's summary (:func:`_what_failed`), and the next run drains its queue again.
    """
    done: dict[str, Refined] = {}
    failed: dict[str, str] = {}
    for d in domains:
        try:
            done[d] = refine_domain(rt, models, d, as_of, whole_queue=whole_queue)
        except Exception as exc:  # one domain's failure must not hold back the others
            log.exception("%s: refining %s failed", job, d)
            failed[d] = what_failed(exc)
    return done, failed


def run_refine(rt: Runtime, as_of: datetime, *, force: bool = False) -> dict[str, Any]:
    """The hourly job: refine every domain, then compact. Idempotent per ``as_of``.

    A domain that fails is named under ``failed`` in the summary and the others, compaction and
    eviction go on; the next hour's run drains that domain's queue again (the CLI exits non-zero).
    """
    yield_cpu(rt.cfg.execution.job_niceness)  # batch work: Tier 1's replicas on this node go first
    models = DomainClassifier(rt.registry, rt.confidence)
    models.refresh()

    def work(_run_id: int) -> tuple[dict[str, Any], None]:
        done, failed = refine_domains(rt, models, rt.cfg.domains.names, as_of)
        try:  # the day's labelled videos so far, for routing by neighbours
            exemplars = publish_exemplars(rt, as_of)
        except Exception as exc:  # routers keep the window they have; the next run rewrites the day
            log.exception("refine: routing exemplars failed")
            exemplars, failed["exemplars"] = {}, what_failed(exc)
        stats: dict[str, Any] = {
            "refined": {d: r.refined for d, r in done.items()},
            "requeued": {d: r.requeued for d, r in done.items() if r.requeued},
            "exemplars": exemplars,
            "set_aside": {d: r.set_aside for d, r in done.items() if r.set_aside},
            "set_aside_examples": {v: why for r in done.values() for v, why in r.examples.items()},
            **compact(rt, as_of),
        }
        if failed:
            stats["failed"] = failed
        return stats, None

    return once(rt.store.runs, "refine", ALL_DOMAINS, (as_of - timedelta(hours=1), as_of), work, force=force)
