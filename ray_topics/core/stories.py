"""The story view: each video that fits a topic, under the topic of any domain nearest to it (pure: no store, no Ray).

Each domain keeps its own model, so a story whose videos reach two domains
(routed there, or filed under two desks by their publishers) lives in two
domains. Where both parts are topics, global topics link them
(:mod:`ray_topics.core.global_topics`); on real text the second part is
usually a few videos that its domain's broad topic answers with confidence,
and no rule on centroids links a broad topic to a story without linking
different stories (RESULTS.md, issue 14). The story view looks at videos,
not topics: a video that fits a topic of its own domain is placed under the
topic, of any domain, whose centroid is nearest to its embedding (cosine, as
one model over every domain would place it); a misfit stays a misfit. The
domains' own answers are unchanged: the view is read beside them.

Measured on news (``benchmarks.quality``, table E): the story view holds
0.662 of an event in its largest topic against the domains' own 0.615 and a
full fit's 0.711 (twelve draws; RESULTS.md "the story view"). Placing each
video under its nearest topic of its *own* domain instead gains nothing
(0.617): what the view adds is the other domains' topics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ray_topics.core.index import normalize

__all__ = ["story_labels"]

CHUNK = 8192  # videos compared with every centroid at a time (memory: CHUNK x topics floats)


def story_labels(
    vectors: np.ndarray,
    labels: Sequence[str | None],
    fits: np.ndarray,
    centroids: np.ndarray,
    topic_ids: Sequence[str],
) -> list[str | None]:
    """Each video's story: ``labels[i]`` unless it fits (``fits[i]``), then the topic nearest to ``vectors[i]``.

    ``centroids`` / ``topic_ids``: every domain's topics, in one array.

    Example:
        >>> cents = np.array([[1, 0, 0], [0, 1, 0]], np.float32)  # gaming:0 (broad), cooking:3 (a story)
        >>> vecs = np.array([[0.9, 0.1, 0], [0.2, 0.9, 0], [0.1, 0.9, 0]], np.float32)
        >>> story_labels(vecs, ["gaming:0", "gaming:0", None], np.array([True, True, False]), cents,
        ...              ["gaming:0", "cooking:3"])
        ['gaming:0', 'cooking:3', None]
    """
    out = list(labels)
    if not len(topic_ids):
        return out
    cents = normalize(centroids)
    idx = np.flatnonzero(np.asarray(fits, dtype=bool))
    for lo in range(0, len(idx), CHUNK):
        part = idx[lo : lo + CHUNK]
        nearest = np.argmax(normalize(vectors[part]) @ cents.T, axis=1)
        for i, j in zip(part.tolist(), nearest.tolist(), strict=True):
            out[i] = topic_ids[j]
    return out
