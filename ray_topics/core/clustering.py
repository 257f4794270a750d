"""Clustering backends: UMAP + HDBSCAN on CPU (umap-learn, hdbscan) or GPU (cuML).

Backends are named in config (``cluster.backend: auto | cpu | cuml``) and
chosen from :data:`BACKENDS`; ``auto`` resolves to ``cuml`` only where cuML
imports and a GPU is visible. Heavy modules are imported on first use.

Example:
    >>> b = make_backend("cpu", umap_n_neighbors=5, umap_n_components=2, umap_min_dist=0.0,
    ...                  hdbscan_min_samples=2, random_state=0)
    >>> b.name
    'cpu'
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ray_topics.core.coherence import cohesion

__all__ = [
    "BACKENDS",
    "UMAP_EXACT_LIMIT",
    "BackendUnavailable",
    "CPUBackend",
    "ClusterBackend",
    "CumlBackend",
    "gpu_available",
    "make_backend",
    "resolve_backend",
]


# umap-learn computes exact neighbours below this many points (umap_.py: n < 4096) and NN-descent above
UMAP_EXACT_LIMIT = 4096


class BackendUnavailable(ImportError):
    """A requested backend's libraries are not installed or no GPU is visible."""


class ClusterBackend:
    """Reduce with UMAP, then cluster with HDBSCAN. Subclasses supply the two models.

    Args:
        umap_n_neighbors, umap_n_components, umap_min_dist: UMAP settings.
        hdbscan_min_samples: HDBSCAN ``min_samples`` (capped by ``min_cluster_size``).
        random_state: seed for UMAP (None = fastest, not reproducible).
        gpu_min_rows: the GPU backend hands inputs of fewer rows to the CPU path (the CPU backend ignores it).
    """

    name = "base"

    def __init__(
        self,
        *,
        umap_n_neighbors: int = 15,
        umap_n_components: int = 5,
        umap_min_dist: float = 0.0,
        umap_n_epochs: int | None = None,
        hdbscan_min_samples: int = 5,
        random_state: int | None = 42,
        gpu_min_rows: int = 0,
    ) -> None:
        self.umap_n_neighbors = umap_n_neighbors
        self.umap_n_components = umap_n_components
        self.umap_min_dist = umap_min_dist
        self.umap_n_epochs = umap_n_epochs
        self.hdbscan_min_samples = hdbscan_min_samples
        self.random_state = random_state
        self.gpu_min_rows = gpu_min_rows

    def _umap(self, n: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _hdbscan(self, min_cluster_size: int, allow_single_cluster: bool = False) -> Any:  # pragma: no cover
        raise NotImplementedError

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """UMAP to ``umap_n_components`` dims; tiny inputs pass through unchanged."""
        n = x.shape[0]
        if n <= self.umap_n_components + 2:
            return np.asarray(x, dtype=np.float32)
        return np.asarray(self._umap(n).fit_transform(x), dtype=np.float32)

    def fit_predict(self, x: np.ndarray, min_cluster_size: int, allow_single_cluster: bool = False) -> np.ndarray:
        """Cluster labels (``-1`` = noise) for the rows of ``x``.

        With ``allow_single_cluster``, HDBSCAN may answer that everything dense
        is one cluster (it is asked only when it found none otherwise).
        """
        x = np.asarray(x, dtype=np.float32)
        if x.shape[0] < max(min_cluster_size, 2):
            return np.full(x.shape[0], -1, dtype=np.int64)
        reduced = self.reduce(x)
        labels = np.asarray(self._hdbscan(min_cluster_size).fit_predict(reduced), dtype=np.int64)
        if allow_single_cluster and labels.max() < 0:
            labels = np.asarray(self._hdbscan(min_cluster_size, True).fit_predict(reduced), dtype=np.int64)
        return labels

    def get_params(self) -> dict[str, Any]:
        return {
            "umap_n_neighbors": self.umap_n_neighbors,
            "umap_n_components": self.umap_n_components,
            "umap_min_dist": self.umap_min_dist,
            "umap_n_epochs": self.umap_n_epochs,
            "hdbscan_min_samples": self.hdbscan_min_samples,
            "random_state": self.random_state,
            "gpu_min_rows": self.gpu_min_rows,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_params()})"


