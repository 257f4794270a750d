"""What settling a day by neighbours adds to the daily job, as the volume grows: the daily job beside itself.

With ``daily.settle_after_days`` set, every daily run settles one day of each
domain (:mod:`ray_topics.tiers.settle`): it reads the domain's fitting videos of
``2 x settle_after_days + 1`` days (their embeddings, a chunk at a time), keeps
at most ``global_topics.place_voters`` of them as voters, searches the day's
videos' nearest voters (exact, or FAISS's inverted file above
``place_exact_voters``) and moves those whose vote names another topic they
fit. For each ``--volumes`` videos a day, a store is seeded once (not timed;
:func:`benchmarks.stories_memory.seed`: ``--domains`` domains of ``--topics``
random topics, ``--moved-share`` of the videos nearest another domain's topic,
``--misfit-share`` misfits for the daily's birth pool; the days past
``refine.hot_retention_days`` in the lake, as refine's compaction leaves a
store that has run for weeks), copied, and the daily job runs at the
window's end in a fresh process on each copy:

* the baseline: the daily job as configured without settling (births from the
  misfit pool, deaths, echoes);
* the same job settling the day that ended ``--after`` days before;
* with ``--baseline-tree`` (a checkout of an earlier commit, ``git worktree add
  /tmp/before <commit>``), that tree's daily job settling the same day, between
  the two.

With ``--every-voter``, the same settling with ``place_voters`` above the
window's videos (every one votes: the vote a capped sample stands for) runs
last, and each settling run's moves of the settled day (answers unlike the
job's without settling) are set beside its moves: the share of them made
alike, and the share of its own that it does not make.

Each child records wall and CPU seconds, peak RSS (``VmHWM``) and RSS before
the job, and the job's summary (births, the settled day's voters, videos
placed and moved). SQLite only (the copy is a file copy).

Usage, from the repository root::

    .venv/bin/python -m benchmarks.settle_cost --volumes 50000,200000 --out settle_cost.json
    .venv/bin/python -m benchmarks.settle_cost --volumes 5000   # a quick look
    .venv/bin/python -m benchmarks.settle_cost --volumes 200000 --baseline-tree /tmp/before --out sc.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, Table, main_of, parser, peak_rss_mb, run_info, scratch, status_mib
from benchmarks.stories_memory import AS_OF, add_seed_options, seed
from ray_topics.config import load_config

EVERY_VOTER = "daily + settle (every voter)"
AGREE = ("reference_moves_made", "moves_not_the_reference")


def child_main(spec_path: str) -> None:
    """In a fresh process: the daily job at :data:`AS_OF`, forced; figures to the spec's out."""
    spec = json.loads(Path(spec_path).read_text())
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime
    from ray_topics.tiers.daily import run_daily
    from ray_topics.tiers.settle import settled_day

    rt = Runtime(load_config(overrides=spec["overrides"], workdir=spec["workdir"]))
    floor = status_mib("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    stats = run_daily(rt, AS_OF, force=True)
    out = {
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "rss_before_mb": floor,
        "peak_rss_mb": peak_rss_mb(),
        "stats": stats,
    }
    if spec.get("answers_after") is not None:  # the settled day's answers as the job left them
        day = settled_day(AS_OF, spec["answers_after"])
        c = rt.store.classifications
        out["answers"] = {v: t for d in rt.cfg.domains.names for v, t in c.iter_window_ids(d, *day)}
    Path(spec["out"]).write_text(json.dumps(out, default=str))


def run_child(
    workdir: Path, overrides: list[str], tree: Path = ROOT, answers_after: int | None = None
) -> dict[str, Any]:
    """:func:`child_main` in a fresh process, with ``tree``'s code (this checkout's by default); with
    ``answers_after``, the answers of the day settled that many days before the run come back too."""
    spec = {"workdir": str(workdir), "overrides": overrides, "out": str(workdir / "out.json")}
    spec["answers_after"] = answers_after
    (workdir / "spec.json").write_text(json.dumps(spec))
    code = (
        f"import sys; sys.path[:0] = [{str(tree)!r}]; "
        f"from benchmarks.settle_cost import child_main; child_main({str(workdir / 'spec.json')!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tree, env={**os.environ, "PYTHONPATH": ""})
    return json.loads((workdir / "out.json").read_text())


def _settled(stats: dict[str, Any], key: str) -> int:
    return sum(s.get("settled", {}).get(key, 0) for s in stats.values())


def run(args: argparse.Namespace) -> dict[str, Any]:
    keys = ["videos/day", "job", "births", "voters", "placed", "moved", "wall s", "CPU s", "ratio",
            "peak RSS MiB", "RSS before MiB"]  # fmt: skip
    table = Table(keys, right=True)
    agree = Table(["videos/day", "job", "moved", "of every voter's moves, made alike", "its moves not every voter's"])
    rows: list[dict[str, Any]] = []
    days = 2 * args.after + 1  # the voters' window ends at AS_OF
    for per_day in args.volumes:
        with scratch(args, f"settle-cost-{per_day}-") as root:
            base = root / "seeded"
            t = time.perf_counter()
            hot = AS_OF - timedelta(days=load_config(overrides=args.set).refine.hot_retention_days)
            seeded = seed(base, args, per_day, [*args.set, f"global_topics.place_days={days}"], lake_before=hot)
            took = time.perf_counter() - t
            print(f"seeded {seeded['videos']:,} videos ({per_day:,}/day) in {took:.0f} s", flush=True)
            baseline = None
            settle = [f"daily.settle_after_days={args.after}"]
            modes = {"daily": (["daily.settle_after_days=null"], ROOT)}
            if args.baseline_tree:
                modes["daily + settle (before)"] = (settle, Path(args.baseline_tree).resolve())
            modes["daily + settle"] = (settle, ROOT)
            if args.every_voter:  # the cap above the window's videos: the vote the sample stands for
                modes[EVERY_VOTER] = ([*settle, f"global_topics.place_voters={per_day * days}"], ROOT)
            answers: dict[str, dict[str, str]] = {}
            for k, (name, (overrides, tree)) in enumerate(modes.items()):
                work = root / f"run{k}"
                shutil.copytree(base, work)
                got = run_child(work, [*args.set, *overrides], tree, args.after if args.every_voter else None)
                answers[name] = got.pop("answers", {})
                shutil.rmtree(work)
                baseline = baseline or got["wall_s"]
                rows.append({"videos_per_day": per_day, "job": name, **seeded, **got})
                st = got["stats"]
                table.add_row(
                    f"{per_day:,}",
                    name,
                    str(sum(s.get("births", 0) for s in st.values())),
                    f"{_settled(st, 'voters'):,}",
                    f"{_settled(st, 'placed'):,}",
                    f"{_settled(st, 'moved'):,}",
                    f"{got['wall_s']:.1f}",
                    f"{got['cpu_s']:.1f}",
                    f"{got['wall_s'] / baseline:.2f}",
                    f"{got['peak_rss_mb']:.0f}",
                    f"{got['rss_before_mb']:.0f}",
                )
                print(f"  {name}: {got['wall_s']:.1f} s", flush=True)
            if args.every_voter:
                for name, moves in _agreement(answers).items():
                    agree.add_row(f"{per_day:,}", name, f"{moves['moved']:,}", *(f"{moves[k]:.3f}" for k in AGREE))
                    rows.append({"videos_per_day": per_day, "job": name, "against_every_voter": moves})
    table.print(f"The daily job without and with settling ({args.domains} domains, settle_after_days {args.after})")
    tables = {"settle_cost": table.rows}
    if args.every_voter:
        agree.print("The settled day's moves against the vote of every voter of the window (the same store)")
        tables["against_every_voter"] = agree.rows
    return {**run_info(args), "rows": rows, "tables": tables}


def _agreement(answers: dict[str, dict[str, str]]) -> dict[str, dict[str, float]]:
    """Per settling mode: its moves (answers unlike the daily job's without settling), the share of
    :data:`EVERY_VOTER`'s moves it made alike, and the share of its own that every voter's vote does not make."""

    def moves(name: str) -> dict[str, str]:
        return {v: t for v, t in answers[name].items() if t != answers["daily"].get(v)}

    ref = moves(EVERY_VOTER)
    out = {}
    for name in answers:
        if name in ("daily", EVERY_VOTER):
            continue
        mine = moves(name)
        alike = sum(1 for v, t in mine.items() if ref.get(v) == t)
        out[name] = {
            "moved": len(mine),
            "reference_moves_made": alike / len(ref) if ref else 1.0,
            "moves_not_the_reference": (len(mine) - alike) / len(mine) if mine else 0.0,
        }
    return out


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    add_seed_options(p, misfit_share=0.05)
    p.add_argument("--after", type=int, default=7, help="daily.settle_after_days of the settling run (default 7)")
    p.add_argument(
        "--every-voter",
        action="store_true",
        help="also settle with every video of the window voting (no cap), and compare each run's moves with it",
    )
    p.add_argument(
        "--baseline-tree", help="a checkout of an earlier commit: its daily + settle runs too, on the same seeded store"
    )
    return p


main = main_of(build_parser, run)

if __name__ == "__main__":
    raise SystemExit(main())
