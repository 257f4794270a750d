"""Centroid index: nearest topic centroid by inner product on L2-normalised vectors.

Confidence
----------
For a video with embedding ``x`` and its nearest topic ``t`` (cosine ``s``),
each topic carries the median ``mu_t`` and a robust spread ``sigma_t`` (:func:`calibrate`) of its
members' cosine to the centroid. The topic's *edge* is ``mu_t - k * sigma_t``
(``k = confidence.edge_sigmas``). Confidence is the logistic

    confidence = 1 / (1 + exp(-a * (s - edge) / sigma_t)),   a = logit(typical) / k

so a video exactly as similar as the topic's typical member (``s = mu_t``)
gets ``typical`` (0.9 by default), one on the edge gets 0.5, and it falls
towards 0 outside. It is comparable across topics of different tightness,
lies in [0, 1], and is recalibrated weekly from each topic's members.

Backends: ``faiss`` (CPU; GPU index where ``faiss-gpu`` imports, a GPU is
visible and a probe search on it succeeds: :func:`faiss_gpu_usable`) or
``numpy``; both return the same answers. The index pickles (Ray ships it) by
its centroids and rebuilds itself on load.
"""

from __future__ import annotations

import functools
import math
import subprocess
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: an embedding this close to unit length (relative) is a unit vector as sent: float32 rounding, not scale
UNIT_TOLERANCE = 1e-3

__all__ = [
    "UNIT_TOLERANCE",
    "CentroidIndex",
    "Match",
    "calibrate",
    "confidence_from_similarity",
    "faiss_gpu_usable",
    "normalize",
    "resolve_index_backend",
    "unit_rows",
]


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); zero rows stay zero.

    A row whose squared norm overflows or underflows float32 (values near 1e19 or 1e-23 and beyond) is scaled
    with its norm taken in float64: it is no zero row.

    Example:
        >>> normalize(np.array([[3e20, 4e20], [3e-30, 4e-30], [0.0, 0.0]], np.float32)).tolist()
        [[0.6000000238418579, 0.800000011920929], [0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore", under="ignore"):
        n = np.linalg.norm(x) if x.ndim == 1 else np.linalg.norm(x, axis=1, keepdims=True)
    if x.ndim == 1:
        if x.any() and not 0 < n < np.inf:
            return _normalize_wide(x[None, :])[0]
        return x / float(n) if n > 0 else x
    odd = (~np.isfinite(n[:, 0]) | (n[:, 0] == 0)) & x.any(axis=1)
    n[n == 0] = 1.0
    out = (x / n).astype(np.float32, copy=False)
    if odd.any():
        out[odd] = _normalize_wide(x[odd])
    return out


def _normalize_wide(x: np.ndarray) -> np.ndarray:
    """:func:`normalize` with the norms taken in float64 (2-D ``x``), where float32's over- or underflow."""
    wide = x.astype(np.float64)
    return (wide / np.linalg.norm(wide, axis=1, keepdims=True)).astype(np.float32)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of unit L2 norm (float32), as embeddings are stored: a row within :data:`UNIT_TOLERANCE` of unit length
    as it is (bit for bit), any other scaled to it (:func:`normalize`).

    Every job reads stored embeddings as unit vectors (a dot product is their cosine); a client whose model
    does not normalise its output would otherwise give every topic calibrated on its videos a mean cosine
    no video reaches.

    Example:
        >>> unit_rows(np.array([[0.6, 0.8], [30.0, 40.0]], np.float32)).tolist()
        [[0.6000000238418579, 0.800000011920929], [0.6000000238418579, 0.800000011920929]]
    """
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore", under="ignore"):  # an over- or underflowed norm is off unit length too
        off = ~(np.abs(np.linalg.norm(x, axis=-1) - 1.0) <= UNIT_TOLERANCE)
    if not off.any():
        return x
    out = x.copy()
    out[off] = normalize(x[off])
    return out


def confidence_from_similarity(
    sim: np.ndarray, mu: np.ndarray, sigma: np.ndarray, *, edge_sigmas: float, typical: float, min_sigma: float
) -> np.ndarray:
    """The calibrated confidence defined in this module's docstring (vectorised)."""
    sig = np.maximum(np.asarray(sigma, dtype=np.float64), min_sigma)
    edge = np.asarray(mu, dtype=np.float64) - edge_sigmas * sig
    slope = math.log(typical / (1.0 - typical)) / edge_sigmas
    z = slope * (np.asarray(sim, dtype=np.float64) - edge) / sig
    return (1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))).astype(np.float32)


