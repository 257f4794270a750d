"""Tests of the domain router: explicit domain, then category mapping, then nearest prototype."""

from __future__ import annotations

import numpy as np
import pytest

from ray_topics.core.router import DomainRouter
from ray_topics.core.validation import InvalidVideo

DOMAINS = ["gaming", "cooking", "news"]
CATEGORIES = {"Games": "gaming", "esports": "gaming", "food": "cooking", "politics": "news"}
PROTOS = {"gaming": np.array([1.0, 0, 0]), "cooking": np.array([0, 2.0, 0]), "news": np.array([0, 0, 0.5])}


def _router(prototypes: dict | None = None, unknown: str = "route") -> DomainRouter:
    return DomainRouter(DOMAINS, CATEGORIES, PROTOS if prototypes is None else prototypes, unknown_category=unknown)


def test_category_mapping_is_case_insensitive() -> None:
    r = _router()
    videos = [{"category": "games"}, {"category": "GAMES"}, {"category": "Food"}, {"category": "politics"}]
    # vectors point elsewhere: the mapping wins over the prototypes
    vecs = np.tile([0.0, 0.0, 1.0], (4, 1))
    assert r.route(videos, vecs) == ["gaming", "gaming", "cooking", "news"]
    assert r.route(videos, None) == ["gaming", "gaming", "cooking", "news"]  # no vectors needed


def test_explicit_domain_wins() -> None:
    r = _router()
    videos = [{"domain": "news", "category": "food"}, {"domain": "cooking", "category": "unmapped"}]
    assert r.route(videos, None) == ["news", "cooking"]
    # even with reject, an explicit domain is enough
    assert _router(unknown="reject").route(videos, None) == ["news", "cooking"]


def test_unmapped_category_routes_to_nearest_prototype() -> None:
    r = _router()
    videos = [{"category": "diy"}, {"category": None}, {}, {"category": ""}]
    vecs = np.array([[0.1, 0.9, 0.0], [0.0, 0.2, 0.3], [5.0, 0.1, 0.0], [0.0, 0.1, 0.0]])
    # cosine, not dot product: the news prototype is short and still wins row 1
    assert r.route(videos, vecs) == ["cooking", "news", "gaming", "cooking"]


def test_mixed_batch_routes_each_video_its_own_way() -> None:
    r = _router()
    videos = [{"category": "esports"}, {"category": "knitting"}, {"domain": "news"}, {"category": "FOOD"}]
    vecs = np.array([[0, 0, 1.0], [0, 1.0, 0.1], [1.0, 0, 0], [1.0, 0, 0]])
    assert r.route(videos, vecs) == ["gaming", "cooking", "news", "cooking"]


def test_unmapped_category_rejected() -> None:
    r = _router(unknown="reject")
    videos = [{"category": "food"}, {"category": "knitting"}]
    with pytest.raises(InvalidVideo) as info:
        r.route(videos, np.eye(3)[:2])
    assert info.value.field == "videos.1.category"
    assert "'knitting' maps to no domain" in info.value.message
    assert "esports, food, games, politics" in info.value.message  # lists the known categories


def test_reject_still_routes_videos_without_category() -> None:
    r = _router(unknown="reject")
    assert r.route([{"category": None}], np.array([[0.0, 0.0, 1.0]])) == ["news"]


def test_no_prototypes_and_no_category() -> None:
    r = _router(prototypes={})
    assert r.prototypes_ is None
    with pytest.raises(InvalidVideo) as info:
        r.route([{"category": "food"}, {"category": None}], np.eye(3)[:2])
    assert info.value.field == "videos.1.category"
    assert "send a mapped category or domain" in info.value.message


def test_prototype_needed_but_no_vectors() -> None:
    with pytest.raises(InvalidVideo, match="no domain prototypes to route by") as info:
        _router().route([{"category": "knitting"}], None)
    assert info.value.field == "videos.0.category"


def test_partial_prototypes_route_only_to_known() -> None:
    r = _router(prototypes={"cooking": np.array([0, 1.0, 0]), "news": np.array([0, 0, 1.0])})
    assert r.prototype_domains_ == ["cooking", "news"]
    # nearest overall would be gaming, which has no prototype yet
    assert r.route([{}], np.array([[1.0, 0.0, 0.1]])) == ["news"]


def test_set_prototypes_replaces_them() -> None:
    r = _router()
    v = np.array([[1.0, 0.0, 0.0]])
    assert r.route([{}], v) == ["gaming"]
    r.set_prototypes({"gaming": np.array([0, 1.0, 0]), "cooking": np.array([1.0, 0, 0])})
    assert r.route([{}], v) == ["cooking"]
    np.testing.assert_allclose(np.linalg.norm(r.prototypes_, axis=1), 1.0, atol=1e-6)


# ---------------------------------------------------------------- the routing floor and the fallback domain

FLOORED = ["gaming", "cooking", "news", "general"]


def _floored(floors: dict[str, float], protos: dict | None = None) -> DomainRouter:
    p = {**PROTOS, "general": np.array([1.0, 1.0, 1.0])} if protos is None else protos
    return DomainRouter(FLOORED, CATEGORIES, p, fallback="general", floors=floors)


def test_a_video_below_every_floor_goes_to_the_fallback() -> None:
    r = _floored({"gaming": 0.9, "cooking": 0.9, "news": 0.9})
    vecs = np.array([[1.0, 0.05, 0.0], [0.6, 0.6, 0.5], [0.0, 0.1, 1.0]])
    assert r.routes([{}, {}, {}], vecs) == (["gaming", "general", "news"], ["prototype", "fallback", "prototype"])


def test_the_most_similar_domain_whose_floor_is_cleared_wins() -> None:
    """Nearest to cooking but below cooking's (tight) floor, above gaming's (loose) one: gaming."""
    r = _floored({"gaming": 0.5, "cooking": 0.95, "news": 0.9})
    vec = np.array([[0.6, 0.8, 0.0]])  # cos 0.6 to gaming, 0.8 to cooking
    assert r.routes([{}], vec) == (["gaming"], ["prototype"])


def test_a_domain_without_a_measured_floor_takes_nothing_by_prototype() -> None:
    r = _floored({"cooking": 0.5})  # gaming and news have too few labelled videos yet
    vecs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert r.route([{}, {}], vecs) == ["general", "cooking"]
    # categories and explicit domains never depend on the floor
    assert r.route([{"category": "games"}, {"domain": "news"}], None) == ["gaming", "news"]


def test_the_fallback_domains_own_prototype_never_attracts() -> None:
    r = _floored({"gaming": 0.0, "cooking": 0.0, "news": 0.0, "general": 0.0})
    vec = np.array([[1.0, 1.0, 1.0]])  # identical to general's prototype
    assert r.route([{}], vec) != ["general"]


def test_without_prototypes_the_fallback_takes_what_needs_one() -> None:
    r = _floored({}, protos={})
    assert r.routes([{"category": None}, {"category": "food"}], None) == (
        ["general", "cooking"],
        ["fallback", "category"],
    )


def test_no_fallback_keeps_nearest_prototype_routing() -> None:
    r = DomainRouter(DOMAINS, CATEGORIES, PROTOS, floors={"gaming": 0.99})
    assert r.route([{}], np.array([[0.7, 0.6, 0.0]])) == ["gaming"]
