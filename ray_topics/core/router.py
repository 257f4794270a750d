"""Domain router: an explicit domain, else the metadata category, else labelled neighbours, else a prototype.

Prototypes start zero-shot (the embedding of each domain's description in
config) and are refined weekly from the domain's videos. Routing by prototype
has a *floor* per domain: a video goes to the most similar domain whose floor
it clears, that is, a domain it is as similar to as the domain's own labelled
videos are (a labelled video arrived with a category that maps to the
domain). The floor is ``mean - z * std`` of those videos' similarity to the
prototype, measured weekly (:func:`routing_floor`); a domain with too few
labelled videos to measure it has no floor yet and takes nothing by
prototype. A video that clears no floor goes to the *fallback* domain
(``general`` by default) instead of being forced into the nearest one: a
stream that matches no configured domain, or carries no categories, becomes
one domain rather than being scattered over all of them.

Before the prototypes, a video without a mapped category is routed by its
*neighbours*: the labelled videos nearest to it (a bounded sample of each
domain's labelled videos of the last weeks, kept hourly by the refine job:
:mod:`ray_topics.tiers.exemplars`) vote, and a domain holding a strict majority of the ``k`` nearest takes the
video, if the video clears that domain's floor (the fallback domain needs no
floor). A prototype is one point per domain; a story is many labelled videos,
so the uncategorised videos of a story follow the desk that labels it rather
than whichever domain description they happen to be nearest. Only labelled
videos vote, never videos routed by neighbours or prototype: the vote does not
feed on its own choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

import numpy as np

from ray_topics.core.index import normalize
from ray_topics.core.neighbours import labels_of, nearest, plurality
from ray_topics.core.validation import InvalidVideo

__all__ = ["DomainRouter", "Route", "route_shares", "routing_floor", "similarity_stats", "unmapped_category"]

SHARE_DECIMALS = 4
VOTE_CHUNK = 256  # videos voted at once: bounds the similarity matrix (x exemplars) of a large batch


class Route(StrEnum):
    """How a video's domain was chosen."""

    EXPLICIT = "explicit"  # the request named it
    CATEGORY = "category"  # its category maps to the domain
    NEIGHBOURS = "neighbours"  # a strict majority of its nearest labelled videos, above that domain's floor
    PROTOTYPE = "prototype"  # nearest prototype, above that domain's floor
    FALLBACK = "fallback"  # below every floor: the fallback domain


def route_shares(counts: Mapping[str, int]) -> dict[str, dict[str, float]]:
    """Videos by how their domain was chosen, and their shares; every :class:`Route` is present (0 when unused).

    Example:
        >>> route_shares({"category": 3, "fallback": 1})["share"]
        {'explicit': 0.0, 'category': 0.75, 'neighbours': 0.0, 'prototype': 0.0, 'fallback': 0.25}
        >>> route_shares({})["videos"]
        {'explicit': 0, 'category': 0, 'neighbours': 0, 'prototype': 0, 'fallback': 0}
    """
    videos = {str(r): int(counts.get(str(r), 0)) for r in Route}
    videos.update({str(k): int(v) for k, v in counts.items() if k not in videos})
    total = sum(videos.values())
    return {
        "videos": videos,
        "share": {k: round(v / total, SHARE_DECIMALS) if total else 0.0 for k, v in videos.items()},
    }


def similarity_stats(labelled: np.ndarray, prototype: np.ndarray) -> tuple[float, float, int]:
    """(mean, std, n) of the cosine of a domain's labelled videos to its prototype: what its floor is made of.

    Example:
        >>> similarity_stats(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, 0.0]))
        (0.5, 0.5, 2)
    """
    sims = normalize(np.asarray(labelled, dtype=np.float32)) @ normalize(np.asarray(prototype, dtype=np.float32))
    return float(sims.mean()), float(sims.std()), len(sims)


def routing_floor(sim_mean: float, sim_std: float, n: int, *, z: float, min_videos: int) -> float | None:
    """The lowest similarity to a domain's prototype that routes a video there; None: not measured yet.

    Example:
        >>> routing_floor(0.5, 0.1, 200, z=2.5, min_videos=30)
        0.25
        >>> routing_floor(0.5, 0.1, 12, z=2.5, min_videos=30) is None
        True
    """
    if n < min_videos:
        return None
    return float(sim_mean - z * sim_std)


