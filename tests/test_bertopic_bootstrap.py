"""``ray-topics bootstrap``: first models from the monthly sample of a planted dump, then the dump as history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from ray_topics.cli import main
from ray_topics.execution.runtime import Runtime
from ray_topics.streams.bootstrap import bootstrap, frame_vectors
from ray_topics.streams.planted import PlantedTopic, StreamSpec
from ray_topics.streams.synthetic import generate
from tests.conftest import make_config

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 40
NONE = "<none>"


def _dump(domains: tuple[str, ...], topics_per_domain: int = 3, rate: float = 10.0, seed: int = 5):
    topics = [PlantedTopic(f"{d}/t{i}", d, rate=rate) for d in domains for i in range(topics_per_domain)]
    return generate(StreamSpec(topics=topics, days=DAYS, start=START, noise_rate=1.0, seed=seed))


@pytest.fixture(scope="module")
def dump():
    return _dump(("news", "tech"))


def _stored(rt: Runtime, ids: list[str]) -> list[str]:
    got = rt.store.classifications.get(ids)
    return [got[v]["topic_id"] or NONE for v in ids]


def test_bootstrap_finds_the_planted_topics_reading_only_its_sample(dump, tmp_path: Path) -> None:
    rt = Runtime(make_config(tmp_path))
    videos = dump.videos.drop(columns=["true_topic", "true_part"])
    reads: list[np.ndarray] = []
    fits: list[int] = []
    inner = frame_vectors(rt, videos, dump.embeddings)
    fit_predict = rt.backend.fit_predict

    def read(pos: np.ndarray) -> np.ndarray:
        reads.append(np.array(pos))
        return inner(pos)

    def recorded_fit(x: np.ndarray, *a, **k) -> np.ndarray:
        fits.append(len(x))
        return fit_predict(x, *a, **k)

    rt.backend.fit_predict = recorded_fit
    summary = bootstrap(rt, videos, read)
    ids = videos["video_id"].tolist()
    sample = {v for d in summary["domains"].values() for v in d["sample_ids"]}
    # the model reads only the sample it names, a part of the dump, and clusters nothing bigger
    assert {ids[i] for i in reads[0]} == sample and len(reads[0]) == len(sample)
    assert len(sample) < 0.6 * len(videos)
    biggest = max(len(d["sample_ids"]) for d in summary["domains"].values())
    assert fits and max(fits) <= biggest
    # each domain's first model holds its planted topics; the whole dump is stored as history
    for d in ("news", "tech"):
        assert summary["domains"][d]["births"] == 3 and summary["domains"][d]["version"] == f"{d}@v1"
        assert len(rt.store.topics.list(d)) == 3
    assert summary["stored"] == len(videos) == rt.store.count("classifications")
    assert rt.store.runs.done("bootstrap", "news", datetime.fromisoformat(summary["as_of"]))
    truth = dump.videos["true_topic"].fillna(NONE).tolist()
    nmi = normalized_mutual_info_score(truth, _stored(rt, ids))
    assert nmi >= 0.9, nmi
    # the tiers start from there: the newest video is stored, event time is the midnight after it
    last = dump.videos["published_at"].max().to_pydatetime()
    assert datetime.fromisoformat(summary["as_of"]) == last.replace(hour=0, minute=0, second=0) + timedelta(days=1)
    # a second run commits no model again and stores nothing twice
    again = bootstrap(rt, videos, inner)
    assert all(d.get("kept") for d in again["domains"].values())
    assert rt.store.count("classifications") == len(videos) and rt.registry.latest_versions() == {"news": 1, "tech": 1}


def test_bootstrap_command_reads_replay_columns_and_keeps_a_domain_model(tmp_path: Path, capsys) -> None:
    stream = _dump(("cooking",), topics_per_domain=2, rate=8.0, seed=9)
    v = stream.videos
    path = tmp_path / "dump.parquet"
    v.assign(embedding=list(stream.embeddings), tags=v["tags"].map(list)).drop(
        columns=["true_topic", "true_part"]
    ).to_parquet(path)
    work = tmp_path / "w"
    cols = ["--title-col", "title", "--description-col", "description", "--tags-col", "tags"]
    cols += [
        "--domain-col",
        "domain",
        "--views-col",
        "views",
        "--embedding-col",
        "embedding",
        "--channel-col",
        "channel_id",
    ]
    assert main(["bootstrap", str(path), "--workdir", str(work), *cols]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["domains"]["cooking"]["births"] == 2 and out["stored"] == len(v)
    rt = Runtime(make_config(work))
    got = np.array(_stored(rt, v["video_id"].tolist()))
    held = {}  # each planted topic: the topic of ours holding most of its videos, and that share
    for name in sorted(v["true_topic"].dropna().unique()):
        mine = got[(v["true_topic"] == name).to_numpy()]
        ours, n = max(((t, int((mine == t).sum())) for t in set(mine.tolist()) - {NONE}), key=lambda x: x[1])
        held[name] = (ours, n / len(mine))
    assert len({ours for ours, _share in held.values()}) == 2 and min(s for _o, s in held.values()) > 0.9, held
    # a domain that has a model keeps it (an imported one, an earlier bootstrap): later history is classified by it
    later = v.assign(published_at=v["published_at"] + timedelta(days=60), video_id=v["video_id"] + "-later")
    again = bootstrap(rt, later, frame_vectors(rt, later, stream.embeddings))
    assert again["domains"]["cooking"]["kept"] and again["domains"]["cooking"]["version"] == "cooking@v1"
    assert rt.registry.latest_versions() == {"cooking": 1} and again["stored"] == len(v)
    moved = np.array(_stored(rt, later["video_id"].tolist()))
    assert (moved == got).mean() > 0.99  # the same videos, 60 days later, get the same topics


def test_a_bootstrap_beaten_to_a_domain_by_another_model_keeps_that_model(dump, tmp_path: Path, monkeypatch) -> None:
    """Found by review: an import (or a bootstrap of another as_of) that gave the domain its model between
    the bootstrap's plan and its commit made the commit a StalePlan traceback, its run left running."""
    from ray_topics.streams import bootstrap as streams_bootstrap
    from ray_topics.tiers.bootstrap import commit_bootstrap

    rt = Runtime(make_config(tmp_path))
    videos = dump.videos.drop(columns=["true_topic", "true_part"])
    plan_bootstrap = streams_bootstrap.plan_bootstrap
    rival_as_of: list[datetime] = []

    def racing(rt_: Runtime, d: str, x, docs, times, as_of):
        plan = plan_bootstrap(rt_, d, x, docs, times, as_of)
        if d == "news":  # another writer publishes news's first model meanwhile
            rival = plan_bootstrap(rt_, d, x[::2], docs[::2], times[::2], as_of)
            rival_as_of.append(as_of + timedelta(days=1))
            commit_bootstrap(rt_, rival, rival_as_of[0])
        return plan

    monkeypatch.setattr(streams_bootstrap, "plan_bootstrap", racing)
    summary = bootstrap(rt, videos, frame_vectors(rt, videos, dump.embeddings))
    as_of = datetime.fromisoformat(summary["as_of"])
    news = summary["domains"]["news"]
    assert news["kept"] and "births" not in news and news["version"] == "news@v1"
    assert summary["domains"]["tech"]["births"] == 3
    assert rt.registry.latest_versions() == {"news": 1, "tech": 1}
    rival_topics = rt.store.runs.get("bootstrap", "news", rival_as_of[0])["stats"]["births"]
    assert len(rt.store.topics.list("news")) == rival_topics  # the rival's model, nothing of the stale plan
    assert rt.store.runs.get("bootstrap", "news", as_of)["status"] == "succeeded"
    assert summary["stored"] == len(videos) == rt.store.count("classifications")
