"""Tier 2 (daily): births from the rolling misfit pool, and dying/dead topics.

Per domain: the pool is every video of the last ``daily.pool_window_days``
whose confidence is below ``daily.misfit_confidence`` (or that fits no
topic), so a topic that grows slower than the threshold per day still
accumulates. Once the pool holds more than ``min_pool_size`` videos it is
micro-clustered (UMAP + HDBSCAN on the stored embeddings, c-TF-IDF keywords:
BERTopic's pipeline). A cluster is born as a topic when its size exceeds
``min_cluster_size``, its coherence (:func:`ray_topics.core.coherence.separability`)
exceeds ``min_coherence``, and it is not the fringe of an existing topic.
Pool members nearest to a newborn topic are reassigned to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ray_topics.config import DailyConfig
from ray_topics.core.clustering import ClusterBackend, find_merges, find_splits
from ray_topics.core.coherence import cohesion, separability
from ray_topics.core.index import calibrate
from ray_topics.core.keywords import ctfidf_keywords
from ray_topics.core.lifecycle import Plan, lifecycle_changes, make_topic, model_of, reassign
from ray_topics.core.sampling import stable_pick
from ray_topics.execution.embedder import video_text
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.registry import LIVE_STATUSES
from ray_topics.storage.schema import REFINED
from ray_topics.storage.store import from_naive_utc
from ray_topics.tiers.job import run_tier

__all__ = ["Candidate", "find_candidates", "plan_daily", "run_daily", "thresholds"]


@dataclass
class Candidate:
    """A cluster of the misfit pool, with the measures the birth rule reads."""

    members: np.ndarray  # indices into the pool
    centroid: np.ndarray
    coherence: float
    keywords: list[str]
    nearest_existing: float  # cosine of the centroid to the closest live topic (-1 when none)
    cohesion: float = 0.0  # mean cosine of members to the centroid
    born: bool = False
    reason: str = ""


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


def find_candidates(
    vectors: np.ndarray,
    docs: Sequence[str],
    existing: np.ndarray,
    *,
    backend: ClusterBackend,
    min_cluster_size: int,
    min_coherence: float,
    max_similarity_to_existing: float,
    split_min_fraction: float,
    top_n: int,
    min_relative_cohesion: float = 0.0,
    typical_cohesion: float | None = None,
    reference: np.ndarray | None = None,
    edge_sigmas: float = 2.0,
    resolution: int | None = None,
) -> list[Candidate]:
    """Cluster the pool and judge every cluster by the birth rule (pure: no store, no Ray).

    Two guards keep one real topic from being born twice or two from being
    born as one: clusters of this run closer to each other than
    ``max_similarity_to_existing`` are united, and a cluster whose members
    split again into parts of at least ``split_min_fraction`` each (the
    monthly split rule) is judged part by part. Coherence compares members
    with the rest of the pool and with ``reference`` (videos of the domain
    that fit a topic), so a pool that is one single new topic is judged too.
    HDBSCAN leaves a cluster's fringe as noise; each cluster is first
    extended to the pool members inside its edge (``mean - edge_sigmas *
    std`` of its members' cosine, as in the confidence), so size and
    coherence describe the group the topic will actually hold.

    HDBSCAN runs at ``resolution`` (default: ``min_cluster_size``); a
    resolution below the birth size keeps topics that are each too small to
    be born from fusing into one mixed cluster that passes the size rule.
    """
    labels = backend.fit_predict(vectors, resolution or min_cluster_size, allow_single_cluster=True)
    groups = [np.flatnonzero(labels == c) for c in sorted(set(labels.tolist())) if c >= 0]
    if not groups:
        return []
    groups = _unite_duplicates(vectors, groups, max_similarity_to_existing)
    parts: list[np.ndarray] = []
    for g in groups:
        sub = find_splits(
            vectors[g], backend, min_fraction=split_min_fraction, merge_threshold=max_similarity_to_existing
        )
        parts += [g[p] for p in sub] if sub else [g]
    parts = _expand(vectors, parts, edge_sigmas)
    final = np.full(len(vectors), -1)
    for k, g in enumerate(parts):
        final[g] = k
    keywords = ctfidf_keywords(list(docs), final.tolist(), top_n=top_n)
    stats = [cohesion(vectors[idx]) for idx in parts]
    typical = typical_cohesion if typical_cohesion is not None else float(np.median([m for _c, m, _s in stats]))
    out = []
    for k, idx in enumerate(parts):
        centroid, mean_sim, _s = stats[k]
        others = vectors[final != k]
        if reference is not None and len(reference):
            others = np.concatenate([others, reference])
        coh = separability(vectors[idx], others)
        near = float((existing @ centroid).max()) if len(existing) else -1.0
        cand = Candidate(idx, centroid, coh, keywords.get(k, []), near, cohesion=mean_sim)
        if len(idx) <= min_cluster_size:
            cand.reason = f"size {len(idx)} <= {min_cluster_size}"
        elif mean_sim < min_relative_cohesion * typical:
            cand.reason = f"diffuse: cohesion {mean_sim:.2f} < {min_relative_cohesion} x typical {typical:.2f}"
        elif coh <= min_coherence:
            cand.reason = f"coherence {coh:.2f} <= {min_coherence}"
        elif near >= max_similarity_to_existing:
            cand.reason = f"fringe of an existing topic (cosine {near:.2f})"
        else:
            cand.born = True
        out.append(cand)
    return out


def _expand(vectors: np.ndarray, parts: list[np.ndarray], edge_sigmas: float) -> list[np.ndarray]:
    """Each part plus the pool members nearest to it and inside its edge."""
    if not parts:
        return parts
    cents = np.stack([cohesion(vectors[p])[0] for p in parts])
    sims = vectors @ cents.T
    best = np.argmax(sims, axis=1)
    out = []
    for k, p in enumerate(parts):
        mu, sd = calibrate(sims[p, k])
        inside = np.flatnonzero((best == k) & (sims[:, k] >= mu - edge_sigmas * sd))
        out.append(np.union1d(p, inside))
    # a member claimed by an earlier part stays there
    seen: set[int] = set()
    unique = []
    for grp in out:
        keep = np.array([i for i in grp if i not in seen], dtype=np.int64)
        seen.update(keep.tolist())
        unique.append(keep)
    return unique


def _unite_duplicates(vectors: np.ndarray, groups: list[np.ndarray], threshold: float) -> list[np.ndarray]:
    """Union clusters whose centroids are at least ``threshold`` alike (one topic cut in two)."""
    while len(groups) > 1:
        cents = np.stack([cohesion(vectors[g])[0] for g in groups])
        pairs = find_merges(cents, [len(g) for g in groups], threshold)
        if not pairs:
            break
        small, big = pairs[0]
        groups[big] = np.concatenate([groups[big], groups[small]])
        del groups[small]
    return groups


def plan_daily(rt: Runtime, domain: str, as_of: datetime) -> Plan:
    """Decide births, deaths and reassignments of one domain for the day ending at ``as_of``."""
    cfg = rt.cfg.daily
    start = as_of - timedelta(days=cfg.pool_window_days)
    plan = Plan(domain)
    topics = rt.store.topics(domain)
    live = [t for t in topics if t.status in LIVE_STATUSES]
    volume = rt.store.domain_volume(domain, start, as_of) / cfg.pool_window_days
    min_pool, min_cluster = thresholds(cfg, volume)
    pool = rt.store.classified_window(domain, start, as_of, misfit_below=cfg.misfit_confidence)
    plan.stats = {"pool": len(pool), "min_pool": min_pool, "min_cluster": min_cluster, "births": 0}
    new_topics = []
    if len(pool) > min_pool:
        ids = [r["video_id"] for r in pool]
        vecs = rt.vectors(domain, ids, (start, as_of))
        docs = [video_text(r["title"], r["description"], r["tags"], rt.cfg.embedding.max_chars) for r in pool]
        existing = np.stack([t.centroid for t in live]) if live else np.zeros((0, vecs.shape[1]), np.float32)
        reference = _reference(rt, domain, start, as_of, limit=len(pool))
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
            reference=reference,
            edge_sigmas=rt.cfg.confidence.edge_sigmas,
            resolution=min(min_cluster, max(cfg.min_cluster_floor, round(cfg.cluster_resolution * min_cluster))),
        )
        number = max([t.number for t in topics], default=-1) + 1
        for c in cands:
            if not c.born:
                continue
            times = [pool[i]["published_at"] for i in c.members]
            t = make_topic(
                domain,
                number,
                vecs[c.members],
                c.keywords,
                as_of,
                upper_quantile=rt.cfg.weekly.calibration_upper_quantile,
                coherence=c.coherence,
                last_seen_at=from_naive_utc(max(times)),
            )
            number += 1
            new_topics.append(t)
            plan.events.append(
                {
                    "domain": domain,
                    "topic_id": t.topic_id,
                    "type": "birth",
                    "at": as_of,
                    "details": {
                        "size": len(c.members),
                        "coherence": round(c.coherence, 4),
                        "keywords": c.keywords[:5],
                        "first_seen_at": from_naive_utc(min(times)).isoformat(),
                    },
                }
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
            plan.reassign = reassign(
                ids, vecs, index, {t.topic_id for t in new_topics}, as_of, version_tag="", status=REFINED
            )
    plan.stats["births"] = len(new_topics)
    # a topic is seen by videos that fit it, not by strays near its edge
    seen = rt.store.last_seen(domain, start, as_of, min_confidence=cfg.misfit_confidence)
    changed, events = lifecycle_changes(
        live, seen, as_of, dying_after=cfg.dying_after_days, dead_after=cfg.dead_after_days
    )
    plan.topics = new_topics + changed
    plan.events += events
    plan.stats["lifecycle"] = {e["topic_id"]: e["type"] for e in events}
    return plan


def _typical_cohesion(rt: Runtime, live: list) -> float | None:
    """Median members' cosine of the domain's live topics; of every domain's while it has none."""
    pool = live or rt.store.topics(statuses=LIVE_STATUSES)
    return float(np.median([t.sim_mean for t in pool])) if pool else None


def _reference(rt: Runtime, domain: str, start: datetime, end: datetime, limit: int) -> np.ndarray:
    """Up to ``limit`` videos of the window that fit a topic: this domain's, or any domain's while it has none."""
    thr = rt.cfg.daily.misfit_confidence
    for dom in [domain, *[d for d in rt.cfg.domains.names if d != domain]]:
        rows = rt.store.classified_window(dom, start, end, with_text=False)
        ids = stable_pick([r["video_id"] for r in rows if r["topic_id"] and r["confidence"] >= thr], limit)
        if ids:
            return rt.vectors(dom, ids, (start, end))
    return np.zeros((0, rt.cfg.embedding.dim), np.float32)


def run_daily(rt: Runtime, as_of: datetime, *, force: bool = False) -> dict[str, Any]:
    """The daily job over every domain (local or Ray Data, per ``execution.engine``)."""
    return run_tier(rt, "daily", plan_daily, as_of, rt.cfg.daily.pool_window_days, force=force)