def unmapped_category(video: Mapping[str, object], category_map: Mapping[str, str]) -> str | None:
    """Why ``video`` is refused under ``domains.unknown_category: reject`` (it names no domain and its category
    maps to none, ``category_map`` keyed in lower case), or None.

    Example:
        >>> unmapped_category({"category": "Knitting"}, {"gaming": "gaming"})
        "category 'Knitting' maps to no domain; known: gaming"
        >>> unmapped_category({"category": "Knitting", "domain": "news"}, {}) is None
        True
    """
    cat = video.get("category")
    if video.get("domain") or not cat or str(cat).lower() in category_map:
        return None
    return f"category {cat!r} maps to no domain; known: {', '.join(sorted(category_map))}"


class DomainRouter:
    """Pick each video's domain.

    Args:
        domains: configured domain names.
        category_map: lower-case metadata category -> domain.
        prototypes: domain -> unit prototype vector (may miss domains).
        unknown_category: ``route`` (by prototype) or ``reject`` for a category no mapping covers.
        fallback: the domain a video below every floor goes to; None routes every such video to
            its nearest prototype, floor or not (no floors).
        floors: domain -> its floor (:func:`routing_floor`); a domain without one takes nothing
            by prototype or neighbours while ``fallback`` is set.
        neighbours: how many nearest labelled videos vote (0: no vote); see :meth:`set_exemplars`.

    Example:
        >>> r = DomainRouter(["a", "b"], {"x": "a"}, {"a": np.array([1.0, 0]), "b": np.array([0, 1.0])})
        >>> r.route([{"category": "X"}, {"category": None}], np.array([[0, 1.0], [0.1, 0.9]]))
        ['a', 'b']
        >>> r = DomainRouter(["a", "b", "g"], {}, {"a": np.array([1.0, 0]), "b": np.array([0, 1.0])},
        ...                  fallback="g", floors={"a": 0.8})
        >>> r.routes([{}, {}, {}], np.array([[1.0, 0.1], [0.5, 0.5], [0.1, 1.0]]))
        (['a', 'g', 'g'], ['prototype', 'fallback', 'fallback'])
        >>> r = DomainRouter(["a", "b"], {}, {"a": np.array([1.0, 0]), "b": np.array([0, 1.0])}, neighbours=3)
        >>> r.set_exemplars(np.array([[0.6, 0.4], [0.7, 0.3], [0.5, 0.5], [0, 1.0]]), ["b", "b", "b", "a"])
        >>> r.routes([{}], np.array([[0.9, 0.1]]))  # nearest to a's prototype, amid b's labelled videos
        (['b'], ['neighbours'])
    """

    def __init__(
        self,
        domains: Sequence[str],
        category_map: Mapping[str, str],
        prototypes: Mapping[str, np.ndarray],
        unknown_category: str = "route",
        fallback: str | None = None,
        floors: Mapping[str, float] | None = None,
        neighbours: int = 0,
    ) -> None:
        self.domains = list(domains)
        self.category_map = {k.lower(): v for k, v in category_map.items()}
        self.unknown_category = unknown_category
        self.fallback = fallback
        self.neighbours = neighbours
        self.set_prototypes(prototypes, floors)
        self.set_exemplars(None, [])

    def set_prototypes(self, prototypes: Mapping[str, np.ndarray], floors: Mapping[str, float] | None = None) -> None:
        """Prototypes (and floors) to route by; the fallback domain's own prototype never attracts a video."""
        names = [d for d in self.domains if d in prototypes and d != self.fallback]
        self.prototype_domains_ = names
        self.prototypes_ = normalize(np.stack([prototypes[d] for d in names])) if names else None
        self.floors_ = dict(floors or {})

    def set_exemplars(self, vectors: np.ndarray | None, domains: Sequence[str]) -> None:
        """Labelled videos that vote (row ``i`` of ``vectors`` is a video of ``domains[i]``); fewer than
        ``neighbours`` of them, or ``None``: no vote. Videos of unknown domains are ignored."""
        keep = [i for i, d in enumerate(domains) if d in self.domains]
        if vectors is None or self.neighbours < 1 or len(keep) < self.neighbours:
            self.exemplars_, self.exemplar_domains_ = None, np.zeros(0, dtype=np.int64)
            return
        self.exemplars_ = normalize(np.asarray(vectors, dtype=np.float32)[keep])
        self.exemplar_domains_ = np.array([self.domains.index(domains[i]) for i in keep], dtype=np.int64)

    def route(self, videos: Sequence[Mapping[str, object]], vectors: np.ndarray | None) -> list[str]:
        """Domain of each video; ``vectors`` is needed only for videos routed by prototype."""
        return self.routes(videos, vectors)[0]

    def routes(self, videos: Sequence[Mapping[str, object]], vectors: np.ndarray | None) -> tuple[list[str], list[str]]:
        """(domain of each video, how it was chosen: a :class:`Route` value)."""
        out: list[str | None] = []
        how: list[str] = []
        need: list[int] = []
        for i, v in enumerate(videos):
            explicit = v.get("domain")
            cat = v.get("category")
            if explicit:
                out.append(str(explicit))
                how.append(Route.EXPLICIT)
            elif cat and str(cat).lower() in self.category_map:
                out.append(self.category_map[str(cat).lower()])
                how.append(Route.CATEGORY)
            elif cat and self.unknown_category == "reject":
                raise InvalidVideo(f"videos.{i}.category", str(unmapped_category(v, self.category_map)))
            else:
                out.append(None)
                how.append(Route.PROTOTYPE)
                need.append(i)
        if need and self.exemplars_ is not None and vectors is not None:
            need = self._by_neighbours(need, vectors, out, how)
        if need:
            self._by_prototype(need, vectors, out, how)
        return [str(d) for d in out], [str(h) for h in how]

    def _by_neighbours(self, need: list[int], vectors: np.ndarray, out: list, how: list) -> list[int]:
        """Route the videos whose nearest labelled videos hold a strict majority; return the others."""
        assert self.exemplars_ is not None
        k = self.neighbours
        unit = normalize(np.asarray(vectors[need], dtype=np.float32))
        found = nearest(unit, self.exemplars_, k, chunk=VOTE_CHUNK)  # memory: VOTE_CHUNK x exemplars
        winner, votes = plurality(labels_of(found, self.exemplar_domains_))  # domain indices
        rest: list[int] = []
        for j, i in enumerate(need):
            domain = self.domains[int(winner[j])]
            if winner[j] >= 0 and 2 * votes[j] > k and self._clears_floor(domain, unit[j]):
                out[i], how[i] = domain, Route.NEIGHBOURS
            else:
                rest.append(i)
        return rest

    def _clears_floor(self, domain: str, unit: np.ndarray) -> bool:
        """Whether a (unit) video may go to ``domain``: always without a fallback, and to the fallback itself;
        otherwise it must be as similar to the domain's prototype as the domain's floor asks."""
        if self.fallback is None or domain == self.fallback:
            return True
        floor = self.floors_.get(domain)
        if floor is None or self.prototypes_ is None or domain not in self.prototype_domains_:
            return False
        return float(unit @ self.prototypes_[self.prototype_domains_.index(domain)]) >= floor

    def _by_prototype(self, need: list[int], vectors: np.ndarray | None, out: list, how: list) -> None:
        if self.prototypes_ is None or vectors is None:
            if self.fallback is not None:
                for i in need:
                    out[i], how[i] = self.fallback, Route.FALLBACK
                return
            raise InvalidVideo(
                f"videos.{need[0]}.category",
                "no mapped category and no domain prototypes to route by; send a mapped category or domain",
            )
        sims = normalize(vectors[need]) @ self.prototypes_.T
        if self.fallback is None:
            for j, i in enumerate(need):
                out[i] = self.prototype_domains_[int(np.argmax(sims[j]))]
            return
        # the most similar domain whose floor the video clears; none: the fallback
        floors = np.array([self.floors_.get(d, np.inf) for d in self.prototype_domains_])
        cleared = np.where(sims >= floors, sims, -np.inf)
        best = np.argmax(cleared, axis=1)
        for j, i in enumerate(need):
            if np.isfinite(cleared[j, best[j]]):
                out[i] = self.prototype_domains_[int(best[j])]
            else:
                out[i], how[i] = self.fallback, Route.FALLBACK
