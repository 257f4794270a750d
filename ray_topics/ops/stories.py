"""The story view of a window (``ray-topics stories``): every topic with its videos in each domain.

Adapter over :mod:`ray_topics.core.stories`: each domain's classifications and
embeddings of the window are read (``monthly.reassign_chunk`` embeddings at a
time, as the daily job reads its window) and every video that fits a topic is
placed under its nearest topic of any domain. A topic whose story holds videos
of other domains is a story that the router or the publishers split: the
domains' own topics and answers are unchanged, the view is read beside them.
Cost: one read of every domain's window, as the echo read does (2 s per
domain and week at 17,000 videos a day for that read, RESULTS.md; the view's
own cost at volume is not measured), but for its misfits' embeddings (a
misfit keeps its own label), and one domain's classifications of the window
held at a time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

import numpy as np

from ray_topics.core.stories import story_labels
from ray_topics.core.types import TopicStatus
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.store import Store

__all__ = ["story_topics", "story_view"]


def story_topics(store: Store) -> tuple[np.ndarray, list[str]]:
    """(centroids, ids) of the topics a video can be placed under: every domain's, but merged ones (their
    videos went to the topic that absorbed them). Dead topics stay: a story's older videos are theirs."""
    topics = [t for t in store.topics.list() if t.status != TopicStatus.MERGED]
    cents = np.stack([t.centroid for t in topics]) if topics else np.zeros((0, 0), np.float32)
    return cents, [t.topic_id for t in topics]


def story_view(rt: Runtime, start: datetime, end: datetime) -> dict[str, Counter[str]]:
    """{topic id: {domain: videos}} of the story view over the videos published in ``[start, end)``."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    cents, ids = story_topics(rt.store)
    if not ids:
        return out
    fit = rt.cfg.daily.misfit_confidence  # a video fits its topic at this confidence, as Tier 1 counts it
    for domain in rt.cfg.domains.names:
        fitting: dict[str, str] = {}
        others: set[str] = set()  # misfits: each keeps its own label, so its embedding is not read
        for r in rt.store.classifications.window(domain, start, end, with_text=False):
            if r["topic_id"] is not None and r["confidence"] >= fit:
                fitting[r["video_id"]] = r["topic_id"]
            else:
                others.add(r["video_id"])
                if r["topic_id"] is not None:
                    out[r["topic_id"]][domain] += 1
        for vids, vecs in rt.window_vectors(domain, (start, end), skip=others):
            labels = [fitting.get(v) for v in vids]  # None: classified after the rows above were read
            fits = np.array([lab is not None for lab in labels])
            for story in story_labels(vecs, labels, fits, cents, ids):
                if story is not None:
                    out[story][domain] += 1
    return out
