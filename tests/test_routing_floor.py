"""The routing floor end to end: measured weekly from labelled videos, applied by the router, and a stream
without categories kept in one (the fallback) domain instead of scattered over all of them."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from ray_topics.core.index import normalize
from ray_topics.execution.runtime import Runtime
from ray_topics.streams.planted import PlantedTopic, StreamSpec
from ray_topics.streams.replay import Replay, build_summary
from ray_topics.streams.synthetic import generate

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: the weekly run of day 7 measures the floors
DAYS = 8


def _stream():
    return generate(
        StreamSpec(
            topics=[
                PlantedTopic("g/a", "gaming", rate=60),
                PlantedTopic("g/b", "gaming", rate=60),
                PlantedTopic("c/a", "cooking", rate=60),
            ],
            days=DAYS,
            start=START,
            seed=5,
            with_text=False,
        )
    )


def test_weekly_measures_each_domains_floor_from_its_labelled_videos(sqlite_runtime: Runtime) -> None:
    """Categories label every planted video: after the first weekly run gaming and cooking have a floor that
    keeps their own videos and sends an unrelated one to the fallback."""
    rt, stream = sqlite_runtime, _stream()
    Replay(rt).run(stream.videos, stream.embeddings)
    cal = rt.store.prototypes.calibrations()
    assert set(cal) == {"gaming", "cooking"}  # the fallback domain is never measured
    for domain in ("gaming", "cooking"):
        mean, std, n = cal[domain]
        assert n >= rt.cfg.domains.floor_min_videos and 0 < std < mean
    router = rt.router(embed_missing=False)
    own = stream.embeddings[(stream.videos.domain == "gaming").to_numpy()][:200]
    routed = router.route([{}] * len(own), own)
    assert routed.count("gaming") / len(own) >= 0.95  # ~99 % of a domain's own videos clear its floor
    stranger = normalize(np.random.default_rng(0).standard_normal((20, rt.cfg.embedding.dim)))
    assert router.route([{}] * 20, stranger) == ["general"] * 20
    # a thin week (fewer labelled videos than floor_min_videos) keeps the last measure instead of erasing it
    from ray_topics.tiers.weekly import labelled_similarity

    few = stream.videos.video_id[(stream.videos.domain == "gaming").to_numpy()].tolist()[:5]
    proto = rt.store.prototypes.all()["gaming"][0]
    assert labelled_similarity(rt, "gaming", few, own[:5], proto) is None


@pytest.mark.model
def test_a_stream_without_categories_becomes_one_domain(sqlite_runtime: Runtime) -> None:
    """No domain and no category column: every video goes to the fallback domain, whose topics hold the stream."""
    rt, stream = sqlite_runtime, _stream()
    videos = stream.videos.drop(columns=["domain", "category"])
    result = Replay(rt).run(videos, stream.embeddings)
    summary = build_summary(rt, result)
    assert summary["routing"]["share"] == {
        "explicit": 0.0,
        "category": 0.0,
        "neighbours": 0.0,
        "prototype": 0.0,
        "fallback": 1.0,
    }
    stored = {t["domain"] for t in summary["topics"]}
    assert stored == {"general"} and len(summary["topics"]) >= 2  # born there, not scattered
