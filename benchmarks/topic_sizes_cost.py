"""The weekly and monthly jobs' count of their topics' videos (all time): this tree beside an earlier one's.

A topic's size is the videos assigned to it over all time, so the weekly job
(each changed topic's size) and the monthly merge (which of two near-duplicates
absorbs the other) count them. Before, the count read every row of the domain
(its misfits, its dead and merged topics' history, and the table's row for each
to find its domain); now it reads ``ix_class_topic_published``'s ranges of the
named topics alone. Both grow with the stored history (the figure is all time):
this measures by how much each does.

For each ``--volumes`` videos a day a store is seeded directly (as
``benchmarks.health_cost`` seeds it: refined videos, ``--domains`` domains of
``--topics`` topics, every video on a live topic, so no misfit or dead topic's
rows are skipped here: the gain measured is the index alone), and each tree
counts every domain's live topics in a fresh process at each of
``--days`` days stored (median of ``--repeats`` after an untimed warm-up).

Usage, from the repository root::

    git worktree add /tmp/before e0e256c
    .venv/bin/python -m benchmarks.topic_sizes_cost --volumes 50000 --days 30,90 --baseline-tree /tmp/before
    .venv/bin/python -m benchmarks.topic_sizes_cost --volumes 50000 --days 30,90 --baseline-tree /tmp/before \\
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, Table, in_tree, ints, main_of, parser, run_info
from benchmarks.health_cost import AS_OF, seed, seeded_volumes


def child_main(spec_path: str) -> None:
    """In a fresh process: each domain's live topics counted as the jobs count them; to ``spec["out"]``."""
    spec = json.loads(Path(spec_path).read_text())
    import ray_topics
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import open_store

    cfg = load_config(overrides=spec["overrides"], workdir=spec["workdir"])
    store = open_store(cfg)
    domains = store.activity.domains()
    live = {d: [t.topic_id for t in store.topics.list(d)] for d in domains}
    named = "topic_ids" in inspect.signature(store.classifications.topic_sizes).parameters  # this tree's read

    def count() -> int:
        sizes = [store.classifications.topic_sizes(d, live[d]) if named else store.classifications.topic_sizes(d)
                 for d in domains]  # fmt: skip
        return sum(sum(s.values()) for s in sizes)

    videos = count()
    times = []
    for _ in range(spec["repeats"]):
        t = time.perf_counter()
        count()
        times.append(time.perf_counter() - t)
    store.dispose()
    out = {
        "ray_topics": str(Path(ray_topics.__file__).resolve().parent),
        "named_topics": named,
        "sizes_s": statistics.median(times),
        "times_s": times,
        "videos": videos,
    }
    Path(spec["out"]).write_text(json.dumps(out))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import open_store

    trees = [("before", Path(args.baseline_tree).resolve())] if args.baseline_tree else []
    trees.append(("this tree", ROOT))
    table = Table(
        ["videos/day", "stored", "tree", "sizes s", "ratio", "videos"],
        ["videos/day", "days stored", "tree", "all domains' sizes s (median)", "ratio to before", "videos counted"],
        right=True,
    )
    rows: list[dict[str, Any]] = []
    for per_day, workdir, overrides in seeded_volumes(args, "sizes_cost"):
        cfg = load_config(overrides=overrides, workdir=str(workdir))
        stored = 0
        for total in sorted(args.days):
            store = open_store(cfg)
            t = time.perf_counter()
            seed(store, cfg, args, per_day, AS_OF - timedelta(days=total), total - stored)
            store.dispose()
            print(f"seeded {total - stored} days of {per_day:,} videos in {time.perf_counter() - t:.0f} s")
            stored = total
            base = None
            for name, tree in trees:
                spec = {"workdir": str(workdir), "overrides": overrides, "repeats": args.repeats}
                got = in_tree(tree, "benchmarks.topic_sizes_cost:child_main", spec)
                base = got["sizes_s"] if name == "before" else base
                print(f"  {name}: {got['sizes_s']:.2f} s (ray_topics from {got['ray_topics']})")
                rows.append({"videos_per_day": per_day, "days_stored": stored, "tree": name, **got})
                ratio = got["sizes_s"] / base if base else None
                table.add_row(f"{per_day:,}", stored, name, got["sizes_s"], ratio, f"{got['videos']:,}")
    table.print("Every domain's live topics counted (all time), each tree on the same store (medians)")
    return {**run_info(args), "rows": rows, "tables": {"topic_sizes_cost": table.rows}}


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--volumes", type=ints, default=[50_000], help="videos a day (default 50000)")
    p.add_argument("--days", type=ints, default=[30, 90], help="days stored, measured at each (default 30,90)")
    p.add_argument("--domains", type=int, default=3, help="domains of the default config (default 3)")
    p.add_argument("--topics", type=int, default=30, help="topics per domain (default 30)")
    p.add_argument("--channels", type=int, default=20_000, help="channels the videos come from (default 20000)")
    p.add_argument("--repeats", type=int, default=3, help="timed counts per tree and store (default 3)")
    p.add_argument("--baseline-tree", help="a checkout of an earlier commit, measured first on each store")
    p.add_argument("--pg-url", help="seed a PostgreSQL store there instead (schema sizes_cost_<volume>, dropped)")
    return p


main = main_of(build_parser, run)

if __name__ == "__main__":
    raise SystemExit(main())
