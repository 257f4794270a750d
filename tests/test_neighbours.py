"""One search of the k nearest and one vote, shared by the router, the story view, settling and the benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from ray_topics.core.index import normalize
from ray_topics.core.neighbours import Voters, VoterSample, nearest, plurality
from ray_topics.core.router import DomainRouter
from ray_topics.core.sampling import stable_key

DIM = 16


@pytest.mark.parametrize("chunk", [3, 1000])  # several chunks, and one
def test_nearest_finds_the_brute_force_neighbours_in_order(chunk: int) -> None:
    rng = np.random.default_rng(0)
    base, queries = normalize(rng.standard_normal((50, DIM))), normalize(rng.standard_normal((11, DIM)))
    got = nearest(queries, base, 5, chunk=chunk)
    want = np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :5]
    assert got.tolist() == want.tolist()


def test_nearest_never_returns_a_pair_that_is_not_allowed() -> None:
    """Only the base rows with the query's parity may be its neighbours; a query allowed only two gets -1s."""
    rng = np.random.default_rng(1)
    base, queries = normalize(rng.standard_normal((20, DIM))), normalize(rng.standard_normal((6, DIM)))

    def same_parity(lo: int, hi: int) -> np.ndarray:
        return (np.arange(lo, hi)[:, None] % 2) == (np.arange(20)[None, :] % 2)

    got = nearest(queries, base, 4, chunk=4, allowed=same_parity)
    assert ((got % 2) == (np.arange(6)[:, None] % 2)).all()
    few = nearest(queries[:1], base, 4, chunk=4, allowed=lambda lo, hi: np.arange(20)[None, :] < 2)
    assert sorted(few[0, :2].tolist()) == [0, 1] and few[0, 2:].tolist() == [-1, -1]


def test_nearest_asks_for_at_most_the_base() -> None:
    assert nearest(np.eye(2, DIM), np.eye(3, DIM), 10, chunk=8).shape == (2, 3)
    assert nearest(np.zeros((0, DIM)), np.eye(3, DIM), 2, chunk=8).shape == (0, 2)


def test_plurality_takes_the_most_held_label_and_a_tie_goes_to_the_nearest() -> None:
    winner, votes = plurality(np.array([[3, 1, 1, 3, 1], [3, 1, 1, 3, -1], [-1, 2, -1, -1, -1], [-1] * 5]))
    assert winner.tolist() == [1, 3, 2, -1]
    assert votes.tolist() == [3, 2, 1, 0]
    none, zero = plurality(np.zeros((2, 0), np.int64))  # no neighbour asked for
    assert none.tolist() == [-1, -1] and zero.tolist() == [0, 0]


def test_the_router_and_the_voters_count_the_same_vote() -> None:
    """Labelled videos of two desks in two clusters: the router takes a desk on a strict majority of the k
    nearest, the story view's voters on a plurality; on clear majorities both name the same desk, and on a
    5:5 split the router routes by prototype while the voters name the nearest's."""
    rng = np.random.default_rng(2)
    a, b = normalize(rng.standard_normal((2, DIM)))
    labelled = np.concatenate([normalize(a + 0.1 * rng.standard_normal((30, DIM))),
                               normalize(b + 0.1 * rng.standard_normal((30, DIM)))])  # fmt: skip
    desks = ["news"] * 30 + ["tech"] * 30
    router = DomainRouter(["news", "tech"], {}, {"news": a, "tech": b}, neighbours=10)
    router.set_exemplars(labelled, desks)
    voters = Voters(labelled, desks, 10, exact_up_to=1000, nprobe=1, backend="numpy")
    queries = normalize(np.stack([a + 0.05 * b, b + 0.05 * a]))
    assert router.routes([{}, {}], queries) == (["news", "tech"], ["neighbours", "neighbours"])
    assert voters.place(queries) == ["news", "tech"]
    split = normalize(np.concatenate([labelled[:5], labelled[30:35]]))
    tie = DomainRouter(["news", "tech"], {}, {"news": a, "tech": b}, neighbours=10)
    tie.set_exemplars(split, ["news"] * 5 + ["tech"] * 5)
    q = normalize((a + b)[None, :])
    assert tie.routes([{}], q)[1] == ["prototype"]
    nearest_desk = ["news"] * 5 + ["tech"] * 5
    closest = int(np.argmax(split @ q[0]))
    assert Voters(split, nearest_desk, 10, exact_up_to=100, nprobe=1).place(q) == [nearest_desk[closest]]


def test_a_capped_sample_is_the_smallest_keys_of_the_window_whatever_the_order_and_the_prefilter() -> None:
    """10,000 videos offered in shuffled chunks, cap 1,000: the sample is the same with and without
    :meth:`VoterSample.admits` in front (which passes about 1,100 ids, not 10,000), and a window that fits
    the cap needs no filter."""
    rng = np.random.default_rng(0)
    ids = [f"v{i}" for i in range(10_000)]
    vecs = rng.standard_normal((len(ids), 4)).astype(np.float32)
    whole, filtered = VoterSample(1_000, salt="s"), VoterSample(1_000, salt="s")
    admit = filtered.admits(len(ids))
    assert admit is not None and VoterSample(1_000).admits(1_000) is None
    order = rng.permutation(len(ids))
    passed = 0
    for chunk in np.array_split(order, 7):
        whole.offer([ids[i] for i in chunk], vecs[chunk], [ids[i] for i in chunk])
        kept = [i for i in chunk if admit(ids[i])]
        passed += len(kept)
        filtered.offer([ids[i] for i in kept], vecs[kept], [ids[i] for i in kept])
    assert 1_000 <= passed <= 1_250
    assert sorted(whole.ids) == sorted(filtered.ids)
    assert len(whole) == 1_000
    by_key = sorted(ids, key=lambda v: stable_key(v, "s"))[:1_000]
    assert sorted(whole.ids) == sorted(by_key)
    row = {v: i for i, v in enumerate(ids)}
    assert np.array_equal(whole.vectors, vecs[[row[v] for v in whole.ids]])  # vectors stay with their ids
