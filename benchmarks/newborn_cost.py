"""What a newborn taking its window's videos costs the daily job on a busy store (issue 14).

When the daily job bears a topic, :func:`ray_topics.tiers.daily.fitting_newborns`
reclassifies every video of the domain's pool window (``daily.pool_window_days``)
against the model with the newborn, reading their embeddings
``monthly.reassign_chunk`` at a time. On a domain of tens of thousands of
videos a day that is the largest read the daily job makes, and it happens
on every day with a birth. Measured on a store seeded at 50,000 videos a day
(``benchmarks.serve_sustained --seed-to``), per domain, in one run:

* ``daily``: the domain's whole daily plan at ``--as-of`` (:func:`plan_daily`,
  nothing committed; after one untimed plan that compiles numba's code), with
  the births it found and the videos it moved;
* ``rule``: :func:`fitting_newborns` alone for one synthetic newborn (a live
  topic's centroid turned by a small angle, so that some videos move), the
  cost a birth adds whatever the day's births.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.serve_sustained --seed-to /tmp/busy --days 8 --daily-volume 50000
    .venv/bin/python -m benchmarks.newborn_cost --store /tmp/busy --out newborn_cost.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from benchmarks.harness import main_of, parser, run_info, timed
from benchmarks.serve_sustained import HISTORY_END
from ray_topics.config import load_config
from ray_topics.core.index import normalize
from ray_topics.core.lifecycle import model_of
from ray_topics.core.types import LIVE_STATUSES
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers.daily import fitting_newborns, plan_daily

TURN = 0.3  # the synthetic newborn's centroid: a live topic's, plus this much of a random direction


def run(args: argparse.Namespace) -> dict[str, Any]:
    rt = Runtime(load_config(overrides=args.set, workdir=args.store))
    as_of = datetime.fromisoformat(args.as_of).replace(tzinfo=UTC)
    window = (as_of - timedelta(days=rt.cfg.daily.pool_window_days), as_of)
    rng = np.random.default_rng(args.seed)
    plan_daily(rt, rt.cfg.domains.names[0], as_of)  # warm-up, not timed: numba compiles UMAP and HDBSCAN once
    rows = []
    for domain in rt.cfg.domains.names:
        live = rt.store.topics.list(domain, LIVE_STATUSES)
        videos = sum(1 for _ in rt.store.classifications.iter_window_ids(domain, *window))
        if not live or not videos:
            continue
        with timed() as daily:
            plan = plan_daily(rt, domain, as_of)
        base = max(live, key=lambda t: t.size)
        centroid = normalize(base.centroid + TURN * normalize(rng.standard_normal(base.centroid.shape)))
        newborn = dataclasses.replace(base, topic_id=f"{domain}:newborn", number=10**6, centroid=centroid)
        index = model_of(domain, [*live, newborn], rt.cfg.embedding.dim).index(**rt.confidence)
        with timed() as rule:
            moved = fitting_newborns(rt, domain, index, {newborn.topic_id}, window, skip=set())
        rows.append(
            {
                "domain": domain,
                "window_videos": videos,
                "daily_wall_s": daily.wall_s,
                "daily_cpu_s": daily.cpu_s,
                "daily_births": plan.stats.get("births", 0),
                "daily_moved": plan.stats.get("moved_to_newborns"),
                "rule_wall_s": rule.wall_s,
                "rule_cpu_s": rule.cpu_s,
                "rule_moved": len(moved),
            }
        )
        r = rows[-1]
        print(
            f"  {domain:<8} {videos:>8,} videos in the window | daily plan {r['daily_wall_s']:6.1f} s wall "
            f"{r['daily_cpu_s']:6.1f} s CPU ({r['daily_births']} births, moved {r['daily_moved']}) | "
            f"rule {r['rule_wall_s']:6.1f} s wall {r['rule_cpu_s']:6.1f} s CPU ({r['rule_moved']:,} moved)",
            flush=True,
        )
    return {"benchmark": "newborn_cost", **run_info(args), "as_of": as_of.isoformat(), "domains": rows}


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--store", required=True, help="a workdir seeded by benchmarks.serve_sustained --seed-to")
    p.add_argument("--as-of", default=HISTORY_END.date().isoformat(), help="the daily's as-of (the seed's end)")
    return p


main = main_of(build_parser, run)


if __name__ == "__main__":
    sys.exit(main())
