"""Tier 4 (monthly): recluster a representative sample, align ids, merge, split, prune.

Per domain:

1. build the sample (:mod:`ray_topics.tiers.sample`) and load only its embeddings;
2. recluster it (UMAP + HDBSCAN, the configured backend: cuML on GPU nodes);
3. align new clusters to live topics by maximum-weight matching on centroid
   cosine (``align_threshold``): a matched cluster refreshes its topic, which
   keeps its id; an unmatched cluster passing the birth rule is born, or
   revives the dead topic it is the return of
   (:func:`~ray_topics.core.lifecycle.returning`); an unmatched topic keeps
   its id (the daily tier decides when it dies);
4. merge live topics whose centroids are closer than ``merge_threshold``
   (the smaller is absorbed, its members move to the larger);
5. split a topic whose sampled members form two or more clusters, each at
   least ``split_min_fraction`` of it (the largest part keeps the id);
6. dead topics are left out of the published model (pruned).

Every change is a topic event with lineage (``related``), and one new model
version is published per domain.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import numpy as np

from ray_topics.core.birth import birth_verdict
from ray_topics.core.clustering import align, find_merges, find_splits
from ray_topics.core.coherence import cohesion, separability
from ray_topics.core.lifecycle import (
    make_topic,
    model_of,
    recentred,
    reclassified,
    returned_details,
    returning,
    revived,
)
from ray_topics.core.plan import Plan
from ray_topics.core.sampling import union_capped
from ray_topics.core.text import video_text
from ray_topics.core.types import LIVE_STATUSES, EventType, Topic, TopicEvent, TopicStatus
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers.job import run_tier
from ray_topics.tiers.realtime import DomainClassifier
from ray_topics.tiers.refine import refine_domains
from ray_topics.tiers.sample import lookback_days, monthly_sample

__all__ = ["plan_monthly", "run_monthly", "sample_ids"]


class _Work:
    """State of one domain's consolidation while it is being decided (topics are replaced, never changed)."""

    def __init__(self, domain: str, as_of: datetime, topics: list[Topic], upper_q: float, top_n: int) -> None:
        self.domain, self.as_of, self.upper_q, self.top_n = domain, as_of, upper_q, top_n
        self.live = [t for t in topics if t.live]
        self.dead = [t for t in topics if t.status == TopicStatus.DEAD]
        self.number = max([t.number for t in topics], default=-1) + 1
        self.changed: dict[str, Topic] = {}
        self.newborn: list[Topic] = []
        self.events: list[TopicEvent] = []
        self.absorbed: dict[str, str] = {}
        self.members: dict[str, np.ndarray] = {}  # the sampled members a topic was decided on in this run

    def current(self, t: Topic) -> Topic:
        """The newest value of ``t`` decided so far."""
        return self.changed.get(t.topic_id, t)

    def remaining(self) -> list[Topic]:
        """Current values of the live and newborn topics not absorbed by a merge."""
        return [self.current(t) for t in self.live + self.newborn if t.topic_id not in self.absorbed]

    def decided(self) -> list[Topic]:
        """Every topic to write: the changed ones, then the newborn ones not changed since."""
        return list(self.changed.values()) + [t for t in self.newborn if t.topic_id not in self.changed]

    def requeue(self) -> list[str]:
        """Topics whose every stored answer changes: those absorbed by a merge, and the parents of splits."""
        parents = {e.topic_id for e in self.events if e.type == EventType.SPLIT and "into" in e.details}
        return sorted(set(self.absorbed) | parents)

    def event(self, topic_id: str, kind: EventType, related: list[str] | None = None, **details: Any) -> None:
        self.events.append(TopicEvent(self.domain, topic_id, kind, self.as_of, list(related or []), details))

    def refresh(self, t: Topic, members: np.ndarray, keywords: list[str]) -> None:
        """Re-centre ``t`` on ``members`` and recalibrate; the id is kept."""
        self.changed[t.topic_id] = recentred(
            self.current(t), members, keywords, self.as_of, upper_quantile=self.upper_q
        )
        self.members[t.topic_id] = members

    def born(self, members: np.ndarray, keywords: list[str], last_seen: datetime, coherence: float | None) -> Topic:
        t = make_topic(
            self.domain,
            self.number,
            members,
            keywords,
            self.as_of,
            upper_quantile=self.upper_q,
            coherence=coherence,
            born_at=self.as_of,
            last_seen_at=last_seen,
        )
        self.number += 1
        self.newborn.append(t)
        self.members[t.topic_id] = members
        return t

    def revive(
        self, dead: Topic, members: np.ndarray, keywords: list[str], last_seen: datetime, coherence: float | None
    ) -> Topic:
        """Dead topic ``dead`` returns with ``members`` (:func:`ray_topics.core.lifecycle.returning`)."""
        t = revived(
            dead,
            members,
            keywords,
            self.as_of,
            last_seen_at=last_seen,
            upper_quantile=self.upper_q,
            coherence=coherence,
        )
        self.dead.remove(dead)
        self.newborn.append(t)
        self.members[t.topic_id] = members
        return t


