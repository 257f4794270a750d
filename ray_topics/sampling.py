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
from collections.abc import Sequence
from datetime import datetime, timedelta

from ray_topics.config import MonthlyConfig
from ray_topics.store import Store

__all__ = ["lookback_days", "monthly_sample", "stable_pick", "union_capped"]


def stable_pick(ids: Sequence[str], k: int, salt: str = "") -> list[str]:
    """``k`` ids chosen by a stable hash order (reproducible, unbiased by arrival order).

    Example:
        >>> stable_pick(["a", "b", "c", "d"], 2) == stable_pick(["d", "c", "b", "a"], 2)
        True
    """
    if len(ids) <= k:
        return list(ids)
    return sorted(ids, key=lambda i: hashlib.blake2b((salt + i).encode(), digest_size=8).digest())[:k]


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
