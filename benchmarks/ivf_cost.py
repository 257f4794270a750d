"""What the voters' inverted file costs by its number of lists: training and adding beside searching.

Settling and the stories job by neighbours search their voters (at most
``global_topics.place_voters``) through FAISS's ``IndexIVFFlat`` above
``place_exact_voters`` (:class:`ray_topics.core.neighbours.Voters`). Its lists
trade training (k-means: about iterations x voters x lists comparisons) for
searching (about queries x nprobe x voters / lists);
:func:`ray_topics.core.neighbours.ivf_lists` takes FAISS's rule, about 4
sqrt(voters). Session 28 sized them for the videos placed,
sqrt(queries x nprobe / iterations), as if a search's comparison cost what a
training's does; this script times both sides on clustered vectors
(``--topics`` broad topics around a shared domain direction, a video's cosine
to its topic's centroid about ``--cos``: settle_resolution's shape; with
``--domain-weight 0 --cos 0.94``, the seeded stores' tight random topics), for each
number of queries (``--queries``: settling places one day of a domain, the
stories job every video of its window) and each number of lists: the one
``ivf_lists`` picks (the baseline of the ratio), session 28's, and ``--lists``
besides, each in the same run.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.ivf_cost --out ivf_cost.json
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from benchmarks.harness import Table, ints, main_of, parser, run_info
from benchmarks.planted_vectors import around, broad_centroids
from ray_topics.config import load_config
from ray_topics.core.neighbours import IVF_TRAIN_ITERATIONS, ivf_index, ivf_lists


def balanced_lists(voters: int, queries: int, nprobe: int) -> int:
    """Session 28's lists: sqrt(queries x nprobe / iterations), within FAISS's rule."""
    return max(1, min(ivf_lists(voters), int(math.sqrt(queries * nprobe / IVF_TRAIN_ITERATIONS))))


def clustered(rng: np.random.Generator, n: int, dim: int, topics: int, cos: float, domain_weight: float) -> np.ndarray:
    """``n`` unit vectors, each about ``cos`` from one of ``topics`` centroids around a shared direction of
    ``domain_weight`` (:func:`benchmarks.planted_vectors.broad_centroids`)."""
    cents = broad_centroids(rng, topics, dim, domain_weight)
    return around(rng, cents[rng.integers(topics, size=n)], cos)


def timed_index(voters: np.ndarray, queries: np.ndarray, lists: int, nprobe: int, k: int) -> dict[str, float]:
    """Seconds to train, add and search an ``IndexIVFFlat`` of ``lists`` lists (as ``Voters`` builds it)."""
    index = ivf_index(voters.shape[1], lists, nprobe)
    t0 = time.perf_counter()
    index.train(voters)
    t1 = time.perf_counter()
    index.add(voters)
    t2 = time.perf_counter()
    index.search(queries, k)
    t3 = time.perf_counter()
    return {"train_s": t1 - t0, "add_s": t2 - t1, "search_s": t3 - t2, "total_s": t3 - t0}


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = load_config(overrides=args.set)
    g = cfg.global_topics
    rng = np.random.default_rng(args.seed)
    shape = (args.topics, args.cos, args.domain_weight)
    voters = clustered(rng, args.voters, cfg.embedding.dim, *shape)
    table = Table(["queries", "lists", "chosen by", "train s", "add s", "search s", "total s", "ratio"], right=True)
    rows = []
    for q in args.queries:
        queries = clustered(rng, q, cfg.embedding.dim, *shape)
        plan = {ivf_lists(args.voters): "ivf_lists (FAISS's rule)"}
        plan.setdefault(balanced_lists(args.voters, q, g.place_nprobe), "session 28's")
        for n in args.lists:
            plan.setdefault(n, "--lists")
        base = None
        for n, who in plan.items():
            got = timed_index(voters, queries, n, g.place_nprobe, g.place_neighbours)
            base = base or got["total_s"]
            rows.append({"queries": q, "lists": n, "chosen_by": who, **got})
            table.add_row(
                f"{q:,}", f"{n:,}", who, *(f"{got[k]:.1f}" for k in ("train_s", "add_s", "search_s", "total_s")),
                f"{got['total_s'] / base:.2f}",
            )  # fmt: skip
            print(f"  {q:,} queries, {n:,} lists ({who}): {got['total_s']:.1f} s", flush=True)
    table.print(
        f"An inverted file over {args.voters:,} voters, nprobe {g.place_nprobe}, k {g.place_neighbours} "
        f"({args.topics} topics, cosine {args.cos} to their centroids)"
    )
    return {**run_info(args), "rows": rows, "tables": {"ivf_cost": table.rows}}


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--voters", type=int, default=100_000, help="voters indexed (default: place_voters' 100,000)")
    p.add_argument(
        "--queries",
        type=ints,
        default=[33_000, 315_000],
        help="videos placed, comma-separated (default: a domain's day at 100,000 a day; the stories job's window "
        "at 50,000 a day)",
    )
    p.add_argument("--lists", type=ints, default=[], help="more list counts to time, comma-separated")
    p.add_argument("--topics", type=int, default=20, help="topics the vectors cluster around (default 20)")
    p.add_argument("--cos", type=float, default=0.6, help="a vector's cosine to its topic's centroid (default 0.6)")
    p.add_argument(
        "--domain-weight",
        type=float,
        default=1.0,
        help="the topics' shared direction (1: centroids about 0.5 apart, as settle_resolution; 0: random, as the "
        "seeded stores of settle_cost and stories_memory)",
    )
    return p


main = main_of(build_parser, run)

if __name__ == "__main__":
    raise SystemExit(main())
