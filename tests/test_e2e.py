"""End-to-end: a planted stream through every tier (local and Ray Data), and the replay CLI."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ray_topics.cli import main
from ray_topics.core.index import normalize
from ray_topics.execution.runtime import Runtime
from ray_topics.streams.planted import PlantedTopic, StreamSpec, default_scenario
from ray_topics.streams.replay import Replay, build_summary
from ray_topics.streams.synthetic import generate
from ray_topics.tiers.monthly import run_monthly
from ray_topics.tiers.refine import run_refine
from ray_topics.tiers.weekly import run_weekly
from tests.conftest import make_config

FAST = ("daily.dying_after_days=6", "daily.dead_after_days=12")
DAY = timedelta(days=1)


def _majority(rt: Runtime, stream, domain: str) -> dict[str, str]:
    """planted topic -> the topic id holding most of its videos."""
    truth = dict(zip(stream.videos.video_id, stream.videos.true_topic, strict=True))
    start = stream.videos.published_at.min().to_pydatetime()
    rows = rt.store.classifications.window(domain, start, start + timedelta(days=400), with_text=False)
    votes: dict[str, Counter] = {}
    for r in rows:
        if truth[r["video_id"]] and r["topic_id"]:
            votes.setdefault(truth[r["video_id"]], Counter())[r["topic_id"]] += 1
    return {p: c.most_common(1)[0][0] for p, c in votes.items()}


def test_skeleton_end_to_end_planted_birth_and_death(tmp_path: Path) -> None:
    spec = default_scenario(days=24, daily_volume=400, domains=("gaming", "cooking"), seed=5)
    stream = generate(replace(spec, start=datetime(2026, 1, 20, tzinfo=UTC)))  # crosses Feb 1: monthly runs
    rt = Runtime(make_config(tmp_path, *FAST))
    result = Replay(rt).run(stream.videos, stream.embeddings)
    assert result.videos == len(stream.videos) and not result.rejected
    for d in ("gaming", "cooking"):
        owner = _majority(rt, stream, d)
        born = {e["topic_id"] for e in rt.store.topics.events(d, ["birth"])}
        assert owner[f"{d}/birth"] in born  # the planted birth became its own topic
        assert owner[f"{d}/birth"] not in {owner[p] for p in owner if p != f"{d}/birth"}
        died = owner[f"{d}/death"]  # the planted death (end_day 6) was marked dying
        assert died in {e["topic_id"] for e in rt.store.topics.events(d, ["dying"])}
        assert rt.store.topics.get(died).status in ("dying", "dead")
        assert rt.store.topics.get(owner[f"{d}/stable-1"]).status == "active"
    summary = build_summary(rt, result)
    assert set(summary) >= {"videos", "domains", "topics", "events", "timings"}
    assert set(summary["timings"]) >= {"tier1", "refine", "daily", "weekly", "monthly"}
    for t in summary["topics"]:
        assert set(t) == {"topic_id", "domain", "label", "keywords", "size", "status", "born_at", "died_at"}
    json.dumps(summary)  # serialisable as is


@pytest.mark.ray
def test_ray_data_engine_gives_the_same_topics_as_local(tmp_path: Path, ray_local: None) -> None:
    stream = generate(
        StreamSpec(
            topics=[PlantedTopic(f"{d}/{k}", d, rate=60) for d in ("gaming", "tech") for k in "ab"],
            days=4,
            seed=9,
        )
    )

    def run(engine: str) -> tuple:
        rt = Runtime(make_config(tmp_path / engine, f"execution.engine={engine}"))
        Replay(rt).run(stream.videos, stream.embeddings)
        tops = sorted((t.topic_id, t.status, t.size, tuple(t.keywords[:5])) for t in rt.store.topics.list())
        return tops, rt.store.count("classifications", status="refined")

    local, ray_ = run("local"), run("ray")
    assert local[0] and local == ray_


@pytest.mark.ray
def test_ray_data_reads_the_lake_for_weekly_and_monthly(tmp_path: Path, ray_local: None) -> None:
    """With every embedding in the lake, Ray Data's Parquet tasks read what weekly and monthly need: same result."""
    from tests.test_tiers import START, _blob, _ingest, _seed_topic

    def run(engine: str) -> tuple:
        rt = Runtime(make_config(tmp_path / engine, f"execution.engine={engine}", "refine.hot_retention_days=0"))
        rng = np.random.default_rng(1)
        dim = rt.cfg.embedding.dim
        a, b, c = (normalize(rng.standard_normal(dim)) for _ in range(3))
        twin = normalize(0.97 * a + 0.243 * normalize(rng.standard_normal(dim)))
        for k, centre in enumerate((a, twin, b, c)):
            _seed_topic(rt, "gaming", k, centre, START)
        vecs = np.concatenate(
            [_blob(rng, a, 150, 0.7), _blob(rng, twin, 60, 0.7), *(_blob(rng, x, 150) for x in (b, c))]
        )
        _ingest(rt, vecs, "gaming", START + 2 * DAY, "m")
        assert run_refine(rt, START + 5 * DAY)["evicted"] == len(vecs)  # nothing hot: the lake holds all
        week, month = run_weekly(rt, START + 5 * DAY)["gaming"], run_monthly(rt, START + 5 * DAY)["gaming"]
        tops = [(t.topic_id, t.status, t.size, t.centroid) for t in rt.store.topics.list("gaming")]
        return week, month, tops, len(vecs)

    local, ray_ = run("local"), run("ray")
    assert "read_by_ray_data" not in local[0] and "read_by_ray_data" not in local[1]
    assert ray_[0]["read_by_ray_data"] == ray_[0]["sampled"] == ray_[3]  # the week's videos, all under the cap
    assert ray_[1]["read_by_ray_data"] == ray_[1]["sample"] > 0
    assert local[1]["merges"] == ray_[1]["merges"] == 1
    assert [t[:3] for t in local[2]] == [t[:3] for t in ray_[2]]
    for (_i, _s, _n, c1), (_j, _t, _m, c2) in zip(local[2], ray_[2], strict=True):
        np.testing.assert_allclose(c1, c2, atol=1e-5)


