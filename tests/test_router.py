"""Tests of the domain router: explicit domain, then category mapping, then nearest prototype."""

from __future__ import annotations

import numpy as np
import pytest

from ray_topics.core.index import normalize
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


# ---------------------------------------------------------------- routing by neighbours (labelled videos vote)

RNG = np.random.default_rng(7)


def _near(centre: list[float], n: int, spread: float = 0.05) -> np.ndarray:
    """``n`` vectors scattered tightly around ``centre``."""
    return np.asarray(centre) + spread * RNG.standard_normal((n, len(centre)))


# a story between gaming and cooking, labelled by the cooking desk: its vectors are nearer gaming's prototype
STORY = [0.8, 0.6, 0.0]


def _voting(k: int = 5, floors: dict[str, float] | None = None, fallback: str | None = None) -> DomainRouter:
    r = DomainRouter(FLOORED, CATEGORIES, PROTOS, fallback=fallback, floors=floors, neighbours=k)
    ex = np.vstack([_near(STORY, 8), _near([0, 0, 1.0], 8), _near([1.0, 0, 0], 3)])
    r.set_exemplars(ex, ["cooking"] * 8 + ["news"] * 8 + ["gaming"] * 3)
    return r


def test_an_uncategorised_video_follows_the_desk_that_labels_its_story() -> None:
    """Nearest to gaming's prototype, but its nearest labelled videos are the cooking desk's: cooking."""
    r = _voting()
    videos = [{}, {"category": "unmapped"}, {"category": None}]
    vecs = _near(STORY, 3)
    assert (normalize(vecs) @ normalize(PROTOS["gaming"])).min() > (
        normalize(vecs) @ normalize(PROTOS["cooking"])
    ).max()
    assert r.routes(videos, vecs) == (["cooking"] * 3, ["neighbours"] * 3)
    # categories and explicit domains still come first
    assert r.routes([{"category": "games"}, {"domain": "news"}], vecs[:2]) == (
        ["gaming", "news"],
        ["category", "explicit"],
    )


def test_without_a_strict_majority_the_prototype_decides() -> None:
    """Half the neighbours one desk's, half another's: no vote wins, the nearest prototype routes it."""
    r = DomainRouter(DOMAINS, CATEGORIES, PROTOS, neighbours=4)
    r.set_exemplars(
        np.vstack([_near(STORY, 2, 0.01), _near([0.6, 0.8, 0.0], 2, 0.01)]), ["cooking", "cooking", "news", "news"]
    )
    assert r.routes([{}], np.array([[0.75, 0.65, 0.0]])) == (["gaming"], ["prototype"])  # 2 of 4: no majority


def test_a_vote_counts_only_above_the_winning_domains_floor() -> None:
    """With a fallback, the voted domain must still take the video by its floor; otherwise the prototypes
    (here: below every floor) decide, so an off-domain video is never voted into a domain."""
    cleared = _voting(floors={"cooking": 0.5, "gaming": 0.99, "news": 0.99}, fallback="general")
    assert cleared.routes([{}], _near(STORY, 1)) == (["cooking"], ["neighbours"])
    tight = _voting(floors={"cooking": 0.99, "gaming": 0.99, "news": 0.99}, fallback="general")
    assert tight.routes([{}], _near(STORY, 1)) == (["general"], ["fallback"])
    unmeasured = _voting(floors={"gaming": 0.99}, fallback="general")  # cooking has no floor yet
    assert unmeasured.routes([{}], _near(STORY, 1)) == (["general"], ["fallback"])


def test_too_few_exemplars_or_no_neighbours_means_no_vote() -> None:
    r = _voting(k=50)  # 19 labelled videos cannot hold a majority of 50
    assert r.exemplars_ is None and r.routes([{}], _near(STORY, 1))[1] == ["prototype"]
    off = _voting(k=0)
    assert off.exemplars_ is None and off.routes([{}], _near(STORY, 1))[1] == ["prototype"]
    unknown = DomainRouter(DOMAINS, CATEGORIES, PROTOS, neighbours=1)
    unknown.set_exemplars(np.array([[0.8, 0.6, 0.0]]), ["retired-domain"])  # a domain no longer configured
    assert unknown.exemplars_ is None
