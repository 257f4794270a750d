"""One search of the k nearest and one vote, shared by the router, the story view, settling and the benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from ray_topics.core.index import normalize
from ray_topics.core.neighbours import Voters, VoterSample, ivf_lists, lower_bounds, nearest, plurality
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


def test_a_uniform_sample_is_the_smallest_keys_of_the_window_whatever_the_order_and_the_prefilter() -> None:
    """Uniform: 10,000 videos offered in shuffled chunks, cap 1,000, keep the 1,000 smallest keys whatever the
    order, vectors with their ids; without sizes there is no prefilter, with them (the window counted) the
    prefilter passes about the cap x 1.1 and the sample is the same."""
    rng = np.random.default_rng(0)
    ids = [f"v{i}" for i in range(10_000)]
    vecs = rng.standard_normal((len(ids), 4)).astype(np.float32)
    sample = VoterSample(1_000, salt="s")
    for chunk in np.array_split(rng.permutation(len(ids)), 7):
        sample.offer([ids[i] for i in chunk], vecs[chunk], [ids[i] for i in chunk])
    assert sample.admits() is None and sample.weights() is None
    assert sorted(sample.ids) == sorted(sorted(ids, key=lambda v: stable_key(v, "s"))[:1_000])
    row = {v: i for i, v in enumerate(ids)}
    assert np.array_equal(sample.vectors, vecs[[row[v] for v in sample.ids]])  # vectors stay with their ids
    # the window counted (sizes), not stratified: the prefilter passes about 1,100 ids, the same sample
    filtered = VoterSample(1_000, salt="s", sizes={"a": 6_000, "b": 4_000}, stratified=False)
    labels = ["a"] * 6_000 + ["b"] * 4_000
    admit = filtered.admits()
    assert admit is not None and filtered.quota is None
    kept = [i for i in range(len(ids)) if admit(ids[i], labels[i])]
    filtered.offer([ids[i] for i in kept], vecs[kept], [labels[i] for i in kept])
    assert 1_000 <= len(kept) <= 1_250 and sorted(filtered.ids) == sorted(sample.ids)
    assert filtered.weights() is None


def test_a_stratified_sample_keeps_small_strata_whole_and_the_same_with_the_prefilter() -> None:
    """Strata of 30, 300, 3,000 and 6,670 videos, cap 1,000: quotas 30, 300 (whole), 335, 335; each stratum keeps
    its quota's smallest keys whatever the order, the same with :meth:`VoterSample.admits` in front (which
    passes about the quotas x 1.1, not 10,000), and each voter counts for its stratum's videos per kept one."""
    rng = np.random.default_rng(0)
    sizes = {"story": 30, "small": 300, "broad": 3_000, "huge": 6_670}
    strata = [s for s, n in sizes.items() for _ in range(n)]
    ids = [f"v{i}" for i in range(len(strata))]
    vecs = rng.standard_normal((len(ids), 4)).astype(np.float32)
    whole, filtered = VoterSample(1_000, salt="s", sizes=sizes), VoterSample(1_000, salt="s", sizes=sizes)
    admit = filtered.admits()
    assert admit is not None and VoterSample(1_000, sizes={"a": 600, "b": 400}).admits() is None
    passed = 0
    for chunk in np.array_split(rng.permutation(len(ids)), 7):
        whole.offer([ids[i] for i in chunk], vecs[chunk], [strata[i] for i in chunk])
        kept = [i for i in chunk if admit(ids[i], strata[i])]
        passed += len(kept)
        filtered.offer([ids[i] for i in kept], vecs[kept], [strata[i] for i in kept])
    assert whole.quota == {"story": 30, "small": 300, "broad": 335, "huge": 335}
    assert 1_000 <= passed <= 1_000 * 1.1 + 4 * 4 * np.sqrt(335)
    assert sorted(whole.ids) == sorted(filtered.ids) and len(whole) == 1_000
    for stratum, quota in whole.quota.items():
        mine = [v for v, s in zip(ids, strata, strict=True) if s == stratum]
        kept = [v for v, s in zip(whole.ids, whole.labels, strict=True) if s == stratum]
        assert sorted(kept) == sorted(sorted(mine, key=lambda v: stable_key(v, "s"))[:quota])
    weight = dict(zip(whole.labels, whole.weights().tolist(), strict=True))
    assert weight == {"story": 1.0, "small": 1.0, "broad": 3_000 / 335, "huge": 6_670 / 335}
    row = {v: i for i, v in enumerate(ids)}
    assert np.array_equal(whole.vectors, vecs[[row[v] for v in whole.ids]])  # vectors stay with their ids


