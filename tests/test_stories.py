"""The story view puts a story's videos in a second domain under the story's topic, and nothing else."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from ray_topics.cli import main
from ray_topics.core import stories
from ray_topics.core.index import normalize
from ray_topics.core.stories import story_labels
from ray_topics.core.types import TopicStatus
from ray_topics.execution.runtime import Runtime
from ray_topics.ops.stories import story_view
from tests.test_tiers import DAY, _blob, _ingest, _seed_topic

DIM = 64


def _around(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
    return normalize(centre + spread * rng.standard_normal((n, DIM)))


@pytest.mark.parametrize("chunk", [stories.CHUNK, 7])  # one block, and several
def test_a_storys_part_in_a_broad_topic_of_another_domain_joins_the_story(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stories, "CHUNK", chunk)
    rng = np.random.default_rng(1)
    story_c, broad_c, other_c = normalize(rng.standard_normal((3, DIM)))
    # world:2 is the story (tight); politics:0 is a broad topic whose answer the story's part in politics got
    in_world = _around(rng, story_c, 20, 0.05)
    part_in_politics = _around(rng, story_c, 6, 0.05)
    politics_own = _around(rng, broad_c, 30, 0.15)
    misfits = _around(rng, story_c, 3, 0.05)
    vecs = np.concatenate([in_world, part_in_politics, politics_own, misfits])
    labels: list[str | None] = ["world:2"] * 20 + ["politics:0"] * 36 + [None] * 3
    fits = np.array([True] * 56 + [False] * 3)
    cents = np.stack([story_c, broad_c, other_c])
    out = story_labels(vecs, labels, fits, cents, ["world:2", "politics:0", "sports:1"])
    assert out[:26] == ["world:2"] * 26  # the whole story under one topic
    assert out[26:56] == ["politics:0"] * 30  # the broad topic keeps its own videos
    assert out[56:] == [None] * 3  # a misfit stays a misfit, even near a story
    assert labels[20:26] == ["politics:0"] * 6  # the domains' own answers are not touched


def test_without_topics_the_labels_are_kept() -> None:
    vecs = np.eye(3, DIM, dtype=np.float32)
    assert story_labels(vecs, ["a:0", None, "b:1"], np.array([True, False, True]), np.zeros((0, DIM)), []) == [
        "a:0",
        None,
        "b:1",
    ]


def test_the_story_view_of_a_store_shows_a_story_split_by_the_router(
    sqlite_runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """news answered a product launch's few videos with its broad topic; tech holds the story's topic. The
    view puts those videos under tech's topic, keeps news' own under news', and the CLI lists the story with
    its part in news."""
    rt, rng = sqlite_runtime, np.random.default_rng(5)
    dim = rt.cfg.embedding.dim
    at = datetime(2026, 3, 2, tzinfo=UTC)
    broad_c = normalize(rng.standard_normal(dim))
    story_c = normalize(broad_c + 0.9 * normalize(rng.standard_normal(dim)))  # near enough for broad to answer
    _seed_topic(rt, "news", 0, broad_c, at - 10 * DAY, sim_mean=0.55, sim_std=0.08, keywords=["said"])
    _seed_topic(rt, "tech", 0, story_c, at - 10 * DAY, sim_mean=0.9, sim_std=0.02, keywords=["launch"])
    in_tech, in_news = _blob(rng, story_c, 20, cohesion=0.95), _blob(rng, story_c, 6, cohesion=0.95)
    _ingest(rt, in_tech, "tech", at - 3 * DAY, "w")
    part = _ingest(rt, in_news, "news", at - 3 * DAY, "p")
    _ingest(rt, _blob(rng, broad_c, 30, cohesion=0.9), "news", at - 3 * DAY, "own")
    fitted = rt.store.classifications.window("news", at - 7 * DAY, at, with_text=False)
    assert {r["topic_id"] for r in fitted if r["video_id"] in part} == {"news:0"}  # the router's split
    assert min(r["confidence"] for r in fitted) >= rt.cfg.daily.misfit_confidence  # ... answered with confidence

    exact = normalize(np.concatenate([in_tech, in_news]).mean(axis=0))  # nearer to the story than tech:0
    gone = _seed_topic(rt, "sports", 3, exact, at - 10 * DAY)  # ... but merged since
    with rt.store.begin() as conn:
        rt.store.topics.upsert([dataclasses.replace(gone, status=TopicStatus.MERGED)], conn)

    view = story_view(rt, at - 7 * DAY, at)
    assert view["tech:0"] == {"tech": 20, "news": 6}
    assert view["news:0"] == {"news": 30}
    assert set(view) == {"tech:0", "news:0"}  # a merged topic is nobody's story: its videos went elsewhere

    assert main(["stories", "--workdir", str(tmp_path), "--as-of", "2026-03-02"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].split()[:5] == ["tech:0", "active", "26", "20", "news"]
