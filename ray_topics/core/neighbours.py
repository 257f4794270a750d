"""The k nearest videos and their vote (pure: no store, no Ray).

Three places let a video's nearest neighbours decide its label, with one search
and one vote:

* the domain router (:class:`ray_topics.core.router.DomainRouter`): labelled
  videos vote for a domain, taken on a strict majority;
* the story view and settling (:class:`Voters` over a :class:`VoterSample` of a
  window's fitted videos): the answer most of a video's nearest videos hold,
  each voter counting for the videos of the window it stands for;
* the quality benchmark's experimental views (``benchmarks/quality.py``).

:func:`nearest` searches exactly with NumPy, a chunk of queries at a time (memory:
a chunk x the searched vectors), nearest first; :func:`plurality` counts a row
of neighbours' labels, a tie going to the label of the nearest. :class:`Voters`
searches through FAISS where it imports (exact up to ``exact_up_to`` voters, an
inverted file above).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ray_topics.core.index import normalize
from ray_topics.core.sampling import stable_key

__all__ = [
    "VoterSample",
    "Voters",
    "fitting_moves",
    "ivf_index",
    "ivf_lists",
    "labels_of",
    "lower_bounds",
    "nearest",
    "plurality",
    "quotas",
]

EXACT_CHUNK = 1024  # videos compared with every voter at a time without FAISS (memory: EXACT_CHUNK x voters)
# FAISS's rules for an inverted-file index: about 4 sqrt(n) lists for n vectors, and at least 39 training
# vectors per list (fewer and its k-means warns that the lists are poorly placed)
IVF_LISTS_PER_SQRT = 4
IVF_MIN_PER_LIST = 39
# the k-means iterations an inverted file's training runs (FAISS's IndexIVF default, set explicitly): training
# costs about iterations x voters x lists comparisons (benchmarks/ivf_cost.py times it beside the searches)
IVF_TRAIN_ITERATIONS = 10
KEY_SPAN = 2**64  # stable_key's values lie in [0, KEY_SPAN)
# VoterSample.admits lets through this share more ids of a stratum than its quota expects, and this many
# binomial standard deviations of the quota besides (a small quota's own spread), so the quota's smallest keys
# pass it unless the hash falls that far short (at a quota of 100,000, 30 standard deviations)
SAMPLE_SLACK = 0.1
SAMPLE_SIGMAS = 4
SHARE_EPS = 1e-9  # 0.3 x 10 votes is 3 votes, not more by a float's last bit


def nearest(
    queries: np.ndarray,
    base: np.ndarray,
    k: int,
    *,
    chunk: int,
    allowed: Callable[[int, int], np.ndarray] | None = None,
) -> np.ndarray:
    """(queries, k) positions in ``base`` of each query's ``k`` most similar rows by inner product (unit rows:
    cosine), the most similar first; ``chunk`` queries at a time.

    ``allowed(lo, hi)``: a boolean (hi - lo, len(base)) matrix of the pairs that may be neighbours, for the
    queries ``lo:hi``; a query with fewer than ``k`` allowed gets ``-1`` in the places left.

    Example:
        >>> base = np.eye(3, dtype=np.float32)
        >>> nearest(np.array([[0.1, 0.9, 0.3]], np.float32), base, 2, chunk=8).tolist()
        [[1, 2]]
        >>> nearest(np.array([[0.1, 0.9, 0.3]], np.float32), base, 2, chunk=8,
        ...         allowed=lambda lo, hi: np.array([[True, False, False]])).tolist()
        [[0, -1]]
    """
    k = min(k, len(base))
    out = []
    for lo in range(0, len(queries), chunk):
        sims = queries[lo : lo + chunk] @ base.T
        if allowed is not None:
            sims[~allowed(lo, lo + len(sims))] = -np.inf  # in place: the product is this chunk's own
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        out.append(np.where(np.take_along_axis(top_sims, order, axis=1) > -np.inf, top, -1))
    return np.concatenate(out) if out else np.zeros((0, k), np.int64)


def labels_of(found: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The label codes of the neighbours ``found`` (positions into ``codes``; ``-1``, none found, stays ``-1``).

    Example:
        >>> labels_of(np.array([[2, 0, -1]]), np.array([7, 8, 9])).tolist()
        [[9, 7, -1]]
    """
    return np.where(found >= 0, codes[np.maximum(found, 0)], -1)


