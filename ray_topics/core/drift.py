"""The weekly drift rule: topics follow their members a bounded step at a time (pure: no store, no Ray)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np

from ray_topics.core.index import calibrate, normalize
from ray_topics.core.keywords import label_from_keywords
from ray_topics.core.types import EventType, Topic, TopicEvent

__all__ = ["NO_TOPIC", "bounded_update", "domain_mean", "evolve_topics", "sampling_noise"]

NO_TOPIC = "-"  # the group of a week's videos that fit no topic


def bounded_update(old: np.ndarray, target: np.ndarray, rate: float) -> tuple[np.ndarray, float]:
    """(new unit vector, cosine distance moved) for a step of ``rate`` from ``old`` towards ``target``.

    Example:
        >>> new, moved = bounded_update(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.5)
        >>> [round(float(x), 3) for x in new], round(moved, 3)
        ([0.707, 0.707], 0.293)
    """
    new = normalize((1.0 - rate) * normalize(old) + rate * normalize(target))
    return new, float(1.0 - float(normalize(old) @ new))


def sampling_noise(n: int, sim_mean: float) -> float:
    """Expected cosine distance between a topic's centroid and the mean of ``n`` of its members.

    Members at cosine ``mu`` to the centroid average to a vector at cosine
    ``mu / sqrt(mu^2 + (1 - mu^2) / n)``: about ``(1 - mu^2) / (2 n mu^2)`` away.
    """
    mu = min(max(sim_mean, 1e-3), 1.0)
    return float(1.0 - mu / np.sqrt(mu * mu + (1.0 - mu * mu) / max(n, 1)))


def evolve_topics(
    topics: list[Topic],
    assigned: list[str | None],
    vectors: np.ndarray,
    keywords: Mapping[str, list[str]],
    at: datetime,
    *,
    drift_rate: float,
    drift_event_threshold: float,
    min_members: int,
    upper_quantile: float,
    counts: Mapping[str | None, int] | None = None,
) -> tuple[list[Topic], list[TopicEvent]]:
    """Updated topics (new values) and drift events from one week of assigned videos (pure).

    ``keywords`` holds each topic's refreshed keywords (see :func:`topic_keywords`);
    a topic missing from it keeps its keywords. When ``vectors`` hold a sample
    of the week, ``counts`` gives each topic's exact number of videos:
    ``min_members`` is judged on it and on the sample's rows (fewer when some
    embeddings could not be read), the sampling noise on the sample's size.
    """
    lab = np.array([a if a is not None else NO_TOPIC for a in assigned], dtype=object)
    changed, events = [], []
    for t in topics:
        idx = np.flatnonzero(lab == t.topic_id)
        members = len(idx) if counts is None else counts.get(t.topic_id, 0)
        if members < min_members or len(idx) < min_members:  # the sample too: its vectors may have been lost
            continue
        week_mean = normalize(vectors[idx].mean(axis=0))
        drift = 1.0 - float(normalize(t.centroid) @ week_mean) - sampling_noise(len(idx), t.sim_mean)
        new, moved = bounded_update(t.centroid, week_mean, drift_rate)
        mu, sigma = calibrate(vectors[idx] @ new, upper_quantile)
        kw = keywords.get(t.topic_id) or list(t.keywords)
        label = label_from_keywords(kw, fallback=t.topic_id)
        changed.append(
            dataclasses.replace(t, centroid=new, sim_mean=mu, sim_std=sigma, keywords=kw, label=label, updated_at=at)
        )
        if drift > drift_event_threshold:
            details = {
                "cosine_distance": round(drift, 4),
                "step": round(moved, 4),
                "members": members,
                "sampled": len(idx),
                "keywords_before": list(t.keywords)[:5],
                "keywords_after": kw[:5],
            }
            events.append(TopicEvent.of(t, EventType.DRIFT, at, **details))
    return changed, events


def domain_mean(vectors: np.ndarray, assigned: Sequence[str | None], counts: Mapping[str | None, int]) -> np.ndarray:
    """Unit mean direction of the whole week from per-group samples: sum over groups of count x sample mean.

    ``assigned`` names each row's group, ``counts`` each group's exact size. A
    plain mean of the sample would over-weight small groups (read whole)
    against big ones (capped); below the cap it is the plain mean.

    Example:
        >>> v = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> [round(float(x), 3) for x in domain_mean(v, ["a", "a", "b"], {"a": 2, "b": 2})]
        [0.707, 0.707]
    """
    sampled = Counter(assigned)
    weights = np.array([counts[g] / sampled[g] for g in assigned])
    return normalize(weights @ vectors)
