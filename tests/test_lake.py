"""Tests of the Parquet embedding lake: round trips, partition pruning, windows and idempotent appends."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from ray_topics.lake import Lake, embedding_schema

DIM = 4
H = datetime(2024, 3, 1, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _rows(prefix: str, start: datetime, n: int, seed: int = 0, step: timedelta = timedelta(minutes=7)) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "video_id": f"{prefix}{i}",
            "published_at": start + i * step,
            "channel_id": f"c{i % 2}",
            "views": i * 10,
            "vector": rng.standard_normal(DIM).astype(np.float32),
        }
        for i in range(n)
    ]


def _by_id(ids: list[str], vecs: np.ndarray) -> dict[str, np.ndarray]:
    assert len(ids) == len(set(ids)) == vecs.shape[0]
    return dict(zip(ids, vecs, strict=True))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"), DIM)


def test_write_and_read_round_trip(lake: Lake) -> None:
    rows = _rows("v", H, 5)
    path = lake.write_hour("gaming", H, rows)
    assert path.endswith("embeddings/day=2024-03-01/domain=gaming/hour=10.parquet")
    ids, vecs = lake.read(H, H + HOUR)
    assert vecs.dtype == np.float32 and vecs.shape == (5, DIM)
    got = _by_id(ids, vecs)
    assert set(got) == {r["video_id"] for r in rows}
    for r in rows:
        np.testing.assert_array_equal(got[r["video_id"]], r["vector"])


def test_file_schema_and_metadata(lake: Lake) -> None:
    rows = _rows("v", H, 3)
    path = lake.write_hour("gaming", H, rows)
    table = pq.read_table(path)
    assert table.schema.equals(embedding_schema(DIM))
    recs = table.to_pylist()
    assert [r["video_id"] for r in recs] == ["v0", "v1", "v2"]
    assert [r["channel_id"] for r in recs] == ["c0", "c1", "c0"]
    assert [r["views"] for r in recs] == [0, 10, 20]
    assert {r["domain"] for r in recs} == {"gaming"}
    assert [r["published_at"] for r in recs] == [r["published_at"] for r in rows]


def test_hour_partition_is_utc(lake: Lake) -> None:
    # 01:30 at +02:00 is 23:30 UTC the day before
    local = datetime(2024, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    path = lake.write_hour("news", local, _rows("v", local, 1))
    assert path.endswith("day=2024-03-01/domain=news/hour=23.parquet")


def test_append_hour_creates_then_adds(lake: Lake) -> None:
    first = _rows("a", H, 3, seed=1)
    lake.append_hour("gaming", H, first)  # no file yet: creates it
    late = _rows("late", H + timedelta(minutes=5), 2, seed=2)
    lake.append_hour("gaming", H, late)
    got = _by_id(*lake.read(H, H + HOUR))
    assert set(got) == {"a0", "a1", "a2", "late0", "late1"}
    for r in first + late:
        np.testing.assert_array_equal(got[r["video_id"]], r["vector"])
    # metadata of the earlier rows survives the rewrite
    recs = {r["video_id"]: r for r in pq.read_table(lake.files(H, H + HOUR)[0]).to_pylist()}
    assert recs["a1"]["channel_id"] == "c1" and recs["a1"]["views"] == 10


def test_append_hour_is_idempotent(lake: Lake) -> None:
    rows = _rows("v", H, 4)
    lake.append_hour("gaming", H, rows)
    lake.append_hour("gaming", H, rows)
    ids, _ = lake.read(H, H + HOUR)
    assert sorted(ids) == ["v0", "v1", "v2", "v3"]
    # a re-sent row replaces its earlier copy instead of duplicating it
    changed = [{**rows[1], "vector": np.full(DIM, 7.0, np.float32)}]
    lake.append_hour("gaming", H, changed)
    got = _by_id(*lake.read(H, H + HOUR))
    assert sorted(got) == ["v0", "v1", "v2", "v3"]
    np.testing.assert_array_equal(got["v1"], np.full(DIM, 7.0))
    np.testing.assert_array_equal(got["v0"], rows[0]["vector"])


def test_write_hour_twice_replaces(lake: Lake) -> None:
    lake.write_hour("gaming", H, _rows("old", H, 3))
    lake.write_hour("gaming", H, _rows("new", H, 2))
    ids, _ = lake.read(H, H + HOUR)
    assert sorted(ids) == ["new0", "new1"]
    assert len(lake.files(H, H + HOUR)) == 1


def _populate(lake: Lake) -> None:
    for d in range(3):  # 2024-03-01 .. 2024-03-03
        for dom in ("gaming", "news"):
            for hour in (3, 15):
                start = datetime(2024, 3, 1 + d, hour, tzinfo=UTC)
                lake.write_hour(dom, start, _rows(f"{dom}-{d}-{hour}-", start, 2, step=timedelta(minutes=20)))


def _parts(files: list[str]) -> set[tuple[str, str, str]]:
    out = set()
    for f in files:
        day, dom, hour = f.split("/")[-3:]
        out.add((day.removeprefix("day="), dom.removeprefix("domain="), hour.removesuffix(".parquet")))
    return out


def test_files_prunes_by_day_and_domain(lake: Lake) -> None:
    _populate(lake)
    all_files = lake.files(datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))
    assert len(all_files) == 12
    one_day = lake.files(datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC))
    assert _parts(one_day) == {("2024-03-02", d, f"hour={h}") for d in ("gaming", "news") for h in ("03", "15")}
    news = lake.files(datetime(2024, 3, 2, 12, tzinfo=UTC), datetime(2024, 3, 3, 1, tzinfo=UTC), domains=["news"])
    assert _parts(news) == {("2024-03-02", "news", f"hour={h}") for h in ("03", "15")} | {
        ("2024-03-03", "news", f"hour={h}") for h in ("03", "15")
    }
    assert lake.files(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 4, tzinfo=UTC), domains=["cooking"]) == []
    assert lake.files(datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)) == []
    # an end exactly at midnight does not touch the next day
    assert {p[0] for p in _parts(lake.files(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)))} == {
        "2024-03-01"
    }


def test_read_excludes_rows_outside_window(lake: Lake) -> None:
    _populate(lake)
    # rows at 15:00 and 15:20 of 2024-03-02 (gaming and news); the 03:xx rows of that day are in a read file
    ids, vecs = lake.read(datetime(2024, 3, 2, 15, tzinfo=UTC), datetime(2024, 3, 2, 15, 21, tzinfo=UTC))
    assert sorted(ids) == ["gaming-1-15-0", "gaming-1-15-1", "news-1-15-0", "news-1-15-1"]
    assert vecs.shape == (4, DIM)
    # end is exclusive
    ids, _ = lake.read(datetime(2024, 3, 2, 15, tzinfo=UTC), datetime(2024, 3, 2, 15, 20, tzinfo=UTC), ["gaming"])
    assert ids == ["gaming-1-15-0"]


def test_read_with_offset_and_naive_bounds(lake: Lake) -> None:
    _populate(lake)
    plus2 = timezone(timedelta(hours=2))
    a = lake.read(datetime(2024, 3, 2, 17, tzinfo=plus2), datetime(2024, 3, 2, 17, 21, tzinfo=plus2), ["news"])[0]
    b = lake.read(datetime(2024, 3, 2, 15), datetime(2024, 3, 2, 15, 21), ["news"])[0]  # naive = UTC
    assert sorted(a) == sorted(b) == ["news-1-15-0", "news-1-15-1"]


def test_read_filters_video_ids(lake: Lake) -> None:
    rows = _rows("v", H, 5)
    lake.write_hour("gaming", H, rows)
    ids, vecs = lake.read(H, H + HOUR, video_ids=["v3", "v1", "missing"])
    got = _by_id(ids, vecs)
    assert sorted(got) == ["v1", "v3"]
    np.testing.assert_array_equal(got["v3"], rows[3]["vector"])


def test_read_empty_window(lake: Lake) -> None:
    ids, vecs = lake.read(H, H + HOUR)
    assert ids == [] and vecs.shape == (0, DIM) and vecs.dtype == np.float32
    lake.write_hour("gaming", H, _rows("v", H, 2))
    ids, vecs = lake.read(H + 2 * HOUR, H + 3 * HOUR)  # same day's file, no row in the window
    assert ids == [] and vecs.shape == (0, DIM)


class _FakeRayData(types.ModuleType):
    """Stands in for ``ray.data`` so the lake's Ray entry point is checked without starting Ray."""

    def __init__(self) -> None:
        super().__init__("ray.data")
        self.calls: list[tuple[str, Any]] = []

    def from_items(self, items: list) -> tuple[str, list]:
        self.calls.append(("from_items", list(items)))
        return ("items", list(items))

    def read_parquet(self, files: list[str], filesystem: Any = None) -> tuple[str, list[str]]:
        self.calls.append(("read_parquet", list(files)))
        return ("parquet", list(files))


@pytest.fixture
def fake_ray(monkeypatch: pytest.MonkeyPatch) -> _FakeRayData:
    data = _FakeRayData()
    ray = types.ModuleType("ray")
    ray.data = data  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setitem(sys.modules, "ray.data", data)
    return data


def test_ray_dataset_empty_window(lake: Lake, fake_ray: _FakeRayData) -> None:
    _populate(lake)
    ds = lake.ray_dataset(datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))
    assert ds == ("items", [])
    assert fake_ray.calls == [("from_items", [])]


def test_ray_dataset_reads_only_pruned_files(lake: Lake, fake_ray: _FakeRayData) -> None:
    _populate(lake)
    start, end = datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC)
    ds = lake.ray_dataset(start, end, domains=["news"])
    assert ds == ("parquet", lake.files(start, end, ["news"]))
    assert len(ds[1]) == 2
