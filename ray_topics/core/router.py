"""Domain router: metadata category mapping first, nearest domain prototype otherwise.

Prototypes start zero-shot (the embedding of each domain's description in
config) and are refined weekly from the domain's videos.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ray_topics.core.index import normalize
from ray_topics.core.validation import InvalidVideo

__all__ = ["DomainRouter"]


class DomainRouter:
    """Pick each video's domain.

    Args:
        domains: configured domain names.
        category_map: lower-case metadata category -> domain.
        prototypes: domain -> unit prototype vector (may miss domains).
        unknown_category: ``route`` (nearest prototype) or ``reject`` for a
            category no mapping covers.

    Example:
        >>> r = DomainRouter(["a", "b"], {"x": "a"}, {"a": np.array([1.0, 0]), "b": np.array([0, 1.0])})
        >>> r.route([{"category": "X"}, {"category": None}], np.array([[0, 1.0], [0.1, 0.9]]))
        ['a', 'b']
    """

    def __init__(
        self,
        domains: Sequence[str],
        category_map: Mapping[str, str],
        prototypes: Mapping[str, np.ndarray],
        unknown_category: str = "route",
    ) -> None:
        self.domains = list(domains)
        self.category_map = {k.lower(): v for k, v in category_map.items()}
        self.unknown_category = unknown_category
        self.set_prototypes(prototypes)

    def set_prototypes(self, prototypes: Mapping[str, np.ndarray]) -> None:
        names = [d for d in self.domains if d in prototypes]
        self.prototype_domains_ = names
        self.prototypes_ = normalize(np.stack([prototypes[d] for d in names])) if names else None

    def route(self, videos: Sequence[Mapping[str, object]], vectors: np.ndarray | None) -> list[str]:
        """Domain of each video; ``vectors`` is needed only for videos routed by prototype."""
        out: list[str | None] = []
        need: list[int] = []
        for i, v in enumerate(videos):
            explicit = v.get("domain")
            cat = v.get("category")
            if explicit:
                out.append(str(explicit))
            elif cat and str(cat).lower() in self.category_map:
                out.append(self.category_map[str(cat).lower()])
            elif cat and self.unknown_category == "reject":
                raise InvalidVideo(
                    f"videos.{i}.category",
                    f"category {cat!r} maps to no domain; known: {', '.join(sorted(self.category_map))}",
                )
            else:
                out.append(None)
                need.append(i)
        if need:
            if self.prototypes_ is None or vectors is None:
                raise InvalidVideo(
                    f"videos.{need[0]}.category",
                    "no mapped category and no domain prototypes to route by; send a mapped category or domain",
                )
            sims = normalize(vectors[need]) @ self.prototypes_.T
            for j, i in enumerate(need):
                out[i] = self.prototype_domains_[int(np.argmax(sims[j]))]
        return [str(d) for d in out]