class CPUBackend(ClusterBackend):
    """umap-learn + hdbscan."""

    name = "cpu"

    def _umap(self, n: int, metric: str = "cosine") -> Any:
        import umap

        return umap.UMAP(
            n_neighbors=min(self.umap_n_neighbors, n - 1),
            n_components=self.umap_n_components,
            min_dist=self.umap_min_dist,
            n_epochs=self.umap_n_epochs,
            metric=metric,
            random_state=self.random_state,
            n_jobs=1 if self.random_state is not None else -1,
            low_memory=True,
        )

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """As the base class; below umap-learn's exact-neighbour limit the cosine distances come from BLAS.

        Under :data:`UMAP_EXACT_LIMIT` points umap-learn finds exact neighbours by calling its
        cosine once per pair from Python (seconds for a few thousand points); the same matrix from
        one matrix product is far faster and gives the same neighbours.
        """
        n = x.shape[0]
        if n <= self.umap_n_components + 2 or n >= UMAP_EXACT_LIMIT:
            return super().reduce(x)
        unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        dist = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
        np.fill_diagonal(dist, 0.0)
        with warnings.catch_warnings():  # "inverse_transform will be unavailable": never used here
            warnings.filterwarnings("ignore", "using precomputed metric", UserWarning)
            return np.asarray(self._umap(n, metric="precomputed").fit_transform(dist), dtype=np.float32)

    def _hdbscan(self, min_cluster_size: int, allow_single_cluster: bool = False) -> Any:
        import hdbscan

        return hdbscan.HDBSCAN(
            min_cluster_size=min_cluster_size,
            min_samples=min(self.hdbscan_min_samples, min_cluster_size),
            metric="euclidean",
            cluster_selection_method="eom",
            allow_single_cluster=allow_single_cluster,
        )


class CumlBackend(ClusterBackend):
    """cuML UMAP + HDBSCAN on the GPU (install the ``gpu`` extra).

    Inputs of fewer than ``gpu_min_rows`` rows go to the CPU path
    (:class:`CPUBackend`, same settings): on an H200, cuML 26.10's UMAP
    killed the process (a segmentation fault, no exception) on the daily
    job's split check of a newborn cluster, whose inputs hold a few dozen
    rows, while every call of 1,000 rows or more ran (``benchmarks/RESULTS.md``,
    "cuML on a GPU"). Below 1,000 rows the CPU path takes under a second.
    """

    name = "cuml"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not gpu_available():
            raise BackendUnavailable(
                "cluster backend 'cuml' needs cuML and a visible GPU: pip install 'ray-topics[gpu]' on a GPU "
                "node, or set cluster.backend to 'cpu' or 'auto'"
            )
        self._small = CPUBackend(**kwargs)

    def reduce(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] < self.gpu_min_rows:
            return self._small.reduce(x)
        return super().reduce(x)

    def fit_predict(self, x: np.ndarray, min_cluster_size: int, allow_single_cluster: bool = False) -> np.ndarray:
        if x.shape[0] < self.gpu_min_rows:
            return self._small.fit_predict(x, min_cluster_size, allow_single_cluster)
        return super().fit_predict(x, min_cluster_size, allow_single_cluster)

    def _umap(self, n: int) -> Any:  # pragma: no cover - GPU only
        from cuml.manifold import UMAP

        return UMAP(
            n_neighbors=min(self.umap_n_neighbors, n - 1),
            n_components=self.umap_n_components,
            min_dist=self.umap_min_dist,
            n_epochs=self.umap_n_epochs,
            metric="cosine",
            random_state=self.random_state,
        )

    def _hdbscan(self, min_cluster_size: int, allow_single_cluster: bool = False) -> Any:  # pragma: no cover
        from cuml.cluster import HDBSCAN

        return HDBSCAN(
            min_cluster_size=min_cluster_size,
            min_samples=min(self.hdbscan_min_samples, min_cluster_size),
            metric="euclidean",
            cluster_selection_method="eom",
            allow_single_cluster=allow_single_cluster,
        )


