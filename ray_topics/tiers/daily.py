"""Tier 2 (daily): births from the rolling misfit pool, and dying/dead topics.

Per domain: the pool is every video of the last ``daily.pool_window_days``
whose confidence is below ``daily.misfit_confidence`` (or that fits no
topic), so a topic that grows slower than the threshold per day still
accumulates; when they are too few to cluster, the pool reaches back to hold
enough, up to ``daily.max_pool_window_days`` (:func:`pool_days`). Once the
pool holds more than ``min_pool_size`` videos it is micro-clustered (UMAP +
HDBSCAN on the stored embeddings, c-TF-IDF keywords: BERTopic's pipeline). A
cluster is born as a topic when its size exceeds ``min_cluster_size``, its
coherence (:func:`ray_topics.core.coherence.separability`) exceeds
``min_coherence``, and it is not the fringe of an existing topic; a born
cluster that is the return of a dead topic revives it instead, with its id
(:func:`ray_topics.core.lifecycle.returning`). Pool
members nearest to a newborn topic are reassigned to it, and so are the
window's other videos whose nearest topic it now is
(:func:`fitting_newborns`). Then other domains' recent births are offered as
guests, and a story's part too small for a birth here is born as their echo
(:mod:`ray_topics.tiers.echo`). With ``daily.settle_after_days`` set, the day that ended that many days
ago is settled: its videos go to the answer of their nearest videos of the domain, where they fit it
(:mod:`ray_topics.tiers.settle`).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ray_topics.config import DailyConfig
from ray_topics.core.birth import find_candidates
from ray_topics.core.index import CentroidIndex
from ray_topics.core.lifecycle import (
    lifecycle_changes,
    make_topic,
    model_of,
    reassign,
    returned_details,
    returning,
    revived,
)
from ray_topics.core.plan import Plan
from ray_topics.core.router import similarity_stats
from ray_topics.core.sampling import stable_pick
from ray_topics.core.text import video_text
from ray_topics.core.timeutil import as_utc
from ray_topics.core.types import LIVE_STATUSES, EventType, Topic, TopicEvent, TopicStatus
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers.echo import echo_births
from ray_topics.tiers.job import has_floor, run_tier
from ray_topics.tiers.settle import settle
from ray_topics.tiers.stories import Fitting

__all__ = ["first_floor", "fitting_newborns", "misfit_pool", "plan_daily", "pool_days", "run_daily", "thresholds"]

JOB = "daily"


def thresholds(cfg: DailyConfig, daily_volume: float) -> tuple[int, int]:
    """(min_pool_size, min_cluster_size) in force for a domain with this mean daily volume.

    Absolute by default; with ``min_cluster_fraction`` set, the cluster size
    is ``max(min_cluster_floor, fraction * daily_volume)`` and the pool size
    scales by the same factor, so the rules mean the same at any volume.
    """
    if cfg.min_cluster_fraction is None:
        return cfg.min_pool_size, cfg.min_cluster_size
    cluster = max(cfg.min_cluster_floor, round(cfg.min_cluster_fraction * daily_volume))
    pool = max(cluster + 1, round(cfg.min_pool_size * cluster / cfg.min_cluster_size))
    return pool, cluster


def pool_days(cfg: DailyConfig, as_of: datetime, needed_since: datetime | None) -> int:
    """Whole days the misfit pool ending at ``as_of`` spans.

    ``needed_since`` is when the oldest misfit the pool needs was published: the ``min_pool + 1``-th
    newest of the last ``max_pool_window_days`` (None when they hold fewer). The pool spans
    ``pool_window_days``, or as many more days as reach back to it, at most ``max_pool_window_days``:
    misfits arriving a few a day (a quiet domain, or a busy one whose topics answer nearly every
    video) would otherwise never fill a pool, and a story of them would never be born, however long
    it lasted.

    Example:
        >>> from ray_topics.config import load_config
        >>> cfg = load_config().daily  # pool_window_days 7, max_pool_window_days 28
        >>> as_of = datetime(2026, 3, 1)
        >>> [pool_days(cfg, as_of, as_of - timedelta(days=d)) for d in (2, 7, 9.5, 40)], pool_days(cfg, as_of, None)
        ([7, 7, 10, 28], 7)
    """
    if needed_since is None:
        return cfg.pool_window_days
    need = math.ceil((as_of - needed_since) / timedelta(days=1))
    return max(cfg.pool_window_days, min(need, cfg.max_pool_window_days))


def misfit_pool(rt: Runtime, domain: str, as_of: datetime, min_pool: int) -> tuple[int, list[dict[str, Any]]]:
    """(days, misfits) of the domain's pool ending at ``as_of`` (see :func:`pool_days`).

    The pool window's misfits when they are more than ``min_pool``. Otherwise one query finds how far
    back the ``min_pool + 1``-th newest misfit lies, and the window reaching it is read; when even the
    longest window holds too few, the pool window's misfits are kept (too few to cluster).
    """
    cfg = rt.cfg.daily
    days, below = cfg.pool_window_days, cfg.misfit_confidence
    pool = rt.store.classifications.window(domain, as_of - timedelta(days=days), as_of, misfit_below=below)
    if len(pool) > min_pool or cfg.max_pool_window_days <= days:
        return days, pool
    longest = as_of - timedelta(days=cfg.max_pool_window_days)
    needed_since = rt.store.classifications.nth_newest_misfit(domain, longest, as_of, below, min_pool + 1)
    if needed_since is None:
        return days, pool
    days = pool_days(cfg, as_of, needed_since)
    return days, rt.store.classifications.window(domain, as_of - timedelta(days=days), as_of, misfit_below=below)


def plan_daily(rt: Runtime, domain: str, as_of: datetime) -> Plan:
    """Decide births, deaths and reassignments of one domain for the day ending at ``as_of``."""
    cfg = rt.cfg.daily
    plan = Plan(domain)
    topics = rt.store.topics.list(domain)
    live = [t for t in topics if t.live]
    window = (as_of - timedelta(days=cfg.pool_window_days), as_of)
    volume = rt.store.activity.domain_volume(domain, *window) / cfg.pool_window_days
    min_pool, min_cluster = thresholds(cfg, volume)
    days, pool = misfit_pool(rt, domain, as_of, min_pool)
    start = as_of - timedelta(days=days)
    plan.stats = {"pool": len(pool), "pool_days": days, "min_pool": min_pool, "min_cluster": min_cluster, "births": 0}
    new_topics: list[Topic] = []
    core = None  # the pool's videos the births take and fit: voters of the settled day
    if len(pool) > min_pool:
        ids, vecs, unusable = rt.usable_vectors(domain, [r["video_id"] for r in pool], (start, as_of))
        if unusable:  # set aside by refine (their embedding is missing or broken): no part of a birth
            usable = set(ids)
            pool = [r for r in pool if r["video_id"] in usable]
            plan.stats["unusable"] = len(unusable)
        docs = [video_text(r["title"], r["description"], r["tags"], rt.cfg.embedding.max_chars) for r in pool]
        existing = np.stack([t.centroid for t in live]) if live else np.zeros((0, vecs.shape[1]), np.float32)
        cands = find_candidates(
            vecs,
            docs,
            existing,
            backend=rt.backend,
            min_cluster_size=min_cluster,
            min_coherence=cfg.min_coherence,
            max_similarity_to_existing=cfg.max_similarity_to_existing,
            split_min_fraction=rt.cfg.monthly.split_min_fraction,
            top_n=rt.cfg.weekly.top_keywords,
            min_relative_cohesion=cfg.min_relative_cohesion,
            typical_cohesion=_typical_cohesion(rt, live),
            reference=_reference(rt, domain, *window, limit=len(pool)),
            edge_sigmas=rt.cfg.confidence.edge_sigmas,
            resolution=min(min_cluster, max(cfg.min_cluster_floor, round(cfg.cluster_resolution * min_cluster))),
            keywords_fn=rt.keywords,
        )
        number = max([t.number for t in topics], default=-1) + 1
        dead = [t for t in topics if t.status == TopicStatus.DEAD]
        upper_quantile = rt.cfg.weekly.calibration_upper_quantile
        for c in cands:
            if not c.born:
                continue
            times = [pool[i]["published_at"] for i in c.members]
            back = returning(dead, c.centroid, cfg.max_similarity_to_existing)
            if back is not None:  # a dead story returns: same id, re-centred (core.lifecycle.returning)
                dead.remove(back)
                members, last = vecs[c.members], max(times)
                t = revived(
                    back,
                    members,
                    c.keywords,
                    as_of,
                    last_seen_at=last,
                    upper_quantile=upper_quantile,
                    coherence=c.coherence,
                )
                new_topics.append(t)
                plan.stats["returned"] = plan.stats.get("returned", 0) + 1
                plan.events.append(
                    TopicEvent.of(
                        t,
                        EventType.REVIVAL,
                        as_of,
                        size=len(c.members),
                        **returned_details(back, c.keywords),
                    )
                )
                continue
            t = make_topic(
                domain,
                number,
                vecs[c.members],
                c.keywords,
                as_of,
                upper_quantile=upper_quantile,
                coherence=c.coherence,
                last_seen_at=max(times),
            )
            number += 1
            new_topics.append(t)
            plan.events.append(
                TopicEvent.of(
                    t,
                    EventType.BIRTH,
                    as_of,
                    size=len(c.members),
                    coherence=round(c.coherence, 4),
                    keywords=c.keywords[:5],
                    first_seen_at=min(times).isoformat(),
                )
            )
        plan.stats["candidates"] = [
            {
                "size": len(c.members),
                "coherence": round(c.coherence, 3),
                "cohesion": round(c.cohesion, 3),
                "born": c.born,
                "reason": c.reason,
            }
            for c in cands
        ]
        if new_topics:
            index = model_of(domain, live + new_topics, vecs.shape[1]).index(**rt.confidence)
            newborn = {t.topic_id for t in new_topics}
            plan.reassign = reassign(ids, vecs, index, newborn, as_of)
            core = _fitting_core(domain, pool, vecs, plan.reassign, cfg.misfit_confidence)
            fitting = fitting_newborns(rt, domain, index, newborn, (start, as_of), skip=set(ids))
            plan.reassign += fitting
            plan.stats["moved_to_newborns"] = {"misfits": len(plan.reassign) - len(fitting), "others": len(fitting)}
    plan.stats["births"] = len(new_topics) - plan.stats.get("returned", 0)
    first_free = max([t.number for t in topics + new_topics], default=-1) + 1
    echoes = echo_births(rt, domain, live + new_topics, window, first_free)
    new_topics += echoes.topics
    plan.events += echoes.events
    plan.reassign += echoes.reassign
    plan.stats["echo"] = echoes.stats
    # a topic is seen by videos that fit it, not by strays near its edge
    seen = rt.store.classifications.last_seen(domain, *window, min_confidence=cfg.misfit_confidence)
    newer = rt.store.runs.last_success(JOB, domain)
    if newer is not None and as_utc(newer) > as_of:  # a past day run after a newer one (a retry, --force): it
        changed, events = [], []  # knows less than that run, whose statuses stand (no revival before a dying)
        plan.stats["lifecycle_after"] = as_utc(newer).isoformat()
    else:
        changed, events = lifecycle_changes(
            live, seen, as_of, dying_after=cfg.dying_after_days, dead_after=cfg.dead_after_days
        )
    plan.topics = new_topics + changed
    plan.events += events
    plan.stats["lifecycle"] = {e.topic_id: str(e.type) for e in events}
    committed = list({t.topic_id: t for t in live + plan.topics}.values())  # the model this plan commits
    moved = {r["video_id"]: r["topic_id"] for r in plan.reassign}
    settled, stats = settle(rt, domain, committed, moved, as_of, core)
    plan.reassign += settled
    if stats:
        plan.stats["settled"] = stats
    plan.routing, plan.routing_first = first_floor(rt, domain, as_of), True
    return plan


def _fitting_core(
    domain: str, pool: list[dict[str, Any]], vecs: np.ndarray, taken: list[dict[str, Any]], fit: float
) -> Fitting:
    """The pool's videos (rows ``pool``, embeddings ``vecs``) that the births took (rows ``taken``) and fit."""
    rows = {r["video_id"]: r for r in taken if r["confidence"] >= fit}
    at = [i for i, r in enumerate(pool) if r["video_id"] in rows]
    ids = [pool[i]["video_id"] for i in at]
    return Fitting(domain, ids, [pool[i]["published_at"] for i in at], [rows[v]["topic_id"] for v in ids], vecs[at])


