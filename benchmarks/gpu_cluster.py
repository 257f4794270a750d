"""The clustering backends on one machine: cuML (GPU) beside umap-learn + hdbscan (CPU), same data, same run.

Each row clusters one planted set of vectors with both backends of
``ray_topics.core.clustering``, built with ``configs/default.yaml``'s
``cluster`` settings, and the HDBSCAN ``min_cluster_size`` each job asks:

* ``birth``: the daily job's birth pool (``core.birth``: ``allow_single_cluster``,
  ``daily.min_cluster_floor``);
* ``monthly``: the monthly recluster of a domain's sample (``tiers.monthly``:
  ``max(daily.min_cluster_floor, monthly.recluster_min_fraction * n)``), at
  sizes up to ``monthly.max_sample`` and past it.

Known answer: ``--topics`` planted topics of Zipf sizes (all-MiniLM's 384
dims; a member's cosine to its topic's centre about 0.5, topics' centres 0.36
apart, as a domain's topics are), plus ``--background`` of the rows scattered
at random (misfits). Per backend: wall seconds, clusters found, NMI and ARI
of its labels against the planted topics over the planted members, and the
share of planted members left as noise; the CPU/GPU ratio and the two
backends' NMI with each other beside them. A backend's first call in a
process also pays for loading: numba compiling umap-learn's and hdbscan's
functions, cuML's CUDA context and kernels. Each backend makes one call on
the birth pool first, timed and printed apart (a job's first domain pays
it); the rows are timed after it, the GPU's as the median of ``--repeats``
calls.

``cluster.gpu_min_rows`` is set to 0 here, so the GPU column is cuML's at
every size (the product hands smaller inputs to the CPU path: cuML's UMAP
crashed on a few dozen rows; ``--sizes 10,20,50,100,300`` sweeps that range).

The CPU path is skipped above ``--cpu-max`` rows (umap-learn runs one thread
with a seed: minutes at 100,000). Where cuML does not import or sees no GPU,
only the CPU rows are printed.

Usage, from the repository root (on a GPU machine with the ``gpu`` extra)::

    python -m benchmarks.gpu_cluster --out gpu_cluster.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks.harness import Table, ints, main_of, parser, run_info
from ray_topics.core.clustering import UMAP_EXACT_LIMIT, ClusterBackend, gpu_available, make_backend, resolve_backend

DIM = 384  # all-MiniLM-L6-v2's
MEMBER_NOISE = 1.73  # a member is centre + this x a unit-norm Gaussian direction: cosine to the centre ~0.5
SHARED = 0.6  # every centre leans this much on one common direction: centres' cosine ~0.36
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def planted(
    n: int, topics: int, background: float, seed: int, member_noise: float = MEMBER_NOISE
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit rows and their planted labels (``-1``: background), topics of Zipf sizes."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(DIM)
    common /= np.linalg.norm(common)
    raw = rng.standard_normal((topics, DIM))
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    centres = SHARED * common + np.sqrt(1 - SHARED**2) * raw
    n_bg = round(background * n)
    weights = 1.0 / np.arange(1, topics + 1)
    labels = rng.choice(topics, size=n - n_bg, p=weights / weights.sum())
    noise = rng.standard_normal((len(labels), DIM)) / np.sqrt(DIM) * member_noise
    members = centres[labels] + noise
    scattered = rng.standard_normal((n_bg, DIM))
    x = np.vstack([members, scattered]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.concatenate([labels, np.full(n_bg, -1)])
    order = rng.permutation(n)
    return x[order], y[order]


def _scores(found: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    planted_rows = truth >= 0
    return {
        "clusters": len(set(found[found >= 0].tolist())),
        "nmi": float(normalized_mutual_info_score(truth[planted_rows], found[planted_rows])),
        "ari": float(adjusted_rand_score(truth[planted_rows], found[planted_rows])),
        "noise_share": float(np.mean(found[planted_rows] < 0)),
    }


def _timed(backend: ClusterBackend, x: np.ndarray, mcs: int, single: bool, repeats: int) -> tuple[float, np.ndarray]:
    walls, labels = [], np.empty(0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        labels = backend.fit_predict(x, mcs, allow_single_cluster=single)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), labels


def _gpu_info() -> dict[str, Any]:
    if not gpu_available():
        return {"cuml": None}
    import cuml
    from numba import cuda

    name = cuda.get_current_device().name  # bytes in older numba-cuda, str in newer
    return {"cuml": cuml.__version__, "gpu": name.decode() if isinstance(name, bytes) else name}


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = yaml.safe_load(CONFIG.read_text())
    params = dict(cfg["cluster"])
    params.pop("backend")
    params["gpu_min_rows"] = 0  # every row on cuML, however small (the product hands small inputs to the CPU)
    floor, fraction = cfg["daily"]["min_cluster_floor"], cfg["monthly"]["recluster_min_fraction"]
    info = {"auto_resolves_to": resolve_backend("auto"), **_gpu_info()}
    print(f"backends: {info}")
    cpu = make_backend("cpu", **params)
    gpu = make_backend("cuml", **params) if info["cuml"] else None
    first_call_s = {}
    # umap-learn takes exact neighbours below UMAP_EXACT_LIMIT rows and NN-descent above: each compiled here
    # where a row will take it
    nn_descent = any(n >= UMAP_EXACT_LIMIT for n in args.sizes)
    warm_sizes = (args.birth_size, *([UMAP_EXACT_LIMIT + args.birth_size] if nn_descent else []))
    for name, backend in (("cpu", cpu), ("gpu", gpu)):
        if backend is None:
            continue
        for n in warm_sizes:
            x0, _ = planted(n, args.topics, args.background, args.seed, args.member_noise)
            t0 = time.perf_counter()
            backend.fit_predict(x0, floor, allow_single_cluster=True)
            first_call_s[f"{name}_{n}"] = time.perf_counter() - t0
    print(f"first calls of each backend in this process (seconds, by rows): {first_call_s}")
    cases = [("birth", args.birth_size, floor, True)]
    cases += [("monthly", n, max(floor, int(fraction * n)), False) for n in args.sizes]
    table = Table(
        "job rows mcs cpu_s gpu_s cpu_over_gpu nmi_cpu nmi_gpu nmi_between clusters_cpu clusters_gpu noise_cpu "
        "noise_gpu".split(),
        nd=3,
        right=True,
    )
    rows = []
    for job, n, mcs, single in cases:
        x, y = planted(n, args.topics, args.background, args.seed + n, args.member_noise)
        row: dict[str, Any] = {"job": job, "rows": n, "min_cluster_size": mcs}
        found = {}
        if n <= args.cpu_max:
            row["cpu_s"], found["cpu"] = _timed(cpu, x, mcs, single, 1)
            row["cpu"] = _scores(found["cpu"], y)
        if gpu is not None:
            row["gpu_s"], found["gpu"] = _timed(gpu, x, mcs, single, args.repeats)
            row["gpu"] = _scores(found["gpu"], y)
        if len(found) == 2:
            from sklearn.metrics import normalized_mutual_info_score

            row["cpu_over_gpu"] = row["cpu_s"] / row["gpu_s"]
            row["nmi_between"] = float(normalized_mutual_info_score(found["cpu"], found["gpu"]))
        rows.append(row)
        c, g = row.get("cpu", {}), row.get("gpu", {})
        table.add_row(
            job, n, mcs, row.get("cpu_s"), row.get("gpu_s"), row.get("cpu_over_gpu"), c.get("nmi"), g.get("nmi"),
            row.get("nmi_between"), c.get("clusters"), g.get("clusters"), c.get("noise_share"),
            g.get("noise_share"),
        )  # fmt: skip
        print(f"{job} {n}: {row}", flush=True)
    planted_of = f"{args.topics} planted topics, noise {args.member_noise}, background {args.background:.0%}"
    table.print(f"clustering backends, {planted_of}")
    return {
        "benchmark": "gpu_cluster",
        **run_info(args),
        **info,
        "params": params,
        "first_call_s": first_call_s,
        "rows": rows,
        "tables": {},
    }


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--sizes", type=ints, default=[5000, 20000, 100000])
    p.add_argument("--birth-size", type=int, default=1000, help="rows of the daily birth pool (default 1000)")
    p.add_argument("--topics", type=int, default=20)
    p.add_argument("--background", type=float, default=0.1, help="share of rows scattered at random (misfits)")
    p.add_argument("--cpu-max", type=int, default=20000, help="largest size the CPU path runs at")
    p.add_argument("--member-noise", type=float, default=MEMBER_NOISE, help="noise of a member around its centre")
    p.add_argument("--repeats", type=int, default=3, help="GPU calls timed per row (median)")
    return p


main = main_of(build_parser, run)

if __name__ == "__main__":
    raise SystemExit(main())