def _sharing(labels: np.ndarray) -> np.ndarray:
    """``[row, i, j]``: whether neighbours ``i`` and ``j`` of the row share a label (a k x k matrix per row)."""
    return labels[:, :, None] == labels[:, None, :]


def plurality(labels: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(winner, its votes) of each row of neighbours' label codes (nearest first, ``-1``: no neighbour): the
    code most of the row holds, a tie to the nearest's; ``-1`` with 0 votes for a row of none. ``weights``
    (aligned with ``labels``): what each neighbour's vote counts for (default 1 each).

    Example:
        >>> winner, votes = plurality(np.array([[2, 1, 1], [2, 1, -1], [-1, -1, -1]]))
        >>> winner.tolist(), votes.tolist()
        ([1, 2, -1], [2, 1, 0])
        >>> plurality(np.array([[2, 1, 1]]), np.array([[3.0, 1.0, 1.0]]))[0].tolist()  # one voter of 3 outvotes two
        [2]
    """
    labels = np.asarray(labels)
    if labels.shape[1] == 0:  # no neighbour asked for: no winner
        return np.full(len(labels), -1, labels.dtype), np.zeros(len(labels), np.int64)
    same = _sharing(labels)
    votes = same.sum(axis=2) if weights is None else (same * weights[:, None, :]).sum(axis=2)
    votes[labels < 0] = 0
    best = np.argmax(votes, axis=1)  # argmax: the first, i.e. the nearest, of the most shared
    rows = np.arange(len(labels))
    return labels[rows, best], votes[rows, best]


def lower_bounds(labels: np.ndarray, weights: np.ndarray, errors: float) -> np.ndarray:
    """``weights`` (aligned with ``labels``, a row per video, ``-1``: no neighbour) scaled so that each label's
    votes in a row are its weighted count less ``errors`` standard errors of it, at least 0.

    A voter of weight ``w`` stands for ``w`` videos, one kept in ``w``: the weighted count of a label among a
    video's neighbours is the Horvitz-Thompson estimate of its count among the whole window's, whose variance
    each voter adds ``w (w - 1)`` to (none for a stratum kept whole). One voter of a broad topic sampled one in
    30 estimates 30 with a standard error of 29.5: less one error it counts for 0.5, not for three times the
    nine voters of a story kept whole beside it (RESULTS.md, "Settling's vote, less one standard error").

    Example (one voter of weight 30 beside nine of weight 1):
        >>> w = np.array([[30.0] + [1.0] * 9])
        >>> lab = np.array([[0] + [1] * 9])
        >>> low = lower_bounds(lab, w, 1.0)
        >>> low[0, :2].round(1).tolist(), plurality(lab, low)[0].tolist()  # 30 - sqrt(30 x 29) against 9
        ([0.5, 1.0], [1])
        >>> plurality(lab, w)[0].tolist()  # by the plain weights, the one voter of 30
        [0]
    """
    same = _sharing(labels)
    total = (same * weights[:, None, :]).sum(axis=2)
    var = (same * np.maximum(weights * (weights - 1), 0)[:, None, :]).sum(axis=2)
    low = np.maximum(total - errors * np.sqrt(var), 0)
    return np.where((labels >= 0) & (total > 0), weights * low / np.where(total > 0, total, 1), 0.0)


def fitting_moves(
    vectors: np.ndarray,
    answers: Sequence[str],
    placed: Sequence[str],
    confidence_in: Callable[[np.ndarray, list[str]], np.ndarray],
    fit: float,
) -> tuple[list[int], list[float], int]:
    """(positions, confidences, refused): the videos whose ``placed`` label differs from their ``answers`` and
    that fit it (``confidence_in(their vectors, their placed labels)`` at least ``fit``), with their confidence
    in it, and how many others differ but do not fit.

    A vote moves a video only to a topic it fits as well: no video becomes a misfit by moving, and where the
    voters are a sample, a broad video whose few sampled neighbours are a story's stays out of the story
    (RESULTS.md, "Settling's voters, stratified by answer"). Settling and the story view by neighbours both
    take their moves through it.

    Example (the first and third videos are voted into ``b``; only the first fits it):
        >>> vecs = np.array([[0.9], [0.2], [0.3]])
        >>> fitting_moves(vecs, ["a", "a", "a"], ["b", "a", "b"], lambda x, labels: x[:, 0], 0.5)
        ([0], [0.9], 1)
    """
    change = [i for i, (p, a) in enumerate(zip(placed, answers, strict=True)) if p != a]
    if not change:
        return [], [], 0
    conf = np.asarray(confidence_in(vectors[change], [placed[i] for i in change]), dtype=np.float64).tolist()
    fits = [(i, c) for i, c in zip(change, conf, strict=True) if c >= fit]
    return [i for i, _ in fits], [c for _, c in fits], len(change) - len(fits)


def quotas(sizes: Mapping[str, int], cap: int) -> dict[str, int]:
    """How many of each stratum's ``sizes`` a sample of at most ``cap`` keeps: a stratum whole where it holds at
    most a level, the level where it holds more, the level the largest that keeps the total within ``cap``
    (small strata whole, the large ones alike). The level is at least 1: a cap below the strata's number keeps
    one of each (every answer of the window votes), a little over the cap.

    Example:
        >>> quotas({"a": 5, "b": 100, "c": 1000}, 105)
        {'a': 5, 'b': 50, 'c': 50}
        >>> quotas({"a": 5, "b": 10}, 100)
        {'a': 5, 'b': 10}
        >>> quotas({"a": 5, "b": 10, "c": 20}, 2)
        {'a': 1, 'b': 1, 'c': 1}
    """
    left, rest, level = cap, len(sizes), cap
    for n in sorted(sizes.values()):
        if n * rest <= left:  # this stratum, and every smaller one, whole
            left, rest = left - n, rest - 1
        else:
            level = max(1, left // rest)
            break
    return {s: min(n, level) for s, n in sizes.items()}


class VoterSample:
    """The voters of a window, offered a chunk at a time: at most ``cap`` of them, chosen by
    :func:`ray_topics.core.sampling.stable_key` (the same whatever order the videos come in), so that at any
    volume a video's vote among them estimates its vote among the whole window's.

    Without ``sizes`` (or not ``stratified``) the sample is uniform: the ``cap`` smallest keys. With ``sizes``
    (the window's videos per stratum, a stratum being a voter's stored answer) it is stratified: each stratum
    keeps its :func:`quotas` smallest keys, so a small topic (a newborn story) votes with every video it has
    while a broad one is sampled, and each voter counts for ``size / kept`` videos of its stratum
    (:meth:`weights`). A uniform sample of a busy domain loses a small story: its few sampled videos are not
    each other's nearest voters. A stratified one keeps it, but its broad voters are sparse at the story's
    edge, where a broad video's nearest voters can be the story's alone: settling and the story view sample
    so, and move a video only to a topic it fits (:func:`fitting_moves`; RESULTS.md, "Settling's voters,
    stratified by answer" and "The story view by neighbours, with settling's fit check").

    Memory: ``cap`` + one chunk of vectors. ``allowed``: the labels a voter may carry (others do not vote).
    :meth:`admits` tells a reader which ids to read at all, where the window holds more than the cap.

    Example:
        >>> ids, vecs = ["a", "b", "c", "d"], np.eye(4, dtype=np.float32)
        >>> one, two = VoterSample(cap=2), VoterSample(cap=2)
        >>> one.offer(ids, vecs, ids)  # the answers here: the ids themselves
        >>> two.offer(ids[2:], vecs[2:], ids[2:]); two.offer(ids[:2], vecs[:2], ids[:2])
        >>> len(one), sorted(one.labels) == sorted(two.labels)
        (2, True)
        >>> strata = VoterSample(cap=3, sizes={"small": 1, "broad": 3})
        >>> strata.offer(ids, vecs, ["small", "broad", "broad", "broad"])
        >>> sorted(zip(strata.labels, strata.weights().tolist()))
        [('broad', 1.5), ('broad', 1.5), ('small', 1.0)]
        >>> admit = strata.admits()
        >>> all(admit(i, lab) for i, lab in zip(strata.ids, strata.labels))  # every id the sample keeps passes
        True
    """

    def __init__(
        self,
        cap: int,
        allowed: set[str] | None = None,
        salt: str = "voters",
        sizes: Mapping[str, int] | None = None,
        *,
        stratified: bool = True,
    ) -> None:
        self.cap, self.allowed, self.salt = cap, allowed, salt
        self.sizes = (
            None if sizes is None else {s: n for s, n in sizes.items() if n > 0 and (allowed is None or s in allowed)}
        )
        self.total = 0 if self.sizes is None else sum(self.sizes.values())
        self.quota = quotas(self.sizes, cap) if stratified and self.sizes is not None and self.total > cap else None
        self.keys = np.zeros(0, np.uint64)
        self.vectors: np.ndarray | None = None
        self.ids: list[str] = []
        self.labels: list[str] = []
        self.strata: list[str] = []

    def __len__(self) -> int:
        return len(self.labels)

    def admits(self) -> Callable[[str, str], bool] | None:
        """A test ``(video_id, stratum)`` passing every id this sample can keep, so a reader reads those ids'
        embeddings only: stratified, about ``quota x (1 + SAMPLE_SLACK)`` of each sampled stratum, those of
        smallest key, every id of a stratum kept whole, and none of a stratum not in ``sizes`` (not ``allowed``:
        it would not vote); uniform, about ``cap x (1 + SAMPLE_SLACK)`` of the window. None where the window
        fits the cap whole (or no ``sizes`` were given). The sample is the same with or without it (unless the
        hash lets through fewer than a quota: then fewer voters, weighted up where stratified, not other ones)."""
        if self.sizes is None or self.total <= self.cap:
            return None
        salt = self.salt
        if self.quota is None:  # uniform
            bound = min(KEY_SPAN, int(KEY_SPAN * self.cap * (1 + SAMPLE_SLACK) / self.total))
            return lambda video_id, _stratum: stable_key(video_id, salt) < bound
        bounds = {
            s: min(KEY_SPAN, int(KEY_SPAN * (q * (1 + SAMPLE_SLACK) + SAMPLE_SIGMAS * math.sqrt(q)) / self.sizes[s]))
            for s, q in self.quota.items()
            if q < self.sizes[s]
        }
        whole = set(self.sizes) - set(bounds)  # a stratum not counted does not vote (a dead topic's answer)
        return lambda video_id, stratum: (
            stable_key(video_id, salt) < bounds[stratum] if stratum in bounds else stratum in whole
        )

    def offer(
        self, ids: Sequence[str], vectors: np.ndarray, labels: Sequence[str], strata: Sequence[str] | None = None
    ) -> None:
        """Offer a chunk of videos (ids, embeddings, answers and strata, aligned; the strata default to the
        answers); keep the ``cap`` of smallest key, or each stratum's quota of smallest key."""
        strata = labels if strata is None else strata
        keep = [i for i, lab in enumerate(labels) if self.allowed is None or lab in self.allowed]
        if not keep:
            return
        keys = np.array([stable_key(ids[i], self.salt) for i in keep], np.uint64)
        vecs = np.asarray(vectors, dtype=np.float32)[keep]  # normalised once, by Voters
        self.keys = np.concatenate([self.keys, keys])
        self.vectors = vecs if self.vectors is None else np.concatenate([self.vectors, vecs])
        self.ids += [ids[i] for i in keep]
        self.labels += [labels[i] for i in keep]
        self.strata += [strata[i] for i in keep]
        if len(self.labels) > self.cap:
            self._trim()

    def _trim(self) -> None:
        """Keep the ``cap`` smallest keys (uniform), or each stratum's quota of smallest keys (stratified; a
        stratum not in ``sizes`` whole). Offers trim only past the cap (memory); the quotas may sum to less, so
        :meth:`voters` and :meth:`weights` trim once more: the sample is then the same in any order."""
        if self.quota is None:
            kept = np.sort(np.argpartition(self.keys, self.cap - 1)[: self.cap])
        else:
            names, codes = np.unique(np.array(self.strata), return_inverse=True)
            limit = np.array([self.quota.get(s, len(codes)) for s in names.tolist()])
            order = np.lexsort((self.keys, codes))  # by stratum, then by key
            first = np.searchsorted(codes[order], codes[order], side="left")
            rank = np.arange(len(order)) - first  # each voter's place in its stratum, by key
            kept = np.sort(order[rank < limit[codes[order]]])
            if len(kept) == len(codes):
                return
        self.keys, self.vectors = self.keys[kept], self.vectors[kept]  # type: ignore[index]
        self.ids = [self.ids[i] for i in kept.tolist()]
        self.labels = [self.labels[i] for i in kept.tolist()]
        self.strata = [self.strata[i] for i in kept.tolist()]

    def weights(self) -> np.ndarray | None:
        """What each voter counts for: its stratum's videos over those of them kept (1 for a stratum kept whole
        or not counted); None for a uniform sample (every voter alike)."""
        if self.quota is None or self.sizes is None:
            return None
        if len(self):
            self._trim()
        names, codes, kept = np.unique(np.array(self.strata), return_inverse=True, return_counts=True)
        per = [
            self.sizes[s] / n if s in self.quota and self.quota[s] < self.sizes[s] else 1.0
            for s, n in zip(names.tolist(), kept.tolist(), strict=True)
        ]
        return np.array(per)[codes]

    def voters(
        self,
        k: int,
        *,
        exact_up_to: int,
        nprobe: int,
        backend: str = "auto",
        errors: float = 0.0,
    ) -> Voters:
        """The sample as :class:`Voters`, each voter weighted by :meth:`weights` (``errors``: see
        :class:`Voters`)."""
        weights = self.weights() if len(self) else None  # trims to the quotas first
        vecs = self.vectors if self.vectors is not None else np.zeros((0, 0), np.float32)
        return Voters(
            vecs, self.labels, k, exact_up_to=exact_up_to, nprobe=nprobe, backend=backend, weights=weights,
            errors=errors,
        )  # fmt: skip


class Voters:
    """Videos with their answers, that place a video under the answer most of its ``k`` nearest hold.

    Searched exactly (FAISS ``IndexFlatIP``, or NumPy where FAISS does not import) up to ``exact_up_to``
    voters, through an ``IndexIVFFlat`` (``nprobe`` lists probed) above: an approximate neighbour
    changes a vote only where the vote was close. Its lists: about 4 sqrt(voters), FAISS's rule
    (:func:`ivf_lists`). ``weights``: what each voter's vote counts for (the
    videos of the window it stands for, :meth:`VoterSample.weights`; default 1 each); with ``errors``, each
    answer's weight among a video's neighbours is taken less that many standard errors of it
    (:func:`lower_bounds`: a few heavy voters of a sampled topic do not outvote many kept whole).

    Example (a story of three videos whose answers split 2:1 goes under the answer of two):
        >>> story = normalize(np.array([[1, 0.05, 0], [1, 0, 0.05], [1, 0.02, 0.02]], np.float32))
        >>> broad = normalize(np.array([[0, 1, 0], [0, 1, 0.1]], np.float32))
        >>> v = Voters(np.concatenate([story, broad]), ["a:1", "b:0", "a:1", "b:0", "b:0"], k=3,
        ...            exact_up_to=100, nprobe=1)
        >>> v.place(story)
        ['a:1', 'a:1', 'a:1']
    """

    def __init__(
        self,
        vectors: np.ndarray,
        labels: Sequence[str],
        k: int,
        *,
        exact_up_to: int,
        nprobe: int,
        backend: str = "auto",
        weights: np.ndarray | None = None,
        errors: float = 0.0,
    ) -> None:
        if len(labels) != len(vectors) or (weights is not None and len(weights) != len(labels)):
            raise ValueError("one label (and weight) per voter")
        if errors < 0:
            raise ValueError("errors must be >= 0")
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.errors = errors
        self.names = sorted(set(labels))
        self.code_of = {name: i for i, name in enumerate(self.names)}
        self.codes = np.array([self.code_of[lab] for lab in labels], np.int64)
        self.k = min(k, len(labels))
        self.unit = normalize(vectors) if len(labels) else np.zeros((0, 0), np.float32)
        self.index = _knn_index(self.unit, exact_up_to, nprobe, backend) if len(labels) else None

    def __len__(self) -> int:
        return len(self.codes)

    def nearest(self, vectors: np.ndarray) -> np.ndarray:
        """(videos, k) positions of each video's nearest voters, nearest first (-1: fewer found)."""
        q = normalize(np.atleast_2d(vectors))
        if self.index is not None:
            return self.index.search(q, self.k)[1]
        return nearest(q, self.unit, self.k, chunk=EXACT_CHUNK)

    def place(
        self,
        vectors: np.ndarray,
        fallback: Sequence[str] | None = None,
        *,
        stay: Sequence[str] | None = None,
        stay_share: float | None = None,
    ) -> list[str]:
        """Each video's label: the one most of its nearest voters hold (by weight, less ``errors``), ties to the
        nearest's; ``fallback[i]`` (default: none allowed) where the index found no voter for video ``i`` (its
        probed lists empty), or where no answer's weight is left above 0 once less ``errors``.

        With ``stay`` (each video's own label), a video whose label holds at least ``stay_share`` of its nearest
        voters found keeps it, whatever the plurality: only a video whose neighbours hardly share its label
        moves. The share is of their weight (less ``errors``, and where no answer's is left the video keeps its
        label); where every one is found and they weigh 1, ``ceil(stay_share x k)`` of them. Less ``errors``,
        voters of a sampled topic hold less than their number: 3 of 10 voters all of weight 30 hold 0.23.

        Example (2 of 3 neighbours vote ``b``; a share of 1/3 held by the one ``a`` neighbour keeps it in ``a``):
            >>> v = Voters(np.eye(3, dtype=np.float32), ["a", "b", "b"], k=3, exact_up_to=10, nprobe=1)
            >>> x = np.ones((1, 3), np.float32)
            >>> v.place(x), v.place(x, stay=["a"], stay_share=0.3), v.place(x, stay=["a"], stay_share=0.5)
            (['b'], ['a'], ['b'])
        """
        if stay is not None and stay_share is None:
            raise ValueError("stay needs stay_share: the share of the neighbours that keeps a label")
        if not len(vectors):
            return []
        if not len(self):
            raise ValueError("no voter to place a video by")
        found = self.nearest(vectors)
        labels = labels_of(found, self.codes)
        weights = None if self.weights is None else np.where(found >= 0, self.weights[np.maximum(found, 0)], 0.0)
        if weights is not None and self.errors:
            weights = lower_bounds(labels, weights, self.errors)
        winner, votes = plurality(labels, weights)
        winner = np.where(votes > 0, winner, -1)  # no voter found, or (less errors) no answer sure of any weight
        if (winner < 0).any() and fallback is None:
            raise ValueError("no voter found (or no answer sure) for some videos, and no fallback label")
        out = [self.names[c] if c >= 0 else fallback[i] for i, c in enumerate(winner.tolist())]  # type: ignore[index]
        if stay is not None and stay_share is not None:
            own = np.array([self.code_of.get(label, -2) for label in stay], np.int64)  # -2: no voter's label
            w = (labels >= 0).astype(np.float64) if weights is None else weights
            held = (w * (labels == own[:, None])).sum(axis=1) + SHARE_EPS * w.sum(axis=1) >= stay_share * w.sum(axis=1)
            out = [label if keep else o for label, keep, o in zip(stay, held.tolist(), out, strict=True)]
        return out


def ivf_lists(voters: int) -> int:
    """The inverted file's lists for ``voters``: FAISS's about 4 sqrt(voters), and at least 39 voters a list.
    Fewer lists, sized for the videos placed, trained faster but searched slower, and cost more in all where
    measured (settling at 100,000 a day, the stories job at 50,000; ``benchmarks/ivf_cost.py``, RESULTS.md,
    "The inverted file's lists, sized for the videos placed").

    Example:
        >>> ivf_lists(100_000), ivf_lists(12_000), ivf_lists(100)
        (1264, 307, 2)
    """
    return max(1, min(int(IVF_LISTS_PER_SQRT * math.sqrt(voters)), voters // IVF_MIN_PER_LIST))


def _knn_index(unit: np.ndarray, exact_up_to: int, nprobe: int, backend: str) -> object | None:
    """A FAISS inner-product index over ``unit`` (None: search with NumPy), :func:`ivf_lists` lists above
    ``exact_up_to``."""
    if backend == "numpy":
        return None
    try:
        import faiss
    except ImportError:
        if backend == "faiss":
            raise
        return None
    n, dim = unit.shape
    if n <= exact_up_to:
        index = faiss.IndexFlatIP(dim)
    else:
        index = ivf_index(dim, ivf_lists(n), nprobe)
        index.train(unit)
    index.add(unit)
    return index


def ivf_index(dim: int, lists: int, nprobe: int) -> Any:
    """An untrained FAISS ``IndexIVFFlat`` of inner products: ``lists`` lists trained in
    ``IVF_TRAIN_ITERATIONS`` k-means iterations, ``nprobe`` of them searched (at most all)."""
    import faiss

    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.referenced_objects = [quantizer]  # the index does not own its quantizer: keep it alive
    index.cp.niter = IVF_TRAIN_ITERATIONS
    index.nprobe = min(nprobe, lists)
    return index
