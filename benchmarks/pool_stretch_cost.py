"""What a thin misfit pool's reach back costs the daily job on a busy domain (issue 14).

Every day the daily job reads a domain's misfit pool: the misfits of its last
``daily.pool_window_days`` (:meth:`Classifications.window` with
``misfit_below``; the *baseline* here, paid by every domain every day). When
that pool holds no more than its size (``min_pool``), :func:`ray_topics.tiers.daily.misfit_pool`
asks how far back the ``min_pool + 1``-th newest misfit lies
(:meth:`Classifications.nth_newest_misfit`, at most ``daily.max_pool_window_days``
back) and, when it is found, reads that longer window instead. Whether a
classification is a misfit is not in the index the queries range over
(``ix_class_domain_published``), so both walk every classification of the
range: the cost follows the domain's volume, not its misfits. The worst case
is a busy domain whose topics answer nearly every video: its pool stays thin
every day, and the walk goes back the whole ``max_pool_window_days``.

This script seeds one domain's classifications (and their videos, short texts)
straight into a store at ``--daily-volume`` a day over ``--days`` days, every
video a fit except ``--misfits-per-day`` misfits a day spread over each day,
and times, in one run, on the seeded store:

* ``pool``: the base pool read (the baseline);
* ``walk``: the reach-back query;
* ``misfit_pool``: the whole of :func:`misfit_pool` (pool, walk, and the longer
  window when the walk finds its misfit).

With ``--misfits-per-day`` below ``(min_pool + 1) / max_pool_window_days``
(the default, 2, at the default pool of 100) the walk finds too few and goes
back the whole range every day, for nothing; above it, the walk stops where
the needed misfit lies and the longer window is read.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.pool_stretch_cost --out pool_stretch.json
    .venv/bin/python -m benchmarks.pool_stretch_cost --store postgresql --out pool_stretch_pg.json
    .venv/bin/python -m benchmarks.pool_stretch_cost --daily-volume 2000 --days 10   # a quick look
"""

from __future__ import annotations

import argparse
import statistics
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from benchmarks.harness import PG_URL, Figures, main_of, parser, run_info, scratch, timed
from ray_topics.config import load_config
from ray_topics.core.types import ClassificationStatus
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers.daily import misfit_pool, thresholds

DOMAIN = "gaming"
AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
FIT, MISFIT = 0.9, 0.1  # confidences of a fitting video and a misfit (daily.misfit_confidence lies between)
SEED_CHUNK = 20_000  # rows inserted per statement


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--daily-volume", type=int, default=50_000, help="the domain's videos a day (default 50,000)")
    p.add_argument("--days", type=int, help="days seeded before the pool's end (default: daily.max_pool_window_days)")
    p.add_argument("--misfits-per-day", type=int, default=2, help="misfits a day among them (default 2)")
    p.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--pg-url", default=PG_URL, help="the PostgreSQL server (--store postgresql)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each read; the median is shown")
    return p


def _check(args: argparse.Namespace) -> None:
    if args.daily_volume < 1 or not 0 <= args.misfits_per_day <= args.daily_volume:
        raise SystemExit("--misfits-per-day must lie between 0 and --daily-volume, which must be positive")
    if args.repeat < 1 or (args.days is not None and args.days < 1):
        raise SystemExit("--repeat and --days must be positive")