def plan_monthly(rt: Runtime, domain: str, as_of: datetime) -> Plan:
    """Decide one domain's consolidation (see module doc)."""
    cfg, dcfg = rt.cfg.monthly, rt.cfg.daily
    plan = Plan(domain)
    w = _Work(
        domain,
        as_of,
        rt.store.topics.list(domain),
        rt.cfg.weekly.calibration_upper_quantile,
        rt.cfg.weekly.top_keywords,
    )
    strata = _strata(rt, domain, as_of)
    ids = union_capped(strata, cfg.max_sample)
    plan.stats = {"sample": len(ids), "strata": {k: len(v) for k, v in strata.items()}}
    if len(ids) < 2 * dcfg.min_cluster_floor:
        return plan
    rows = rt.store.classifications.rows_for(ids)
    _usable, vecs, unusable = rt.usable_vectors(domain, [r["video_id"] for r in rows])
    if unusable:  # set aside by refine (embedding missing or broken): not re-clustered
        rows = [r for r in rows if r["video_id"] not in unusable]
        plan.stats["unusable"] = len(unusable)
    docs = [video_text(r["title"], r["description"], r["tags"], rt.cfg.embedding.max_chars) for r in rows]
    assigned = np.array([r["topic_id"] or "" for r in rows], dtype=object)
    misfit = np.array([r["topic_id"] is None or r["confidence"] < dcfg.misfit_confidence for r in rows])
    seen = [r["published_at"] for r in rows]

    _split(rt, w, vecs, docs, assigned)
    labels = rt.backend.fit_predict(vecs, max(dcfg.min_cluster_floor, int(cfg.recluster_min_fraction * len(rows))))
    keys = [c for c in sorted(set(labels.tolist())) if c >= 0]
    keywords = rt.keywords(docs, labels.tolist(), top_n=w.top_n)
    clusters = [np.flatnonzero(labels == c) for c in keys]
    cents = np.stack([cohesion(vecs[c])[0] for c in clusters]) if clusters else np.zeros((0, vecs.shape[1]))
    targets = [w.current(t) for t in w.live + w.newborn]
    old = np.stack([t.centroid for t in targets]) if targets else np.zeros((0, vecs.shape[1]), np.float32)
    matched = align(cents, old, cfg.align_threshold)
    split = {e.topic_id for e in w.events if e.type == EventType.SPLIT}
    for ci, ti in matched.items():
        if targets[ti].topic_id not in split:
            w.refresh(targets[ti], vecs[clusters[ci]], keywords.get(keys[ci], []))
    typical = float(np.median([w.current(t).sim_mean for t in w.live])) if w.live else None
    born_now: list[np.ndarray] = []  # this run's births count as existing for the next (the fringe rule)
    for ci, idx in enumerate(clusters):
        # a new cluster is born only from videos that fit no topic today (the daily rule, on a wider sample)
        if ci in matched or misfit[idx].mean() < 0.5:
            continue
        ref = np.concatenate([old, np.stack(born_now)]) if born_now else old
        near = float((ref @ cents[ci]).max()) if len(ref) else -1.0
        coh = separability(vecs[idx], vecs[labels != keys[ci]])
        reason = birth_verdict(
            len(idx),
            cohesion(vecs[idx])[1],
            coh,
            near,
            min_cluster_size=dcfg.min_cluster_size,
            min_coherence=dcfg.min_coherence,
            max_similarity_to_existing=dcfg.max_similarity_to_existing,
            min_relative_cohesion=dcfg.min_relative_cohesion,
            typical_cohesion=typical,
        )
        if reason:
            continue
        kws, last = keywords.get(keys[ci], []), max(seen[i] for i in idx)
        back = returning(w.dead, cents[ci], dcfg.max_similarity_to_existing)
        if back is not None:  # a dead story returns with its id
            born_now.append(w.revive(back, vecs[idx], kws, last, coh).centroid)
            w.event(
                back.topic_id,
                EventType.REVIVAL,
                size=len(idx),
                by="monthly recluster",
                **returned_details(back, kws),
            )
            continue
        t = w.born(vecs[idx], kws, last, coh)
        born_now.append(t.centroid)
        w.event(t.topic_id, EventType.BIRTH, size=len(idx), coherence=round(coh, 4), by="monthly recluster")
    _merge(rt, w, cfg.merge_threshold, vecs, assigned)
    plan.topics = w.decided()
    plan.events = w.events
    plan.requeue = w.requeue()
    plan.reassign = _reassign(rt, w, set(plan.requeue))
    kinds = Counter(e.type for e in w.events)
    plan.stats.update(
        {
            "clusters": len(clusters),
            "matched": len(matched),
            "births": kinds[EventType.BIRTH],
            "returned": kinds[EventType.REVIVAL],
            "merges": len(w.absorbed),
            "splits": sum(1 for e in w.events if e.type == EventType.SPLIT and "into" in e.details),
            "pruned": len(w.dead),
            "reassigned": len(plan.reassign),
            "requeued_topics": len(plan.requeue),
        }
    )
    return plan


