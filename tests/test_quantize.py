"""Tests of the tier codecs: int8 scalar quantisation (warm) and product quantisation (cold)."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest

from ray_topics.storage.codecs import PQ_CENTROIDS, ProductQuantizer, int8_decode, int8_encode
from ray_topics.streams.planted import default_scenario
from ray_topics.streams.synthetic import generate


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray]:
    """Planted clustered unit vectors (one domain, 9 topics incl. a near-duplicate pair) and topic centroids."""
    spec = default_scenario(days=8, daily_volume=400, domains=("gaming",), seed=3)
    stream = generate(replace(spec, dim=96, with_text=False))
    truth = stream.videos["true_topic"].to_numpy()
    names = sorted({t for t in truth if t})
    cents = np.stack([stream.embeddings[truth == n].mean(0) for n in names])
    return stream.embeddings, cents / np.linalg.norm(cents, axis=1, keepdims=True)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _agreement(x: np.ndarray, y: np.ndarray, cents: np.ndarray) -> float:
    return float(np.mean(np.argmax(x @ cents.T, 1) == np.argmax(y @ cents.T, 1)))


def test_int8_keeps_vectors_and_nearest_topics(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    x, cents = clustered
    codes, scales = int8_encode(x)
    assert codes.dtype == np.int8 and codes.shape == x.shape and scales.dtype == np.float32
    assert np.abs(codes).max(axis=1).min() == 127  # every vector uses the whole range
    y = int8_decode(codes, scales)
    assert _cosine(x, y).min() > 0.999
    assert _agreement(x, y, cents) >= 0.995
    again, again_scales = int8_encode(y)  # rewriting a warm file loses nothing more
    np.testing.assert_array_equal(again, codes)
    np.testing.assert_allclose(again_scales, scales, rtol=1e-6)


def test_int8_edge_cases() -> None:
    codes, scales = int8_encode(np.zeros((2, 4), np.float32))
    assert not codes.any() and not scales.any()
    assert not int8_decode(codes, scales).any()
    codes, scales = int8_encode(np.zeros((0, 4), np.float32))
    assert codes.shape == (0, 4) and int8_decode(codes, scales).shape == (0, 4)
    with pytest.raises(ValueError, match="2-d"):
        int8_encode(np.ones(4, np.float32))


def test_product_quantizer_bound_on_clustered_vectors(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    """8 dimensions per byte (384-d at 48 bytes): the nearest topic of >= 95 % of vectors, median cosine > 0.8."""
    x, cents = clustered
    pq = ProductQuantizer(12).fit(x[:1500])
    assert pq.centroids_.shape == (12, PQ_CENTROIDS, 8)
    codes = pq.encode(x)
    assert codes.dtype == np.uint8 and codes.shape == (len(x), 12)
    y = pq.decode(codes)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert _agreement(x, y, cents) >= 0.95
    assert np.median(_cosine(x, y)) > 0.8
    # a stored codebook gives the same codes and vectors; the quantizer pickles (Ray ships it)
    back = ProductQuantizer.from_centroids(pq.centroids_)
    np.testing.assert_array_equal(back.encode(x[:50]), codes[:50])
    np.testing.assert_array_equal(back.decode(codes[:50]), y[:50])
    clone = pickle.loads(pickle.dumps(pq))
    np.testing.assert_array_equal(clone.encode(x[:50]), codes[:50])
    assert pq.encode(x[:0]).shape == (0, 12) and pq.decode(codes[:0]).shape == (0, 96)


def test_product_quantizer_refuses_what_it_cannot_learn() -> None:
    x = np.random.default_rng(0).standard_normal((PQ_CENTROIDS, 10)).astype(np.float32)
    with pytest.raises(ValueError, match="do not divide"):
        ProductQuantizer(4).fit(x)
    with pytest.raises(ValueError, match="at least 256"):
        ProductQuantizer(5).fit(x[:-1])
    with pytest.raises(ValueError, match="codebook has shape"):
        ProductQuantizer.from_centroids(np.zeros((2, 16, 4), np.float32))
