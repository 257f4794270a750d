"""Conformance suite over every clustering backend, and the operations on clusters (align, merge, split).

Ray pickles the backends it ships to workers, so every backend that can be built
here must clone, pickle, repeat itself under a seed and leave its inputs alone.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from ray_topics.core.clustering import (
    BACKENDS,
    UMAP_EXACT_LIMIT,
    BackendUnavailable,
    ClusterBackend,
    CumlBackend,
    align,
    find_merges,
    find_splits,
    gpu_available,
    make_backend,
    resolve_backend,
)

PARAMS = dict(
    umap_n_neighbors=10,
    umap_n_components=2,
    umap_min_dist=0.0,
    umap_n_epochs=200,
    hdbscan_min_samples=5,
    random_state=0,
    gpu_min_rows=0,
)
DIM = 16
PER_BLOB = 40
MIN_CLUSTER = 15


def _blobs(
    n_blobs: int, per_blob: int = PER_BLOB, seed: int = 0, spread: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated gaussian blobs around orthogonal unit directions."""
    rng = np.random.default_rng(seed)
    centers = np.eye(DIM)[:n_blobs]
    x = np.concatenate([c + spread * rng.standard_normal((per_blob, DIM)) for c in centers]).astype(np.float32)
    return x, np.repeat(np.arange(n_blobs), per_blob)


def _build(name: str) -> ClusterBackend:
    try:
        return make_backend(name, **PARAMS)
    except BackendUnavailable as exc:
        pytest.skip(f"backend {name!r} cannot be built here: {exc}")


@pytest.fixture(scope="module")
def three_blobs() -> tuple[np.ndarray, np.ndarray]:
    return _blobs(3)


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def fitted(
    request: pytest.FixtureRequest, three_blobs: tuple[np.ndarray, np.ndarray]
) -> tuple[ClusterBackend, np.ndarray]:
    """(backend, its labels on the three planted blobs), computed once per backend."""
    backend = _build(request.param)
    return backend, backend.fit_predict(three_blobs[0], MIN_CLUSTER)


# ---------------------------------------------------------------- conformance


def test_backend_name_matches_registry(fitted: tuple[ClusterBackend, np.ndarray]) -> None:
    backend, _ = fitted
    assert BACKENDS[backend.name] is type(backend)


def test_get_params_round_trip_clone(fitted: tuple[ClusterBackend, np.ndarray]) -> None:
    backend, _ = fitted
    assert backend.get_params() == PARAMS
    clone = type(backend)(**backend.get_params())
    assert clone is not backend
    assert clone.get_params() == backend.get_params()
    assert repr(clone) == repr(backend)


def test_finds_planted_blobs(fitted: tuple[ClusterBackend, np.ndarray], three_blobs: tuple) -> None:
    _, labels = fitted
    x, truth = three_blobs
    assert labels.shape == (len(x),) and labels.dtype == np.int64
    assert len(set(labels.tolist()) - {-1}) == 3
    assert adjusted_rand_score(truth, labels) > 0.9


def test_seeded_repeatability(fitted: tuple[ClusterBackend, np.ndarray], three_blobs: tuple) -> None:
    backend, labels = fitted
    again = type(backend)(**backend.get_params()).fit_predict(three_blobs[0], MIN_CLUSTER)
    np.testing.assert_array_equal(again, labels)


def test_pickle_round_trip_same_labels(fitted: tuple[ClusterBackend, np.ndarray], three_blobs: tuple) -> None:
    backend, labels = fitted
    clone = pickle.loads(pickle.dumps(backend))
    assert type(clone) is type(backend) and clone.get_params() == backend.get_params()
    np.testing.assert_array_equal(clone.fit_predict(three_blobs[0], MIN_CLUSTER), labels)


def test_inputs_left_unchanged(fitted: tuple[ClusterBackend, np.ndarray]) -> None:
    backend, _ = fitted
    for dtype in (np.float32, np.float64):
        x = _blobs(2, seed=4)[0].astype(dtype)
        saved = x.copy()
        backend.fit_predict(x, MIN_CLUSTER)
        np.testing.assert_array_equal(x, saved)
    assert backend.get_params() == PARAMS  # fitting does not rewrite the parameters


@pytest.mark.parametrize("n", [0, 1, 5, MIN_CLUSTER - 1])
def test_tiny_input_is_all_noise(fitted: tuple[ClusterBackend, np.ndarray], n: int) -> None:
    backend, _ = fitted
    x = _blobs(1, per_blob=max(n, 1))[0][:n]
    labels = backend.fit_predict(x, MIN_CLUSTER)
    assert labels.shape == (n,)
    assert (labels == -1).all()


