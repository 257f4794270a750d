"""Tests of the centroid index: the documented confidence, backend agreement, pickling, calibration."""

from __future__ import annotations

import math
import pickle
import subprocess
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import ray_topics.core.index as index_mod
from ray_topics.core.index import (
    CentroidIndex,
    calibrate,
    confidence_from_similarity,
    normalize,
    resolve_index_backend,
)

CAL = dict(edge_sigmas=2.0, typical=0.9, min_sigma=0.03)


def _conf(sim: float, mu: float, sigma: float, **kw: float) -> float:
    params = {**CAL, **kw}
    return float(confidence_from_similarity(np.array([sim]), np.array([mu]), np.array([sigma]), **params)[0])


# ---------------------------------------------------------------- confidence definition


@pytest.mark.parametrize(("mu", "sigma"), [(0.6, 0.05), (0.35, 0.1), (0.85, 0.04)])
@pytest.mark.parametrize("typical", [0.8, 0.9, 0.95])
@pytest.mark.parametrize("k", [1.5, 2.0, 3.0])
def test_confidence_at_mean_is_typical_and_at_edge_half(mu: float, sigma: float, typical: float, k: float) -> None:
    assert _conf(mu, mu, sigma, typical=typical, edge_sigmas=k) == pytest.approx(typical, abs=1e-6)
    assert _conf(mu - k * sigma, mu, sigma, typical=typical, edge_sigmas=k) == pytest.approx(0.5, abs=1e-6)


def test_confidence_matches_the_formula() -> None:
    mu, sigma, k, typical = 0.6, 0.05, 2.0, 0.9
    a = math.log(typical / (1 - typical)) / k
    for s in (0.3, 0.45, 0.5, 0.55, 0.62, 0.7, 0.9):
        expected = 1.0 / (1.0 + math.exp(-a * (s - (mu - k * sigma)) / sigma))
        assert _conf(s, mu, sigma) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_confidence_is_monotone_and_bounded() -> None:
    sims = np.linspace(-1.0, 1.0, 2001)
    conf = confidence_from_similarity(sims, np.full_like(sims, 0.6), np.full_like(sims, 0.05), **CAL)
    assert conf.dtype == np.float32
    assert np.all(np.diff(conf.astype(np.float64)) >= 0)
    assert conf.min() >= 0.0 and conf.max() <= 1.0
    assert conf[0] < 1e-6 and conf[-1] > 0.9999  # falls towards 0 outside, 1 deep inside
    assert not np.isnan(conf).any()


def test_min_sigma_floor() -> None:
    # sigma below the floor behaves exactly like sigma == min_sigma
    for s in (0.5, 0.55, 0.6, 0.65):
        assert _conf(s, 0.6, 0.001) == pytest.approx(_conf(s, 0.6, 0.03), abs=1e-7)
        assert _conf(s, 0.6, 0.0) == pytest.approx(_conf(s, 0.6, 0.03), abs=1e-7)
    # the edge of a zero-spread topic sits min_sigma * k below its mean
    assert _conf(0.6 - 2 * 0.03, 0.6, 0.0) == pytest.approx(0.5, abs=1e-6)
    # above the floor the given sigma is used
    assert _conf(0.6 - 2 * 0.1, 0.6, 0.1) == pytest.approx(0.5, abs=1e-6)


def test_confidence_comparable_across_tightness() -> None:
    # the same number of sigmas above the edge gives the same confidence for a tight and a loose topic
    tight = _conf(0.9 - 0.5 * 0.03, 0.9, 0.03)
    loose = _conf(0.5 - 0.5 * 0.12, 0.5, 0.12)
    assert tight == pytest.approx(loose, abs=1e-6)


# ---------------------------------------------------------------- index


