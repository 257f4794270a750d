"""What routing by neighbours adds to Tier 1: the router's time per video, with and without the vote.

The router runs in the Serve Ingress for every request (``route`` in
``serve/app.py``); the vote adds one matrix product of the request's
uncategorised videos against the exemplars (``domains.vote_exemplars`` per
domain) and a top-k. Measured here on the router alone, in one process,
same vectors, same prototypes and floors, both sides in the same run:

* ``prototype``: ``vote_neighbours: 0`` (the router before the vote);
* ``neighbours``: the vote over ``--domains`` x ``vote_exemplars`` exemplars.

Two kinds of caller: a lone video per call (a client posting one video, the
common Tier 1 request) and a batch of ``--batch`` videos per call (a client
posting a batch, or the replay). Every video is uncategorised, so each one
pays the vote (the worst case; a categorised video never does). Timings are
medians over ``--repeats`` repetitions of ``--calls`` calls, the two
routers taking turns within each repetition. Random unit
vectors stand in for embeddings: the cost does not depend on their values.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.routing_cost --out routing_cost.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import main_of, medians_in_turns, parser, run_info
from ray_topics.config import load_config
from ray_topics.core.index import normalize
from ray_topics.core.router import DomainRouter

MICROS = 1e6


def _router(names: list[str], dim: int, exemplars: int, neighbours: int, rng: np.random.Generator) -> DomainRouter:
    protos = {d: v for d, v in zip(names, normalize(rng.standard_normal((len(names), dim))), strict=True)}
    r = DomainRouter(names, {}, protos, floors=dict.fromkeys(names, -1.0), fallback=None, neighbours=neighbours)
    if neighbours:
        ex = normalize(rng.standard_normal((exemplars * len(names), dim))).astype(np.float32)
        r.set_exemplars(ex, [d for d in names for _ in range(exemplars)])
    return r


def _per_video_us(routers: list[DomainRouter], vecs: np.ndarray, batch: int, calls: int, repeats: int) -> list[float]:
    """Per router, the median over repeats of its mean time per video (microseconds), the routers taking turns."""
    videos = [{}] * batch

    def calls_of(router: DomainRouter) -> Callable[[], None]:
        def go() -> None:
            for c in range(calls):
                lo = (c * batch) % (len(vecs) - batch)
                router.routes(videos, vecs[lo : lo + batch])

        return go

    return [s / (calls * batch) * MICROS for s in medians_in_turns([calls_of(r) for r in routers], repeats)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = load_config(overrides=args.set)
    d = cfg.domains
    rng = np.random.default_rng(args.seed)
    names = [f"d{i}" for i in range(args.domains)]
    vecs = normalize(rng.standard_normal((4096, cfg.embedding.dim))).astype(np.float32)
    base = _router(names, cfg.embedding.dim, d.vote_exemplars, 0, rng)
    vote = _router(names, cfg.embedding.dim, d.vote_exemplars, d.vote_neighbours, rng)
    rows = []
    for batch in (1, args.batch):
        b, v = _per_video_us([base, vote], vecs, batch, args.calls, args.repeats)
        rows.append({"batch": batch, "prototype_us": b, "neighbours_us": v, "added_us": v - b, "ratio": v / b})
    print(
        f"\nrouter time per uncategorised video, {args.domains} domains x {d.vote_exemplars} exemplars, "
        f"{d.vote_neighbours} neighbours"
    )
    print(f"  {'videos per call':>15}  {'prototype µs':>12}  {'neighbours µs':>13}  {'added µs':>9}  {'ratio':>6}")
    for r in rows:
        print(
            f"  {r['batch']:>15}  {r['prototype_us']:>12.1f}  {r['neighbours_us']:>13.1f}  "
            f"{r['added_us']:>9.1f}  {r['ratio']:>6.2f}"
        )
    return {
        "benchmark": "routing_cost",
        **run_info(args),
        "domains": args.domains,
        "exemplars_per_domain": d.vote_exemplars,
        "neighbours": d.vote_neighbours,
        "rows": rows,
    }


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--domains", type=int, default=6, help="domains voting (default 6: the default config's)")
    p.add_argument("--batch", type=int, default=64, help="videos per call of the batch caller (default 64)")
    p.add_argument("--calls", type=int, default=400, help="calls per repetition (default 400)")
    p.add_argument("--repeats", type=int, default=5, help="repetitions; the median is reported (default 5)")
    return p


main = main_of(build_parser, run)


if __name__ == "__main__":
    sys.exit(main())