def fitting_newborns(
    rt: Runtime,
    domain: str,
    index: CentroidIndex,
    newborn: set[str],
    window: tuple[datetime, datetime],
    skip: set[str],
) -> list[dict[str, Any]]:
    """The window's videos, other than ``skip`` (the misfit pool), whose nearest topic is now a newborn one.

    A story's first videos arrive before its topic exists and are classified into the nearest broad topic, often
    with confidence; its later ones are misfits until the topic is born from them. Moving only the misfits would
    leave the story in two topics. A newborn therefore takes every video of the pool's window (stretched with the
    pool, :func:`pool_days`) that Tier 1 would have given it had it existed (its nearest accepted topic now), as the
    monthly job does for its reclassified rows. The window's ids are streamed and their embeddings read
    ``monthly.reassign_chunk`` at a time, so memory stays bounded on a busy domain (time does not: the whole window
    is read on a day with a birth; ``benchmarks/newborn_cost.py``).
    """
    out: list[dict[str, Any]] = []
    for ids, vecs in rt.window_vectors(domain, window, skip):  # an unreadable row stays as it is
        out.extend(reassign(ids, vecs, index, newborn, window[1]))
    return out


def first_floor(rt: Runtime, domain: str, as_of: datetime) -> tuple[float, float, int] | None:
    """A domain's first routing floor, from its routing exemplars, when the weekly job has measured none yet.

    Until a domain has a floor it takes no uncategorised video (they go to the fallback domain), and the
    weekly job measures floors once a week; a stream's first days would put every story's uncategorised
    videos into the fallback domain, where they are born again as duplicates. The exemplars are labelled
    videos of the domain, kept hourly (:mod:`ray_topics.tiers.exemplars`), so the first daily run with
    ``domains.floor_min_videos`` of them measures the floor against the current prototype; the weekly job
    re-measures it from then on. None: the domain has a floor, is the fallback, or has too few exemplars.
    The commit writes it only if the domain still has no floor then (a weekly run may commit first).
    """
    d = rt.cfg.domains
    if d.fallback is None or domain == d.fallback or has_floor(rt.cfg, rt.store, domain):
        return None
    proto = rt.store.prototypes.all().get(domain)
    vecs, _domains = rt.store.exemplars.window(as_of - timedelta(days=d.vote_window_days), domain=domain)
    if proto is None or vecs is None or len(vecs) < d.floor_min_videos:
        return None
    return similarity_stats(vecs, proto[0])