def _topics(n_topics: int = 12, dim: int = 24, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = [f"d:{i}" for i in range(n_topics)]
    return ids, rng.standard_normal((n_topics, dim)), rng.uniform(0.2, 0.6, n_topics), rng.uniform(0.02, 0.1, n_topics)


def test_search_finds_the_nearest_centroid() -> None:
    ids = ["d:0", "d:1", "d:2"]
    idx = CentroidIndex(**CAL, reject_below=0.5, backend="numpy").fit(ids, np.eye(3) * 5.0, [0.8] * 3, [0.05] * 3)
    m = idx.search(np.array([[0.0, 2.0, 0.1], [0.1, 0.0, -3.0], [0.0, 0.0, 1.0]]))
    assert m.nearest == ["d:1", "d:0", "d:2"]
    # row 1 is closest to d:0 but far below its edge: rejected, nearest still named
    assert m.topic_ids == ["d:1", None, "d:2"]
    sim = np.array([2.0 / math.hypot(2.0, 0.1), 0.1 / math.hypot(0.1, 3.0), 1.0])
    np.testing.assert_allclose(m.similarities, sim, atol=1e-6)
    np.testing.assert_allclose(
        m.confidences, confidence_from_similarity(sim, np.full(3, 0.8), np.full(3, 0.05), **CAL), atol=1e-6
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_faiss_and_numpy_agree(seed: int) -> None:
    pytest.importorskip("faiss")
    ids, cents, mu, sigma = _topics(seed=seed)
    x = np.random.default_rng(seed + 100).standard_normal((400, cents.shape[1])).astype(np.float32)
    a = CentroidIndex(**CAL, reject_below=0.3, backend="faiss").fit(ids, cents, mu, sigma)
    b = CentroidIndex(**CAL, reject_below=0.3, backend="numpy").fit(ids, cents, mu, sigma)
    assert (a.backend_, b.backend_) == ("faiss", "numpy")
    ma, mb = a.search(x), b.search(x)
    assert ma.nearest == mb.nearest
    assert ma.topic_ids == mb.topic_ids
    np.testing.assert_allclose(ma.similarities, mb.similarities, atol=1e-5)
    np.testing.assert_allclose(ma.confidences, mb.confidences, atol=1e-5)
    # the data exercise both outcomes
    assert 0 < sum(t is None for t in ma.topic_ids) < len(x)


def test_reject_below_gives_none() -> None:
    ids, cents, mu, sigma = _topics()
    x = np.random.default_rng(5).standard_normal((300, cents.shape[1]))
    for threshold in (0.2, 0.5, 0.8):
        m = CentroidIndex(**CAL, reject_below=threshold, backend="numpy").fit(ids, cents, mu, sigma).search(x)
        for tid, near, c in zip(m.topic_ids, m.nearest, m.confidences, strict=True):
            assert near is not None
            assert tid == (near if c >= threshold else None)
    everyone = CentroidIndex(**CAL, reject_below=0.0, backend="numpy").fit(ids, cents, mu, sigma).search(x)
    assert None not in everyone.topic_ids
    nobody = CentroidIndex(**CAL, reject_below=1.0, backend="numpy").fit(ids, cents, mu, sigma).search(x)
    assert set(nobody.topic_ids) == {None}


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_empty_index(backend: str) -> None:
    if backend == "faiss":
        pytest.importorskip("faiss")
    x = np.ones((3, 8), dtype=np.float32)
    for idx in (CentroidIndex(backend=backend), CentroidIndex(backend=backend).fit([], np.zeros((0, 8)), [], [])):
        assert len(idx) == 0
        m = idx.search(x)
        assert m.topic_ids == [None] * 3 and m.nearest == [None] * 3
        np.testing.assert_array_equal(m.similarities, np.zeros(3))
        np.testing.assert_array_equal(m.confidences, np.zeros(3))


def test_fit_rejects_mismatched_ids() -> None:
    with pytest.raises(ValueError, match="one row per topic id"):
        CentroidIndex().fit(["a", "b"], np.eye(3), [0.5] * 2, [0.1] * 2)


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_pickle_round_trip_keeps_answers(backend: str) -> None:
    if backend == "faiss":
        pytest.importorskip("faiss")
    ids, cents, mu, sigma = _topics()
    x = np.random.default_rng(9).standard_normal((200, cents.shape[1]))
    idx = CentroidIndex(**CAL, reject_below=0.4, backend=backend).fit(ids, cents, mu, sigma)
    before = idx.search(x)
    clone = pickle.loads(pickle.dumps(idx))
    after = clone.search(x)
    assert len(clone) == len(idx)
    assert after.topic_ids == before.topic_ids and after.nearest == before.nearest
    np.testing.assert_array_equal(after.confidences, before.confidences)
    np.testing.assert_array_equal(after.similarities, before.similarities)
    assert (clone.edge_sigmas, clone.typical, clone.min_sigma, clone.reject_below) == (2.0, 0.9, 0.03, 0.4)


def test_fit_leaves_inputs_unchanged() -> None:
    ids, cents, mu, sigma = _topics()
    cents = cents.astype(np.float32)
    saved = cents.copy()
    CentroidIndex(backend="numpy").fit(ids, cents, mu, sigma).search(cents)
    np.testing.assert_array_equal(cents, saved)


def test_resolve_index_backend() -> None:
    assert resolve_index_backend("numpy") == "numpy"
    assert resolve_index_backend("auto") in ("faiss", "numpy")
    with pytest.raises(ValueError, match="unknown index backend"):
        resolve_index_backend("annoy")


# ---------------------------------------------------------------- calibration


@pytest.mark.parametrize(("mu", "sigma"), [(0.6, 0.05), (0.4, 0.1), (0.8, 0.02), (0.3, 0.07)])
def test_calibrate_robust_to_lower_tail_cut(mu: float, sigma: float) -> None:
    s = np.random.default_rng(int(mu * 100)).normal(mu, sigma, 40_000)
    cut = s[s > mu - 2 * sigma]  # members below the edge are never assigned
    m, sd = calibrate(cut)
    assert m == pytest.approx(mu, abs=0.05 * sigma)
    assert sd == pytest.approx(sigma, rel=0.04)
    # the naive estimate shrinks; the calibrated one is closer to the truth
    assert abs(sd - sigma) < abs(float(np.std(cut)) - sigma)


def test_repeated_recalibration_does_not_shrink_spread() -> None:
    """A topic recalibrated from its own assigned members week after week keeps its spread."""
    rng = np.random.default_rng(3)
    mu, sigma = 0.6, 0.05
    true = rng.normal(mu, sigma, 40_000)
    m, sd = mu, sigma
    for _ in range(6):
        m, sd = calibrate(true[true > m - 2 * sd])
    assert m == pytest.approx(mu, abs=0.1 * sigma)
    assert sd == pytest.approx(sigma, rel=0.06)


def test_calibrate_small_inputs() -> None:
    assert calibrate(np.array([])) == (0.0, 0.0)
    assert calibrate(np.array([0.5, 0.7])) == (pytest.approx(0.6), 0.0)
    m, sd = calibrate(np.full(10, 0.4))
    assert (m, sd) == (pytest.approx(0.4), 0.0)


# ---------------------------------------------------------------- normalize


def test_normalize_keeps_zero_rows_zero() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]])
    out = normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]], atol=1e-7)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(normalize(np.zeros(4)), np.zeros(4))
    np.testing.assert_allclose(normalize(np.array([0.0, 5.0])), [0.0, 1.0])