def _rows(day: datetime, n: int, misfits: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(video, classification) rows of one day: ``n`` videos at even times, ``misfits`` of them spread evenly."""
    step = timedelta(days=1) / n
    every = n // misfits if misfits else 0
    for i in range(n):
        at = day + i * step
        vid = f"{day:%Y%m%d}-{i:07d}"
        misfit = bool(every) and i % every == 0 and i // every < misfits
        yield (
            {"video_id": vid, "domain": DOMAIN, "channel_id": "c", "published_at": at, "title": f"video {i}"},
            {
                "video_id": vid,
                "domain": DOMAIN,
                "published_at": at,
                "topic_id": None if misfit else f"{DOMAIN}:0",
                "confidence": MISFIT if misfit else FIT,
                "status": ClassificationStatus.REFINED,
                "model_version": f"{DOMAIN}@v1",
                "classified_at": at,
            },
        )


def seed(rt: Runtime, days: int, per_day: int, misfits: int) -> int:
    """Insert the rows of ``days`` days before :data:`AS_OF`; returns how many videos."""
    db = rt.store  # a Store is its Database
    videos, classes = db.table("videos"), db.table("classifications")
    total = 0
    for d in range(days, 0, -1):
        day = AS_OF - timedelta(days=d)
        rows = list(_rows(day, per_day, misfits))
        for lo in range(0, len(rows), SEED_CHUNK):
            part = rows[lo : lo + SEED_CHUNK]
            with db.begin() as conn:
                conn.execute(insert(videos), [v for v, _c in part])
                conn.execute(insert(classes), [c for _v, c in part])
        total += len(rows)
    if db.engine.dialect.name == "postgresql":  # the planner's statistics of the fresh tables, as autovacuum would
        with db.begin() as conn:
            for table in (videos, classes):
                conn.execute(text(f"ANALYZE {table.fullname}"))
    return total


def _median_s(fn: Any, repeat: int) -> tuple[float, Any]:
    """(median wall seconds of ``repeat`` runs after one untimed run, the last result)."""
    out = fn()  # warm-up: every read is timed with the store's pages and the query plan cached alike
    times = []
    for _ in range(repeat):
        with timed() as t:
            out = fn()
        times.append(t.wall_s)
    return statistics.median(times), out


def run(args: argparse.Namespace) -> dict[str, Any]:
    _check(args)
    with scratch(args, "ray-topics-pool-stretch-") as tmp:
        overrides = list(args.set)
        schema = None
        if args.store == "postgresql":
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            overrides += [f"store.url={args.pg_url}", f"store.schema_name={schema}"]
        rt = Runtime(load_config(overrides=overrides, workdir=str(tmp)))
        try:
            return _measure(args, rt)
        finally:
            try:
                if schema is not None:
                    print(f"dropping schema {schema}")
                    rt.store.drop()
            finally:
                rt.store.dispose()


def _measure(args: argparse.Namespace, rt: Runtime) -> dict[str, Any]:
    cfg = rt.cfg.daily
    days = args.days or cfg.max_pool_window_days
    min_pool, _cluster = thresholds(cfg, args.daily_volume)  # as plan_daily takes it at this volume
    print(f"seeding {days} days x {args.daily_volume:,} videos ({args.misfits_per_day} misfits a day), {args.store}...")
    with timed() as t_seed:
        n = seed(rt, days, args.daily_volume, args.misfits_per_day)
    print(f"  {n:,} videos in {t_seed.wall_s:.0f}s")
    cls = rt.store.classifications
    base_start = AS_OF - timedelta(days=cfg.pool_window_days)
    longest = AS_OF - timedelta(days=cfg.max_pool_window_days)
    pool_s, pool = _median_s(
        lambda: cls.window(DOMAIN, base_start, AS_OF, misfit_below=cfg.misfit_confidence), args.repeat
    )
    walk_s, found = _median_s(
        lambda: cls.nth_newest_misfit(DOMAIN, longest, AS_OF, cfg.misfit_confidence, min_pool + 1), args.repeat
    )
    whole_s, (pool_days, stretched) = _median_s(lambda: misfit_pool(rt, DOMAIN, AS_OF, min_pool), args.repeat)
    walked = min(days, cfg.max_pool_window_days) if found is None else (AS_OF - found) / timedelta(days=1)
    t = Figures(ours="seconds", baseline="base pool read, seconds")
    t.add(f"base pool read ({cfg.pool_window_days} days, {len(pool)} misfits)", "(info)", pool_s, pool_s)
    t.add(
        f"reach-back walk ({walked:.1f} days of classifications; needed misfit "
        f"{'not found' if found is None else 'found'})",
        "(info)",
        walk_s,
        pool_s,
    )
    t.add(f"misfit_pool whole ({pool_days} days, {len(stretched)} misfits)", "(info)", whole_s, pool_s)
    t.print(f"pool reach-back on one domain at {args.daily_volume:,} videos a day ({args.store})")
    per_day_walk = walk_s / walked if walked else None
    print(f"\nwalk: {walk_s / pool_s:.1f}x the base pool read; {per_day_walk or 0:.3f}s per day walked")
    return {
        **run_info(args),
        "store": args.store,
        "videos": n,
        "days": days,
        "daily_volume": args.daily_volume,
        "misfits_per_day": args.misfits_per_day,
        "seed_s": t_seed.wall_s,
        "pool": {"seconds": pool_s, "days": cfg.pool_window_days, "misfits": len(pool)},
        "walk": {"seconds": walk_s, "days_walked": walked, "found": found is not None},
        "misfit_pool": {"seconds": whole_s, "days": pool_days, "misfits": len(stretched)},
        "tables": {"A": t.rows},
        "markdown": {"A": t.markdown()},
    }


main = main_of(build_parser, run)

if __name__ == "__main__":
    raise SystemExit(main())
