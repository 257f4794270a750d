"""Health's read as the stored history and the week grow: this tree beside an earlier one's, on the same store.

Health (``GET /v1/health``, ``/metrics``, ``ray-topics health``:
:func:`ray_topics.ops.health.health_and_routing` over every domain) reads the
week's classifications: per topic its videos, confidences and channels, and the
week's routes. Each Ingress replica computes it once per
``serve.health_cache_seconds``. For each ``--volumes`` videos a day a store is
seeded directly (not timed; as ingest leaves it: every classification refined
and carrying its video's channel and route), and health is computed at the
week's end in fresh processes, one per tree, on the same store:

1. the week alone (8 days stored);
2. with ``--history-days`` more days stored before the week (each of a list in
   turn): health must not cost more for them;
3. this tree again with the copies of channel and route cleared on every
   stored classification: a store written before classifications carried them
   (the first week after an upgrade, read through ``videos`` as before).

``--baseline-tree`` is a checkout of an earlier commit (``git worktree add
/tmp/before <commit>``); each figure is the median of ``--repeats``
computations after one untimed warm-up.

Usage, from the repository root::

    git worktree add /tmp/before f3faeb6
    .venv/bin/python -m benchmarks.health_cost --volumes 50000,200000 --baseline-tree /tmp/before
    .venv/bin/python -m benchmarks.health_cost --volumes 20000 --history-days 7 --baseline-tree /tmp/before  # quick
    .venv/bin/python -m benchmarks.health_cost --volumes 50000 --baseline-tree /tmp/before \\
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m benchmarks.health_cost --volumes 20000 --history-days 21,91,357 --keep-copies \\
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # a year stored
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import ROOT, Table, in_tree, ints, main_of, parser, run_info, scratch

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
WEEK_DAYS = 8  # the week health reads, and the day before it
SLICE = 100_000  # videos generated and inserted at a time while seeding
CHANNEL_SKEW = 1.1  # Zipf exponent of the videos' channels: a few busy channels, a long tail


def seed(store: Any, cfg: Any, args: argparse.Namespace, per_day: int, first_day: datetime, days: int) -> int:
    """``per_day`` refined videos a day over ``days`` days from ``first_day`` (topics and versions made once)."""
    import pandas as pd

    from benchmarks.monthly_cost import _write_store
    from ray_topics.core.snapshot import version_name
    from ray_topics.core.types import Topic, TopicStatus
    from ray_topics.storage.registry import ModelRegistry

    domains = list(cfg.domains.names)[: args.domains]
    topic_ids = np.array([f"{d}:{k}" for d in domains for k in range(args.topics)])
    if not store.topics.list(None):
        born = AS_OF - timedelta(days=365)
        with store.begin() as conn:
            topic = dict(keywords=[], centroid=np.zeros(cfg.embedding.dim, np.float32), sim_mean=0.6, sim_std=0.05,
                         size=0, status=TopicStatus.ACTIVE, born_at=born, last_seen_at=born)  # fmt: skip
            store.topics.upsert(
                [
                    Topic(topic_id=t, domain=t.split(":")[0], number=int(t.split(":")[1]), label=t, **topic)
                    for t in topic_ids
                ],
                conn,
            )
            for d in domains:
                ModelRegistry(store, cfg.embedding.dim).publish(d, born, "seed", conn)
    versions = {d: version_name(d, v) for d, v in store.models.latest_versions().items()}
    rng = np.random.default_rng(args.seed + int(first_day.timestamp()))
    never_hot = AS_OF + timedelta(days=1)  # no embedding rows: health does not read them
    for day in range(days):
        day_start = first_day + timedelta(days=day)
        for lo in range(0, per_day, SLICE):
            n = min(SLICE, per_day - lo)
            topic = rng.integers(len(topic_ids), size=n)
            at = [day_start + timedelta(seconds=float(s)) for s in np.sort(rng.random(n)) * 86_400]
            videos = pd.DataFrame(
                {
                    "video_id": [f"v{day_start:%Y%m%d}-{lo + i}" for i in range(n)],
                    "domain": [t.split(":")[0] for t in topic_ids[topic]],
                    "channel_id": [f"c{k % args.channels}" for k in rng.zipf(CHANNEL_SKEW, size=n)],
                    "title": "t",
                    "description": "",
                    "tags": [[] for _ in range(n)],
                    "views": 0,
                    "published_at": pd.to_datetime(at, utc=True),
                }
            )
            conf = rng.uniform(0.3, 1.0, size=n)
            _write_store(store, videos, np.zeros((n, 1), np.float32), topic_ids[topic], conf, versions, never_hot)
    return per_day * days


def child_main(spec_path: str) -> None:
    """In a fresh process: health at :data:`AS_OF`, one untimed warm-up, then ``repeats`` timed; to its out."""
    spec = json.loads(Path(spec_path).read_text())
    import ray_topics
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import open_store
    from ray_topics.ops.health import health_and_routing

    cfg = load_config(overrides=spec["overrides"], workdir=spec["workdir"])
    store = open_store(cfg)
    items, routing = health_and_routing(store, AS_OF, cfg)
    times = []
    for _ in range(spec["repeats"]):
        t = time.perf_counter()
        health_and_routing(store, AS_OF, cfg)
        times.append(time.perf_counter() - t)
    store.dispose()
    out = {
        "ray_topics": str(Path(ray_topics.__file__).resolve().parent),
        "health_s": statistics.median(times),
        "times_s": times,
        "topics": len(items),
        "videos_week": sum(h.videos_week for h in items),
        "routed_week": sum(routing["videos"].values()),
    }
    Path(spec["out"]).write_text(json.dumps(out))


def _clear_copies(cfg: Any) -> None:
    """The store as one written before classifications carried their video's channel and route."""
    from sqlalchemy import text

    from ray_topics.execution.runtime import open_store

    store = open_store(cfg)
    c = store.table("classifications")
    with store.begin() as conn:
        conn.execute(c.update().values(channel_id=None, route=None))
    if store.dialect == "postgresql":  # the update's dead row versions gone, as in a store never written with them
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM ANALYZE {store.engine.dialect.identifier_preparer.format_table(c)}"))
    store.dispose()