def test_a_stratified_sample_is_the_same_in_any_order_when_its_quotas_sum_below_the_cap() -> None:
    """Three strata of 40, cap 100: quotas 33 each (99); one at a time or in chunks, each keeps its 33 smallest
    keys (an offer trims only past the cap, the vote's sample always)."""
    ids = [f"v{i}" for i in range(120)]
    strata = ["a", "b", "c"] * 40
    vecs = np.zeros((120, 2), np.float32)
    one, chunked = (VoterSample(100, salt="s", sizes={"a": 40, "b": 40, "c": 40}) for _ in range(2))
    for i in range(120):
        one.offer(ids[i : i + 1], vecs[i : i + 1], strata[i : i + 1])
    for lo in range(0, 120, 50):
        chunked.offer(ids[lo : lo + 50], vecs[lo : lo + 50], strata[lo : lo + 50])
    assert len(one.voters(3, exact_up_to=200, nprobe=1)) == len(chunked.voters(3, exact_up_to=200, nprobe=1)) == 99
    assert sorted(one.ids) == sorted(chunked.ids)


def test_weights_decide_the_plurality_and_the_share_a_video_keeps_its_answer_by() -> None:
    """Three nearest voters, ``a`` nearest then two ``b``: one vote each, ``b`` wins and ``a`` holds 1/3; ``a``
    counting for 3, ``a`` wins, and a ``b`` video keeps ``b`` only at a share up to 2/5."""
    assert plurality(np.array([[0, 1, 1]]), np.array([[3.0, 1.0, 1.0]]))[0].tolist() == [0]
    vecs = normalize(np.array([[1, 0.1, 0], [1, 0.2, 0], [1, 0.3, 0]], np.float32))
    query = normalize(np.array([[1, 0.0, 0]], np.float32))
    one = Voters(vecs, ["a", "b", "b"], 3, exact_up_to=10, nprobe=1)
    assert one.place(query) == ["b"] and one.place(query, stay=["a"], stay_share=1 / 3) == ["a"]
    heavy = Voters(vecs, ["a", "b", "b"], 3, exact_up_to=10, nprobe=1, weights=np.array([3.0, 1.0, 1.0]))
    assert heavy.place(query) == ["a"]
    assert heavy.place(query, stay=["b"], stay_share=0.4) == ["b"]
    assert heavy.place(query, stay=["b"], stay_share=0.41) == ["a"]
    with pytest.raises(ValueError, match="weight"):
        Voters(vecs, ["a", "b", "b"], 3, exact_up_to=10, nprobe=1, weights=np.ones(2))
    with pytest.raises(ValueError, match="stay_share"):
        one.place(query, stay=["a"])


def test_less_one_standard_error_one_heavy_voter_does_not_outvote_a_story_kept_whole() -> None:
    """A story's ten videos, nine its topic's (kept whole: weight 1) and one a broad topic still answers, sampled
    one in 30 (weight 30), and a query among them answered ``broad``. By the plain weights ``broad`` holds 30 of
    39 and the video stays; less one standard error (30 - sqrt(30 x 29), about 0.5, against 9) it moves to the
    story. Several heavy voters are evidence and still win; weights all 1 (every stratum whole) vote as
    before."""
    rng = np.random.default_rng(0)
    centre = normalize(rng.standard_normal((1, DIM)))[0]
    story = normalize(centre + 0.05 * rng.standard_normal((10, DIM)))
    labels, weights = ["broad"] + ["story"] * 9, np.array([30.0] + [1.0] * 9)
    query = normalize(centre[None, :])
    plain = Voters(story, labels, 10, exact_up_to=100, nprobe=1, weights=weights)
    sure = Voters(story, labels, 10, exact_up_to=100, nprobe=1, weights=weights, errors=1.0)
    assert plain.place(query, stay=["broad"], stay_share=0.3) == ["broad"] and plain.place(query) == ["broad"]
    assert sure.place(query, stay=["broad"], stay_share=0.3) == ["story"]
    # rows apart: one heavy voter beside nine kept whole (30 - sqrt(30 x 29)); five voters of weight 4 (20 - sqrt(5
    # x 12), spread over the five) against five of 1, the sampled answer still winning; weights all 1, unchanged;
    # no neighbour (-1), 0
    rows = np.array([[0] + [1] * 9, [0] * 5 + [1] * 5, [0, 1, 1, 0, 2, 1, 1, 0, 0, 1], [0, -1] + [1] * 8])
    w = np.array([[30.0] + [1.0] * 9, [4.0] * 5 + [1.0] * 5, [1.0] * 10, [1.0, 0.0] + [1.0] * 8])
    low = lower_bounds(rows, w, 1.0)
    assert low[0, 0] == pytest.approx(30 - np.sqrt(30 * 29)) and low[0, 1:].tolist() == [1.0] * 9
    assert low[1, :5].sum() == pytest.approx(20 - np.sqrt(5 * 12)) and low[1, 5:].tolist() == [1.0] * 5
    assert plurality(rows, low)[0].tolist() == [1, 0, 1, 1]
    assert low[2].tolist() == [1.0] * 10 and low[3, 1] == 0.0
    with pytest.raises(ValueError, match="errors"):
        Voters(story, labels, 10, exact_up_to=100, nprobe=1, errors=-1.0)


