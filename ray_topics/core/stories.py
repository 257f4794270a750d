"""The story view: each video that fits a topic, placed under a topic of any domain (pure: no store, no Ray).

Each domain keeps its own model, so a story whose videos reach two domains
(routed there, or filed under two desks by their publishers) lives in two
domains. Where both parts are topics, global topics link them
(:mod:`ray_topics.core.global_topics`); on real text the second part is
usually a few videos that its domain's broad topic answers with confidence,
and no rule on centroids links a broad topic to a story without linking
different stories (RESULTS.md, issue 14). The story view looks at videos,
not topics, and places each video that fits a topic of its own domain in one
of two ways (``global_topics.place_by``); a misfit stays a misfit, and the
domains' own answers are unchanged: the view is read beside them.

* ``neighbours`` (:class:`ray_topics.core.neighbours.Voters`): under the answer most of its
  ``k`` nearest *videos* of the window hold, of any domain (cosine, itself among
  them when it votes; a tie goes to the label of the nearest voter). A story
  inside broad topics (13 articles answered by five broad topics) is nearest
  to no centroid of its own, but its articles are each other's nearest
  neighbours: the vote gathers them under the answer most of them got.
* ``centroid`` (the default, :func:`story_labels`): under the topic, of any domain, whose
  centroid is nearest (as one model over every domain would place it).

Measured on news (``benchmarks.quality``, table E, twelve draws; RESULTS.md,
"placing by neighbours" and "the stories job places by neighbours"): read
offline with every voter's final answer, the view by neighbours holds 0.714
of an event in its largest topic, by centroid 0.648, the domains' own
answers 0.602, a full fit 0.702; as the stories job serves it (voters with
their answers of each midnight) 0.688 by neighbours against 0.681 by
centroid on another embedding of the corpus.

By neighbours a video moves only to a topic it fits (its confidence in it at least
``daily.misfit_confidence``: :func:`ray_topics.core.neighbours.fitting_moves`, settling's check). At volume
the voters are a stable-hash sample of the window's fitted videos, stratified by answer
(:class:`ray_topics.core.neighbours.VoterSample`, at most ``global_topics.place_voters``) searched exactly
up to ``place_exact_voters`` and through an inverted-file index above (FAISS
``IndexIVFFlat``, ``place_nprobe`` lists probed per video).
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