def seeded_volumes(args: argparse.Namespace, name: str) -> Iterator[tuple[int, Path, list[str]]]:
    """For each ``--volumes``: (videos a day, a scratch workdir, the overrides that open its empty store: SQLite
    there, or with ``--pg-url`` the schema ``<name>_<volume>`` there), cleaned up when the next is taken."""
    for per_day in args.volumes:
        with (
            scratch(args, f"{name.replace('_', '-')}-{per_day}-") as workdir,
            pg_schema(args, f"{name}_{per_day}") as pg,
        ):
            yield per_day, workdir, [*args.set, *pg]


@contextlib.contextmanager
def pg_schema(args: argparse.Namespace, schema: str) -> Iterator[list[str]]:
    """With ``--pg-url``: the overrides that put the store in ``schema`` there, dropped before and after."""
    if not args.pg_url:
        yield []
        return
    from ray_topics.storage.db import Database

    db = Database(args.pg_url, schema=schema, create=False)
    db.drop()
    try:
        yield [f"store.url={args.pg_url}", f"store.schema_name={schema}"]
    finally:
        db.drop()
        db.dispose()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import open_store

    trees = [("before", Path(args.baseline_tree).resolve())] if args.baseline_tree else []
    trees.append(("this tree", ROOT))
    table = Table(
        ["videos/day", "stored", "tree", "health s", "ratio", "to week", "week videos", "topics"],
        [
            "videos/day",
            "days stored",
            "tree",
            "health s (median)",
            "ratio to before",
            "ratio to the week alone",
            "videos in the week",
            "topics",
        ],
        right=True,
    )
    rows: list[dict[str, Any]] = []
    for per_day, workdir, overrides in seeded_volumes(args, "health_cost"):
        cfg = load_config(overrides=overrides, workdir=str(workdir))
        stages = [("week", AS_OF - timedelta(days=WEEK_DAYS), WEEK_DAYS)]
        before = 0  # days stored before the week so far; each stage adds the days before those
        for total in sorted(d for d in args.history_days if d > 0):
            stages.append(("history", AS_OF - timedelta(days=WEEK_DAYS + total), total - before))
            before = total
        stored, alone = 0, {}  # alone: each tree's figure with the week alone stored
        for i, (stage, first_day, days) in enumerate(stages):
            store = open_store(cfg)
            t = time.perf_counter()
            seed(store, cfg, args, per_day, first_day, days)
            store.dispose()
            stored += days
            print(f"seeded {days} days of {per_day:,} videos in {time.perf_counter() - t:.0f} s ({stage})")
            runs = list(trees)
            if i == len(stages) - 1 and not args.keep_copies:
                runs.append(("this tree, copies cleared", ROOT))
            base = None
            for name, tree in runs:
                if name.endswith("cleared"):
                    _clear_copies(cfg)
                spec = {"workdir": str(workdir), "overrides": overrides, "repeats": args.repeats}
                got = in_tree(tree, "benchmarks.health_cost:child_main", spec)
                base = got["health_s"] if name == "before" else base
                ratio = got["health_s"] / base if base else None
                if not i:
                    alone[name] = got["health_s"]
                print(f"  {name}: {got['health_s']:.2f} s (ray_topics from {got['ray_topics']})")
                rows.append({"videos_per_day": per_day, "days_stored": stored, "tree": name, **got})
                to_week = got["health_s"] / alone[name] if i and name in alone else None
                table.add_row(f"{per_day:,}", stored, name, got["health_s"], ratio, to_week,
                              f"{got['videos_week']:,}", got["topics"])  # fmt: skip
    table.print("Health computed at the week's end, each tree on the same store (medians)")
    return {**run_info(args), "rows": rows, "tables": {"health_cost": table.rows}}


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--volumes", type=ints, default=[50_000, 200_000], help="videos a day (default 50000,200000)")
    p.add_argument(
        "--history-days",
        type=ints,
        default=[21],
        help="days stored before the week, measured at each (default 21; 0 for none; 21,91,357: up to a year)",
    )
    p.add_argument("--domains", type=int, default=3, help="domains of the default config (default 3)")
    p.add_argument("--topics", type=int, default=30, help="topics per domain (default 30)")
    p.add_argument("--channels", type=int, default=20_000, help="channels the videos come from (default 20000)")
    p.add_argument("--repeats", type=int, default=3, help="timed computations per tree and store (default 3)")
    p.add_argument("--baseline-tree", help="a checkout of an earlier commit, measured first on each store")
    p.add_argument(
        "--keep-copies",
        action="store_true",
        help="skip step 3 (clearing the copies rewrites every stored row: long with a year stored)",
    )
    p.add_argument("--pg-url", help="seed a PostgreSQL store there instead (schema health_cost_<volume>, dropped)")
    return p


main = main_of(build_parser, run)

if __name__ == "__main__":
    raise SystemExit(main())
