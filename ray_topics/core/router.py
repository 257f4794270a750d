"""Domain router: an explicit domain, else the metadata category, else a calibrated domain prototype.

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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

import numpy as np

from ray_topics.core.index import normalize
from ray_topics.core.validation import InvalidVideo

__all__ = ["DomainRouter", "Route", "route_shares", "routing_floor"]

SHARE_DECIMALS = 4


class Route(StrEnum):
    """How a video's domain was chosen."""

    EXPLICIT = "explicit"  # the request named it
    CATEGORY = "category"  # its category maps to the domain
    PROTOTYPE = "prototype"  # nearest prototype, above that domain's floor
    FALLBACK = "fallback"  # below every floor: the fallback domain


def route_shares(counts: Mapping[str, int]) -> dict[str, dict[str, float]]:
    """Videos by how their domain was chosen, and their shares; every :class:`Route` is present (0 when unused).

    Example:
        >>> route_shares({"category": 3, "fallback": 1})["share"]
        {'explicit': 0.0, 'category': 0.75, 'prototype': 0.0, 'fallback': 0.25}
        >>> route_shares({})["videos"]
        {'explicit': 0, 'category': 0, 'prototype': 0, 'fallback': 0}
    """
    videos = {str(r): int(counts.get(str(r), 0)) for r in Route}
    videos.update({str(k): int(v) for k, v in counts.items() if k not in videos})
    total = sum(videos.values())
    return {
        "videos": videos,
        "share": {k: round(v / total, SHARE_DECIMALS) if total else 0.0 for k, v in videos.items()},
    }


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
            by prototype while ``fallback`` is set.

    Example:
        >>> r = DomainRouter(["a", "b"], {"x": "a"}, {"a": np.array([1.0, 0]), "b": np.array([0, 1.0])})
        >>> r.route([{"category": "X"}, {"category": None}], np.array([[0, 1.0], [0.1, 0.9]]))
        ['a', 'b']
        >>> r = DomainRouter(["a", "b", "g"], {}, {"a": np.array([1.0, 0]), "b": np.array([0, 1.0])},
        ...                  fallback="g", floors={"a": 0.8})
        >>> r.routes([{}, {}, {}], np.array([[1.0, 0.1], [0.5, 0.5], [0.1, 1.0]]))
        (['a', 'g', 'g'], ['prototype', 'fallback', 'fallback'])
    """

    def __init__(
        self,
        domains: Sequence[str],
        category_map: Mapping[str, str],
        prototypes: Mapping[str, np.ndarray],
        unknown_category: str = "route",
        fallback: str | None = None,
        floors: Mapping[str, float] | None = None,
    ) -> None:
        self.domains = list(domains)
        self.category_map = {k.lower(): v for k, v in category_map.items()}
        self.unknown_category = unknown_category
        self.fallback = fallback
        self.set_prototypes(prototypes, floors)

    def set_prototypes(self, prototypes: Mapping[str, np.ndarray], floors: Mapping[str, float] | None = None) -> None:
        """Prototypes (and floors) to route by; the fallback domain's own prototype never attracts a video."""
        names = [d for d in self.domains if d in prototypes and d != self.fallback]
        self.prototype_domains_ = names
        self.prototypes_ = normalize(np.stack([prototypes[d] for d in names])) if names else None
        self.floors_ = dict(floors or {})

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
                raise InvalidVideo(
                    f"videos.{i}.category",
                    f"category {cat!r} maps to no domain; known: {', '.join(sorted(self.category_map))}",
                )
            else:
                out.append(None)
                how.append(Route.PROTOTYPE)
                need.append(i)
        if need:
            self._by_prototype(need, vectors, out, how)
        return [str(d) for d in out], [str(h) for h in how]

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