def test_where_no_answer_is_sure_a_video_keeps_its_answer_or_takes_the_fallback() -> None:
    """Three neighbours, each of its own sampled topic (weight 4): less two standard errors (4 - 2 sqrt(12) < 0)
    no answer holds any weight. The video neither moves to the nearest's answer nor is placed by it: with
    ``stay`` it keeps its own, without it takes the fallback; without a fallback it is an error."""
    vecs = normalize(np.array([[1, 0.1, 0], [1, 0.2, 0], [1, 0.3, 0]], np.float32))
    query = normalize(np.array([[1, 0.0, 0]], np.float32))
    unsure = Voters(vecs, ["a", "b", "c"], 3, exact_up_to=10, nprobe=1, weights=np.full(3, 4.0), errors=2.0)
    assert unsure.place(query, fallback=["own"], stay=["own"], stay_share=0.3) == ["own"]
    assert unsure.place(query, fallback=["own"]) == ["own"]
    with pytest.raises(ValueError, match="no answer sure"):
        unsure.place(query)
    # less one error the nearest's answer holds 4 - sqrt(12) > 0 and, all alike, wins the tie
    assert Voters(vecs, ["a", "b", "c"], 3, exact_up_to=10, nprobe=1, weights=np.full(3, 4.0), errors=1.0).place(
        query
    ) == ["a"]


def _story_among_broad(rng: np.random.Generator) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """A window of a broad topic (4,000 videos, spread) and a tight story of 14 inside it whose topic holds 12
    (born later) and whose first 2 the broad topic still holds; returns the window (ids, vectors, answers) and
    the first 2's vectors."""
    centre = normalize(rng.standard_normal((1, DIM)))[0]
    broad = normalize(centre + 0.8 * rng.standard_normal((4_000, DIM)))
    story_centre = normalize(centre + 0.6 * rng.standard_normal(DIM))
    story = normalize(story_centre + 0.05 * rng.standard_normal((14, DIM)))
    ids = [f"v{i}" for i in range(4_014)]
    answers = ["broad"] * 4_000 + ["broad"] * 2 + ["story"] * 12
    return ids, np.concatenate([broad, story]), answers, story[:2]


def test_a_stratified_sample_keeps_a_small_story_a_uniform_one_loses() -> None:
    """Cap 200 of a window of 4,014: the uniform sample holds about one of the story's 12 voters, and the story's
    first 2 videos stay with the broad topic; stratified by answer, the story votes whole and takes them, as
    every voter of the window does. The price: of the 50 broad videos nearest the story, whose every-voter vote
    keeps them, the stratified vote moves some (its broad voters are sparse there, the story's whole); settling
    moves a video only where it fits the voted topic as well, which such videos do not
    (``benchmarks/settle_resolution.py``)."""
    ids, vecs, answers, first = _story_among_broad(np.random.default_rng(3))
    uniform = VoterSample(200, salt="s")
    stratified = VoterSample(200, salt="s", sizes={"broad": 4_002, "story": 12})
    for sample in (uniform, stratified):
        sample.offer(ids, vecs, answers)
    every = Voters(vecs, answers, 10, exact_up_to=10_000, nprobe=1)
    place = {"every": every, "uniform": uniform.voters(10, exact_up_to=10_000, nprobe=1),
             "stratified": stratified.voters(10, exact_up_to=10_000, nprobe=1)}  # fmt: skip
    said = ["broad"] * 2
    got = {name: v.place(first, stay=said, stay_share=0.3) for name, v in place.items()}
    assert got["every"] == ["story"] * 2 and got["stratified"] == ["story"] * 2
    assert got["uniform"] == ["broad"] * 2
    broad = vecs[:4_000][np.argsort(-(vecs[:4_000] @ first.mean(axis=0)))[:50]]  # the broad videos nearest it
    assert every.place(broad, stay=["broad"] * 50, stay_share=0.3) == ["broad"] * 50
    assert place["stratified"].place(broad, stay=["broad"] * 50, stay_share=0.3).count("story") < 50 / 3


def test_an_inverted_file_votes_as_the_exact_search() -> None:
    """12,000 voters of 30 clustered answers searched through an inverted file of FAISS's rule's lists (307):
    600 videos get the exact search's answers."""
    rng = np.random.default_rng(5)
    centres = normalize(rng.standard_normal((30, DIM)))
    which = rng.integers(30, size=12_600)
    vecs = normalize(centres[which] + 0.2 * rng.standard_normal((len(which), DIM)))
    labels = [f"t{i}" for i in which[:12_000]]
    exact = Voters(vecs[:12_000], labels, 10, exact_up_to=100_000, nprobe=8, backend="numpy").place(vecs[12_000:])
    ivf = Voters(vecs[:12_000], labels, 10, exact_up_to=1_000, nprobe=8)
    assert ivf.index.nlist == ivf_lists(12_000) == 307  # type: ignore[union-attr]
    assert ivf.place(vecs[12_000:]) == exact
