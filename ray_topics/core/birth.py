"""The birth rule: when a group of misfits becomes a topic (pure: no store, no Ray).

Used by the daily tier on its misfit pool (:func:`find_candidates`) and by the
monthly tier on the clusters of its recluster that match no topic
(:func:`birth_verdict`): one rule, written once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ray_topics.core.clustering import ClusterBackend, find_merges, find_splits
from ray_topics.core.coherence import cohesion, separability
from ray_topics.core.index import calibrate
from ray_topics.core.keywords import ctfidf_keywords

__all__ = ["Candidate", "birth_verdict", "find_candidates"]


def birth_verdict(
    size: int,
    cohesion: float,
    coherence: float,
    nearest_existing: float,
    *,
    min_cluster_size: int,
    min_coherence: float,
    max_similarity_to_existing: float,
    min_relative_cohesion: float,
    typical_cohesion: float | None,
) -> str:
    """Why a candidate group is not born, or ``""`` when it is.

    A group is born when it holds more than ``min_cluster_size`` videos, its
    members sit at least ``min_relative_cohesion`` of the domain's typical
    cohesion from their centroid (a diffuse group of unrelated misfits can look
    separable), its coherence (:func:`ray_topics.core.coherence.separability`)
    exceeds ``min_coherence``, and its centroid is further than
    ``max_similarity_to_existing`` from every live topic (else it is that
    topic's fringe).

    Example:
        >>> birth_verdict(80, 0.6, 0.9, 0.2, min_cluster_size=50, min_coherence=0.7,
        ...               max_similarity_to_existing=0.85, min_relative_cohesion=0.6, typical_cohesion=0.7)
        ''
        >>> birth_verdict(80, 0.6, 0.9, 0.9, min_cluster_size=50, min_coherence=0.7,
        ...               max_similarity_to_existing=0.85, min_relative_cohesion=0.6, typical_cohesion=0.7)
        'fringe of an existing topic (cosine 0.90)'
    """
    if size <= min_cluster_size:
        return f"size {size} <= {min_cluster_size}"
    if typical_cohesion is not None and cohesion < min_relative_cohesion * typical_cohesion:
        return f"diffuse: cohesion {cohesion:.2f} < {min_relative_cohesion} x typical {typical_cohesion:.2f}"
    if coherence <= min_coherence:
        return f"coherence {coherence:.2f} <= {min_coherence}"
    if nearest_existing >= max_similarity_to_existing:
        return f"fringe of an existing topic (cosine {nearest_existing:.2f})"
    return ""


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
    keywords_fn: Callable[..., dict[object, list[str]]] = ctfidf_keywords,
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
    Keywords come from ``keywords_fn`` (the signature of ``ctfidf_keywords``; the
    tiers pass ``keywords.representation``'s, :mod:`ray_topics.execution.representation`).
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
    keywords = keywords_fn(list(docs), final.tolist(), top_n=top_n)
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
        reason = birth_verdict(
            len(idx),
            mean_sim,
            coh,
            near,
            min_cluster_size=min_cluster_size,
            min_coherence=min_coherence,
            max_similarity_to_existing=max_similarity_to_existing,
            min_relative_cohesion=min_relative_cohesion,
            typical_cohesion=typical,
        )
        out.append(Candidate(idx, centroid, coh, keywords.get(k, []), near, mean_sim, not reason, reason))
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