BACKENDS: dict[str, type[ClusterBackend]] = {"cpu": CPUBackend, "cuml": CumlBackend}


def gpu_available() -> bool:
    """True when cuML imports and at least one CUDA device is visible."""
    try:
        import cuml  # noqa: F401
        from numba import cuda
    except Exception:
        return False
    try:
        return bool(cuda.is_available() and len(cuda.gpus) > 0)
    except Exception:  # pragma: no cover - driver problems
        return False


def resolve_backend(name: str) -> str:
    if name == "auto":
        return "cuml" if gpu_available() else "cpu"
    if name not in BACKENDS:
        raise ValueError(f"unknown cluster backend {name!r}; choose one of auto, {', '.join(BACKENDS)}")
    return name


def make_backend(name: str = "auto", **params: Any) -> ClusterBackend:
    """Build the backend named in config (``auto`` resolved here)."""
    return BACKENDS[resolve_backend(name)](**params)


# ---------------------------------------------------------------- operations on clusters


def align(new_centroids: np.ndarray, old_centroids: np.ndarray, threshold: float) -> dict[int, int]:
    """``{new cluster index: old topic index}`` by maximum-weight matching, pairs at or above ``threshold``.

    Example:
        >>> old = np.eye(3, dtype=np.float32); new = old[[2, 0]]
        >>> align(new, old, 0.8)
        {0: 2, 1: 0}
    """
    if not len(new_centroids) or not len(old_centroids):
        return {}
    sim = new_centroids @ old_centroids.T
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-sim)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if sim[r, c] >= threshold}


def find_merges(centroids: np.ndarray, sizes: list[int], threshold: float) -> list[tuple[int, int]]:
    """``(absorbed, into)`` index pairs, most similar pair first, the smaller absorbed.

    Chains resolve to their final survivor: when a topic that absorbed
    another is itself absorbed, both end in the same survivor, which is never
    absorbed itself.

    Example:
        >>> c = np.array([[1, 0], [0.99, 0.141], [0, 1]], dtype=np.float32)
        >>> find_merges(c, [10, 5, 7], 0.95)
        [(1, 0)]
    """
    n = len(centroids)
    if n < 2:
        return []
    sim = centroids @ centroids.T
    iu = np.triu_indices(n, 1)
    order = np.argsort(-sim[iu], kind="stable")
    parent = list(range(n))
    weight = [int(s) for s in sizes]

    def root(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    absorbed: list[int] = []
    for k in order:
        i, j = int(iu[0][k]), int(iu[1][k])
        if sim[i, j] < threshold:
            break
        ri, rj = root(i), root(j)
        if ri != i or rj != j or ri == rj:
            continue  # only survivors merge, pair by pair
        small, big = (i, j) if weight[i] < weight[j] else (j, i)
        parent[small] = big
        weight[big] += weight[small]
        absorbed.append(small)
    return [(a, root(a)) for a in absorbed]


def find_splits(
    vectors: np.ndarray, backend: ClusterBackend, *, min_fraction: float, merge_threshold: float
) -> list[np.ndarray]:
    """Parts of one topic's members (index arrays, largest first) when it should split, else []."""
    n = len(vectors)
    min_part = max(int(np.ceil(min_fraction * n)), 2)
    labels = backend.fit_predict(vectors, min_part)
    parts = [np.flatnonzero(labels == c) for c in sorted(set(labels.tolist())) if c >= 0]
    parts = [p for p in parts if len(p) >= min_part]
    if len(parts) < 2:
        return []
    cents = np.stack([cohesion(vectors[p])[0] for p in parts])
    if find_merges(cents, [len(p) for p in parts], merge_threshold):
        return []  # the parts are near-duplicates: one topic after all
    return sorted(parts, key=len, reverse=True)
