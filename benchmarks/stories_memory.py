"""The stories job's memory and write-lock holds as the volume grows: this tree's job beside an earlier one's.

The stories job (:func:`ray_topics.tiers.stories.run_stories`) places every
video of the last ``global_topics.place_days`` days (default
``daily.pool_window_days``) that fits its answer. At 500,000 videos a day that
is 3.5M videos a week; the job must not hold them, nor their moves, at once,
and its writes must not hold SQLite's write lock (Tier 1's commits wait for
it) for long. For each ``--volumes`` videos a day, a store is seeded directly
(not timed), then the job runs at the window's end in fresh processes, one
per implementation, on the same store:

* ``--baseline-tree``: a checkout of an earlier commit (``git worktree add
  /tmp/before <commit>``); its ``ray_topics`` runs the job (forced), the
  figure this tree's job is set beside, in the same run;
* this tree's job, forced, on the same store.

Each child records its peak RSS (``VmHWM``) and RSS before the job (the
runtime opened: the floor both start from), wall and CPU seconds, the job's
summary, and every write transaction's hold of the write lock
(:func:`benchmarks.serve_sustained.watch_write_locks`: from its first write to
its commit), and its longest connection checkout
(:func:`benchmarks.serve_sustained.watch_checkouts`: a read transaction lives
inside one, so it bounds how long vacuum is held back). The child prints
which ``ray_topics`` it imported.

The seeded store (``--domains`` of the default config, ``--topics`` topics
each, random centroids): every video refined with its own domain's topic; a
``--moved-share`` of them lies at its answer's story in another domain (the
topic nearest to it is another domain's: the job moves it), ``--misfit-share``
are misfits (confidence below ``daily.misfit_confidence``); each video's
channel drawn uniformly from ``--channels`` (health groups the week by topic
and channel); embeddings in the hot table, as for the days refine has not yet
compacted out.

Usage, from the repository root::

    git worktree add /tmp/before d9c2dff
    .venv/bin/python -m benchmarks.stories_memory --volumes 10000,50000,200000 \\
        --baseline-tree /tmp/before --out stories_memory.json
    .venv/bin/python -m benchmarks.stories_memory --volumes 2000 --baseline-tree /tmp/before   # a quick look
    # this tree under two configs: placing by neighbours beside the centroid rule
    .venv/bin/python -m benchmarks.stories_memory --volumes 200000 --set global_topics.place_by=neighbours \\
        --baseline-tree . --baseline-set global_topics.place_by=centroid
    # the store on PostgreSQL (the cluster's), in a schema of its own, dropped after
    .venv/bin/python -m benchmarks.stories_memory --volumes 50000 --baseline-tree /tmp/before \\
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import ROOT, Table, in_tree, ints, main_of, parser, peak_rss_mb, run_info, scratch, status_mib

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
READ_REPEATS = 3  # computations of each whole read (stories, health) per store
READ_VIDEOS = 200  # single-video reads (a video's story, its answer) per store
SLICE = 100_000  # videos generated and inserted at a time while seeding
STORY_NOISE = 0.35  # a video's distance from its story's centroid (unit-norm noise scale)


def _centroids(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    c = rng.standard_normal((n, dim)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def seed(
    workdir: Path, args: argparse.Namespace, per_day: int, overrides: list[str], lake_before: datetime | None = None
) -> dict[str, Any]:
    """A store of ``per_day`` videos a day over the placed days, ending at :data:`AS_OF`; returns its counts.

    Every embedding is in the hot table; with ``lake_before``, those published before it are in the lake
    instead (one day file per day and domain, as refine's compaction and eviction leave them). Generated and
    written a day at a time: the seeding process holds one day's videos, never the whole lake's."""
    import pandas as pd

    from benchmarks.monthly_cost import _write_lake, _write_store
    from ray_topics.config import load_config
    from ray_topics.core.snapshot import version_name
    from ray_topics.core.types import Topic, TopicStatus
    from ray_topics.execution.runtime import Runtime

    cfg = load_config(overrides=overrides, workdir=str(workdir))
    rt = Runtime(cfg)
    if rt.store.count("videos"):
        raise SystemExit(f"{cfg.store.url} (schema {cfg.store.schema_name}) already holds videos: seed an empty store")
    domains = list(cfg.domains.names)[: args.domains]
    days = (cfg.global_topics.place_days or cfg.daily.pool_window_days) + 1  # placed at AS_OF - 1 day, then AS_OF
    rng = np.random.default_rng(args.seed)
    cents = _centroids(rng, len(domains) * args.topics, cfg.embedding.dim)
    topic_ids = [f"{d}:{k}" for d in domains for k in range(args.topics)]
    start = AS_OF - timedelta(days=days)
    with rt.store.begin() as conn:
        topics = [
            Topic(
                topic_id=tid,
                domain=tid.split(":")[0],
                number=int(tid.split(":")[1]),
                label=tid,
                keywords=[],
                centroid=cents[i],
                sim_mean=0.6,
                sim_std=0.05,
                size=0,
                status=TopicStatus.ACTIVE,
                born_at=start - timedelta(days=30),
                last_seen_at=start,
            )
            for i, tid in enumerate(topic_ids)
        ]
        rt.store.topics.upsert(
            topics,
            conn,
        )
        versions = {d: version_name(d, rt.registry.publish(d, start, "seed", conn)) for d in domains}
    n_total = per_day * days
    own_of = {d: [i for i, t in enumerate(topic_ids) if t.startswith(f"{d}:")] for d in domains}
    fit = cfg.daily.misfit_confidence
    hot_since = start if lake_before is None else max(start, lake_before)
    lake_videos = 0
    for day in range(days):  # a day at a time: one day's lake rows in memory, never the whole lake's
        day_start = start + timedelta(days=day)
        cold: list[tuple[pd.DataFrame, np.ndarray]] = []
        for lo in range(0, per_day, SLICE):
            n = min(SLICE, per_day - lo)
            dom = rng.integers(len(domains), size=n)
            answer = np.array(
                [own_of[domains[d]][k] for d, k in zip(dom, rng.integers(args.topics, size=n), strict=True)]
            )
            story = answer.copy()
            moved = rng.random(n) < args.moved_share  # their story: a topic of another domain
            other = (dom[moved] + rng.integers(1, len(domains), size=int(moved.sum()))) % len(domains)
            story[moved] = [
                own_of[domains[d]][k] for d, k in zip(other, rng.integers(args.topics, size=len(other)), strict=True)
            ]
            emb = cents[story] + STORY_NOISE * rng.standard_normal((n, cfg.embedding.dim)).astype(np.float32) / np.sqrt(
                cfg.embedding.dim
            )
            emb /= np.linalg.norm(emb, axis=1, keepdims=True)
            conf = np.where(rng.random(n) < args.misfit_share, fit / 2, 0.9)
            first = day * per_day + lo
            videos = pd.DataFrame(
                {
                    "video_id": [f"v{first + i}" for i in range(n)],
                    "domain": [domains[d] for d in dom],
                    "channel_id": [f"c{k}" for k in rng.integers(args.channels, size=n)],
                    "title": "t",
                    "description": "",
                    "tags": [[] for _ in range(n)],
                    "views": 0,
                    "published_at": pd.to_datetime(
                        [day_start + timedelta(seconds=float(s)) for s in np.sort(rng.random(n)) * 86_400], utc=True
                    ),
                }
            )
            _write_store(rt.store, videos, emb, np.array(topic_ids)[answer], conf, versions, hot_since)
            old = (videos["published_at"] < hot_since).to_numpy()
            if old.any():  # a day's file is written once, whole: this slice's old rows wait for the day's others
                cold.append((videos[old], emb[old]))
        if cold:
            frames = pd.concat([v for v, _e in cold], ignore_index=True)
            embs = np.concatenate([e for _v, e in cold])
            order = np.argsort(frames["published_at"].to_numpy(), kind="stable")  # the day in time order
            _write_lake(rt.lake, frames.iloc[order].reset_index(drop=True), embs[order])
            lake_videos += len(frames)
    rt.store.dispose()
    return {"videos": n_total, "days": days, "domains": domains, "lake_videos": lake_videos}


def child_main(spec_path: str) -> None:
    """In a fresh process: the stories job at the midnight before :data:`AS_OF` (the first placement: no move
    stored), then at :data:`AS_OF` (the next midnight: the days placed again, one new); figures to its out."""
    spec = json.loads(Path(spec_path).read_text())
    import ray_topics
    from benchmarks.serve_sustained import watch_checkouts, watch_write_locks
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime
    from ray_topics.tiers.stories import run_stories

    rt = Runtime(load_config(overrides=spec["overrides"], workdir=spec["workdir"]))
    runs_table = rt.store.table("job_runs")
    with rt.store.begin() as conn:  # set-up: the store as before its first placement (another child placed it)
        conn.execute(rt.store.table("story_moves").delete())
        conn.execute(runs_table.delete().where(runs_table.c.job == "stories"))
    floor = status_mib("VmRSS")
    holds: list[dict[str, Any]] = []
    watch_write_locks(rt.store.engine, holds)
    checkouts: list[float] = []
    watch_checkouts(rt.store.engine, checkouts)
    runs = []
    for as_of in (AS_OF - timedelta(days=1), AS_OF):
        first, t0, c0 = len(holds), time.perf_counter(), time.process_time()
        checkouts.clear()
        stats = run_stories(rt, as_of, force=True)
        runs.append(
            {
                "as_of": as_of.isoformat(),
                "wall_s": time.perf_counter() - t0,
                "cpu_s": time.process_time() - c0,
                "stats": stats,
                "write_transactions": len(holds) - first,
                "longest_holds_s": sorted((h["held_s"] for h in holds[first:]), reverse=True)[:3],
                "moves_stored": rt.store.count("story_moves"),
                "longest_checkout_s": max(checkouts, default=0.0),
            }
        )
    out = {
        "ray_topics": str(Path(ray_topics.__file__).resolve().parent),
        "rss_before_mb": floor,
        "peak_rss_mb": peak_rss_mb(),
        "runs": runs,
        "reads": read_costs(rt) if spec.get("reads") else None,
    }
    Path(spec["out"]).write_text(json.dumps(out, default=str))


def read_costs(rt: Any, repeats: int = READ_REPEATS, videos: int = READ_VIDEOS) -> dict[str, float]:
    """What the API's story reads compute on this store, each beside its baseline, medians in seconds.

    ``GET /v1/stories`` computed (:func:`ray_topics.ops.stories.placed_stories` over ``serve.story_days``:
    one grouped read of the placed moves) beside ``GET /v1/health`` computed
    (:func:`ray_topics.ops.health.health_and_routing` at the window's end), in turns; and a video's story
    (``story_moves`` by id) beside its answer (``classifications`` by id), one video per read, ``videos``
    videos of the window's last day.
    """
    from ray_topics.ops.health import health_and_routing
    from ray_topics.ops.stories import placed_stories

    cfg, store = rt.cfg, rt.store
    fit = cfg.daily.misfit_confidence
    stories_s, health_s = [], []
    for _ in range(repeats):
        stories_s.append(_timed(lambda: placed_stories(store, fit, cfg.serve.story_days)))
        health_s.append(_timed(lambda: health_and_routing(store, AS_OF, cfg)))
    day = [v for v, _t in itertools.islice(store.classifications.iter_window_ids(cfg.domains.names[0],
           AS_OF - timedelta(days=1), AS_OF), videos)]  # fmt: skip
    if not day:
        raise SystemExit("read_costs: the window's last day holds no video of the first domain")
    story_s, answer_s = [], []
    for v in day:
        story_s.append(_timed(lambda v=v: store.stories.stories_of([v], fit)))
        answer_s.append(_timed(lambda v=v: store.classifications.get([v])))
    med = statistics.median
    return {
        "stories_s": med(stories_s),
        "health_s": med(health_s),
        "video_story_s": med(story_s),
        "video_answer_s": med(answer_s),
        "stories_found": len(placed_stories(store, fit, cfg.serve.story_days)[1]),
    }


def _timed(call: Any) -> float:
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


def run_job(tree: Path, workdir: Path, overrides: list[str], reads: bool = False) -> dict[str, Any]:
    """The job in a fresh interpreter that imports ``ray_topics`` from ``tree`` (its other modules from here);
    with ``reads``, :func:`read_costs` after it (that tree's reads, on the same store)."""
    spec = {"workdir": str(workdir), "overrides": overrides, "reads": reads}
    return in_tree(tree, "benchmarks.stories_memory:child_main", spec)


def _pg(args: argparse.Namespace, per_day: int) -> list[str]:
    """With ``--pg-url``: the overrides that put the store in a schema of its own on that server."""
    if not args.pg_url:
        return []
    return [f"store.url={args.pg_url}", f"store.schema_name=stories_memory_{per_day}"]


@contextlib.contextmanager
def _pg_schema(args: argparse.Namespace, per_day: int) -> Iterator[None]:
    """With ``--pg-url``: this volume's schema dropped before (a run killed earlier) and after."""
    if not args.pg_url:
        yield
        return
    from ray_topics.storage.db import Database

    db = Database(args.pg_url, schema=f"stories_memory_{per_day}", create=False)
    db.drop()
    try:
        yield
    finally:
        db.drop()
        db.dispose()


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.baseline_set and not args.baseline_tree:
        raise SystemExit("--baseline-set overrides the baseline's config: give --baseline-tree too (. for this tree)")
    before = "before" + (f" ({', '.join(args.baseline_set)})" if args.baseline_set else "")
    trees = [(before, Path(args.baseline_tree).resolve(), args.baseline_set)] if args.baseline_tree else []
    trees.append(("this tree" + (f" ({', '.join(args.set)})" if args.baseline_set else ""), ROOT, []))
    keys = ["videos/day", "job", "run", "videos placed", "moves", "stored", "wall s", "CPU s", "write txns",
            "longest holds s", "longest checkout s", "peak RSS MiB", "RSS before MiB"]  # fmt: skip
    table = Table(keys, right=True)
    rows: list[dict[str, Any]] = []
    for per_day in args.volumes:
        overrides = [*args.set, *_pg(args, per_day)]
        with scratch(args, f"stories-memory-{per_day}-") as workdir, _pg_schema(args, per_day):
            t = time.perf_counter()
            seeded = seed(workdir, args, per_day, overrides)
            print(f"seeded {seeded['videos']:,} videos ({per_day:,}/day) in {time.perf_counter() - t:.0f} s")
            for name, tree, extra in trees:
                got = run_job(tree, workdir, [*overrides, *extra], reads=True)
                print(f"  {name}: ray_topics from {got['ray_topics']}")
                rows.append({"videos_per_day": per_day, "job": name, **seeded, **got})
                for label, r in zip(("first", "next midnight"), got["runs"], strict=True):
                    table.add_row(
                        f"{per_day:,}",
                        name,
                        label,
                        f"{sum(r['stats']['placed'].values()):,}",
                        f"{sum(r['stats']['moved'].values()):,}",
                        f"{r['moves_stored']:,}",
                        f"{r['wall_s']:.1f}",
                        f"{r['cpu_s']:.1f}",
                        str(r["write_transactions"]),
                        ", ".join(f"{h:.3f}" for h in r["longest_holds_s"]),
                        f"{r.get('longest_checkout_s', 0.0):.2f}",
                        f"{got['peak_rss_mb']:.0f}",
                        f"{got['rss_before_mb']:.0f}",
                    )
    table.print(f"The stories job by volume ({args.domains} domains, {args.moved_share:.0%} of the videos moved)")
    reads = reads_table(rows)
    reads.print("The API's story reads computed on each store by each tree (medians), each beside its baseline")
    return {**run_info(args), "rows": rows, "tables": {"stories_memory": table.rows, "reads": reads.rows}}


def reads_table(rows: list[dict[str, Any]]) -> Table:
    """:func:`read_costs` of each volume, in milliseconds, with the ratio to each read's baseline."""
    t = Table(["videos/day", "job", "stories", "health", "ratio", "found", "video story", "video answer", "ratio "],
              ["videos/day", "tree", "stories ms", "health ms", "stories / health", "stories found",
               "video's story ms", "video's answer ms", "story / answer"], right=True)  # fmt: skip
    for r in rows:
        c = r.get("reads")
        if c:
            t.add_row(f"{r['videos_per_day']:,}", r["job"], 1000 * c["stories_s"], 1000 * c["health_s"],
                      c["stories_s"] / c["health_s"], c["stories_found"], 1000 * c["video_story_s"],
                      1000 * c["video_answer_s"], c["video_story_s"] / c["video_answer_s"])  # fmt: skip
    return t


def add_seed_options(p: argparse.ArgumentParser, misfit_share: float) -> None:
    """The options of :func:`seed` (and ``--volumes``), for the scripts that seed a store with it."""
    p.add_argument(
        "--volumes",
        type=ints,
        default=[10_000, 50_000],
        help="videos a day, comma-separated (default 10000,50000)",
    )
    p.add_argument("--domains", type=int, default=3, help="domains of the default config (default 3)")
    p.add_argument("--topics", type=int, default=20, help="topics per domain (default 20)")
    p.add_argument("--channels", type=int, default=1, help="channels the videos are drawn from, uniformly (default 1)")
    p.add_argument("--moved-share", type=float, default=0.2, help="share whose story is another domain's topic")
    p.add_argument(
        "--misfit-share",
        type=float,
        default=misfit_share,
        help=f"share answered below the fitting confidence (default {misfit_share})",
    )


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    add_seed_options(p, misfit_share=0.1)
    p.add_argument("--baseline-tree", help="a checkout of an earlier commit, whose job is measured first")
    p.add_argument(
        "--baseline-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override of the baseline's run only (after --set; repeatable): with --baseline-tree . "
        "the same code under two configs",
    )
    p.add_argument(
        "--pg-url", help="seed a PostgreSQL store there instead (schema stories_memory_<volume>, dropped after)"
    )
    return p


main = main_of(build_parser, run)

if __name__ == "__main__":
    raise SystemExit(main())
