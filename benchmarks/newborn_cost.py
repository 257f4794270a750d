"""What a newborn taking its window's videos, and an echo's read, cost the daily job on a busy store (issue 14).

When the daily job bears a topic, :func:`ray_topics.tiers.daily.fitting_newborns`
reclassifies every video of the domain's pool window against the model with
the newborn, reading their embeddings ``monthly.reassign_chunk`` at a time.
The window is ``daily.pool_window_days``, or longer when the pool is thin and
reaches back (up to ``daily.max_pool_window_days``, :func:`ray_topics.tiers.daily.pool_days`),
and the days past ``refine.hot_retention_days`` come from the lake. On any day
a birth elsewhere is still unechoed in the domain, :func:`ray_topics.tiers.echo.echo_births`
reads the pool window once more (twice on a day with an echo). On a domain of
tens of thousands of videos a day these are the largest reads the daily job
makes. Measured on a store seeded at 50,000 videos a day
(``benchmarks.serve_sustained --seed-to``), per domain, in one run:

* ``daily``: the domain's whole daily plan at ``--as-of`` (:func:`plan_daily`,
  nothing committed; after one untimed plan that compiles numba's code): the
  baseline every figure is set beside, with the births it found and the videos
  it moved;
* ``rule``: :func:`fitting_newborns` alone for one synthetic newborn (a live
  topic's centroid turned by a small angle, so that some videos move) over the
  pool window, the cost a birth adds whatever the day's births;
* ``rule, stretched``: the same over ``--stretch-days`` (default
  ``daily.max_pool_window_days``), what a birth from a pool that reached all
  the way back adds;
* ``echo, no echo``: :func:`echo_births` offered one guest (another
  domain's newborn) that no video of the domain is near (a random
  direction): one read, nothing echoed, what a day with a guest costs;
* ``echo, echoed``: offered a copy of the domain's largest topic as the guest,
  the topic itself left out of the domain's own: the guest takes that topic's
  videos and is echoed, so the window is read twice and they all move.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.serve_sustained --seed-to /tmp/busy --days 29 --daily-volume 50000
    .venv/bin/python -m benchmarks.newborn_cost --store /tmp/busy --out newborn_cost.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import numpy as np

from benchmarks.harness import Table, main_of, parser, run_info, timed_call
from benchmarks.serve_sustained import HISTORY_END
from ray_topics.config import load_config
from ray_topics.core.index import normalize
from ray_topics.core.lifecycle import model_of
from ray_topics.core.types import LIVE_STATUSES, Topic
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers import echo
from ray_topics.tiers.daily import fitting_newborns, plan_daily

TURN = 0.3  # the synthetic newborn's centroid: a live topic's, plus this much of a random direction
GUEST = "elsewhere"  # the domain the synthetic guests are said to be born in


def _echo(rt: Runtime, domain: str, own: list[Topic], guest: Topic, window: tuple[datetime, datetime]) -> Any:
    """:func:`echo_births` with ``guest`` as the one guest on offer (the store's births are not read)."""
    with mock.patch.object(echo, "guests_of", return_value=[guest]):
        return echo.echo_births(rt, domain, own, window, number=10**6 + 1)


def measure_domain(
    rt: Runtime, domain: str, as_of: datetime, stretch_days: int, rng: np.random.Generator
) -> dict[str, Any] | None:
    """Every figure of one domain (see the module doc); None when it has no live topic or no video."""
    cfg = rt.cfg.daily
    window = (as_of - timedelta(days=cfg.pool_window_days), as_of)
    stretched = (as_of - timedelta(days=stretch_days), as_of)
    live = rt.store.topics.list(domain, LIVE_STATUSES)
    count = {w: sum(1 for _ in rt.store.classifications.iter_window_ids(domain, *w)) for w in (window, stretched)}
    if not live or not count[window]:
        return None
    plan, daily = timed_call(lambda: plan_daily(rt, domain, as_of))
    base = max(live, key=lambda t: t.size)
    centroid = normalize(base.centroid + TURN * normalize(rng.standard_normal(base.centroid.shape)))
    newborn = dataclasses.replace(base, topic_id=f"{domain}:newborn", number=10**6, centroid=centroid)
    index = model_of(domain, [*live, newborn], rt.cfg.embedding.dim).index(**rt.confidence)
    rule = {
        key: timed_call(lambda w=w: fitting_newborns(rt, domain, index, {newborn.topic_id}, w, skip=set()))
        for key, w in (("rule", window), ("rule_stretched", stretched))
    }
    # a guest no video is near (a random direction): the read finds no part, nothing is echoed
    stranger = dataclasses.replace(
        base, topic_id=f"{GUEST}:0", domain=GUEST, centroid=normalize(rng.standard_normal(base.centroid.shape))
    )
    copied = dataclasses.replace(base, topic_id=f"{GUEST}:1", domain=GUEST)
    echoes = {
        "echo_none": timed_call(lambda: _echo(rt, domain, live, stranger, window)),
        "echo_echoed": timed_call(lambda: _echo(rt, domain, [t for t in live if t is not base], copied, window)),
    }
    return {
        "domain": domain,
        "window_videos": count[window],
        "stretched_days": stretch_days,
        "stretched_videos": count[stretched],
        "daily": dataclasses.asdict(daily),
        "daily_births": plan.stats.get("births", 0),
        "daily_moved": sum((plan.stats.get("moved_to_newborns") or {}).values()),
        **{k: {**dataclasses.asdict(t), "moved": len(moved)} for k, (moved, t) in rule.items()},
        **{
            k: {**dataclasses.asdict(t), "echoes": len(out.topics), "moved": len(out.reassign)}
            for k, (out, t) in echoes.items()
        },
    }


ROWS = (  # (key, what): the table's rows after the baseline
    ("rule", "a birth's rule, pool window"),
    ("rule_stretched", "a birth's rule, stretched window"),
    ("echo_none", "echo read, a guest not echoed"),
    ("echo_echoed", "echo read, a guest echoed"),
)


def table(rows: list[dict[str, Any]]) -> Table:
    """Per domain and read: wall and CPU seconds, the videos read and moved, and the share of the daily plan."""
    t = Table(
        ("domain", "read", "videos", "wall", "cpu", "ratio", "moved"),
        ("domain", "read", "videos in the window", "s wall", "s CPU", "wall / daily plan", "videos moved"),
        nd=2,
    )
    for r in rows:
        d = r["daily"]
        t.add_row(
            r["domain"],
            f"daily plan (baseline; {r['daily_births']} births)",
            r["window_videos"],
            d["wall_s"],
            d["cpu_s"],
            1.0,
            r["daily_moved"],
        )
        for key, what in ROWS:
            f = r[key]
            videos = r["stretched_videos"] if key == "rule_stretched" else r["window_videos"]
            label = f"{what} ({r['stretched_days']} days)" if key == "rule_stretched" else what
            if "echoes" in f:
                label += f": {f['echoes']} echo"
            t.add_row(r["domain"], label, videos, f["wall_s"], f["cpu_s"], f["wall_s"] / d["wall_s"], f["moved"])
    return t


def run(args: argparse.Namespace) -> dict[str, Any]:
    rt = Runtime(load_config(overrides=args.set, workdir=args.store))
    as_of = datetime.fromisoformat(args.as_of).replace(tzinfo=UTC)
    stretch = args.stretch_days or rt.cfg.daily.max_pool_window_days
    if stretch < 1:
        raise SystemExit("--stretch-days must be positive")
    rng = np.random.default_rng(args.seed)
    plan_daily(rt, rt.cfg.domains.names[0], as_of)  # warm-up, not timed: numba compiles UMAP and HDBSCAN once
    rows = []
    for domain in rt.cfg.domains.names:
        r = measure_domain(rt, domain, as_of, stretch, rng)
        if r is not None:
            rows.append(r)
            print(
                f"  {domain}: {r['window_videos']:,} videos in the pool window, "
                f"{r['stretched_videos']:,} in {stretch} days",
                flush=True,
            )
    t = table(rows)
    t.print(f"the daily job's window reads at {as_of:%Y-%m-%d} (store {args.store})")
    return {
        "benchmark": "newborn_cost",
        **run_info(args),
        "as_of": as_of.isoformat(),
        "domains": rows,
        "tables": {"A": t.rows},
        "markdown": {"A": t.markdown()},
    }


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--store", required=True, help="a workdir seeded by benchmarks.serve_sustained --seed-to")
    p.add_argument("--as-of", default=HISTORY_END.date().isoformat(), help="the daily's as-of (the seed's end)")
    p.add_argument("--stretch-days", type=int, help="the stretched window (default: daily.max_pool_window_days)")
    return p


main = main_of(build_parser, run)


if __name__ == "__main__":
    sys.exit(main())