@pytest.mark.ray
def test_ray_data_reads_only_the_weekly_sample(tmp_path: Path, ray_local: None) -> None:
    """Topics over the cap: Ray Data reads the sampled ids alone (id filter in the scan), same topics as local."""
    from tests.test_tiers import START, _blob, _ingest, _seed_topic

    cap = 20

    def run(engine: str) -> tuple:
        rt = Runtime(
            make_config(
                tmp_path / engine,
                f"execution.engine={engine}",
                "refine.hot_retention_days=0",
                f"weekly.max_members_per_topic={cap}",
            )
        )
        rng = np.random.default_rng(4)
        dim = rt.cfg.embedding.dim
        a, b = (normalize(rng.standard_normal(dim)) for _ in range(2))
        drifted = normalize(a + 0.5 * normalize(rng.standard_normal(dim)))
        for k, centre in enumerate((a, b)):
            _seed_topic(rt, "gaming", k, centre, START)
        vecs = np.concatenate([_blob(rng, drifted, 120, 0.8), _blob(rng, b, 70, 0.8)])
        _ingest(rt, vecs, "gaming", START + 2 * DAY, "s")
        assert run_refine(rt, START + 5 * DAY)["evicted"] == len(vecs)  # nothing hot: the lake holds all
        week = run_weekly(rt, START + 5 * DAY)["gaming"]
        tops = [(t.topic_id, t.status, t.size, t.centroid) for t in rt.store.topics.list("gaming")]
        return week, tops, rt.store.topics.events("gaming", ["drift"]), len(vecs)

    local, ray_ = run("local"), run("ray")
    assert ray_[0]["videos"] == local[0]["videos"] == ray_[3]
    assert ray_[0]["read_by_ray_data"] == ray_[0]["sampled"] == local[0]["sampled"] <= 3 * cap < ray_[3]
    assert [e["topic_id"] for e in local[2]] == [e["topic_id"] for e in ray_[2]] == ["gaming:0"]
    assert [t[:3] for t in local[1]] == [t[:3] for t in ray_[1]]
    for (_i, _s, _n, c1), (_j, _t, _m, c2) in zip(local[1], ray_[1], strict=True):
        np.testing.assert_allclose(c1, c2, atol=1e-5)


