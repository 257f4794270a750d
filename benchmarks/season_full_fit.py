"""Beside a season (``benchmarks/season.py``): what one full BERTopic fit of its history would cost at days 7, 14, 28.

A full retrain of the whole history is what ray-topics exists to avoid. This
script regenerates the season's first videos (the same stream: the options
come from the season's ``state.json``), fits BERTopic on the first ``n`` of
them for each ``n`` of ``--sizes`` in a fresh process (:mod:`benchmarks.full_fit`:
the config's UMAP and HDBSCAN settings, embeddings given, JIT warm-up apart),
fits ``cpu = a * n ** b`` to those fits (least squares in log-log), and prints,
for the history the season had after days 7, 14 and 28, the fit's CPU seconds
(measured where a size was fitted, else extrapolated with the fitted exponent:
the table says which) beside the streaming tiers' CPU seconds that day and
through that day, all from the same stream.

Usage, from the repository root, after (or while) a season runs in that workdir::

    .venv/bin/python -m benchmarks.season_full_fit --workdir /tmp/season/sqlite --sizes 20000,40000,80000 \\
        --out full-fit.json
    # the comparison again once the season has gone on, without fitting again
    .venv/bin/python -m benchmarks.season_full_fit --workdir /tmp/season/sqlite --fits full-fit.json
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.full_fit import fit_fresh
from benchmarks.harness import Table, finish, parser, run_info, start
from benchmarks.season import season_stream

DAYS = (7, 14, 28)  # the history a full retrain would refit, after these days


def _docs(videos: pd.DataFrame) -> list[str]:
    """A video's text as the tiers embed it: title, description and tags."""
    return [
        " ".join([t, d, " ".join(tags)])
        for t, d, tags in zip(videos["title"], videos["description"], videos["tags"], strict=True)
    ]


def first_videos(stream: Any, n: int) -> tuple[list[str], np.ndarray]:
    """The stream's first ``n`` videos (in event time): texts and embeddings."""
    docs: list[str] = []
    embs: list[np.ndarray] = []
    d = 0
    while len(docs) < n and d < stream.spec.days:
        videos, emb = stream.day(d)
        take = min(n - len(docs), len(videos))
        docs += _docs(videos.iloc[:take])
        embs.append(emb[:take])
        d += 1
    return docs, np.concatenate(embs)


def power_law(ns: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """``(a, b)`` of ``y = a * n ** b``, least squares in log-log.

    Example:
        >>> a, b = power_law([1000, 2000, 4000], [1.0, 2.0, 4.0])
        >>> round(a * 1000, 3), round(b, 3)
        (1.0, 1.0)
    """
    b, log_a = np.polyfit(np.log(np.asarray(ns, float)), np.log(np.asarray(ys, float)), 1)
    return float(np.exp(log_a)), float(b)


def compare(days: list[dict[str, Any]], fits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per day of :data:`DAYS` the season reached: history, the full fit's CPU (measured or extrapolated), ours."""
    a, b = power_law([f["n"] for f in fits], [f["cpu_s"] for f in fits])
    measured = {f["n"]: f for f in fits}
    rows, history, through = [], 0, 0.0
    for k, rec in enumerate(days, start=1):
        history += rec["videos"]
        today = sum(t["cpu_s"] for t in rec["tiers"].values())
        through += today
        if k in DAYS:
            fit = measured.get(history)
            rows.append(
                {
                    "day": k,
                    "history": history,
                    "full_fit_cpu_s": fit["cpu_s"] if fit else a * history**b,
                    "how": "measured" if fit else f"extrapolated (n^{b:.2f})",
                    "tiers_cpu_s_that_day": today,
                    "tiers_cpu_s_through_day": through,
                }
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--workdir", required=True, help="the season's workdir (its season/state.json)")
    p.add_argument("--sizes", default="20000,40000,80000", help="documents of each measured fit, comma-separated")
    p.add_argument("--fits", metavar="JSON", help="reuse the fits of an earlier run's --out (the season went on)")
    args = p.parse_args(argv)
    start(args)
    from ray_topics.config import load_config

    state = json.loads((Path(args.workdir) / "season" / "state.json").read_text())
    params, days = state["params"], state["days"]
    cfg = load_config(overrides=params["config_overrides"], workdir=args.workdir)
    if args.fits:
        fits = json.loads(Path(args.fits).read_text())["fits"]
    else:
        sizes = sorted(int(s) for s in args.sizes.split(","))
        docs, emb = first_videos(season_stream(params, cfg), max(sizes))
        with tempfile.TemporaryDirectory(prefix="season-fit-") as tmp:
            fits = fit_fresh(Path(tmp), emb, docs, cfg, sizes)["fits"]
    keys = ["n", "cpu_s", "wall_s", "peak_rss_mb", "topics", "outliers"]
    fit_table = Table(keys, nd=1, right=True)
    for f in fits:
        fit_table.add_row(*(f[k] for k in keys))
    fit_table.print("full BERTopic fits of the season's first videos (measured)")
    keys = ["day", "history", "full_fit_cpu_s", "how", "tiers_cpu_s_that_day", "tiers_cpu_s_through_day"]
    table = Table(
        keys,
        ["day", "history (videos)", "one full fit, CPU s", "", "all tiers that day, CPU s", "all tiers through it"],
        nd=0,
    )
    for row in compare(days, fits):
        table.add_row(*(row[k] for k in keys))
    table.print(f"beside the season ({params['videos_per_day']:,} videos a day, {len(days)} days recorded)")
    return finish(args, {"run": run_info(args), "params": params, "fits": fits, "compare": table.rows})


if __name__ == "__main__":
    raise SystemExit(main())
