"""The story view: each video that fits a topic, placed under a topic of any domain (pure: no store, no Ray).

Each domain keeps its own model, so a story whose videos reach two domains
(routed there, or filed under two desks by their publishers) lives in two
domains. Where both parts are topics, global topics link them
(:mod:`ray_topics.core.global_topics`); on real text the second part is
usually a few videos that its domain's broad topic answers with confidence,
and no rule on centroids links a broad topic to a story without linking
different stories (RESULTS.md, issue 14). The story view looks at videos,
not topics, and places each video that fits a topic of its own domain in one
of two ways (``global_topics.place_by``); a misfit stays a misfit, and the
domains' own answers are unchanged: the view is read beside them.

* ``neighbours`` (:class:`Voters`): under the answer most of its
  ``k`` nearest *videos* of the window hold, of any domain (cosine, itself among
  them when it votes; a tie goes to the label of the nearest voter). A story
  inside broad topics (13 articles answered by five broad topics) is nearest
  to no centroid of its own, but its articles are each other's nearest
  neighbours: the vote gathers them under the answer most of them got.
* ``centroid`` (the default, :func:`story_labels`): under the topic, of any domain, whose
  centroid is nearest (as one model over every domain would place it).

Measured on news (``benchmarks.quality``, table E, twelve draws; RESULTS.md,
"placing by neighbours" and "the stories job places by neighbours"): read
offline with every voter's final answer, the view by neighbours holds 0.714
of an event in its largest topic, by centroid 0.648, the domains' own
answers 0.602, a full fit 0.702; as the stories job serves it (voters with
their answers of each midnight) 0.688 by neighbours against 0.681 by
centroid on another embedding of the corpus.

At volume the voters are a stable-hash sample of the window's fitted videos
(:class:`VoterSample`, at most ``global_topics.place_voters``) searched exactly
up to ``place_exact_voters`` and through an inverted-file index above (FAISS
``IndexIVFFlat``, ``place_nprobe`` lists probed per video).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ray_topics.core.index import normalize
from ray_topics.core.sampling import stable_key

__all__ = ["VoterSample", "Voters", "story_labels"]

CHUNK = 8192  # videos compared with every centroid at a time (memory: CHUNK x topics floats)
EXACT_CHUNK = 1024  # videos compared with every voter at a time without FAISS (memory: EXACT_CHUNK x voters)
# FAISS's rules for an inverted-file index: about 4 sqrt(n) lists for n vectors, and at least 39 training
# vectors per list (fewer and its k-means warns that the lists are poorly placed)
IVF_LISTS_PER_SQRT = 4
IVF_MIN_PER_LIST = 39
RANK_BITS = 16  # a voter's sample key: its rank in the top bits, its stable hash in the others


def story_labels(
    vectors: np.ndarray,
    labels: Sequence[str | None],
    fits: np.ndarray,
    centroids: np.ndarray,
    topic_ids: Sequence[str],
) -> list[str | None]:
    """Each video's story: ``labels[i]`` unless it fits (``fits[i]``), then the topic nearest to ``vectors[i]``.

    ``centroids`` / ``topic_ids``: every domain's topics, in one array.

    Example:
        >>> cents = np.array([[1, 0, 0], [0, 1, 0]], np.float32)  # gaming:0 (broad), cooking:3 (a story)
        >>> vecs = np.array([[0.9, 0.1, 0], [0.2, 0.9, 0], [0.1, 0.9, 0]], np.float32)
        >>> story_labels(vecs, ["gaming:0", "gaming:0", None], np.array([True, True, False]), cents,
        ...              ["gaming:0", "cooking:3"])
        ['gaming:0', 'cooking:3', None]
    """
    out = list(labels)
    if not len(topic_ids):
        return out
    cents = normalize(centroids)
    idx = np.flatnonzero(np.asarray(fits, dtype=bool))
    for lo in range(0, len(idx), CHUNK):
        part = idx[lo : lo + CHUNK]
        nearest = np.argmax(normalize(vectors[part]) @ cents.T, axis=1)
        for i, j in zip(part.tolist(), nearest.tolist(), strict=True):
            out[i] = topic_ids[j]
    return out


class VoterSample:
    """The voters of a window, offered a chunk at a time: at most ``cap`` of them, those of lowest ``rank``
    (the days nearest a settled day first, :mod:`ray_topics.tiers.settle`; one rank by default), and of
    smallest :func:`ray_topics.core.sampling.stable_key` within a rank (the same sample whatever the order
    they come in).

    Memory: ``cap`` + one chunk of vectors. ``allowed``: the labels a voter may carry (others do not vote).

    Example:
        >>> ids, vecs = ["a", "b", "c", "d"], np.eye(4, dtype=np.float32)
        >>> one, two = VoterSample(cap=2), VoterSample(cap=2)
        >>> one.offer(ids, vecs, ids)  # the answers here: the ids themselves
        >>> two.offer(ids[2:], vecs[2:], ids[2:]); two.offer(ids[:2], vecs[:2], ids[:2])
        >>> len(one), sorted(one.labels) == sorted(two.labels)
        (2, True)
    """

    def __init__(self, cap: int, allowed: set[str] | None = None, salt: str = "voters") -> None:
        self.cap, self.allowed, self.salt = cap, allowed, salt
        self.keys = np.zeros(0, np.uint64)
        self.vectors: np.ndarray | None = None
        self.labels: list[str] = []

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def full(self) -> bool:
        """Whether the sample holds ``cap`` voters (a chunk of a higher rank than all of them adds none)."""
        return len(self) >= self.cap

    def offer(
        self, ids: Sequence[str], vectors: np.ndarray, labels: Sequence[str], rank: int | Sequence[int] = 0
    ) -> None:
        """Offer a chunk of videos (ids, embeddings and answers, aligned; ``rank``: the chunk's, or each
        video's, below ``2 ** RANK_BITS``); keep the ``cap`` of lowest rank and key."""
        keep = [i for i, lab in enumerate(labels) if self.allowed is None or lab in self.allowed]
        if not keep:
            return
        ranks = np.broadcast_to(np.asarray(rank, np.uint64), (len(labels),))[keep]
        if (ranks >> np.uint64(RANK_BITS)).any():
            raise ValueError(f"a voter's rank must be below 2 ** {RANK_BITS}")
        hashes = np.array([stable_key(ids[i], self.salt) for i in keep], np.uint64) >> np.uint64(RANK_BITS)
        keys = (ranks << np.uint64(64 - RANK_BITS)) | hashes
        vecs = np.asarray(vectors, dtype=np.float32)[keep]  # normalised once, by Voters
        self.keys = np.concatenate([self.keys, keys])
        self.vectors = vecs if self.vectors is None else np.concatenate([self.vectors, vecs])
        self.labels += [labels[i] for i in keep]
        if len(self.labels) > self.cap:
            kept = np.sort(np.argpartition(self.keys, self.cap - 1)[: self.cap])
            self.keys, self.vectors = self.keys[kept], self.vectors[kept]
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
        code = {name: i for i, name in enumerate(self.names)}
        self.codes = np.array([code[lab] for lab in labels], np.int64)
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
        out = []
        for lo in range(0, len(q), EXACT_CHUNK):
            sims = q[lo : lo + EXACT_CHUNK] @ self.unit.T
            top = np.argpartition(-sims, self.k - 1, axis=1)[:, : self.k]
            order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
            out.append(np.take_along_axis(top, order, axis=1))
        return np.concatenate(out) if out else np.zeros((0, self.k), np.int64)

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
        nearest = self.nearest(vectors)
        labels = np.where(nearest >= 0, self.codes[np.maximum(nearest, 0)], -1)
        votes = (labels[:, :, None] == labels[:, None, :]).sum(axis=2)  # each position: voters sharing its label
        votes[labels < 0] = -1
        winner = labels[np.arange(len(labels)), np.argmax(votes, axis=1)]  # argmax: the first, i.e. nearest
        if (winner < 0).any() and fallback is None:
            raise ValueError("no voter found for some videos, and no fallback label")
        out = [self.names[c] if c >= 0 else fallback[i] for i, c in enumerate(winner.tolist())]  # type: ignore[index]
        if stay is not None:
            code = {name: i for i, name in enumerate(self.names)}
            own = np.array([code.get(label, -2) for label in stay], np.int64)  # -2: a label no voter holds
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
