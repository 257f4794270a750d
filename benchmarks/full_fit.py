"""The full-retrain baseline of quality.py and monthly_cost.py: BERTopic fits in a fresh process, JIT warm-up apart.

A fit uses precomputed embeddings, UMAP and HDBSCAN with the config's CPU
backend settings, ``CountVectorizer(stop_words="english")`` and the config's
BLAS/OpenMP thread cap. Not a script: the benchmarks import it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import in_fresh_process, peak_rss_mb, reap_loky, timed

__all__ = ["cluster_models", "cluster_params", "fit_fresh", "fit_series", "jit_warmup"]


def cluster_params(cfg: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(UMAP, HDBSCAN) settings of the config, as plain dicts for a child process."""
    c = cfg.cluster
    return (
        {
            "n_neighbors": c.umap_n_neighbors,
            "n_components": c.umap_n_components,
            "min_dist": c.umap_min_dist,
            "n_epochs": getattr(c, "umap_n_epochs", None),
            "random_state": c.random_state,
        },
        {"min_cluster_size": cfg.daily.min_cluster_size, "min_samples": c.hdbscan_min_samples},
    )


def cluster_models(u: dict[str, Any], h: dict[str, Any]) -> tuple[Any, Any]:
    """UMAP and HDBSCAN exactly as the config's CPU backend builds them (the baseline's models)."""
    import hdbscan
    import umap

    return (
        umap.UMAP(
            n_neighbors=u["n_neighbors"],
            n_components=u["n_components"],
            min_dist=u["min_dist"],
            n_epochs=u.get("n_epochs"),
            metric="cosine",
            random_state=u["random_state"],
            low_memory=True,
        ),
        hdbscan.HDBSCAN(
            min_cluster_size=h["min_cluster_size"],
            min_samples=min(h["min_samples"], h["min_cluster_size"]),
            metric="euclidean",
            cluster_selection_method="eom",
        ),
    )


def jit_warmup(u: dict[str, Any], h: dict[str, Any], dim: int) -> dict[str, float]:
    """Compile numba's UMAP / NN-descent code paths once (kept out of every measured side).

    UMAP uses exact neighbours below 4,096 points and NN-descent above, so the
    warm-up fits 1,000 and 4,500 random points (and transforms, as BERTopic
    does). Its cost is reported on its own.
    """
    warnings.filterwarnings("ignore", category=UserWarning)
    rng = np.random.default_rng(0)
    with timed() as t:
        for n in (1000, 4500):  # exact neighbours below 4,096 points, NN-descent above
            x = rng.standard_normal((n, dim)).astype(np.float32)
            um, hm = cluster_models(u, h)
            hm.fit(um.fit_transform(x))
            um.transform(x[:200])  # BERTopic calls fit then transform
        reap_loky()
    return {"cpu_s": t.cpu_s, "wall_s": t.wall_s}


def fit_series(job: dict[str, Any]) -> dict[str, Any]:
    """Full BERTopic fits on the first ``n`` documents for each ``n`` of ``job["sizes"]`` (ascending).

    Runs in a fresh (spawned) process: JIT warm-up first, then each fit timed on
    its own (CPU of the process and of reaped joblib workers). Peak RSS is
    monotonic, so it is read after each fit in ascending order of size: the
    value after the largest fit is the peak of the largest fit. The fit of
    ``job["detail_n"]`` documents also returns its labels and keywords.
    """
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from bertopic import BERTopic
    from sklearn.feature_extraction.text import CountVectorizer

    from ray_topics.execution.runtime import limit_threads

    limit_threads(job.get("blas_threads"))  # the same BLAS/OpenMP cap as the streaming process
    emb = np.load(job["emb_path"], mmap_mode="r")
    all_docs = json.loads(Path(job["docs_path"]).read_text())
    u, h = job["umap"], job["hdbscan"]
    warm = jit_warmup(u, h, emb.shape[1])
    rss_before = peak_rss_mb()
    fits = []
    for n in sorted(job["sizes"]):
        docs = all_docs[:n]
        x = np.ascontiguousarray(emb[:n], dtype=np.float32)
        with timed() as t:
            umap_model, hdbscan_model = cluster_models(u, h)
            model = BERTopic(
                embedding_model=None,
                umap_model=umap_model,
                hdbscan_model=hdbscan_model,
                vectorizer_model=CountVectorizer(stop_words="english"),
                verbose=False,
            )
            topics, _probs = model.fit_transform(docs, x)
            reap_loky()
        fit = {
            "n": n,
            "cpu_s": t.cpu_s,
            "wall_s": t.wall_s,
            "peak_rss_mb": peak_rss_mb(),
            "rss_before_fit_mb": rss_before,
            "topics": len({t for t in topics if t != -1}),
            "outliers": int(sum(1 for t in topics if t == -1)),
        }
        if n == job["detail_n"]:
            fit["labels"] = [int(t) for t in topics]
            fit["keywords"] = {
                str(t): [w for w, _s in (model.get_topic(t) or [])][:10] for t in sorted(set(topics)) if t != -1
            }
        fits.append(fit)
        del model, x, docs
    return {"warmup": warm, "fits": fits}


def fit_fresh(
    tmp: Path, emb: np.ndarray, docs: list[str], cfg: Any, sizes: list[int], detail_n: int | None = None
) -> dict[str, Any]:
    """:func:`fit_series` of ``sizes`` over ``docs`` and ``emb`` in one fresh spawned process.

    The inputs travel through ``tmp`` (an ``.npy`` and a ``.json``, removed after).
    """
    emb_path, docs_path = tmp / f"fit_{max(sizes)}_emb.npy", tmp / f"fit_{max(sizes)}_docs.json"
    np.save(emb_path, np.ascontiguousarray(emb, dtype=np.float32))
    docs_path.write_text(json.dumps(docs))
    u, h = cluster_params(cfg)
    try:
        return in_fresh_process(
            fit_series,
            {
                "emb_path": str(emb_path),
                "docs_path": str(docs_path),
                "umap": u,
                "hdbscan": h,
                "sizes": sizes,
                "detail_n": detail_n,
                "blas_threads": getattr(cfg.execution, "blas_threads", None),
            },
        )
    finally:
        emb_path.unlink(missing_ok=True)
        docs_path.unlink(missing_ok=True)
