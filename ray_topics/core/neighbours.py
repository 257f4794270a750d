"""The k nearest videos and their vote (pure: no store, no Ray).

Three places let a video's nearest neighbours decide its label, with one search
and one vote:

* the domain router (:class:`ray_topics.core.router.DomainRouter`): labelled
  videos vote for a domain, taken on a strict majority;
* the story view and settling (:class:`Voters` over a :class:`VoterSample` of a
  window's fitted videos): the answer most of a video's nearest videos hold;
* the quality benchmark's experimental views (``benchmarks/quality.py``).

:func:`nearest` searches exactly with NumPy, a chunk of queries at a time (memory:
a chunk x the searched vectors), nearest first; :func:`plurality` counts a row
of neighbours' labels, a tie going to the label of the nearest. :class:`Voters`
searches through FAISS where it imports (exact up to ``exact_up_to`` voters, an
inverted file above).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ray_topics.core.index import normalize
from ray_topics.core.sampling import stable_key

__all__ = ["VoterSample", "Voters", "labels_of", "nearest", "plurality"]

EXACT_CHUNK = 1024  # videos compared with every voter at a time without FAISS (memory: EXACT_CHUNK x voters)
# FAISS's rules for an inverted-file index: about 4 sqrt(n) lists for n vectors, and at least 39 training
# vectors per list (fewer and its k-means warns that the lists are poorly placed)
IVF_LISTS_PER_SQRT = 4
IVF_MIN_PER_LIST = 39
KEY_SPAN = 2**64  # stable_key's values lie in [0, KEY_SPAN)
# VoterSample.admits lets through this share more ids than the cap expects of a window, so the cap's
# smallest keys pass it unless the hash falls that far short (at a cap of 100,000, 30 standard deviations)
SAMPLE_SLACK = 0.1


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


def plurality(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(winner, its votes) of each row of neighbours' label codes (nearest first, ``-1``: no neighbour): the
    code most of the row holds, a tie to the nearest's; ``-1`` with 0 votes for a row of none.

    Example:
        >>> winner, votes = plurality(np.array([[2, 1, 1], [2, 1, -1], [-1, -1, -1]]))
        >>> winner.tolist(), votes.tolist()
        ([1, 2, -1], [2, 1, 0])
    """
    labels = np.asarray(labels)
    if labels.shape[1] == 0:  # no neighbour asked for: no winner
        return np.full(len(labels), -1, labels.dtype), np.zeros(len(labels), np.int64)
    votes = (labels[:, :, None] == labels[:, None, :]).sum(axis=2)  # each position: neighbours sharing its label
    votes[labels < 0] = 0
    best = np.argmax(votes, axis=1)  # argmax: the first, i.e. the nearest, of the most shared
    rows = np.arange(len(labels))
    return labels[rows, best], votes[rows, best]