def _split(rt: Runtime, w: _Work, vecs: np.ndarray, docs: list[str], assigned: np.ndarray) -> None:
    """Split topics whose sampled members form two or more clusters (the largest part keeps the id)."""
    cfg = rt.cfg.monthly
    for t in list(w.live):
        idx = np.flatnonzero(assigned == t.topic_id)
        if len(idx) < cfg.split_min_size:
            continue
        parts = find_splits(
            vecs[idx], rt.backend, min_fraction=cfg.split_min_fraction, merge_threshold=cfg.merge_threshold
        )
        if not parts:
            continue
        part_of = np.full(len(idx), -1)
        for k, p in enumerate(parts):
            part_of[p] = k
        kws = rt.keywords([docs[i] for i in idx], part_of.tolist(), top_n=w.top_n)
        w.refresh(t, vecs[idx[parts[0]]], kws.get(0, []))
        children = []
        for k, p in enumerate(parts[1:], start=1):
            members, words = vecs[idx[p]], kws.get(k, [])
            back = returning(w.dead, cohesion(members)[0], rt.cfg.daily.max_similarity_to_existing)
            if back is not None:  # a dead story returned inside a broad topic: carved out, it keeps its id
                child = w.revive(back, members, words, t.last_seen_at, None)
                w.event(
                    child.topic_id, EventType.REVIVAL, size=len(p), by="monthly split", **returned_details(back, words)
                )
            else:
                child = w.born(members, words, t.last_seen_at, None)
            children.append(child.topic_id)
            w.event(child.topic_id, EventType.SPLIT, [t.topic_id], **{"from": t.topic_id, "size": len(p)})
        w.event(t.topic_id, EventType.SPLIT, children, into=children, kept=len(parts[0]))


def _merge(rt: Runtime, w: _Work, threshold: float, vecs: np.ndarray, assigned: np.ndarray) -> None:
    """Absorb the smaller of every near-duplicate pair of live topics into the larger.

    The survivor is re-centred and recalibrated on the sampled members of both (``vecs``, their stored
    answers ``assigned``; a topic decided in this run, on the members it was decided on): kept as it was,
    its calibration would refuse the absorbed topic's videos at its edge when their history is refined.
    """
    pool = w.remaining()
    if len(pool) < 2:
        return
    sizes = rt.store.classifications.topic_sizes(w.domain, [t.topic_id for t in pool])
    # one merge event per topic and run (events are keyed by topic, type and time): a topic that
    # absorbs several lists them all
    merged: dict[str, dict[str, Any]] = {}
    pool_by_id = {t.topic_id: t for t in pool}
    for small, big in find_merges(
        np.stack([t.centroid for t in pool]), [sizes.get(t.topic_id, t.size) for t in pool], threshold
    ):
        a, b = pool[small], pool[big]
        w.changed[a.topic_id] = dataclasses.replace(a, status=TopicStatus.MERGED, died_at=w.as_of, updated_at=w.as_of)
        w.absorbed[a.topic_id] = b.topic_id
        merged.setdefault(a.topic_id, {})["into"] = b.topic_id
        merged.setdefault(b.topic_id, {}).setdefault("absorbed", []).append(a.topic_id)
    for tid, details in merged.items():
        related = [details["into"]] if "into" in details else []
        w.event(tid, EventType.MERGE, related + details.get("absorbed", []), **details)
        if "absorbed" in details:
            union = np.concatenate([w.members.get(x, vecs[assigned == x]) for x in [tid, *details["absorbed"]]])
            if len(union):
                w.refresh(w.current(pool_by_id[tid]), union, [])