def resolve_index_backend(name: str = "auto") -> str:
    """``auto`` -> ``faiss`` when it imports, else ``numpy``."""
    if name not in ("auto", "faiss", "numpy"):
        raise ValueError(f"unknown index backend {name!r}; use auto, faiss or numpy")
    if name == "auto":
        try:
            import faiss  # noqa: F401
        except ImportError:
            return "numpy"
        return "faiss"
    return name


@dataclass(frozen=True)
class Match:
    """Search results, aligned with the queries; ``topic_ids[i]`` is None for a rejected video."""

    topic_ids: list[str | None]
    nearest: list[str | None]
    similarities: np.ndarray
    confidences: np.ndarray


class CentroidIndex:
    """Nearest-centroid classifier with calibrated confidence.

    Args:
        edge_sigmas, typical, min_sigma: the confidence calibration (see module doc).
        reject_below: confidence under which ``topic_ids`` is None (the video fits no topic).
        backend: ``auto``, ``faiss`` or ``numpy``.

    Example:
        >>> idx = CentroidIndex(edge_sigmas=2.0, typical=0.9, min_sigma=0.03, reject_below=0.5)
        >>> c = np.eye(3, dtype=np.float32)
        >>> _ = idx.fit(["d:0", "d:1", "d:2"], c, mu=[0.8] * 3, sigma=[0.05] * 3)
        >>> m = idx.search(np.array([[0.9, 0.1, 0.0]], dtype=np.float32))
        >>> m.topic_ids, round(float(m.confidences[0]), 2) > 0.9
        (['d:0'], True)
    """

    def __init__(
        self,
        *,
        edge_sigmas: float = 2.0,
        typical: float = 0.9,
        min_sigma: float = 0.03,
        reject_below: float = 0.5,
        backend: str = "auto",
    ) -> None:
        self.edge_sigmas = edge_sigmas
        self.typical = typical
        self.min_sigma = min_sigma
        self.reject_below = reject_below
        self.backend = backend

    def fit(self, topic_ids: list[str], centroids: np.ndarray, mu: Any, sigma: Any) -> CentroidIndex:
        centroids = np.asarray(centroids, dtype=np.float32)
        if centroids.ndim != 2 or len(topic_ids) != centroids.shape[0]:
            raise ValueError("centroids must be (n_topics, dim), one row per topic id")
        self.topic_ids_ = list(topic_ids)
        self.centroids_ = normalize(centroids) if len(topic_ids) else centroids
        self.mu_ = np.asarray(mu, dtype=np.float32).reshape(-1)
        self.sigma_ = np.asarray(sigma, dtype=np.float32).reshape(-1)
        self.dim_ = int(centroids.shape[1]) if centroids.ndim == 2 else 0
        self.backend_ = resolve_index_backend(self.backend)
        self._build()
        return self

    def _build(self) -> None:
        self._faiss = None
        if self.backend_ == "faiss" and len(self.topic_ids_):
            import faiss

            index = faiss.IndexFlatIP(self.dim_)
            index.add(self.centroids_)
            self._faiss = _maybe_to_gpu(index)

    def __len__(self) -> int:
        return len(getattr(self, "topic_ids_", []))

    def search(self, x: np.ndarray) -> Match:
        """Nearest topic of each row of ``x`` (rows normalised here)."""
        x = normalize(np.atleast_2d(x))
        n = x.shape[0]
        if not len(self):
            zeros = np.zeros(n, dtype=np.float32)
            return Match([None] * n, [None] * n, zeros, zeros.copy())
        if self._faiss is not None:
            sims, idx = self._faiss.search(np.ascontiguousarray(x), 1)
            sims, idx = sims[:, 0], idx[:, 0]
        else:
            s = x @ self.centroids_.T
            idx = np.argmax(s, axis=1)
            sims = s[np.arange(n), idx]
        conf = self._confidence(sims, idx)
        nearest = [self.topic_ids_[i] for i in idx]
        ids = [t if c >= self.reject_below else None for t, c in zip(nearest, conf, strict=True)]
        return Match(ids, nearest, sims.astype(np.float32), conf)

    def confidence_in(self, x: np.ndarray, topic_ids: Sequence[str]) -> np.ndarray:
        """Each row's calibrated confidence in the topic ``topic_ids[i]`` (one of this index's), near or not.

        Example:
            >>> idx = CentroidIndex(edge_sigmas=2.0, typical=0.9, min_sigma=0.03, reject_below=0.5)
            >>> _ = idx.fit(["d:0", "d:1"], np.eye(2, dtype=np.float32), mu=[0.8] * 2, sigma=[0.05] * 2)
            >>> [round(float(c), 2) for c in idx.confidence_in(np.array([[0.9, 0.1], [0.9, 0.1]]), ["d:0", "d:1"])]
            [1.0, 0.0]
        """
        x = normalize(np.atleast_2d(x))
        where = {t: i for i, t in enumerate(self.topic_ids_)}
        idx = np.array([where[t] for t in topic_ids], dtype=np.int64)
        if not len(idx):
            return np.zeros(0, dtype=np.float32)
        return self._confidence(np.einsum("ij,ij->i", x, self.centroids_[idx]), idx)

    def _confidence(self, sims: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The calibrated confidence of similarities ``sims`` to the topics at positions ``idx``."""
        return confidence_from_similarity(
            sims,
            self.mu_[idx],
            self.sigma_[idx],
            edge_sigmas=self.edge_sigmas,
            typical=self.typical,
            min_sigma=self.min_sigma,
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_faiss", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if hasattr(self, "topic_ids_"):
            self._build()


# one search on the GPU, in a child process: exits 0 where faiss-gpu works on this machine's GPU
_GPU_PROBE = (
    "import faiss, numpy as np; x = np.eye(8, dtype='float32'); "
    "g = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, faiss.IndexFlatIP(8)); g.add(x); "
    "assert (g.search(x, 1)[1][:, 0] == np.arange(8)).all()"
)
# import faiss, start a CUDA context, search once: seconds on a GPU machine; a probe this slow is a broken GPU
GPU_PROBE_TIMEOUT_S = 300


@functools.cache
def faiss_gpu_usable() -> bool:
    """Whether faiss searches correctly on this machine's GPU (checked once per process).

    faiss-gpu must import and see a GPU, and one search there must succeed in a
    child process: a faiss-gpu build without kernels for the GPU aborts the
    process that searches (seen: the PyPI ``faiss-gpu-cu12`` wheel, built for
    compute capability 7.0 to 8.9, on an H200 aborts with "no kernel image is
    available"), and that must not be a Serve replica or a job. Where the probe
    fails the index stays on the CPU, with a warning saying why.
    """
    import faiss

    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1:
        return False
    try:
        done = subprocess.run(
            [sys.executable, "-c", _GPU_PROBE], capture_output=True, text=True, timeout=GPU_PROBE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        why = f"a search on the GPU did not finish in {GPU_PROBE_TIMEOUT_S} s"
    else:
        if done.returncode == 0:
            return True
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        why = f"a search on the GPU failed ({lines[-1]})"
    warnings.warn(f"faiss-gpu is installed and a GPU is visible, but {why}: the index stays on the CPU", stacklevel=2)
    return False


def _maybe_to_gpu(index: Any) -> Any:
    """The FAISS index on the GPU where :func:`faiss_gpu_usable`, else ``index`` itself."""
    import faiss

    if not faiss_gpu_usable():
        return index
    try:
        res = faiss.StandardGpuResources()
        gpu = faiss.index_cpu_to_gpu(res, 0, index)
    except RuntimeError as e:  # the GPU is full, say: the CPU index answers the same
        warnings.warn(f"the index stays on the CPU: moving it to the GPU failed ({e})", stacklevel=2)
        return index
    gpu.referenced_objects = [res]  # faiss's wrapper of index_cpu_to_gpu keeps no reference to the resources
    return gpu


def calibrate(sims: np.ndarray, upper_quantile: float = 0.9) -> tuple[float, float]:
    """Robust (mean, std) of members' cosine to their centroid, from the upper half only.

    ``mean`` is the median and ``std`` is ``(q_upper - median) / z(q_upper)``:
    members below a topic's edge are never assigned to it, so the lower tail
    is cut; estimating from the upper half keeps the spread from shrinking
    each time a topic is recalibrated from its own assigned members.

    Example:
        >>> s = np.random.default_rng(0).normal(0.6, 0.05, 20000)
        >>> m, sd = calibrate(s[s > 0.5])   # lower tail cut at the edge
        >>> round(m, 2), round(sd, 2)
        (0.6, 0.05)
    """
    from statistics import NormalDist

    sims = np.asarray(sims, dtype=np.float64)
    if sims.size == 0:
        return 0.0, 0.0
    med = float(np.median(sims))
    if sims.size < 3:
        return med, 0.0
    z = NormalDist().inv_cdf(upper_quantile)
    return med, max(float(np.quantile(sims, upper_quantile) - med) / z, 0.0)