def test_reduce_passes_tiny_inputs_through(fitted: tuple[ClusterBackend, np.ndarray]) -> None:
    backend, _ = fitted
    x = np.arange(12, dtype=np.float64).reshape(3, 4)  # 3 rows <= n_components + 2
    out = backend.reduce(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)


# ---------------------------------------------------------------- registry


def test_registry_names() -> None:
    assert set(BACKENDS) == {"cpu", "cuml"}
    for name, cls in BACKENDS.items():
        assert cls.name == name


@pytest.mark.skipif(gpu_available(), reason="a GPU with cuML is visible")
def test_auto_resolves_to_cpu_without_gpu() -> None:
    assert resolve_backend("auto") == "cpu"
    assert make_backend("auto", **PARAMS).name == "cpu"


@pytest.mark.skipif(gpu_available(), reason="a GPU with cuML is visible")
def test_cuml_unavailable_has_install_hint() -> None:
    with pytest.raises(BackendUnavailable, match=r"pip install 'ray-topics\[gpu\]'") as info:
        make_backend("cuml", **PARAMS)
    assert "cluster.backend" in str(info.value)
    assert isinstance(info.value, ImportError)
    with pytest.raises(BackendUnavailable):
        CumlBackend(**PARAMS)


class _GpuCalled(Exception):
    """Raised by the stand-ins for cuML's models: the GPU path was taken."""


def test_cuml_hands_inputs_below_gpu_min_rows_to_the_cpu_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """cuML's UMAP crashed the process on a few dozen rows (RESULTS, "cuML on a GPU"): those go to the CPU path."""
    import ray_topics.core.clustering as clustering

    def gpu(*_: object, **__: object) -> None:
        raise _GpuCalled

    monkeypatch.setattr(clustering, "gpu_available", lambda: True)
    monkeypatch.setattr(CumlBackend, "_umap", gpu)
    monkeypatch.setattr(CumlBackend, "_hdbscan", gpu)
    small_rows = 2 * PER_BLOB
    backend = CumlBackend(**{**PARAMS, "gpu_min_rows": small_rows + 1})
    x, truth = _blobs(2)  # small_rows rows: under gpu_min_rows
    labels = backend.fit_predict(x, MIN_CLUSTER)
    np.testing.assert_array_equal(labels, make_backend("cpu", **PARAMS).fit_predict(x, MIN_CLUSTER))
    assert adjusted_rand_score(truth, labels) > 0.9
    assert backend.reduce(x).shape == (small_rows, PARAMS["umap_n_components"])
    clone = pickle.loads(pickle.dumps(backend))  # Ray ships the backend to its workers
    np.testing.assert_array_equal(clone.fit_predict(x, MIN_CLUSTER), labels)
    with pytest.raises(_GpuCalled):  # at gpu_min_rows and above: cuML
        CumlBackend(**{**PARAMS, "gpu_min_rows": small_rows}).fit_predict(x, MIN_CLUSTER)


def test_unknown_backend_name() -> None:
    with pytest.raises(ValueError, match="unknown cluster backend 'tpu'"):
        resolve_backend("tpu")
    with pytest.raises(ValueError, match="unknown cluster backend"):
        make_backend("tpu")


# ---------------------------------------------------------------- align


def test_align_keeps_identities_under_permutation() -> None:
    rng = np.random.default_rng(0)
    old = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0][:6].astype(np.float32)  # orthonormal rows
    perm = rng.permutation(6)
    noisy = old[perm] + 0.05 * rng.standard_normal((6, DIM)).astype(np.float32)
    new = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    assert align(new, old, 0.8) == {i: int(p) for i, p in enumerate(perm)}


def test_align_respects_threshold() -> None:
    old = np.eye(3, dtype=np.float32)
    c = np.float32(np.cos(np.pi / 4))
    new = np.array([[1, 0, 0], [0, c, c], [0, 0, 1]], dtype=np.float32)  # row 1 is 45 degrees off
    assert align(new, old, 0.8) == {0: 0, 2: 2}
    assert align(new, old, 0.7) == {0: 0, 1: 1, 2: 2}
    assert align(new, old, 1.01) == {}