def _write(df: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        df.to_parquet(path)
    elif path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_json(path, orient="records", lines=True, date_format="iso")


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_replay_cli_writes_summary_with_births_and_deaths(
    tmp_path: Path, suffix: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    stream = generate(
        StreamSpec(
            topics=[
                PlantedTopic("g/a", "gaming", rate=70),
                PlantedTopic("g/b", "gaming", rate=70, end_day=3),
                PlantedTopic("g/new", "gaming", rate=70, start_day=5),
            ],
            days=12,
            seed=4,
        )
    )
    df = stream.videos.rename(columns={"video_id": "id", "published_at": "ts", "channel_id": "ch"})
    df = df.assign(emb=[list(map(float, v)) for v in stream.embeddings], ts=df.ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    src = tmp_path / f"stream{suffix}"
    _write(df[["id", "ts", "ch", "title", "description", "domain", "views", "emb"]], src)
    out = tmp_path / "summary.json"
    code = main([
        "replay", str(src), "--id-col", "id", "--time-col", "ts", "--channel-col", "ch", "--title-col", "title",
        "--description-col", "description", "--domain-col", "domain", "--views-col", "views",
        "--embedding-col", "emb", "--workdir", str(tmp_path / "wd"), "--summary-out", str(out),
        "--set", "daily.dying_after_days=4", "--set", "daily.dead_after_days=30",
    ])  # fmt: skip
    assert code == 0
    # piped (not a terminal): no bar, the progress as log lines, one per simulated day and per job event
    assert "%|" not in capfd.readouterr().err
    lines = [r.getMessage() for r in caplog.records if r.name == "ray_topics.progress"]
    assert sum(line.startswith("replay at ") for line in lines) >= 11
    assert any("topic(s) born" in line for line in lines)
    summary = json.loads(out.read_text())
    assert summary["videos"] == len(df)
    events = summary["events"]
    births = [e for e in events if e["type"] == "birth"]
    assert len(births) == 3
    late = max(births, key=lambda e: e["at"])  # g/new starts on day 5: born after it, by day 8
    assert "2026-01-07" <= late["at"][:10] <= "2026-01-09"
    dying = [e for e in events if e["type"] == "dying"]
    assert len(dying) == 1 and "2026-01-07" <= dying[0]["at"][:10] <= "2026-01-08"  # last video day 2, +4 days


def test_replay_cli_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "v.csv"
    src.write_text("id,text,when\n1,hello,2026-01-01T00:00:00Z\n")
    assert main(["replay", str(src), "--id-col", "id", "--text-col", "text", "--workdir", str(tmp_path)]) == 2
    assert "--time-col 'published_at'" in capsys.readouterr().err
    src.write_text("id,text,when\n1,hello,not a date\n")
    args = ["replay", str(src), "--id-col", "id", "--text-col", "text", "--time-col", "when"]
    assert main([*args, "--workdir", str(tmp_path)]) == 2
    assert "cannot be parsed" in capsys.readouterr().err or "unparseable" in capsys.readouterr().err
    empty = tmp_path / "e.csv"
    empty.write_text("")
    assert main(["replay", str(empty), "--text-col", "t", "--workdir", str(tmp_path)]) == 2
    assert "empty" in capsys.readouterr().err
