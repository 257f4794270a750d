"""Routing exemplars (run by the refine job): each domain's labelled videos of the day so far.

A *labelled* video arrived with a category that maps to its domain. Every
refine run rewrites, per domain, the row of the day its slot (the
``schedule.refine_every_hours`` before its ``as_of``) falls in: a stable-hash
sample of the domain's labelled videos published that day up to ``as_of``,
with their embeddings; and it drops the days older than
``domains.vote_window_days``. Routers vote with the window
(:mod:`ray_topics.core.router`, :mod:`ray_topics.storage.routing`).

Day quotas (:func:`ray_topics.core.sampling.slot_quota`) add up to
``domains.vote_exemplars`` over any window, so a router holds at most that
many per domain at any volume: every labelled video where fewer arrive, an
even sample of them where more do. The sample is the day's smallest hashes
so far, so it takes a burst of a story's labelled videos as well as a quiet
hour's (a per-hour quota would keep one or two of a burst), and it is in
the vote within the hour: a new story's uncategorised videos follow its
labelled ones on the story's first day, not the next.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from ray_topics.core.sampling import slot_quota, stable_pick
from ray_topics.core.timeutil import as_utc, floor_day
from ray_topics.execution.runtime import Runtime

__all__ = ["day_exemplars", "publish_exemplars"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def day_exemplars(rt: Runtime, domain: str, day: datetime, until: datetime) -> tuple[list[str], np.ndarray]:
    """(ids, embeddings) of the sampled labelled videos of ``domain`` published on ``day`` before ``until``."""
    d = rt.cfg.domains
    quota = slot_quota(d.vote_exemplars, d.vote_window_days, (day - EPOCH) // DAY)
    mapped = [c for c, dom in d.category_map().items() if dom == domain]
    ids = sorted(stable_pick(rt.store.videos.labelled_ids(domain, mapped, day, min(until, day + DAY)), quota))
    ids, vecs, _bad = rt.usable_vectors(domain, ids)  # an unreadable embedding just does not vote
    return ids, vecs


def publish_exemplars(rt: Runtime, as_of: datetime) -> dict[str, int]:
    """Rewrite every domain's exemplars of the day the slot ending ``as_of`` falls in and drop its days past
    the window; the exemplars written per domain. Idempotent: a re-run for the same ``as_of`` writes the
    same rows."""
    d = rt.cfg.domains
    if not d.vote_neighbours:
        return {}
    as_of = as_utc(as_of)
    day = floor_day(as_of - timedelta(hours=rt.cfg.schedule.refine_every_hours))
    since = as_of - timedelta(days=d.vote_window_days)
    out: dict[str, int] = {}
    for domain in d.names:
        ids, vecs = day_exemplars(rt, domain, day, as_of)
        with rt.store.begin() as conn:
            if ids:
                rt.store.exemplars.save(domain, day, ids, vecs, at=as_of, conn=conn)
            rt.store.exemplars.prune(domain, since, conn=conn)
        out[domain] = len(ids)
    return out