def test_align_more_new_than_old_and_empty() -> None:
    old = np.eye(4, dtype=np.float32)[:2]
    new = np.eye(4, dtype=np.float32)[[3, 1, 0]]
    assert align(new, old, 0.8) == {1: 1, 2: 0}
    assert align(np.zeros((0, 4), np.float32), old, 0.8) == {}
    assert align(new, np.zeros((0, 4), np.float32), 0.8) == {}


def test_align_is_one_to_one() -> None:
    old = np.eye(3, dtype=np.float32)
    new = np.array([[1, 0, 0], [0.99, 0.141, 0]], dtype=np.float32)  # both near old topic 0
    out = align(new, old, 0.8)
    assert out == {0: 0}


# ---------------------------------------------------------------- merges


def test_find_merges_absorbs_smaller_of_near_duplicates() -> None:
    c = np.array([[1, 0, 0], [0.995, 0.0998, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    assert find_merges(c, [10, 30, 7, 5], 0.95) == [(0, 1)]
    assert find_merges(c, [30, 10, 7, 5], 0.95) == [(1, 0)]
    assert find_merges(c, [30, 10, 7, 5], 0.999) == []


def test_find_merges_each_topic_absorbed_once() -> None:
    # 0~1 and 1~2 above threshold, 0~2 below: the largest (1) absorbs both, closest pair first
    c = np.array([[1, 0], [0.999, 0.0447], [0.99, 0.141]], dtype=np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    assert find_merges(c, [5, 20, 10], 0.985) == [(0, 1), (2, 1)]
    # a pair whose smaller side is already absorbed is skipped
    dup = np.array([[1, 0], [1, 0], [1, 0]], dtype=np.float32)
    merges = find_merges(dup, [5, 9, 30], 0.99)
    absorbed = [a for a, _ in merges]
    assert len(absorbed) == len(set(absorbed)) == 2
    assert 2 not in absorbed
    assert find_merges(c[:1], [5], 0.5) == []


# ---------------------------------------------------------------- splits


@pytest.fixture(scope="module")
def cpu_backend() -> ClusterBackend:
    return make_backend("cpu", **PARAMS)


def test_find_splits_splits_two_planted_blobs(cpu_backend: ClusterBackend) -> None:
    x, truth = _blobs(2, per_blob=PER_BLOB, seed=1)
    parts = find_splits(x, cpu_backend, min_fraction=0.25, merge_threshold=0.92)
    assert len(parts) == 2
    assert sorted(len(p) for p in parts) == [PER_BLOB, PER_BLOB]
    assert sorted(set(truth[p].tolist()) for p in parts) == [{0}, {1}]
    assert len(parts[0]) >= len(parts[1])


def test_find_splits_keeps_a_single_blob(cpu_backend: ClusterBackend) -> None:
    x, _ = _blobs(1, per_blob=2 * PER_BLOB, seed=2)
    assert find_splits(x, cpu_backend, min_fraction=0.25, merge_threshold=0.92) == []


def test_find_splits_ignores_a_small_fringe(cpu_backend: ClusterBackend) -> None:
    big = _blobs(1, per_blob=70, seed=3)[0]
    fringe = _blobs(2, per_blob=10, seed=4)[0][10:]  # 10 rows around another direction: 12.5% < 25%
    assert find_splits(np.concatenate([big, fringe]), cpu_backend, min_fraction=0.25, merge_threshold=0.92) == []


# ---------------------------------------------------------------- exact neighbours from BLAS


def test_cpu_reduce_below_exact_limit_matches_umaps_own_cosine(cpu_backend: ClusterBackend) -> None:
    """The precomputed-distance path (fast) and umap-learn's own cosine (slow) embed alike.

    Same exact neighbours, so the same clusters: both reductions separate the
    planted blobs perfectly and agree with each other.
    """
    x, truth = _blobs(4, per_blob=60, seed=2, spread=0.12)
    assert len(x) < UMAP_EXACT_LIMIT
    fast = cpu_backend.reduce(x)
    slow = ClusterBackend.reduce(cpu_backend, x)  # the base path: umap-learn with metric="cosine"
    assert fast.shape == slow.shape == (len(x), PARAMS["umap_n_components"])
    hd = cpu_backend._hdbscan(MIN_CLUSTER)
    a, b = hd.fit_predict(fast), cpu_backend._hdbscan(MIN_CLUSTER).fit_predict(slow)
    assert adjusted_rand_score(truth, a) == 1.0 and adjusted_rand_score(a, b) == 1.0