def test_normalize_leaves_input_unchanged() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    saved = x.copy()
    normalize(x)
    np.testing.assert_array_equal(x, saved)


# --------------------------------------------------------------------------- the GPU index, where it works


class _FakeGpuResources:
    pass


class _FakeGpuIndex:
    """Stands in for a GPU index: searches with the CPU index it was made from."""

    def __init__(self, res: object, device: int, index: object) -> None:
        self.res, self.device, self.index = res, device, index

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(x, k)


@pytest.fixture
def gpu_visible(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """faiss as a faiss-gpu build on a machine with one GPU; the probe's verdict is forgotten before and after."""
    faiss = pytest.importorskip("faiss")
    monkeypatch.setattr(faiss, "StandardGpuResources", _FakeGpuResources, raising=False)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", _FakeGpuIndex, raising=False)
    index_mod.faiss_gpu_usable.cache_clear()
    yield faiss
    index_mod.faiss_gpu_usable.cache_clear()


def _probed_index(monkeypatch: pytest.MonkeyPatch, probe: str) -> tuple[CentroidIndex, list[str]]:
    """A faiss index fitted under ``probe`` (twice: the probe runs once), and the probes' commands."""
    monkeypatch.setattr(index_mod, "_GPU_PROBE", probe)
    calls: list[str] = []
    real_run = subprocess.run

    def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd[-1])
        return real_run(cmd, **kw)

    monkeypatch.setattr(index_mod.subprocess, "run", run)
    ids, cents, mu, sigma = _topics()
    CentroidIndex(**CAL, backend="faiss").fit(ids, cents, mu, sigma)
    return CentroidIndex(**CAL, backend="faiss").fit(ids, cents, mu, sigma), calls


def _answers_as_numpy(idx: CentroidIndex) -> None:
    ids, cents, mu, sigma = _topics()
    x = np.random.default_rng(7).standard_normal((200, cents.shape[1])).astype(np.float32)
    ref = CentroidIndex(**CAL, backend="numpy").fit(ids, cents, mu, sigma).search(x)
    assert idx.search(x).nearest == ref.nearest


def test_a_gpu_build_that_aborts_on_this_gpu_leaves_the_index_on_the_cpu(
    gpu_visible: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as the faiss-gpu-cu12 wheel on an H200: the first search aborts the process ("no kernel image")
    with pytest.warns(UserWarning, match="a search on the GPU failed .* stays on the CPU"):
        idx, calls = _probed_index(monkeypatch, "import os; os.abort()")
    assert calls == ["import os; os.abort()"]  # once per process, not once per index
    assert isinstance(idx._faiss, gpu_visible.IndexFlatIP)
    _answers_as_numpy(idx)


def test_a_probe_that_hangs_leaves_the_index_on_the_cpu(gpu_visible: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_mod, "GPU_PROBE_TIMEOUT_S", 0.5)
    with pytest.warns(UserWarning, match="did not finish in 0.5 s"):
        idx, _ = _probed_index(monkeypatch, "import time; time.sleep(30)")
    assert isinstance(idx._faiss, gpu_visible.IndexFlatIP)


def test_a_gpu_that_passes_the_probe_holds_the_index(gpu_visible: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    idx, calls = _probed_index(monkeypatch, "pass")
    assert len(calls) == 1
    assert isinstance(idx._faiss, _FakeGpuIndex) and idx._faiss.device == 0
    assert idx._faiss.referenced_objects == [idx._faiss.res]  # the resources live as long as the index
    _answers_as_numpy(idx)
    assert isinstance(pickle.loads(pickle.dumps(idx))._faiss, _FakeGpuIndex)  # rebuilt on the GPU after shipping


def test_no_gpu_means_no_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    faiss = pytest.importorskip("faiss")
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 0, raising=False)
    index_mod.faiss_gpu_usable.cache_clear()
    try:
        idx, calls = _probed_index(monkeypatch, "import os; os.abort()")
    finally:
        index_mod.faiss_gpu_usable.cache_clear()
    assert calls == []
    assert isinstance(idx._faiss, faiss.IndexFlatIP)
