"""Tests of the synthetic stream generator (small sizes, fast)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from ray_topics.streams.planted import PlantedTopic, StreamSpec, default_scenario
from ray_topics.streams.synthetic import SyntheticStream, generate
from ray_topics.streams.words import FILLER_WORDS, NOISE_WORDS, WORD_BANK

DIM = 128


def _spec(**kwargs) -> StreamSpec:
    base = dict(
        topics=[
            PlantedTopic("gaming/speedrun", "gaming", rate=40.0),
            PlantedTopic("gaming/retro", "gaming", rate=30.0, start_day=5, end_day=15),
            PlantedTopic("cooking/bread", "cooking", rate=30.0),
        ],
        days=20,
        dim=DIM,
        seed=7,
    )
    base.update(kwargs)
    return StreamSpec(**base)


def _rows(stream: SyntheticStream, topic: str) -> np.ndarray:
    return (stream.videos["true_topic"] == topic).to_numpy()


def _days(stream: SyntheticStream, mask: np.ndarray | None = None) -> np.ndarray:
    start = pd.Timestamp(stream.spec.start)
    at = stream.videos["published_at"]
    if mask is not None:
        at = at[mask]
    return ((at - start) // pd.Timedelta(days=1)).to_numpy()


@pytest.fixture(scope="module")
def stream() -> SyntheticStream:
    return generate(_spec())


@pytest.fixture(scope="module")
def scenario() -> SyntheticStream:
    return generate(default_scenario(days=40, daily_volume=400, seed=3))


# --- structure ----------------------------------------------------------------------


def test_columns_and_dtypes(stream: SyntheticStream) -> None:
    v = stream.videos
    assert list(v.columns) == [
        "video_id", "channel_id", "published_at", "title", "description",
        "tags", "category", "views", "domain", "true_topic", "true_part",
    ]  # fmt: skip
    assert str(v["published_at"].dtype) == "datetime64[ns, UTC]"
    assert v["published_at"].is_monotonic_increasing
    assert v["video_id"].is_unique
    assert v["video_id"].iloc[0] == "v00000000"
    assert v["video_id"].str.fullmatch(r"v\d{8}").all()
    assert v["views"].dtype == np.int64 and (v["views"] >= 0).all()
    assert (v["category"] == v["domain"]).all()
    topic_rows = v["true_topic"].notna()
    assert v.loc[topic_rows].apply(lambda r: r["channel_id"].startswith(r["true_topic"] + "-ch"), axis=1).all()
    assert set(v["domain"]) == {"gaming", "cooking"}
    assert stream.embeddings.shape == (len(v), DIM)
    # heavy-tailed views: the max dwarfs the median
    assert v["views"].max() > 50 * v["views"].median()


def test_topics_frame(stream: SyntheticStream) -> None:
    t = stream.topics.set_index("name")
    assert list(t.index) == ["gaming/speedrun", "gaming/retro", "cooking/bread"]
    assert t.loc["gaming/retro", "end_day"] == 15
    assert pd.isna(t.loc["gaming/speedrun", "end_day"])
    assert t.loc["gaming/retro", "death_at"] == pd.Timestamp("2026-01-16", tz="UTC")
    assert pd.isna(t.loc["gaming/speedrun", "death_at"])
    first = stream.videos.loc[_rows(stream, "gaming/retro"), "published_at"].min()
    assert t.loc["gaming/retro", "birth_at"] == first
    assert (t["n_videos"] == stream.videos["true_topic"].value_counts().reindex(t.index)).all()


def test_embeddings_unit_norm_float32(stream: SyntheticStream) -> None:
    assert stream.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(stream.embeddings, axis=1), 1.0, atol=1e-5)
    for c in stream.centers.values():
        assert np.linalg.norm(c) == pytest.approx(1.0)


def test_reproducible_with_seed() -> None:
    a, b = generate(_spec()), generate(_spec())
    pd.testing.assert_frame_equal(a.videos, b.videos)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    c = generate(_spec(seed=8))
    assert len(c.videos) != len(a.videos) or not np.array_equal(c.embeddings, a.embeddings)
    assert not np.allclose(c.centers["gaming/speedrun"], a.centers["gaming/speedrun"])


def test_without_text_same_stream(stream: SyntheticStream) -> None:
    bare = generate(_spec(with_text=False))
    np.testing.assert_array_equal(bare.embeddings, stream.embeddings)
    same = ["video_id", "channel_id", "published_at", "views", "true_topic"]
    pd.testing.assert_frame_equal(bare.videos[same], stream.videos[same])
    assert (bare.videos["title"] == "").all() and (bare.videos["description"] == "").all()
    assert all(tags == [] for tags in bare.videos["tags"])


# --- geometry --------------------------------------------------------------------------


@pytest.mark.parametrize("cohesion", [0.45, 0.6, 0.8])
def test_mean_cosine_to_center_is_cohesion(cohesion: float) -> None:
    s = generate(_spec(cohesion=cohesion))
    for name, center in s.centers.items():
        cos = s.embeddings[_rows(s, name)] @ center
        assert cos.mean() == pytest.approx(cohesion, abs=0.05), name


def test_domain_cohesion(stream: SyntheticStream) -> None:
    for name, domain in [("gaming/speedrun", "gaming"), ("cooking/bread", "cooking")]:
        cos = stream.centers[name] @ stream.domain_centers[domain]
        assert cos == pytest.approx(stream.spec.domain_cohesion, abs=1e-6)
    # topics of one domain are closer to each other than to another domain's topics
    c = stream.centers
    assert c["gaming/speedrun"] @ c["gaming/retro"] > c["gaming/speedrun"] @ c["cooking/bread"] + 0.02


@pytest.mark.parametrize("near_cosine", [0.95, 0.8])
def test_near_centers_have_requested_cosine(near_cosine: float) -> None:
    topics = [
        PlantedTopic("t/b", "t", rate=5.0, near="t/a", near_cosine=near_cosine),  # before its target
        PlantedTopic("t/a", "t", rate=5.0),
        PlantedTopic("t/c", "t", rate=5.0),
    ]
    s = generate(StreamSpec(topics=topics, days=3, dim=DIM, with_text=False))
    assert s.centers["t/a"] @ s.centers["t/b"] == pytest.approx(near_cosine, abs=0.02)
    assert s.centers["t/a"] @ s.centers["t/c"] < 0.5


def test_drift_rotates_by_planted_angle() -> None:
    drift = 0.8
    topic = PlantedTopic("t/drift", "t", rate=80.0, drift=drift)
    s = generate(StreamSpec(topics=[topic, PlantedTopic("t/still", "t", rate=80.0)], days=30, dim=DIM))
    day = _days(s)

    def angle(name: str, mask: np.ndarray) -> float:
        mean = s.embeddings[_rows(s, name) & mask].mean(axis=0)
        return float(np.arccos(np.clip(mean @ s.centers[name] / np.linalg.norm(mean), -1, 1)))

    early, late = day < 2, day >= 27
    t_late = (s.videos["published_at"][_rows(s, "t/drift") & late] - pd.Timestamp(s.spec.start)) / pd.Timedelta(days=1)
    expected = drift * float(t_late.mean()) / 30
    assert angle("t/drift", late) == pytest.approx(expected, abs=0.1)
    assert angle("t/drift", early) < 0.15
    assert angle("t/still", late) < 0.15
    # the late videos sit close to the planted center of their time
    np.testing.assert_allclose(s.center_at("t/drift", 0.0), s.centers["t/drift"])
    late_center = s.center_at("t/drift", float(t_late.mean()))
    mean = s.embeddings[_rows(s, "t/drift") & late].mean(axis=0)
    assert mean @ late_center / np.linalg.norm(mean) > 0.99
    assert np.arccos(s.center_at("t/drift", 30.0) @ s.centers["t/drift"]) == pytest.approx(drift)


def test_parts_make_sub_centers() -> None:
    topic = PlantedTopic("t/split", "t", rate=200.0, parts=3, parts_cosine=0.7)
    s = generate(StreamSpec(topics=[topic], days=3, dim=DIM, with_text=False))
    subs = s.part_centers["t/split"]
    assert subs.shape == (3, DIM)
    np.testing.assert_allclose(subs @ s.centers["t/split"], 0.7, atol=1e-6)
    cos = s.embeddings @ subs.T
    best = cos.argmax(axis=1)
    assert cos.max(axis=1).mean() == pytest.approx(s.spec.cohesion, abs=0.05)
    shares = np.bincount(best, minlength=3) / len(best)
    assert shares.min() > 0.25
    # a video is clearly closer to its own sub-center than to the others
    second = np.sort(cos, axis=1)[:, -2]
    assert (cos.max(axis=1) - second).mean() > 0.15
    # parts from the start: every video records the sub-center it came from
    assert np.array_equal(s.videos["true_part"].to_numpy(), best)


def test_split_day_forks_one_topic_into_parts() -> None:
    topic = PlantedTopic("t/fork", "t", rate=300.0, parts=2, parts_cosine=0.7, split_day=4)
    s = generate(StreamSpec(topics=[topic], days=8, dim=DIM, with_text=False))
    day = _days(s, _rows(s, "t/fork"))
    part = s.videos["true_part"].to_numpy()
    before, after = day < 4, day >= 4
    assert (part[before] == -1).all() and set(part[after]) == {0, 1}
    center, subs = s.centers["t/fork"], s.part_centers["t/fork"]
    # before the fork: one topic around its center; after: around the recorded part
    assert (s.embeddings[before] @ center).mean() == pytest.approx(s.spec.cohesion, abs=0.05)
    own = np.einsum("ij,ij->i", s.embeddings[after], subs[part[after]])
    other = np.einsum("ij,ij->i", s.embeddings[after], subs[1 - part[after]])
    assert own.mean() == pytest.approx(s.spec.cohesion, abs=0.05) and (own - other).mean() > 0.15
    assert int(s.topics.set_index("name").loc["t/fork", "split_day"]) == 4
    with pytest.raises(ValueError, match="split_day"):
        generate(StreamSpec(topics=[PlantedTopic("a", "d", 1.0, split_day=2)], days=4, dim=DIM))
    with pytest.raises(ValueError, match="split_day"):
        generate(StreamSpec(topics=[PlantedTopic("a", "d", 1.0, parts=2, split_day=4)], days=4, dim=DIM))


# --- arrivals ---------------------------------------------------------------------------


def test_start_and_end_day(stream: SyntheticStream) -> None:
    retro = _days(stream, _rows(stream, "gaming/retro"))
    assert retro.min() >= 5 and retro.max() < 15
    assert set(range(5, 15)) <= set(retro.tolist())
    all_days = _days(stream)
    assert all_days.min() >= 0 and all_days.max() < 20


def test_ramp_makes_early_counts_smaller() -> None:
    topic = PlantedTopic("t/slow", "t", rate=60.0, start_day=2, ramp_days=10)
    s = generate(StreamSpec(topics=[topic], days=20, dim=16, with_text=False))
    counts = np.bincount(_days(s), minlength=20)
    assert counts[:2].sum() == 0
    early, late = counts[2:5].mean(), counts[14:].mean()
    assert early < 0.4 * late
    assert late == pytest.approx(60.0, rel=0.15)
    assert counts[2] < counts[7] < counts[13] + 10


@pytest.mark.parametrize("rate", [5.0, 40.0])
def test_counts_follow_poisson_rate(rate: float) -> None:
    days = 50
    topics = [PlantedTopic("t/a", "t", rate=rate), PlantedTopic("t/b", "t", rate=2 * rate)]
    s = generate(StreamSpec(topics=topics, days=days, dim=16, with_text=False, seed=11))
    counts = s.videos["true_topic"].value_counts()
    for name, r in [("t/a", rate), ("t/b", 2 * rate)]:
        expected = r * days
        assert abs(counts[name] - expected) < 4 * np.sqrt(expected), name
    daily = np.bincount(_days(s, _rows(s, "t/b")), minlength=days)
    # Poisson: variance ~ mean
    assert daily.var() / daily.mean() == pytest.approx(1.0, abs=0.6)


def test_bursts_multiply_the_rate() -> None:
    topic = PlantedTopic("t/a", "t", rate=30.0, bursts={4: 5.0})
    s = generate(StreamSpec(topics=[topic], days=8, dim=16, with_text=False))
    counts = np.bincount(_days(s), minlength=8)
    assert counts[4] > 3 * np.delete(counts, 4).mean()


# --- noise ------------------------------------------------------------------------------


def test_noise_videos_are_misfits() -> None:
    s = generate(_spec(noise_rate={"gaming": 30.0, "cooking": 10.0, "news": 5.0}))
    noise = s.videos["true_topic"].isna().to_numpy()
    per_domain = s.videos.loc[noise, "domain"].value_counts()
    assert per_domain["gaming"] == pytest.approx(30 * 20, rel=0.2)
    assert per_domain["news"] == pytest.approx(5 * 20, rel=0.35)  # a noise-only domain
    assert all(v is None for v in s.videos.loc[noise, "true_topic"])
    assert s.videos.loc[noise, "channel_id"].str.match(r"(gaming|cooking|news)-noise-ch\d+$").all()
    centers = np.stack(list(s.centers.values()))
    max_cos = (s.embeddings[noise] @ centers.T).max(axis=1)
    # far below cohesion (0.6): random directions in 128 dims reach ~0.3 at the tail
    assert np.quantile(max_cos, 0.99) < 0.35
    assert max_cos.max() < 0.45
    topic_cos = (s.embeddings[~noise] @ centers.T).max(axis=1)
    assert np.median(max_cos) < np.median(topic_cos) - 0.3
    gaming = s.videos["domain"].eq("gaming").to_numpy() & noise
    dom_cos = s.embeddings[gaming] @ s.domain_centers["gaming"]
    np.testing.assert_allclose(dom_cos, s.spec.noise_domain_cosine, atol=1e-3)
    noise_words = set(NOISE_WORDS) | set(FILLER_WORDS)
    for text in s.videos.loc[noise, "description"].head(50):
        assert set(text.split()) <= noise_words


def test_float_noise_rate_applies_to_every_domain() -> None:
    s = generate(_spec(noise_rate=10.0, with_text=False))
    per_domain = s.videos.loc[s.videos["true_topic"].isna(), "domain"].value_counts()
    assert set(per_domain.index) == {"gaming", "cooking"}
    assert per_domain.min() > 100


# --- texts ---------------------------------------------------------------------------


def test_word_banks_are_distinct() -> None:
    assert len(set(WORD_BANK)) == len(WORD_BANK) >= 400
    assert not set(WORD_BANK) & set(FILLER_WORDS)
    assert not set(WORD_BANK) & set(NOISE_WORDS)
    assert not set(FILLER_WORDS) & set(NOISE_WORDS)
    assert all(w.isalpha() and w.islower() for w in WORD_BANK + FILLER_WORDS + NOISE_WORDS)


def test_topic_words_dominate_texts(stream: SyntheticStream) -> None:
    vocab = dict(zip(stream.topics["name"], stream.topics["words"], strict=True))
    sets = [set(w) for w in vocab.values()]
    assert all(8 <= len(s) <= 12 for s in sets)
    assert sum(len(s) for s in sets) == len(set().union(*sets))  # disjoint
    for name, words in vocab.items():
        rows = stream.videos.loc[_rows(stream, name)]
        titles = rows["title"].str.split()
        descriptions = rows["description"].str.split()
        assert titles.str.len().between(4, 8).all()
        assert descriptions.str.len().between(15, 30).all()
        tokens = [w for toks in descriptions for w in toks] + [w for toks in titles for w in toks]
        share = np.mean([w in set(words) for w in tokens])
        assert share == pytest.approx(stream.spec.topic_word_share, abs=0.05)
        assert set(tokens) <= set(words) | set(FILLER_WORDS)
        # the most frequent non-filler words are exactly the planted vocabulary
        top = [w for w, _ in Counter(w for w in tokens if w not in FILLER_WORDS).most_common(len(words))]
        assert set(top) == set(words)
        for tags in rows["tags"]:
            assert 2 <= len(tags) <= 4 and len(set(tags)) == len(tags) and set(tags) <= set(words)


def test_explicit_words_are_used() -> None:
    words = ["speedrun", "glitch", "record", "splits"]
    topics = [
        PlantedTopic("g/speed", "g", rate=20.0, words=words),
        PlantedTopic("g/other", "g", rate=20.0),
    ]
    s = generate(StreamSpec(topics=topics, days=3, dim=16))
    assert s.topics.set_index("name").loc["g/speed", "words"] == words
    tags = s.videos.loc[_rows(s, "g/speed"), "tags"]
    assert set().union(*map(set, tags)) == set(words)
    assert not set(words) & set(s.topics.set_index("name").loc["g/other", "words"])


def test_vocabularies_stay_disjoint_beyond_the_bank() -> None:
    topics = [PlantedTopic(f"t/{i}", "t", rate=0.0) for i in range(60)]
    s = generate(StreamSpec(topics=topics, days=1, dim=16))
    words = [w for ws in s.topics["words"] for w in ws]
    assert len(words) == len(set(words)) > len(WORD_BANK)
    assert s.videos.empty and s.embeddings.shape == (0, 16)


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topics",
    [
        [PlantedTopic("a", "d", 1.0), PlantedTopic("a", "d", 1.0)],
        [PlantedTopic("a", "d", 1.0, near="zzz")],
        [PlantedTopic("a", "d", 1.0, near="b"), PlantedTopic("b", "d", 1.0, near="a")],
        [PlantedTopic("a", "d", 1.0, start_day=5, end_day=5)],
        [PlantedTopic("a", "d", -1.0)],
        [PlantedTopic("a", "d", 1.0, parts=0)],
    ],
)
def test_invalid_specs_raise(topics: list[PlantedTopic]) -> None:
    with pytest.raises(ValueError):
        generate(StreamSpec(topics=topics, days=5, dim=16))


def test_invalid_cohesion_raises() -> None:
    with pytest.raises(ValueError):
        generate(_spec(cohesion=1.0))


# --- default scenario ----------------------------------------------------------------


def test_default_scenario_plants_every_event(scenario: SyntheticStream) -> None:
    days = 40
    t = scenario.topics.set_index("name")
    for domain in ("gaming", "cooking", "tech"):
        roles = {n.split("/", 1)[1] for n in t.index if n.startswith(domain + "/")}
        assert {
            "stable-1",
            "stable-2",
            "birth",
            "slow-birth",
            "death",
            "drift",
            "merge-a",
            "merge-b",
            "split",
        } <= roles
        assert t.loc[f"{domain}/birth", "start_day"] == days // 3
        assert t.loc[f"{domain}/slow-birth", "ramp_days"] == 10
        assert t.loc[f"{domain}/death", "end_day"] == days // 4
        assert t.loc[f"{domain}/drift", "drift"] > 0
        assert t.loc[f"{domain}/merge-b", "near"] == f"{domain}/merge-a"
        assert t.loc[f"{domain}/split", "parts"] == 2
        assert t.loc[f"{domain}/split", "split_day"] == days // 2  # a planted split event
        forked = _days(scenario, _rows(scenario, f"{domain}/split")) >= days // 2
        assert (
            scenario.videos["true_part"].to_numpy()[_rows(scenario, f"{domain}/split")] >= 0
        ).tolist() == forked.tolist()
        near = scenario.centers[f"{domain}/merge-a"] @ scenario.centers[f"{domain}/merge-b"]
        assert near == pytest.approx(0.95, abs=0.02)
        birth_days = _days(scenario, _rows(scenario, f"{domain}/birth"))
        assert birth_days.min() >= days // 3
        death_days = _days(scenario, _rows(scenario, f"{domain}/death"))
        assert death_days.max() < days // 4
        slow = np.bincount(_days(scenario, _rows(scenario, f"{domain}/slow-birth")), minlength=days)
        start = days // 6
        assert slow[:start].sum() == 0 and slow[start : start + 3].sum() < slow[start + 10 : start + 13].sum()


def test_default_scenario_volume(scenario: SyntheticStream) -> None:
    per_day = len(scenario.videos) / 40
    assert per_day == pytest.approx(400, rel=0.05)
    noise_share = scenario.videos["true_topic"].isna().mean()
    assert noise_share == pytest.approx(0.05, abs=0.015)
    daily = np.bincount(_days(scenario), minlength=40)
    assert daily.min() > 0.6 * 400 and daily.max() < 1.5 * 400


def test_default_scenario_is_adjustable() -> None:
    spec = dataclasses.replace(default_scenario(days=10, daily_volume=100, domains=("news",)), dim=32, with_text=False)
    s = generate(spec)
    assert s.embeddings.shape[1] == 32 and set(s.videos["domain"]) == {"news"}
    with pytest.raises(ValueError):
        default_scenario(days=3)
    static = default_scenario(days=10, daily_volume=100, split_after=None)
    assert all(t.split_day is None for t in static.topics)
