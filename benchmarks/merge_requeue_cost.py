"""The monthly job's holds of SQLite's write lock when it merges and splits topics: this tree beside an earlier one's.

A merge or a split changes every stored answer of the topics it touches: all of
their history. Before, the monthly commit rewrote that history in the transaction
that changed the topics, so the write lock (and every Tier 1 commit behind it) was
held for as long as the merged topics' history is long. Now the commit records the
topics in the requeue backlog (:mod:`ray_topics.storage.backlog`), and the job puts
their videos back in the refinement queue ``refine.batch_size`` per transaction,
then refines them as the hourly job does.

One history is seeded (:func:`benchmarks.monthly_cost.build_history`: ``--videos``
over ``--days`` days of the planted default scenario, whose near-duplicate pairs and
two-part topics are left for the monthly job to merge and split), copied once per
tree (the lake shared: the job only reads it), and each tree runs the monthly job on
its copy in a fresh process, with every write transaction's hold of the lock
recorded, from its first write to its commit
(:func:`benchmarks.serve_sustained.watch_write_locks`). Printed per tree: the job's
wall time and peak RSS, its write transactions, its longest holds (in all, in the
commits, and after them: this tree's requeue and refine), the videos it moved; then
whether both copies end with the same answer for every video.

Usage, from the repository root::

    git worktree add /tmp/before 5784f37
    .venv/bin/python -m benchmarks.merge_requeue_cost --videos 1000000 --baseline-tree /tmp/before
    .venv/bin/python -m benchmarks.merge_requeue_cost --videos 60000 --baseline-tree /tmp/before  # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, Table, domains_arg, frame_texts, in_tree, main_of, parser, run_info, scratch
from benchmarks.monthly_cost import build_history

LONGEST = 5  # holds listed per tree
MOVED_KEYS = ("reassigned", "requeued", "refined")  # per-domain counts the job reports (the older tree: the first)


def child_main(spec_path: str) -> None:
    """In a fresh process: the monthly job on ``spec["workdir"]``, each write transaction's hold recorded."""
    from benchmarks.harness import peak_rss_mb
    from benchmarks.serve_sustained import watch_write_locks

    spec = json.loads(Path(spec_path).read_text())
    import ray_topics
    import ray_topics.tiers.monthly as monthly
    import ray_topics.tiers.refine as refine
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime

    rt = Runtime(load_config(overrides=spec["overrides"], workdir=spec["workdir"]))
    holds: list[dict[str, Any]] = []
    watch_write_locks(rt.store.engine, holds)
    drained: list[float] = []  # when the job began requeueing (this tree's step after the commits)
    # the step after the commits calls refine_domain: from refine's loop (refine_domains), or, in the trees of
    # session 34, from monthly itself; the baseline tree has no such step
    owner = refine if hasattr(monthly, "refine_domains") else monthly if hasattr(monthly, "refine_domain") else None
    if owner is not None:
        refine_domain = owner.refine_domain

        def marked(*args: Any, **kwargs: Any) -> Any:
            drained.append(time.time())
            return refine_domain(*args, **kwargs)

        owner.refine_domain = marked
    t, cpu = time.perf_counter(), time.process_time()
    stats = monthly.run_monthly(rt, datetime.fromisoformat(spec["as_of"]))
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    rt.store.dispose()
    after = min(drained, default=float("inf"))
    held = sorted(holds, key=lambda h: h["held_s"], reverse=True)
    out = {
        "ray_topics": str(Path(ray_topics.__file__).resolve().parent),
        "wall_s": wall,
        "cpu_s": cpu,
        "transactions": len(held),
        "longest_s": [h["held_s"] for h in held[:LONGEST]],
        "longest_commit_s": max((h["held_s"] for h in held if h["start"] < after), default=0.0),
        "longest_after_s": max((h["held_s"] for h in held if h["start"] >= after), default=None),
        "held_s": sum(h["held_s"] for h in held),
        "peak_rss_mb": peak_rss_mb(),
        **{k: sum(int(s.get(k, 0) or 0) for s in stats.values()) for k in ("merges", "splits", *MOVED_KEYS)},
    }
    Path(spec["out"]).write_text(json.dumps(out))


def _answers(workdir: Path) -> dict[str, tuple[str | None, str]]:
    """Every video's (topic, status) in a copy's store."""
    with sqlite3.connect(workdir / "ray_topics.db") as conn:
        return {v: (t, s) for v, t, s in conn.execute("SELECT video_id, topic_id, status FROM classifications")}


