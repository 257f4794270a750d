"""What the story view costs where it is served: the stories job beside the daily job, its reads beside health's.

The stories job (:func:`ray_topics.tiers.stories.run_stories`) places the
last ``global_topics.place_days`` days (default ``daily.pool_window_days``):
it reads every domain's classifications and embeddings of those days once,
compares each fitting video with every topic's centroid, and
stores the videos whose story is another topic. ``GET /v1/stories``, the
report and a video's ``story_id`` then read the stored moves only
(:mod:`ray_topics.ops.stories`). Measured on a store seeded by
``benchmarks.serve_sustained --seed-to`` (a planted stream of three domains
replayed through every tier, the stories job included, up to an hour before
its last midnight), in one run:

* ``daily job``: :func:`run_daily` at the seed's last midnight (due there),
  the baseline the stories job is set beside: both run once a day;
* ``stories job``: :func:`run_stories` for the same midnight, after it, as
  the schedule orders them;
* ``GET /v1/stories`` (:func:`placed_stories` over ``serve.story_days``)
  beside ``GET /v1/health`` (:func:`health_and_routing`, a week of activity):
  both are computed at most once per ``serve.health_cache_seconds`` per
  replica; medians of ``--repeats`` calls taking turns;
* a video's story (:func:`story_of_video`, ``GET /v1/videos/{id}`` reads it)
  beside the read of its classification that request already made, over
  ``--videos`` videos of the last placed day;
* the story view computed from embeddings over the same days
  (:func:`story_view`, ``ray-topics stories``): what reading it from the
  stored moves saves; and a check that the stored view of the day just
  placed is the view computed for it.

The reads are measured twice: on the moves as placed, then with
``--moved-share`` of the days' fitting videos moved to another domain's
topic (planted moves replacing the stored ones), so that they scan as many
moves as a stream whose stories cross domains that much would store. The
script writes to the store (the two jobs commit, the planted moves stay):
run it on a copy of a seeded workdir.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.serve_sustained --seed-to /tmp/busy --days 8 --daily-volume 50000
    .venv/bin/python -m benchmarks.stories_cost --store /tmp/busy --out stories_cost.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from benchmarks.harness import Table, main_of, medians_in_turns, parser, run_info, timed_call
from benchmarks.serve_sustained import HISTORY_END
from ray_topics.config import load_config
from ray_topics.core.types import LIVE_STATUSES
from ray_topics.execution.runtime import Runtime
from ray_topics.ops.health import health_and_routing
from ray_topics.ops.stories import placed_stories, story_of_video
from ray_topics.tiers.daily import plan_daily, run_daily
from ray_topics.tiers.stories import run_stories, story_view

MILLIS = 1e3


def _videos_of(rt: Runtime, start: datetime, end: datetime, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` classification rows of ``[start, end)``, spread over the domains."""
    each = max(1, n // len(rt.cfg.domains.names))
    rows = []
    for d in rt.cfg.domains.names:
        rows += rt.store.classifications.window(d, start, end, with_text=False)[:each]
    return rows


def plant_moves(rt: Runtime, start: datetime, end: datetime, share: float, rng: np.random.Generator) -> int:
    """The stored moves of ``[start, end)`` replaced by ``share`` of the fitting videos, each told under a
    random live topic of another domain: the reads then scan as many moves as a stream that moves that
    share would store. Returns the moves written."""
    fit = rt.cfg.daily.misfit_confidence
    live = rt.store.topics.list(statuses=LIVE_STATUSES)
    moves = []
    for d in rt.cfg.domains.names:
        elsewhere = [t.topic_id for t in live if t.domain != d]
        for r in rt.store.classifications.window(d, start, end, with_text=False):
            if r["topic_id"] is not None and r["confidence"] >= fit and rng.random() < share:
                moves.append(
                    {
                        "video_id": r["video_id"],
                        "domain": d,
                        "published_at": r["published_at"],
                        "topic_id": r["topic_id"],
                        "story_id": elsewhere[int(rng.integers(len(elsewhere)))],
                        "placed_at": end,
                    }
                )
    rt.store.stories.stage("planted", moves)  # the stories job's own write path
    with rt.store.begin() as conn:
        rt.store.stories.promote("planted", start, end, len(moves), conn)
    return len(moves)


def measure_reads(rt: Runtime, as_of: datetime, days: int, rows: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """The reads the API makes (ms), each beside its baseline, medians of ``repeats`` calls taking turns."""
    fit = rt.cfg.daily.misfit_confidence
    health_s, stories_s = medians_in_turns(
        [lambda: health_and_routing(rt.store, as_of, rt.cfg), lambda: placed_stories(rt.store, fit, days)], repeats
    )

    def read_each() -> None:
        for r in rows:
            rt.store.classifications.get([r["video_id"]])

    def story_each() -> None:
        for r in rows:
            story_of_video(rt.store, r, fit)

    get_s, story_s = medians_in_turns([read_each, story_each], repeats)
    _view, computed = timed_call(lambda: story_view(rt, as_of - timedelta(days=days), as_of))
    _end, served = placed_stories(rt.store, fit, days)
    return {
        "moves": rt.store.count("story_moves"),
        "stories": len(served),
        "stories_ms": stories_s * MILLIS,
        "health_ms": health_s * MILLIS,
        "video_story_ms": story_s / len(rows) * MILLIS,
        "video_get_ms": get_s / len(rows) * MILLIS,
        "computed_view_ms": computed.wall_s * MILLIS,
    }


def reads_table(measured: list[tuple[str, dict[str, Any]]], days: int) -> Table:
    t = Table(
        ("moves", "read", "ms", "baseline", "ratio"),
        ("moves stored", "read (vs baseline)", "ms", "baseline ms", "ratio"),
        nd=2,
    )
    for label, m in measured:
        moves = f"{label}: {m['moves']:,}"
        t.add_row(moves, f"GET /v1/stories, {days} days, {m['stories']} stories (vs GET /v1/health)",
                  m["stories_ms"], m["health_ms"], m["stories_ms"] / m["health_ms"])  # fmt: skip
        t.add_row(moves, "a video's story (vs its classification read), per video", m["video_story_ms"],
                  m["video_get_ms"], m["video_story_ms"] / m["video_get_ms"])  # fmt: skip
        t.add_row(moves, f"the view computed from embeddings, {days} days (vs the stored read)",
                  m["computed_view_ms"], m["stories_ms"], m["computed_view_ms"] / m["stories_ms"])  # fmt: skip
    return t


def run(args: argparse.Namespace) -> dict[str, Any]:
    rt = Runtime(load_config(overrides=args.set, workdir=args.store))
    as_of = datetime.fromisoformat(args.as_of).replace(tzinfo=UTC)
    fit, days = rt.cfg.daily.misfit_confidence, rt.cfg.serve.story_days
    day = (as_of - timedelta(days=1), as_of)
    videos = {d: sum(1 for _ in rt.store.classifications.iter_window_ids(d, *day)) for d in rt.cfg.domains.names}
    print(f"the day ending {as_of:%Y-%m-%d}: {videos}", flush=True)
    if not sum(videos.values()):
        raise SystemExit(f"no video published in the day ending {as_of:%Y-%m-%d} in {args.store}: seed it first")

    plan_daily(rt, rt.cfg.domains.names[0], as_of)  # warm-up, not timed: numba compiles UMAP and HDBSCAN once
    daily_out, daily = timed_call(lambda: run_daily(rt, as_of, force=True))
    placed, stories = timed_call(lambda: run_stories(rt, as_of, force=True))
    jobs = Table(
        ("job", "videos", "wall", "cpu", "ratio"),
        ("job", "videos (daily: of the day; stories: placed)", "s wall", "s CPU", "wall / daily"),
        nd=2,
    )
    jobs.add_row("daily job (baseline)", sum(videos.values()), daily.wall_s, daily.cpu_s, 1.0)
    jobs.add_row(
        f"stories job ({placed['days']} days placed)",
        sum(placed["placed"].values()),
        stories.wall_s,
        stories.cpu_s,
        stories.wall_s / daily.wall_s,
    )
    jobs.print(f"the jobs of the midnight {as_of:%Y-%m-%d} (store {args.store})")
    print(f"stories job: {placed}")

    # the day just placed was placed among today's topics: its stored view is the computed one
    _end, last = placed_stories(rt.store, fit, 1)
    today = story_view(rt, *day)
    agree = all(Counter(s["videos"]) == +today[s["topic_id"]] for s in last)
    rows = _videos_of(rt, *day, args.videos)
    measured = [("as placed", measure_reads(rt, as_of, days, rows, args.repeats))]
    if args.moved_share > 0:
        plant_moves(rt, as_of - timedelta(days=days), as_of, args.moved_share, np.random.default_rng(args.seed))
        measured.append((f"{args.moved_share:.0%} planted", measure_reads(rt, as_of, days, rows, args.repeats)))
    reads = reads_table(measured, days)
    reads.print(f"the story view's reads (the stored day = the computed day: {agree})")
    return {
        "benchmark": "stories_cost",
        **run_info(args),
        "as_of": as_of.isoformat(),
        "videos_of_the_day": videos,
        "daily": dataclasses.asdict(daily),
        "daily_births": {d: s.get("births", 0) for d, s in daily_out.items() if isinstance(s, dict)},
        "stories": dataclasses.asdict(stories),
        "stories_summary": placed,
        "stored_day_is_computed_day": agree,
        "reads": dict(measured),
        "story_days": days,
        "tables": {"jobs": jobs.rows, "reads": reads.rows},
        "markdown": {"jobs": jobs.markdown(), "reads": reads.markdown()},
    }


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--store", required=True, help="a workdir seeded by benchmarks.serve_sustained --seed-to")
    p.add_argument(
        "--as-of", default=HISTORY_END.date().isoformat(), help="the midnight whose jobs run (the seed's end)"
    )
    p.add_argument(
        "--repeats", type=int, default=5, help="repetitions of each read; the median is reported (default 5)"
    )
    p.add_argument("--videos", type=int, default=300, help="videos whose story is read (default 300)")
    p.add_argument(
        "--moved-share",
        type=float,
        default=0.1,
        help="then plant moves for this share of the days' fitting videos and read again (default 0.1; 0: no)",
    )
    return p


main = main_of(build_parser, run)


if __name__ == "__main__":
    sys.exit(main())
