"""The monthly tier's representative sample of a domain (the seed's strategy).

Strata, each deterministic (the same store gives the same sample):
recent window (``recent_days`` whole days), log-spaced days back
(1, 2, 3, 5, 8, 13, 21, 34, 55, 89 by default), per live topic its most
recent members (so every active topic is present), the most viewed videos,
and the recent outliers (least confident). Days are subsampled to
``per_day_sample`` by a stable hash of the video id; the union is capped at
``max_sample`` keeping every stratum represented.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Hashable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from ray_topics.config import MonthlyConfig
from ray_topics.storage.store import Store

__all__ = ["bottom_k", "lookback_days", "monthly_sample", "stable_key", "stable_pick", "union_capped"]

G = TypeVar("G", bound=Hashable)


def stable_key(video_id: str, salt: str = "") -> int:
    """The stable hash that orders ids for sampling (blake2b of ``salt + id``; same across processes)."""
    return int.from_bytes(hashlib.blake2b((salt + video_id).encode(), digest_size=8).digest(), "big")


def stable_pick(ids: Sequence[str], k: int, salt: str = "") -> list[str]:
    """``k`` ids chosen by a stable hash order (reproducible, unbiased by arrival order).

    Example:
        >>> stable_pick(["a", "b", "c", "d"], 2) == stable_pick(["d", "c", "b", "a"], 2)
        True
    """
    if len(ids) <= k:
        return list(ids)
    return sorted(ids, key=lambda i: stable_key(i, salt))[:k]


def bottom_k(pairs: Iterable[tuple[str, G]], k: int, salt: str = "") -> dict[G, tuple[list[str], int]]:
    """Per group: the ``k`` ids of smallest :func:`stable_key` (in that order) and the group's exact count.

    One pass over ``(id, group)`` pairs holding at most ``k`` ids per group, so a
    stream of any length is sampled in memory bounded by groups x ``k``. Each
    group's ids are the ones :func:`stable_pick` picks from it with the same
    salt: a uniform random sample, independent of arrival order.

    Example:
        >>> pairs = [("a", "x"), ("b", "x"), ("c", "x"), ("d", None)]
        >>> sample = bottom_k(pairs, 2, salt="s")
        >>> sample == bottom_k(reversed(pairs), 2, salt="s")
        True
        >>> sample["x"][0] == stable_pick(["a", "b", "c"], 2, salt="s"), sample["x"][1], sample[None]
        (True, 3, (['d'], 1))
    """
    heaps: dict[G, list[tuple[int, str]]] = {}
    counts: dict[G, int] = {}
    for vid, group in pairs:
        counts[group] = counts.get(group, 0) + 1
        heap = heaps.setdefault(group, [])
        item = (-stable_key(vid, salt), vid)  # a max-heap of the kept keys: its top is the first to go
        if len(heap) < k:
            heapq.heappush(heap, item)
        elif heap and item > heap[0]:
            heapq.heapreplace(heap, item)
    return {g: ([vid for _key, vid in sorted(heaps[g], reverse=True)], n) for g, n in counts.items()}


def lookback_days(cfg: MonthlyConfig) -> int:
    return max([cfg.recent_days, *cfg.log_spaced_days]) + 1


def monthly_sample(
    store: Store, domain: str, as_of: datetime, cfg: MonthlyConfig, live_topic_ids: Sequence[str]
) -> dict[str, list[str]]:
    """Video ids of each stratum (a video may sit in several)."""
    day0 = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    strata: dict[str, list[str]] = {"recent": [], "log_spaced": [], "per_topic": [], "viral": [], "outliers": []}

    def day_ids(day_start: datetime) -> list[str]:
        rows = store.classified_window(domain, day_start, day_start + timedelta(days=1), with_text=False)
        return stable_pick([r["video_id"] for r in rows], cfg.per_day_sample, salt=day_start.date().isoformat())

    recent_start = day0 - timedelta(days=cfg.recent_days)
    for k in range(cfg.recent_days):
        strata["recent"] += day_ids(recent_start + timedelta(days=k))
    for k in cfg.log_spaced_days:
        if k > cfg.recent_days:
            strata["log_spaced"] += day_ids(day0 - timedelta(days=k))
    start = day0 - timedelta(days=lookback_days(cfg))
    for tid in live_topic_ids:
        strata["per_topic"] += store.ranked(domain, start, as_of, "recent", cfg.per_topic_sample, topic_id=tid)
    if cfg.top_viral:
        strata["viral"] = store.ranked(domain, start, as_of, "views", cfg.top_viral)
    if cfg.recent_outliers:
        strata["outliers"] = store.ranked(domain, recent_start, as_of, "low_confidence", cfg.recent_outliers)
    return strata


def union_capped(strata: dict[str, list[str]], cap: int) -> list[str]:
    """Union of the strata in a stable order, at most ``cap`` ids, each stratum keeping its fair share."""
    seen: dict[str, None] = {}
    lists = [v for v in strata.values() if v]
    pos = [0] * len(lists)
    while len(seen) < cap and any(p < len(lst) for p, lst in zip(pos, lists, strict=True)):
        for j, lst in enumerate(lists):
            if pos[j] < len(lst) and len(seen) < cap:
                seen.setdefault(lst[pos[j]], None)
                pos[j] += 1
    return list(seen)
