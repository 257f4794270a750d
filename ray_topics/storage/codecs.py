"""Vector codecs of the lake's storage classes: int8 scalar quantisation (warm) and product quantisation (cold).

Both work on rows of L2-normalised float32 embeddings and give float32 rows back.

* :func:`int8_encode` / :func:`int8_decode`: each vector is scaled by its own
  largest absolute value (``scale = max |x| / 127``) and rounded to int8: 1 byte
  per dimension plus one float32 scale per vector. A per-vector scale, not one
  fixed scale of 127 for every vector: a unit vector's components are far below
  1, so a fixed scale leaves most of the int8 range unused (agreement figures of
  both in benchmarks/RESULTS.md, ``benchmarks/tiering.py``).
  Re-encoding decoded vectors gives the same codes, so rewriting a warm file
  (late arrivals) loses nothing more.
* :class:`ProductQuantizer`: the vector is cut into ``subquantizers`` equal
  sub-vectors, each replaced by the index of its nearest of 256 centroids learned
  for that sub-space (FAISS k-means): 1 byte per sub-vector. The centroids (the
  codebook) are learned once from a sample and stored beside the codes.

Example:
    >>> x = np.eye(2, 4, dtype=np.float32)
    >>> codes, scales = int8_encode(x)
    >>> codes.tolist(), bool(np.allclose(scales, 1 / 127))
    ([[127, 0, 0, 0], [0, 127, 0, 0]], True)
    >>> bool(np.allclose(int8_decode(codes, scales), x))
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["INT8_MAX", "PQ_BITS", "PQ_CENTROIDS", "ProductQuantizer", "int8_decode", "int8_encode"]

INT8_MAX = 127  # symmetric int8 range [-127, 127]: the largest component of a vector maps to +-127
PQ_BITS = 8  # bits per product-quantisation code: one byte per sub-vector, 256 centroids per sub-space
PQ_CENTROIDS = 1 << PQ_BITS


def int8_encode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``x`` -> (int8 codes of the same shape, float32 scale per row); a zero row gets scale 0."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"int8_encode takes a 2-d array of rows, got shape {x.shape}")
    amax = np.abs(x).max(axis=1) if x.shape[1] else np.zeros(len(x), np.float32)
    scales = (amax / np.float32(INT8_MAX)).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1))
    codes = np.clip(np.rint(x / safe[:, None]), -INT8_MAX, INT8_MAX).astype(np.int8)
    return codes, scales


def int8_decode(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Inverse of :func:`int8_encode` (up to its rounding): float32 rows."""
    return np.asarray(codes, np.int8).astype(np.float32) * np.asarray(scales, np.float32)[:, None]


class ProductQuantizer:
    """Product quantisation with ``subquantizers`` bytes per vector (FAISS trains and encodes).

    Args:
        subquantizers: sub-vectors per vector (bytes per code); must divide the dimension.

    Attributes:
        centroids_: ``(subquantizers, 256, dim // subquantizers)`` float32, set by :meth:`fit`
            or :meth:`from_centroids`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.standard_normal((512, 8)).astype(np.float32)
        >>> pq = ProductQuantizer(4).fit(x)
        >>> pq.encode(x[:3]).shape, pq.encode(x[:3]).dtype
        ((3, 4), dtype('uint8'))
        >>> pq.decode(pq.encode(x[:3])).shape
        (3, 8)
    """

    def __init__(self, subquantizers: int) -> None:
        self.subquantizers = subquantizers

    @property
    def dim(self) -> int:
        return int(self.centroids_.shape[0] * self.centroids_.shape[2])

    def fit(self, x: np.ndarray) -> ProductQuantizer:
        """Learn the codebook from rows of ``x`` (at least :data:`PQ_CENTROIDS` of them)."""
        import faiss

        x = np.ascontiguousarray(x, dtype=np.float32)
        n, dim = x.shape
        if dim % self.subquantizers:
            raise ValueError(f"{self.subquantizers} subquantizers do not divide the dimension {dim}")
        if n < PQ_CENTROIDS:
            raise ValueError(f"a product quantizer needs at least {PQ_CENTROIDS} training vectors, got {n}")
        pq = faiss.ProductQuantizer(dim, self.subquantizers, PQ_BITS)
        # the caller sets the floor (archive.pq_min_train_rows); below FAISS's own advice (39 vectors
        # per centroid) it would print one warning per sub-space
        pq.cp.min_points_per_centroid = 1
        pq.train(x)
        sub = dim // self.subquantizers
        self.centroids_ = faiss.vector_to_array(pq.centroids).reshape(self.subquantizers, PQ_CENTROIDS, sub)
        self._faiss = pq
        return self

    @classmethod
    def from_centroids(cls, centroids: np.ndarray) -> ProductQuantizer:
        """A fitted quantizer from a stored codebook (``centroids_`` of an earlier fit)."""
        centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        if centroids.ndim != 3 or centroids.shape[1] != PQ_CENTROIDS:
            raise ValueError(f"a codebook has shape (subquantizers, {PQ_CENTROIDS}, sub_dim), got {centroids.shape}")
        pq = cls(centroids.shape[0])
        pq.centroids_ = centroids
        return pq

    def _index(self) -> Any:
        import faiss

        if getattr(self, "_faiss", None) is None:
            pq = faiss.ProductQuantizer(self.dim, self.subquantizers, PQ_BITS)
            faiss.copy_array_to_vector(self.centroids_.ravel(), pq.centroids)
            self._faiss = pq
        return self._faiss

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Rows -> ``(n, subquantizers)`` uint8 codes (nearest centroid of each sub-vector)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not len(x):
            return np.zeros((0, self.subquantizers), np.uint8)
        return self._index().compute_codes(x)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Codes -> float32 rows: the concatenated centroids the codes name."""
        codes = np.asarray(codes, dtype=np.uint8)
        if not len(codes):
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate([self.centroids_[m][codes[:, m]] for m in range(self.subquantizers)], axis=1)

    def __getstate__(self) -> dict[str, Any]:  # the FAISS object does not pickle; it is rebuilt on use
        return {k: v for k, v in self.__dict__.items() if k != "_faiss"}
