"""The monthly tier's representative sample of a domain (the seed's strategy).

Strata, each deterministic (the same store gives the same sample):
recent window (``recent_days`` whole days), log-spaced days back
(1, 2, 3, 5, 8, 13, 21, 34, 55, 89 by default), per live topic its most
recent members (so every active topic is present), the most viewed videos,
and the recent outliers (least confident). Days are subsampled to
``per_day_sample`` by a stable hash of the video id; the union is capped at
``max_sample`` keeping every stratum represented.

:func:`dump_sample` takes the same strata from a historical dump held in
memory (``ray-topics bootstrap``): the same days and the same per-day
picks, the most viewed videos; a dump has no topics and no answers yet, so
it has no per-topic or outlier stratum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from ray_topics.config import MonthlyConfig
from ray_topics.core.sampling import stable_pick
from ray_topics.core.timeutil import floor_day
from ray_topics.storage.store import Store

__all__ = ["day_strata", "dump_sample", "lookback_days", "monthly_sample"]


def lookback_days(cfg: MonthlyConfig, extra_days: Sequence[int] = ()) -> int:
    return max([cfg.recent_days, *cfg.log_spaced_days, *extra_days]) + 1


def day_strata(as_of: datetime, cfg: MonthlyConfig, extra_days: Sequence[int] = ()) -> dict[str, list[datetime]]:
    """The first instant of each sampled day: the ``recent`` whole days before ``as_of``, the ``log_spaced`` days back.

    ``extra_days`` adds days back to the log-spaced ones (the bootstrap's longer look-back).
    """
    day0 = floor_day(as_of)
    recent_start = day0 - timedelta(days=cfg.recent_days)
    back = list(dict.fromkeys(k for k in [*cfg.log_spaced_days, *extra_days] if k > cfg.recent_days))
    return {
        "recent": [recent_start + timedelta(days=k) for k in range(cfg.recent_days)],
        "log_spaced": [day0 - timedelta(days=k) for k in back],
    }


def _day_picks(
    strata: dict[str, list[str]], days: dict[str, list[datetime]], ids_of_day: Callable[[datetime], list[str]], k: int
) -> None:
    """Each day's ``k`` ids by stable hash (salted with the day), into its stratum."""
    for name, starts in days.items():
        for day_start in starts:
            strata[name] += stable_pick(ids_of_day(day_start), k, salt=day_start.date().isoformat())


def monthly_sample(
    store: Store, domain: str, as_of: datetime, cfg: MonthlyConfig, live_topic_ids: Sequence[str]
) -> dict[str, list[str]]:
    """Video ids of each stratum (a video may sit in several)."""
    day0 = floor_day(as_of)
    strata: dict[str, list[str]] = {"recent": [], "log_spaced": [], "per_topic": [], "viral": [], "outliers": []}

    def day_ids(day_start: datetime) -> list[str]:
        rows = store.classifications.window(domain, day_start, day_start + timedelta(days=1), with_text=False)
        return [r["video_id"] for r in rows]

    _day_picks(strata, day_strata(as_of, cfg), day_ids, cfg.per_day_sample)
    recent_start = day0 - timedelta(days=cfg.recent_days)
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


def dump_sample(
    ids: Sequence[str],
    published: Sequence[datetime],
    views: Sequence[int | None],
    as_of: datetime,
    cfg: MonthlyConfig,
    extra_days: Sequence[int] = (),
) -> dict[str, list[str]]:
    """The monthly sample's strata of a dump held in memory, before it has topics or answers.

    ``recent`` and ``log_spaced``: each sampled day's ``per_day_sample`` ids by stable
    hash, as :func:`monthly_sample` picks them from the store; ``viral``: the
    ``top_viral`` most viewed of the look-back (ties by id). A dump has no topics and
    no confidences: its ``per_topic`` and ``outliers`` strata are empty.

    Example:
        >>> from datetime import UTC
        >>> from ray_topics.config import load_config
        >>> cfg = load_config(overrides=["monthly.per_day_sample=1", "monthly.top_viral=1"]).monthly
        >>> t0 = datetime(2026, 3, 1, tzinfo=UTC)
        >>> ids = ["a", "b", "c", "d"]
        >>> when = [t0 - timedelta(days=1), t0 - timedelta(days=1), t0 - timedelta(days=2), t0 - timedelta(days=400)]
        >>> s = dump_sample(ids, when, [5, 1, 9, 99], t0, cfg)
        >>> len(s["recent"]), s["viral"], "d" in s["recent"] + s["log_spaced"]
        (2, ['c'], False)
    """
    by_day: dict[datetime, list[str]] = {}
    for vid, ts in zip(ids, published, strict=True):
        by_day.setdefault(floor_day(ts), []).append(vid)
    strata: dict[str, list[str]] = {"recent": [], "log_spaced": [], "per_topic": [], "viral": [], "outliers": []}
    _day_picks(strata, day_strata(as_of, cfg, extra_days), lambda d: by_day.get(d, []), cfg.per_day_sample)
    if cfg.top_viral:
        start = floor_day(as_of) - timedelta(days=lookback_days(cfg, extra_days))
        seen = [(-(v or 0), vid) for vid, ts, v in zip(ids, published, views, strict=True) if start <= ts < as_of]
        strata["viral"] = [vid for _v, vid in sorted(seen)[: cfg.top_viral]]
    return strata