def _reassign(rt: Runtime, w: _Work, requeued: set[str]) -> list[dict[str, Any]]:
    """Reclassify the lookback window's misfits once topics were born, merged or split; the moved ones.

    The members of an absorbed or split topic are not here: all of their history
    changes, and it goes back to the refinement queue after the commit, a chunk per
    transaction (:mod:`ray_topics.storage.backlog`), so the commit stays as short as
    the window. The misfits are streamed in publication order and classified
    ``monthly.reassign_chunk`` at a time, each chunk reading only its own embeddings
    from a few neighbouring lake days: memory holds one chunk and the videos that move,
    however busy the domain's window.
    """
    if not requeued and not w.newborn:
        return []
    start = w.as_of - timedelta(days=lookback_days(rt.cfg.monthly))
    misfits = rt.store.classifications.iter_window_misfits(w.domain, start, w.as_of, rt.cfg.daily.misfit_confidence)
    rows = (m for m in misfits if m[1] not in requeued)
    index = model_of(w.domain, w.remaining(), rt.cfg.embedding.dim).index(**rt.confidence)
    out: list[dict[str, Any]] = []
    while chunk := list(islice(rows, rt.cfg.monthly.reassign_chunk)):
        ids = [v for v, _t, _at in chunk]
        window = (chunk[0][2], chunk[-1][2] + timedelta(microseconds=1))
        usable, vecs, _unusable = rt.usable_vectors(w.domain, ids, window)  # one set aside keeps its answer
        was = {v: t for v, t, _at in chunk}
        out += [r for r in reclassified(usable, index.search(vecs), w.as_of) if r["topic_id"] != was[r["video_id"]]]
    return out


def _strata(rt: Runtime, domain: str, as_of: datetime) -> dict[str, list[str]]:
    """The monthly sample of one domain, by stratum (:func:`ray_topics.tiers.sample.monthly_sample`)."""
    live = [t.topic_id for t in rt.store.topics.list(domain, LIVE_STATUSES)]
    return monthly_sample(rt.store, domain, as_of, rt.cfg.monthly, live)


def sample_ids(rt: Runtime, domain: str, as_of: datetime) -> list[str]:
    """The videos whose embeddings :func:`plan_monthly` reclusters (Ray Data reads them from the lake first)."""
    return union_capped(_strata(rt, domain, as_of), rt.cfg.monthly.max_sample)


def run_monthly(rt: Runtime, as_of: datetime, *, force: bool = False) -> dict[str, Any]:
    """The monthly job over every domain (local or Ray Data, per ``execution.engine``), then its requeues.

    After the commits, each domain with topics in the requeue backlog (this run's merges
    and splits, or those of a run stopped before it finished them) is refined at once
    (:func:`~ray_topics.tiers.refine.refine_domain` over its whole queue: the topics'
    videos go back to the queue a chunk per transaction, and the queue is classified
    with the new model), so the job ends with every video of a merged topic moved, but
    those whose embedding cannot be read (set aside, counted and named as refine names
    them). A domain whose refine fails is named under ``failed`` (the others go on);
    the next hourly refine, or this job run again, finishes its backlog.
    """
    out = run_tier(rt, "monthly", plan_monthly, as_of, lookback_days(rt.cfg.monthly), force=force, needs_fn=sample_ids)
    waiting = [d for d in rt.cfg.domains.names if rt.store.backlog.topics(d)]
    if not waiting:
        return out
    models = DomainClassifier(rt.registry, rt.confidence)
    models.refresh()
    done, failed = refine_domains(rt, models, waiting, as_of, whole_queue=True, job="monthly")  # the commits stand
    for d, r in done.items():
        stats = {"requeued": r.requeued, "refined": r.refined}
        if r.set_aside:
            stats.update(set_aside=r.set_aside, set_aside_examples=r.examples)
        out[d] = {**out.get(d, {}), **stats}
    if failed:  # beside the domains whose plan or commit failed
        out["failed"] = {**out.get("failed", {}), **failed}
    return out
