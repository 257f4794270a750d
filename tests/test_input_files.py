"""Bad input from files and the command line: a clear error naming what to change (exit 2), nothing stored
or replayed wrong. Found by review (session 36); each case failed before (a traceback, a silent drop, exit 0)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ray_topics.cli import main
from ray_topics.config import ConfigError, load_config
from ray_topics.core.index import normalize
from ray_topics.execution.runtime import Runtime
from ray_topics.streams.loader import ColumnMap, InputError, load_videos
from ray_topics.streams.replay import Replay, validated

T0 = datetime(2024, 1, 1, 1, tzinfo=UTC)
GOOD = {"video_id": "v1", "channel_id": "c", "published_at": "2024-01-01T00:00:00Z", "title": "hello"}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _emb(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return normalize(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))


# ------------------------------------------------------------------------------------------- config overrides


def test_a_text_setting_takes_its_value_as_written_and_bad_yaml_names_the_key() -> None:
    cfg = load_config(overrides=["serve.token=123456", "store.schema_name=2024", "serve.token=@abc"])
    assert (cfg.serve.token, cfg.store.schema_name) == ("@abc", "2024")  # not YAML's int, not a YAML error
    assert load_config(overrides=["serve.token=no"]).serve.token == "no"  # not YAML's False
    with pytest.raises(ConfigError, match=r"log_spaced_days.*not valid YAML"):
        load_config(overrides=["monthly.log_spaced_days=[1,"])


def test_a_bad_override_or_an_unknown_domain_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "--workdir", str(tmp_path), "--set", "monthly.log_spaced_days=[1,"]) == 2
    assert "log_spaced_days" in capsys.readouterr().err
    for command in (["topics"], ["health", "--as-of", "2024-01-08"]):
        assert main([*command, "--workdir", str(tmp_path), "--domain", "gamng"]) == 2
        assert "'gamng' is no domain" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------- classify


@pytest.mark.parametrize(
    ("lines", "named"),
    [
        ([json.dumps({k: v for k, v in GOOD.items() if k != "channel_id"})], "channel_id"),
        ([json.dumps({**GOOD, "published_at": "2024-01-01T00:00:00"})], "published_at"),
        ([json.dumps({**GOOD, "domain": "nope"})], "domain"),
        ([json.dumps(GOOD), "{not json"], "line 2"),
    ],
    ids=["missing-field", "no-zone", "unknown-domain", "malformed-line"],
)
def test_bad_classify_input_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], named: str
) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(lines) + "\n")
    assert main(["classify", str(f), "--workdir", str(tmp_path / "w"), "--now", "2024-01-02"]) == 2
    assert named in capsys.readouterr().err
    assert main(["classify", str(tmp_path / "nope.jsonl"), "--workdir", str(tmp_path / "w")]) == 2
    assert "cannot read" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------- loader


def test_a_null_id_is_refused_and_whole_number_ids_stay_whole(tmp_path: Path) -> None:
    rows = [{"id": 1, "ts": "2024-01-01T00:00:00Z", "t": "a"}, {"id": 3, "ts": "2024-01-01T01:00:00Z", "t": "b"}]
    cols = ColumnMap(id_col="id", time_col="ts", channel_col=None, text_col="t")
    with pytest.raises(InputError, match="empty ids"):
        load_videos(_jsonl(tmp_path / "a.jsonl", [*rows, {"id": None, "ts": "2024-01-01T02:00:00Z", "t": "c"}]), cols)
    frame = pd.DataFrame({"id": [1.0, 3.0], "ts": [r["ts"] for r in rows], "t": ["a", "b"]})  # floats, as a null made
    frame.to_parquet(tmp_path / "b.parquet")
    assert list(load_videos(tmp_path / "b.parquet", cols)[0]["video_id"]) == ["1", "3"]  # not "1.0", "3.0"


def test_timestamps_without_a_zone_are_refused_unless_said_to_be_utc(tmp_path: Path) -> None:
    rows = [{"id": "a", "ts": "2024-01-01T10:00:00+02:00", "t": "x"}, {"id": "b", "ts": "2024-01-01 10:00", "t": "y"}]
    path = _jsonl(tmp_path / "v.jsonl", rows)
    cols = ColumnMap(id_col="id", time_col="ts", channel_col=None, text_col="t")
    with pytest.raises(InputError, match=r"without a zone.*2024-01-01 10:00.*--naive-utc"):
        load_videos(path, cols)
    cols.naive_utc = True
    got = load_videos(path, cols)[0]["published_at"].tolist()
    assert got == [pd.Timestamp("2024-01-01T08:00:00Z"), pd.Timestamp("2024-01-01T10:00:00Z")]


@pytest.mark.parametrize("views", [12.5, "1,234", "many"])
def test_views_that_are_no_whole_number_are_refused_naming_the_column(tmp_path: Path, views: object) -> None:
    rows = [{"id": "a", "ts": "2024-01-01T00:00:00Z", "t": "x", "v": 3}, {"id": "b", "ts": "2024-01-01T00:00:00Z",
            "t": "y", "v": views}]  # fmt: skip
    cols = ColumnMap(id_col="id", time_col="ts", channel_col=None, text_col="t", views_col="v")
    with pytest.raises(InputError, match=r"'v' \(--views-col\).*no whole number"):
        load_videos(_jsonl(tmp_path / "v.jsonl", rows), cols)


# --------------------------------------------------------------------------------------------------- replay


def _replay_args(src: Path, tmp_path: Path, *more: str) -> list[str]:
    return ["replay", str(src), "--id-col", "id", "--time-col", "ts", "--text-col", "t", "--domain-col", "d",
            "--embedding-col", "emb", "--workdir", str(tmp_path / "w"), "-q", *more]  # fmt: skip


def test_a_replay_that_would_drop_or_refuse_every_video_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dim = load_config().embedding.dim
    rows = [{"id": f"v{i}", "ts": f"2024-01-01T0{i}:30:00Z", "t": "hello", "d": "gaming", "emb": [1.0, 0.0, 0.5]}
            for i in range(3)]  # fmt: skip
    assert main(_replay_args(_jsonl(tmp_path / "short.jsonl", rows), tmp_path)) == 2  # 3 values, not 384
    assert "holds 3 values a row" in capsys.readouterr().err
    good = [{**r, "emb": _emb(1, dim, i)[0].tolist()} for i, r in enumerate(rows)]
    src = _jsonl(tmp_path / "good.jsonl", good)
    assert main(_replay_args(src, tmp_path, "--until", "2024-01-01T01:00:00Z")) == 2  # would cut the stream
    assert "before the last video" in capsys.readouterr().err
    zeros = [{**r, "id": f"z{k}", "emb": [0.0] * dim} for k, r in enumerate(good)]
    assert main(_replay_args(_jsonl(tmp_path / "zeros.jsonl", zeros), tmp_path)) == 2
    err = capsys.readouterr().err
    assert "no video of" in err and "rejected z0: " in err and "all zeros" in err


def test_a_replay_refuses_an_unmapped_category_alone_and_a_row_with_no_text_it_embedded(tmp_path: Path) -> None:
    """With ``domains.unknown_category: reject`` an unmapped category is that video's rejection, not a crash
    of its hour (whose other videos were lost). A row without text that the replay embedded itself (the
    embedding of an empty string) is refused as Tier 1 refuses it; one with its own embedding is kept."""
    rt = Runtime(load_config(overrides=["domains.unknown_category=reject"], workdir=str(tmp_path)))
    dim = rt.cfg.embedding.dim
    for i, name in enumerate(rt.cfg.domains.names):  # prototypes stored: no embedder needed
        rt.store.prototypes.save(name, _emb(1, dim, seed=100 + i)[0], T0)
    base = {"channel_id": "c", "title": "some words", "description": "", "tags": [], "domain": None, "views": None}
    videos = pd.DataFrame([
        {**base, "video_id": "ok", "published_at": "2024-01-01T01:10:00Z", "category": "gaming"},
        {**base, "video_id": "bad", "published_at": "2024-01-01T01:20:00Z", "category": "knitting"},
    ])  # fmt: skip
    videos["published_at"] = pd.to_datetime(videos["published_at"], utc=True)
    result = Replay(rt).run(videos, _emb(2, dim), until=datetime(2024, 1, 1, 3, tzinfo=UTC))
    assert result.videos == 1 and [r["video_id"] for r in result.rejected] == ["bad"]
    assert set(rt.store.classifications.get(["ok", "bad"])) == {"ok"}
    empty = videos.iloc[:1].assign(video_id="empty", title="", category=None, domain="gaming")
    now = datetime(2024, 1, 1, 2, tzinfo=UTC)
    assert validated(rt.cfg, empty, _emb(1, dim), now, embedding_given=False)[2][0]["video_id"] == "empty"
    assert validated(rt.cfg, empty, _emb(1, dim), now, embedding_given=True)[0]  # its own embedding: kept
    rt.store.dispose()


def test_a_stream_replayed_again_into_its_workdir_stores_nothing_twice_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by review: the second replay counted the videos again as replayed (a miscount, not a double store)."""
    dim = load_config().embedding.dim
    rows = [{"id": f"v{i}", "ts": f"2024-01-01T0{i}:30:00Z", "t": "hello", "d": "gaming",
             "emb": _emb(1, dim, i)[0].tolist()} for i in range(3)]  # fmt: skip
    src = _jsonl(tmp_path / "s.jsonl", rows)
    out = tmp_path / "summary.json"
    assert main(_replay_args(src, tmp_path, "--summary-out", str(out))) == 0
    first = json.loads(out.read_text())
    assert (first["videos"], first["already_stored"]) == (3, 0)
    more = _jsonl(tmp_path / "more.jsonl", [*rows, {**rows[0], "id": "v9", "ts": "2024-01-01T03:30:00Z"}])
    capsys.readouterr()
    assert main(_replay_args(more, tmp_path, "--summary-out", str(out))) == 0  # nothing new but one: no error
    again = json.loads(out.read_text())
    assert (again["videos"], again["already_stored"]) == (1, 3)
    assert "1 videos replayed (0 rejected, 3 stored before)" in capsys.readouterr().out
    assert Runtime(load_config(workdir=str(tmp_path / "w"))).store.count("videos") == 4