def _copy(seeded: Path, to: Path) -> None:
    """The seeded store copied (each tree writes its own); the lake linked (the job reads it only)."""
    to.mkdir()
    for p in seeded.iterdir():
        if p.name == "lake":
            (to / "lake").symlink_to(p.resolve())
        elif p.is_file():
            shutil.copy2(p, to / p.name)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ray_topics.config import load_config
    from ray_topics.streams.planted import default_scenario
    from ray_topics.streams.synthetic import generate

    trees = [("before", Path(args.baseline_tree).resolve())] if args.baseline_tree else []
    trees.append(("this tree", ROOT))
    overrides = ["execution.engine=local", *args.set]
    with scratch(args, "merge-requeue-") as tmp:
        cfg = load_config(overrides=overrides, workdir=str(tmp / "probe"))
        domains = domains_arg(args.domains, cfg.domains.names)
        spec = default_scenario(
            days=args.days, daily_volume=max(1, round(args.videos / args.days)), domains=domains, seed=args.seed
        )
        stream = generate(spec)
        as_of = spec.start + timedelta(days=args.days)
        t = time.perf_counter()
        docs = frame_texts(stream.videos, cfg.embedding.max_chars)
        seeded = build_history(tmp / "seeded", overrides, stream.videos, stream.embeddings, docs, spec.start, as_of)
        print(
            f"seeded {seeded['videos']:,} videos over {args.days} days, {len(domains)} domains, "
            f"{seeded['topics']} topics in {time.perf_counter() - t:.0f} s; the monthly job as of {as_of:%Y-%m-%d}",
            flush=True,
        )
        del stream, docs
        table = Table(
            ["tree", "wall", "rss", "tx", "longest", "commit", "after", "held", "merges", "splits", *MOVED_KEYS],
            ["tree", "job wall s", "peak RSS MiB", "write transactions", "longest holds s",
             "longest in the commits s", "longest after them s", "held in all s", "merges", "splits",
             "moved in the commit", "requeued after it", "refined after it"],
            right=True,
        )  # fmt: skip
        rows, answers = [], {}
        for name, tree in trees:
            workdir = tmp / name.replace(" ", "-")
            _copy(tmp / "seeded", workdir)
            spec_ = {"workdir": str(workdir), "overrides": overrides, "as_of": as_of.isoformat()}
            got = in_tree(tree, "benchmarks.merge_requeue_cost:child_main", spec_)
            longest = ", ".join(f"{h:.3f}" for h in got["longest_s"])
            print(
                f"  {name}: {got['wall_s']:.0f} s, {got['transactions']} write transactions, longest held {longest} s "
                f"(ray_topics from {got['ray_topics']})",
                flush=True,
            )
            answers[name] = _answers(workdir)
            shutil.rmtree(workdir)
            rows.append({"tree": name, **got})
            table.add_row(
                name, got["wall_s"], round(got["peak_rss_mb"]), got["transactions"], longest,
                got["longest_commit_s"], got["longest_after_s"], got["held_s"], got["merges"], got["splits"],
                *(f"{got[k]:,}" for k in MOVED_KEYS),
            )  # fmt: skip
        table.print(f"The monthly job on {seeded['videos']:,} videos, each tree on a copy of one store")
        out: dict[str, Any] = {**run_info(args), "seeded": seeded, "rows": rows, "tables": {"trees": table.rows}}
        if len(answers) == 2:
            a, b = answers.values()
            same = sum(a[v][0] == b[v][0] for v in a) / len(a)
            left = sum(s == "preliminary" for _t, s in b.values())
            print(f"same topic for every video in both copies: {same:.6f} of {len(a):,}; preliminary left: {left}")
            out.update(same_answer=same, preliminary_left=left)
        return out


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--videos", type=int, default=1_000_000, help="videos of the seeded history (default 1000000)")
    p.add_argument("--days", type=int, default=90, help="days of history (default 90: the monthly lookback)")
    p.add_argument("--domains", default="3", help="a count of the config's domains, or names (default 3)")
    p.add_argument("--baseline-tree", help="a checkout of an earlier commit, run first on its own copy")
    return p


main = main_of(build_parser, run)

if __name__ == "__main__":
    raise SystemExit(main())
