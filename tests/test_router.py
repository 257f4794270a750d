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