class VoterSample:
    """The voters of a window, offered a chunk at a time: at most ``cap`` of them, those of smallest
    :func:`ray_topics.core.sampling.stable_key` (a uniform sample of the window, the same whatever order the
    videos come in), so that at any volume a video's vote among them estimates its vote among the whole
    window's.

    Memory: ``cap`` + one chunk of vectors. ``allowed``: the labels a voter may carry (others do not vote).
    :meth:`admits` tells a reader which ids to read at all, where the window holds more than the cap.

    Example:
        >>> ids, vecs = ["a", "b", "c", "d"], np.eye(4, dtype=np.float32)
        >>> one, two = VoterSample(cap=2), VoterSample(cap=2)
        >>> one.offer(ids, vecs, ids)  # the answers here: the ids themselves
        >>> two.offer(ids[2:], vecs[2:], ids[2:]); two.offer(ids[:2], vecs[:2], ids[:2])
        >>> len(one), sorted(one.labels) == sorted(two.labels)
        (2, True)
        >>> admit = one.admits(total=4)
        >>> all(admit(i) for i in one.ids)  # every id the sample keeps passes
        True
    """

    def __init__(self, cap: int, allowed: set[str] | None = None, salt: str = "voters") -> None:
        self.cap, self.allowed, self.salt = cap, allowed, salt
        self.keys = np.zeros(0, np.uint64)
        self.vectors: np.ndarray | None = None
        self.ids: list[str] = []
        self.labels: list[str] = []

    def __len__(self) -> int:
        return len(self.labels)

    def admits(self, total: int) -> Callable[[str], bool] | None:
        """A test passing every id this sample can keep of a window of ``total`` videos: about
        ``cap x (1 + SAMPLE_SLACK)`` of them, those of smallest key, so a reader reads those ids' embeddings
        only. None where the window fits the cap whole. The sample is the same with or without it (unless the
        hash lets through fewer than ``cap``: then fewer voters, not other ones)."""
        if total <= self.cap:
            return None
        bound = min(KEY_SPAN, int(KEY_SPAN * self.cap * (1 + SAMPLE_SLACK) / total))
        salt = self.salt
        return lambda video_id: stable_key(video_id, salt) < bound

    def offer(self, ids: Sequence[str], vectors: np.ndarray, labels: Sequence[str]) -> None:
        """Offer a chunk of videos (ids, embeddings and answers, aligned); keep the ``cap`` of smallest key."""
        keep = [i for i, lab in enumerate(labels) if self.allowed is None or lab in self.allowed]
        if not keep:
            return
        keys = np.array([stable_key(ids[i], self.salt) for i in keep], np.uint64)
        vecs = np.asarray(vectors, dtype=np.float32)[keep]  # normalised once, by Voters
        self.keys = np.concatenate([self.keys, keys])
        self.vectors = vecs if self.vectors is None else np.concatenate([self.vectors, vecs])
        self.ids += [ids[i] for i in keep]
        self.labels += [labels[i] for i in keep]
        if len(self.labels) > self.cap:
            kept = np.sort(np.argpartition(self.keys, self.cap - 1)[: self.cap])
            self.keys, self.vectors = self.keys[kept], self.vectors[kept]
            self.ids = [self.ids[i] for i in kept.tolist()]
            self.labels = [self.labels[i] for i in kept.tolist()]

    def voters(self, k: int, *, exact_up_to: int, nprobe: int, backend: str = "auto") -> Voters:
        """The sample as :class:`Voters`."""
        vecs = self.vectors if self.vectors is not None else np.zeros((0, 0), np.float32)
        return Voters(vecs, self.labels, k, exact_up_to=exact_up_to, nprobe=nprobe, backend=backend)


class Voters:
    """Videos with their answers, that place a video under the answer most of its ``k`` nearest hold.

    Searched exactly (FAISS ``IndexFlatIP``, or NumPy where FAISS does not import) up to ``exact_up_to``
    voters, through an ``IndexIVFFlat`` (``nprobe`` lists probed) above: an approximate neighbour
    changes a vote only where the vote was close.

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
    ) -> None:
        if len(labels) != len(vectors):
            raise ValueError("one label per voter")
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
        stay_votes: int = 1,
    ) -> list[str]:
        """Each video's label: the one most of its nearest voters hold, ties to the nearest's; ``fallback[i]``
        (default: none allowed) where the index found no voter for video ``i`` (its probed lists empty).

        With ``stay`` (each video's own label), a video whose label at least ``stay_votes`` of its nearest
        voters hold keeps it, whatever the plurality: only a video whose neighbours hardly share its label moves.

        Example (2 of 3 neighbours vote ``b``; with ``stay_votes=1`` the one ``a`` neighbour keeps it in ``a``):
            >>> v = Voters(np.eye(3, dtype=np.float32), ["a", "b", "b"], k=3, exact_up_to=10, nprobe=1)
            >>> x = np.ones((1, 3), np.float32)
            >>> v.place(x), v.place(x, stay=["a"], stay_votes=1), v.place(x, stay=["a"], stay_votes=2)
            (['b'], ['a'], ['b'])
        """
        if not len(vectors):
            return []
        if not len(self):
            raise ValueError("no voter to place a video by")
        found = self.nearest(vectors)
        labels = labels_of(found, self.codes)
        winner, _votes = plurality(labels)
        if (winner < 0).any() and fallback is None:
            raise ValueError("no voter found for some videos, and no fallback label")
        out = [self.names[c] if c >= 0 else fallback[i] for i, c in enumerate(winner.tolist())]  # type: ignore[index]
        if stay is not None:
            own = np.array([self.code_of.get(label, -2) for label in stay], np.int64)  # -2: no voter's label
            held = (labels == own[:, None]).sum(axis=1) >= stay_votes
            out = [label if keep else o for label, keep, o in zip(stay, held.tolist(), out, strict=True)]
        return out


def _knn_index(unit: np.ndarray, exact_up_to: int, nprobe: int, backend: str) -> object | None:
    """A FAISS inner-product index over ``unit`` (None: search with NumPy)."""
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
        lists = max(1, min(int(IVF_LISTS_PER_SQRT * math.sqrt(n)), n // IVF_MIN_PER_LIST))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.referenced_objects = [quantizer]  # the index does not own its quantizer: keep it alive
        index.train(unit)
        index.nprobe = min(nprobe, lists)
    index.add(unit)
    return index
