"""Tier 3 (weekly): evolve each topic from a bounded sample of the week's members.

Per domain: the week is read from a bounded sample, up to
``weekly.max_members_per_topic`` members per topic picked by stable hash
(:func:`week_sample`; why the cap is sound: docs/concepts.md, "Drift").
The drift rule itself (:func:`ray_topics.core.drift.evolve_topics`) moves
each topic's centroid a bounded step towards its week and records drift
events; keywords are refreshed from each topic's newest members
(:func:`topic_keywords`); the domain's routing prototype moves towards the
week's count-weighted mean (:func:`ray_topics.core.drift.domain_mean`).
"""

from __future__ import annotations

import dataclasses
from contextlib import closing
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ray_topics.core.drift import NO_TOPIC, bounded_update, domain_mean, evolve_topics
from ray_topics.core.plan import Plan
from ray_topics.core.router import similarity_stats
from ray_topics.core.sampling import bottom_k
from ray_topics.core.text import video_text
from ray_topics.core.types import LIVE_STATUSES, EventType, Topic
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers.job import run_tier

__all__ = ["plan_weekly", "rewritten_topics", "run_weekly", "topic_keywords", "week_sample", "week_sample_ids"]

OTHER_DOMAINS = "~"


def topic_keywords(rt: Runtime, domain: str, topics: list[Topic], as_of: datetime) -> dict[str, list[str]]:
    """c-TF-IDF keywords of each topic over its most recent members, against the window's misfits.

    Members are the ``weekly.keyword_max_docs`` newest videos of each topic in
    the last ``weekly.keyword_window_days``; the misfits of the same window
    (up to the same number) form one more class and the newest videos of the
    other domains (as many in all) another, so words common to the whole
    domain, or to every domain, are not anyone's keyword.
    """
    cfg = rt.cfg.weekly
    start = as_of - timedelta(days=cfg.keyword_window_days)
    ids: list[str] = []
    labels: list[str] = []
    for t in topics:
        got = rt.store.classifications.ranked(domain, start, as_of, "recent", cfg.keyword_max_docs, topic_id=t.topic_id)
        ids += got
        labels += [t.topic_id] * len(got)
    misfits = rt.store.classifications.ranked(domain, start, as_of, "low_confidence", cfg.keyword_max_docs)
    known = set(ids)
    misfits = [i for i in misfits if i not in known]
    ids += misfits
    labels += [NO_TOPIC] * len(misfits)
    # the newest videos of the other domains: words every domain uses ("said", a wire agency's name)
    # are then nobody's keyword, as in a fit over the whole corpus
    others = [d for d in rt.cfg.domains.names if d != domain]
    for other in others:
        got = rt.store.classifications.ranked(
            other, start, as_of, "recent", max(1, cfg.keyword_max_docs // len(others))
        )
        ids += got
        labels += [OTHER_DOMAINS] * len(got)
    if not ids:
        return {}
    text = {
        r["video_id"]: video_text(r["title"], r["description"], r["tags"], rt.cfg.embedding.max_chars)
        for r in rt.store.classifications.rows_for(ids)
    }
    docs = [text.get(i, "") for i in ids]
    kw = rt.keywords(docs, labels, top_n=cfg.top_keywords)
    return {k: v for k, v in kw.items() if k not in (NO_TOPIC, OTHER_DOMAINS) and v}


def week_sample(rt: Runtime, domain: str, as_of: datetime) -> dict[str | None, tuple[list[str], int]]:
    """Per group of the domain's week (a topic id; None: no topic): its sampled ids and its exact count.

    The window's (video_id, topic_id) rows are streamed from the store and
    each group keeps the ``weekly.max_members_per_topic`` ids of smallest
    stable hash, salted with the week's end date (:func:`bottom_k`): memory is
    groups x cap, and the same store gives the same sample. Groups come in a
    fixed order (no topic first), the ids of each in hash order.
    """
    cfg = rt.cfg.weekly
    # closing(): a failure while sampling ends the stream at once (each of its pages is a read of its own)
    with closing(
        rt.store.classifications.iter_window_ids(domain, as_of - timedelta(days=cfg.window_days), as_of)
    ) as rows:
        sample = bottom_k(rows, cfg.max_members_per_topic, salt=as_of.date().isoformat())
    return {g: sample[g] for g in sorted(sample, key=lambda g: (g is not None, g or ""))}


def plan_weekly(rt: Runtime, domain: str, as_of: datetime) -> Plan:
    """Decide one domain's weekly evolution from its week's sample (see module doc)."""
    cfg = rt.cfg.weekly
    start = as_of - timedelta(days=cfg.window_days)
    plan = Plan(domain)
    sample = week_sample(rt, domain, as_of)
    ids = [v for got, _n in sample.values() for v in got]
    assigned = [g for g, (got, _n) in sample.items() for _v in got]
    counts = {g: n for g, (_got, n) in sample.items()}
    live = rt.store.topics.list(domain, LIVE_STATUSES)
    plan.stats = {"videos": sum(counts.values()), "sampled": len(ids), "topics": len(live)}
    held = rewritten_topics(rt, domain)
    if held:  # their week's answers predate a merge or split whose requeue has not run: not their week
        live = [t for t in live if t.topic_id not in held]
        plan.stats["held_for_requeue"] = len(held)
    if not ids:
        return plan
    usable, vecs, unusable = rt.usable_vectors(domain, ids, (start, as_of))
    if unusable:  # set aside by refine (embedding missing or broken): no part of a topic's drift
        assigned = [g for v, g in zip(ids, assigned, strict=True) if v not in unusable]
        plan.stats["unusable"] = len(unusable)
    changed, events = evolve_topics(
        live,
        assigned,
        vecs,
        topic_keywords(rt, domain, live, as_of),
        as_of,
        drift_rate=cfg.drift_rate,
        drift_event_threshold=cfg.drift_event_threshold,
        min_members=cfg.min_members,
        upper_quantile=cfg.calibration_upper_quantile,
        counts=counts,
    )
    sizes = rt.store.classifications.topic_sizes(domain, [t.topic_id for t in changed])
    plan.topics = [dataclasses.replace(t, size=sizes.get(t.topic_id, t.size)) for t in changed]
    plan.events = events
    proto = rt.store.prototypes.all().get(domain)
    week_mean = domain_mean(vecs, assigned, counts)
    plan.prototype = (
        week_mean if proto is None else bounded_update(proto[0], week_mean, rt.cfg.domains.prototype_update_rate)[0]
    )
    plan.routing = labelled_similarity(rt, domain, usable, vecs, plan.prototype)
    plan.stats.update({"updated": len(changed), "drift_events": len(events)})
    return plan


def rewritten_topics(rt: Runtime, domain: str) -> set[str]:
    """The topics whose stored answers a monthly merge or split is still to rewrite: the split parents and the
    absorbed topics in the requeue backlog, and the survivors that absorbed them.

    Until the backlog is drained their week's rows still name the topics as they were before it (a
    split parent holds both halves): drifted on them, a weekly that ran between the monthly's commit
    and its requeue would undo the split or the survivor's re-centring.
    """
    pending = set(rt.store.backlog.topics(domain))
    if not pending:
        return pending
    merges = rt.store.topics.events(domain, [EventType.MERGE])
    return pending | {e["details"]["into"] for e in merges if e["topic_id"] in pending and "into" in e["details"]}


def labelled_similarity(
    rt: Runtime, domain: str, ids: list[str], vecs: np.ndarray, prototype: np.ndarray
) -> tuple[float, float, int] | None:
    """(mean, std, n) of the similarity to ``prototype`` of the sampled videos whose category maps to ``domain``.

    These are the domain's routing floor (:func:`ray_topics.core.router.routing_floor`): videos
    routed here by prototype are not counted, so the floor never follows its own choices. None
    (the last measure stays) for the fallback domain and for a week with fewer than
    ``domains.floor_min_videos`` labelled videos.
    """
    if domain == rt.cfg.domains.fallback:
        return None
    to_domain = rt.cfg.domains.category_map()
    cats = rt.store.videos.categories(ids)
    labelled = np.array([to_domain.get(str(cats.get(v) or "").lower()) == domain for v in ids], dtype=bool)
    if labelled.sum() < rt.cfg.domains.floor_min_videos:  # too few to measure: the last measure stays
        return None
    return similarity_stats(vecs[labelled], prototype)


def week_sample_ids(rt: Runtime, domain: str, as_of: datetime) -> list[str]:
    """The videos whose embeddings :func:`plan_weekly` reads: the week's sample (Ray Data reads them first).

    The Ray driver computes the sample here and the domain's task computes it
    again in :func:`plan_weekly` (a second scan of the week's ids, not of its
    embeddings): shipping every domain's sample to the tasks would cost more.
    The sample is deterministic, so both name the same ids; should a video be
    written or reclassified in between, the task's sample may differ by it, and
    ids Ray Data did not read come from the hot table or the lake as locally.
    """
    return [v for got, _n in week_sample(rt, domain, as_of).values() for v in got]


def run_weekly(rt: Runtime, as_of: datetime, *, force: bool = False) -> dict[str, Any]:
    """The weekly job over every domain (local or Ray Data, per ``execution.engine``)."""
    return run_tier(rt, "weekly", plan_weekly, as_of, rt.cfg.weekly.window_days, force=force, needs_fn=week_sample_ids)
