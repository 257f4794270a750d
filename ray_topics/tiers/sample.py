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

from collections.abc import Sequence
from datetime import datetime, timedelta

from ray_topics.config import MonthlyConfig
from ray_topics.core.sampling import stable_pick
from ray_topics.storage.store import Store

__all__ = ["lookback_days", "monthly_sample"]


def lookback_days(cfg: MonthlyConfig) -> int:
    return max([cfg.recent_days, *cfg.log_spaced_days]) + 1


def monthly_sample(
    store: Store, domain: str, as_of: datetime, cfg: MonthlyConfig, live_topic_ids: Sequence[str]
) -> dict[str, list[str]]:
    """Video ids of each stratum (a video may sit in several)."""
    day0 = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    strata: dict[str, list[str]] = {"recent": [], "log_spaced": [], "per_topic": [], "viral": [], "outliers": []}

    def day_ids(day_start: datetime) -> list[str]:
        rows = store.classifications.window(domain, day_start, day_start + timedelta(days=1), with_text=False)
        return stable_pick([r["video_id"] for r in rows], cfg.per_day_sample, salt=day_start.date().isoformat())

    recent_start = day0 - timedelta(days=cfg.recent_days)
    for k in range(cfg.recent_days):
        strata["recent"] += day_ids(recent_start + timedelta(days=k))
    for k in cfg.log_spaced_days:
        if k > cfg.recent_days:
            strata["log_spaced"] += day_ids(day0 - timedelta(days=k))
    start = day0 - timedelta(days=lookback_days(cfg))
    for tid in live_topic_ids:
        strata["per_topic"] += store.classifications.ranked(
            domain, start, as_of, "recent", cfg.per_topic_sample, topic_id=tid
        )
    if cfg.top_viral:
        strata["viral"] = store.classifications.ranked(domain, start, as_of, "views", cfg.top_viral)
    if cfg.recent_outliers:
        strata["outliers"] = store.classifications.ranked(
            domain, recent_start, as_of, "low_confidence", cfg.recent_outliers
        )
    return strata
