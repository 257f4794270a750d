"""Tier 1's nearest-centroid search on the GPU (faiss-gpu) beside the CPU paths, in the same run.

``CentroidIndex(backend="faiss")`` moves its index to the GPU when faiss-gpu
imports and a GPU is visible (``ray_topics.core.index._maybe_to_gpu``). This
script checks that path where it runs and times it against the two CPU paths
on the same centroids and queries:

* ``numpy``: ``backend="numpy"`` (one matrix product and an argmax);
* ``faiss-cpu``: ``backend="faiss"`` with the GPU move switched off;
* ``faiss-gpu``: ``backend="faiss"`` as shipped (on a machine without a GPU
  this row is the CPU index again, and the script says so).

Answers: every query is a planted topic's centroid plus noise, so the nearest
topic is known; each path's hits on it, and its agreement with ``numpy``, are
printed beside the timings. The index also pickles (Ray ships it to the
replicas) and rebuilds itself on load: the script checks that the rebuilt
index is on the same device, and that threads sharing one GPU index get the
answers a lone caller gets.

Two kinds of caller: a lone video per call (a client posting one video) and
batches (a client posting a batch, the replay, the hourly refine). Timings are
medians over ``--repeats`` repetitions of ``--calls`` calls, the paths taking
turns within each repetition.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.gpu_index --out gpu_index.json
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import numpy as np

from benchmarks.harness import main_of, medians_in_turns, parser, run_info
from ray_topics.core.index import CentroidIndex, normalize

MICROS = 1e6
DIM = 384  # all-MiniLM-L6-v2's
NOISE = 0.6  # per-coordinate noise x sqrt(dim) against a unit centroid: cosine to its own topic ~0.85
THREADS = 8


def _device_of(idx: CentroidIndex) -> str:
    f = getattr(idx, "_faiss", None)
    if f is None:
        return "numpy"
    return "gpu" if "Gpu" in type(f).__name__ else "cpu"


def _faiss_info() -> dict[str, Any]:
    try:
        import faiss
    except ImportError:
        return {"faiss": None}
    return {
        "faiss": faiss.__version__,
        "compile_options": faiss.get_compile_options(),
        "gpus_visible": int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0,
    }


def _indexes(topic_ids: list[str], centroids: np.ndarray) -> dict[str, CentroidIndex]:
    mu, sigma = [0.8] * len(topic_ids), [0.05] * len(topic_ids)
    out = {"numpy": CentroidIndex(backend="numpy").fit(topic_ids, centroids, mu, sigma)}
    try:
        import faiss  # noqa: F401
    except ImportError:
        return out
    with mock.patch("ray_topics.core.index._maybe_to_gpu", lambda index: index):
        out["faiss-cpu"] = CentroidIndex(backend="faiss").fit(topic_ids, centroids, mu, sigma)
    out["faiss-gpu"] = CentroidIndex(backend="faiss").fit(topic_ids, centroids, mu, sigma)
    return out


def _per_call_us(paths: list[CentroidIndex], queries: np.ndarray, batch: int, calls: int, repeats: int) -> list[float]:
    """Per index, the median over repeats of its mean time per call (microseconds), the indexes taking turns."""

    def calls_of(idx: CentroidIndex) -> Callable[[], None]:
        def go() -> None:
            for c in range(calls):
                lo = (c * batch) % (len(queries) - batch + 1)
                idx.search(queries[lo : lo + batch])

        return go

    return [s / calls * MICROS for s in medians_in_turns([calls_of(i) for i in paths], repeats)]


def _threads_agree(idx: CentroidIndex, queries: np.ndarray, batch: int) -> bool:
    """Do THREADS threads searching one index at once get what one caller gets?"""
    chunks = [queries[i : i + batch] for i in range(0, len(queries), batch)]
    alone = [idx.search(q).nearest for q in chunks]
    with ThreadPoolExecutor(THREADS) as pool:
        shared = list(pool.map(lambda q: idx.search(q).nearest, chunks))
    return shared == alone


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    info = _faiss_info()
    print(f"faiss: {info}")
    sizes = []
    for n_topics in args.topics:
        topic_ids = [f"d:{i}" for i in range(n_topics)]
        centroids = normalize(rng.standard_normal((n_topics, DIM)))
        truth = rng.integers(0, n_topics, args.queries)
        noise = rng.standard_normal((args.queries, DIM)).astype(np.float32) * NOISE / np.sqrt(DIM)
        queries = normalize(centroids[truth] + noise)
        indexes = _indexes(topic_ids, centroids)
        names = list(indexes)
        ref = indexes["numpy"].search(queries)
        checks = {}
        for name, idx in indexes.items():
            m = idx.search(queries)
            back = pickle.loads(pickle.dumps(idx))
            checks[name] = {
                "device": _device_of(idx),
                "device_after_pickle": _device_of(back),
                "planted_hits": float(np.mean([t == f"d:{k}" for t, k in zip(m.nearest, truth, strict=True)])),
                "agrees_with_numpy": float(np.mean([a == b for a, b in zip(m.nearest, ref.nearest, strict=True)])),
                "max_sim_diff": float(np.max(np.abs(m.similarities - ref.similarities))),
                "threads_agree": _threads_agree(idx, queries[: THREADS * args.batches[-1]], args.batches[-1]),
            }
        rows = []
        for batch in (1, *args.batches):
            calls = max(3, min(args.calls, args.calls * 64 // batch))
            us = _per_call_us([indexes[n] for n in names], queries, batch, calls, args.repeats)
            rows.append({"batch": batch, "us_per_call": dict(zip(names, us, strict=True))})
        sizes.append({"topics": n_topics, "checks": checks, "rows": rows})
        _print(n_topics, names, checks, rows)
    return {"benchmark": "gpu_index", **run_info(args), **info, "dim": DIM, "queries": args.queries, "sizes": sizes}


def _print(n_topics: int, names: list[str], checks: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    print(f"\n{n_topics} topics x {DIM} dims")
    print(f"  {'path':>10}  {'device':>6}  {'pickled':>7}  {'planted':>7}  {'= numpy':>7}  {'max Δsim':>9}  threads")
    for n in names:
        c = checks[n]
        print(
            f"  {n:>10}  {c['device']:>6}  {c['device_after_pickle']:>7}  {c['planted_hits']:>7.4f}  "
            f"{c['agrees_with_numpy']:>7.4f}  {c['max_sim_diff']:>9.2e}  {c['threads_agree']}"
        )
    head = "".join(f"  {n + ' µs':>14}" for n in names)
    ratios = "".join(f"  {n + '/numpy':>16}" for n in names[1:])
    print(f"  {'videos/call':>11}{head}{ratios}")
    for r in rows:
        us = r["us_per_call"]
        cells = "".join(f"  {us[n]:>14.1f}" for n in names)
        rel = "".join(f"  {us[n] / us['numpy']:>16.2f}" for n in names[1:])
        print(f"  {r['batch']:>11}{cells}{rel}")


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--topics", type=int, nargs="+", default=[50, 500, 5000], help="topic counts (default 50 500 5000)")
    p.add_argument(
        "--batches", type=int, nargs="+", default=[64, 4096], help="videos per call besides 1 (default 64 4096)"
    )
    p.add_argument("--queries", type=int, default=20000, help="planted queries (default 20000)")
    p.add_argument("--calls", type=int, default=200, help="calls per repetition for a lone video (default 200)")
    p.add_argument("--repeats", type=int, default=5, help="repetitions; the median is reported (default 5)")
    return p


main = main_of(build_parser, run)


if __name__ == "__main__":
    sys.exit(main())