def _typical_cohesion(rt: Runtime, live: list[Topic]) -> float | None:
    """Median members' cosine of the domain's live topics; of every domain's while it has none."""
    pool = live or rt.store.topics.list(statuses=LIVE_STATUSES)
    return float(np.median([t.sim_mean for t in pool])) if pool else None


def _reference(rt: Runtime, domain: str, start: datetime, end: datetime, limit: int) -> np.ndarray:
    """Up to ``limit`` videos of the window that fit a topic: this domain's, or any domain's while it has none."""
    thr = rt.cfg.daily.misfit_confidence
    for dom in [domain, *[d for d in rt.cfg.domains.names if d != domain]]:
        rows = rt.store.classifications.window(dom, start, end, with_text=False)
        ids = stable_pick([r["video_id"] for r in rows if r["topic_id"] and r["confidence"] >= thr], limit)
        if ids:
            return rt.usable_vectors(dom, ids, (start, end))[1]
    return np.zeros((0, rt.cfg.embedding.dim), np.float32)


def run_daily(rt: Runtime, as_of: datetime, *, force: bool = False) -> dict[str, Any]:
    """The daily job over every domain (local or Ray Data, per ``execution.engine``)."""
    return run_tier(rt, JOB, plan_daily, as_of, rt.cfg.daily.pool_window_days, force=force)
