"""Planted embeddings with a known shape: broad topics around a domain's direction, clouds around centres.

Shared by ``benchmarks.settle_resolution`` and ``benchmarks.ivf_cost``. Not a
script: the benchmarks import it.
"""

from __future__ import annotations

import math

import numpy as np

from ray_topics.core.index import normalize

__all__ = ["around", "broad_centroids"]


def broad_centroids(rng: np.random.Generator, topics: int, dim: int, domain_weight: float) -> np.ndarray:
    """``topics`` unit centroids around a shared random direction of weight ``domain_weight`` (against a random
    one of unit length each: 1, centroids about 0.5 apart; 0, about orthogonal)."""
    domain = normalize(rng.standard_normal(dim).astype(np.float32))
    return normalize(domain_weight * domain + normalize(rng.standard_normal((topics, dim)).astype(np.float32)))


def around(rng: np.random.Generator, centres: np.ndarray, cos: float) -> np.ndarray:
    """A unit vector about ``cos`` from each row of the unit ``centres`` (isotropic noise).

    Example:
        >>> c = np.eye(4, 256, dtype=np.float32)
        >>> bool(abs(float(np.mean(np.sum(around(np.random.default_rng(0), c, 0.8) * c, axis=1))) - 0.8) < 0.05)
        True
    """
    sigma = math.sqrt(1 / cos**2 - 1)  # |c + s n/sqrt(dim)| ~ sqrt(1 + s^2): cos = 1 / sqrt(1 + s^2)
    noise = rng.standard_normal(centres.shape).astype(np.float32) / math.sqrt(centres.shape[1])
    return normalize(centres + sigma * noise)
