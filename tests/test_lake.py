"""Tests of the Parquet embedding lake: round trips, partition pruning, windows and idempotent appends."""

from __future__ import annotations

import sys
import types
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from ray_topics.execution.engine import lake_dataset
from ray_topics.storage.lake import Lake, LakeChanged
from ray_topics.storage.lake_format import embedding_schema

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
    ds = lake_dataset(lake, datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))
    assert ds == ("items", [])
    assert fake_ray.calls == [("from_items", [])]


def test_ray_dataset_reads_only_pruned_files(lake: Lake, fake_ray: _FakeRayData) -> None:
    _populate(lake)
    start, end = datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC)
    ds = lake_dataset(lake, start, end, domains=["news"])
    assert ds == ("parquet", lake.files(start, end, ["news"]))
    assert len(ds[1]) == 2


# ---------------------------------------------------------------------------------------------- day compaction

D1 = date(2024, 3, 1)


def _day_rows(lake: Lake, domains: tuple[str, ...] = ("gaming", "news")) -> dict[str, dict[str, Any]]:
    """Hour files for hours 0, 7 and 23 of 2024-03-01 (and one hour of the next day); returns rows by id."""
    out = {}
    for n, dom in enumerate(domains):
        for hour in (0, 7, 23):
            start = datetime(2024, 3, 1, hour, tzinfo=UTC)
            rows = _rows(f"{dom}-{hour}-", start, 3, seed=10 * n + hour, step=timedelta(minutes=19))
            lake.write_hour(dom, start, rows)
            out.update({r["video_id"]: r for r in rows})
    lake.write_hour("gaming", datetime(2024, 3, 2, 1, tzinfo=UTC), _rows("next-", datetime(2024, 3, 2, 1), 2))
    return out


def _assert_reads_each_row_once(lake: Lake, rows: dict[str, dict[str, Any]]) -> None:
    got = _by_id(*lake.read(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)))  # asserts no dups
    assert set(got) == set(rows)
    for vid, r in rows.items():
        np.testing.assert_array_equal(got[vid], r["vector"])


def _names(lake: Lake, day: date, domain: str) -> list[str]:
    folder = Path(lake.base) / "embeddings" / f"day={day.isoformat()}" / f"domain={domain}"
    return sorted(p.name for p in folder.iterdir())


def test_compact_day_rewrites_hour_files_into_one_file_with_every_row_once(lake: Lake) -> None:
    rows = _day_rows(lake)
    assert len(lake.files(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC))) == 6
    path = lake.compact_day("gaming", D1)
    assert path is not None and path.endswith("embeddings/day=2024-03-01/domain=gaming/day.parquet")
    assert _names(lake, D1, "gaming") == ["day.parquet"]
    assert _names(lake, D1, "news") == ["hour=00.parquet", "hour=07.parquet", "hour=23.parquet"]  # untouched
    _assert_reads_each_row_once(lake, rows)
    # schema, metadata and order (published_at, video_id) of the day file
    table = pq.read_table(path)
    assert table.schema.equals(embedding_schema(DIM))
    recs = table.to_pylist()
    gaming = [v for v in rows if v.startswith("gaming")]
    assert [r["video_id"] for r in recs] == sorted(gaming, key=lambda v: (rows[v]["published_at"], v))
    for r in recs:
        src = rows[r["video_id"]]
        assert (r["channel_id"], r["views"], r["domain"]) == (src["channel_id"], src["views"], "gaming")
        assert r["published_at"] == src["published_at"]
    # windows inside the day still see only their rows; the next day is not touched
    ids, _ = lake.read(datetime(2024, 3, 1, 7, tzinfo=UTC), datetime(2024, 3, 1, 8, tzinfo=UTC), ["gaming"])
    assert sorted(ids) == ["gaming-7-0", "gaming-7-1", "gaming-7-2"]
    assert _names(lake, date(2024, 3, 2), "gaming") == ["hour=01.parquet"]


def test_compact_day_is_idempotent(lake: Lake) -> None:
    rows = _day_rows(lake)
    first = lake.compact_day("gaming", D1)
    stamp = Path(first).stat().st_mtime_ns
    assert lake.compact_day("gaming", D1) == first
    assert Path(first).stat().st_mtime_ns == stamp  # nothing rewritten
    assert _names(lake, D1, "gaming") == ["day.parquet"]
    _assert_reads_each_row_once(lake, rows)
    assert lake.compact_day("cooking", D1) is None  # an empty partition
    assert lake.compact_days([D1]) == [f"{lake.base}/embeddings/day=2024-03-01/domain=news/day.parquet"]
    assert lake.compact_days([D1]) == []
    _assert_reads_each_row_once(lake, rows)


def test_compact_days_takes_only_the_days_and_domains_asked(lake: Lake) -> None:
    _day_rows(lake)
    assert lake.compact_days([D1], domains=["news"]) == [
        f"{lake.base}/embeddings/day=2024-03-01/domain=news/day.parquet"
    ]
    assert _names(lake, D1, "gaming")[0] == "hour=00.parquet"
    assert lake.compact_days([date(2024, 2, 1)]) == []  # no such day
    assert len(lake.compact_days([D1, date(2024, 3, 2)])) == 2  # gaming of both days
    all_files = lake.files(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC))
    assert [f.split("embeddings/")[1] for f in all_files] == [
        "day=2024-03-01/domain=gaming/day.parquet",
        "day=2024-03-01/domain=news/day.parquet",
        "day=2024-03-02/domain=gaming/day.parquet",
    ]


@pytest.mark.parametrize("left", [3, 1])
def test_a_crash_after_the_day_file_is_read_without_duplicates_and_repaired(lake: Lake, left: int) -> None:
    """Crash between writing day.parquet and removing the hour files (all of them left, or some)."""
    rows = _day_rows(lake)
    folder = Path(lake.base) / "embeddings" / "day=2024-03-01" / "domain=gaming"
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    lake.compact_day("gaming", D1)
    for name in sorted(saved)[:left]:  # the state a crash leaves: new file written, hour files still there
        (folder / name).write_bytes(saved[name])
    (folder / "day.parquet.tmp").write_bytes(b"a torn temporary file")  # and a torn rewrite is ignored
    listed = lake.files(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC), ["gaming"])
    assert [f.split("/")[-1] for f in listed] == ["day.parquet"]
    _assert_reads_each_row_once(lake, rows)
    # compacting again (the next refine run) removes the leftovers without rewriting the day file
    stamp = (folder / "day.parquet").stat().st_mtime_ns
    assert lake.compact_days([D1], ["gaming"]) == [str(folder / "day.parquet")]
    assert _names(lake, D1, "gaming") == ["day.parquet", "day.parquet.tmp"]
    assert (folder / "day.parquet").stat().st_mtime_ns == stamp
    _assert_reads_each_row_once(lake, rows)


def test_a_crash_while_writing_the_day_file_leaves_the_hour_files_in_charge(lake: Lake) -> None:
    rows = _day_rows(lake)
    folder = Path(lake.base) / "embeddings" / "day=2024-03-01" / "domain=gaming"
    (folder / "day.parquet.tmp").write_bytes(b"half a parquet file")
    _assert_reads_each_row_once(lake, rows)
    lake.compact_day("gaming", D1)  # overwrites the torn temporary file
    assert _names(lake, D1, "gaming") == ["day.parquet"]
    _assert_reads_each_row_once(lake, rows)


class _RacingLake(Lake):
    """A lake whose first listing is taken just before a day compaction of 2024-03-01 runs."""

    def __init__(self, root: str, dim: int) -> None:
        super().__init__(root, dim)
        self.calls = 0

    def files(self, start: datetime, end: datetime, domains: Any = None) -> list[str]:
        self.calls += 1
        listed = super().files(start, end, domains)
        if self.calls == 1:
            self.compact_days([D1])
        return listed


def test_a_reader_that_listed_hour_files_before_a_compaction_lists_again(tmp_path: Path) -> None:
    lake = _RacingLake(str(tmp_path / "lake"), DIM)
    rows = _day_rows(lake)
    _assert_reads_each_row_once(lake, rows)  # the hour files it listed were gone when it opened them
    assert lake.calls == 3  # the stale listing, a new one, and the one confirming it


@pytest.mark.parametrize("seen", ["hour=23", "nothing"])
def test_a_listing_that_missed_files_is_caught_by_the_second_listing(
    lake: Lake, monkeypatch: pytest.MonkeyPatch, seen: str
) -> None:
    """A listing taken during a rename and deletions may miss the new day file and some hour files."""
    rows = _day_rows(lake)
    real = Lake.files
    calls: list[list[str]] = []

    def files(self: Lake, start: datetime, end: datetime, domains: Any = None) -> list[str]:
        got = real(self, start, end, domains)
        calls.append(got)
        return [f for f in got if seen in f] if len(calls) == 1 else got

    monkeypatch.setattr(Lake, "files", files)
    _assert_reads_each_row_once(lake, rows)
    assert len(calls) == 4  # partial (read, then found to differ), full, full


def test_a_lake_that_never_settles_raises(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    _day_rows(lake)
    real = Lake.files
    n = iter(range(100))

    def files(self: Lake, start: datetime, end: datetime, domains: Any = None) -> list[str]:
        got = real(self, start, end, domains)
        return got[: 1 + next(n) % len(got)]  # a different listing every time

    monkeypatch.setattr(Lake, "files", files)
    with pytest.raises(LakeChanged, match="kept changing"):
        lake.read(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC))


def test_late_arrivals_after_compaction_go_into_the_day_file(lake: Lake) -> None:
    rows = _day_rows(lake)
    lake.compact_days([D1])
    late = _rows("late-", datetime(2024, 3, 1, 7, 30, tzinfo=UTC), 2, seed=99)
    path = lake.append_hour("gaming", datetime(2024, 3, 1, 7, tzinfo=UTC), late)
    assert path.endswith("day=2024-03-01/domain=gaming/day.parquet")
    assert _names(lake, D1, "gaming") == ["day.parquet"]
    lake.append_hour("gaming", datetime(2024, 3, 1, 7, tzinfo=UTC), late)  # a retry: idempotent by video_id
    rows.update({r["video_id"]: r for r in late})
    _assert_reads_each_row_once(lake, rows)
    # write_hour replaces that hour's rows inside the day file, and only that hour's
    new7 = _rows("new7-", datetime(2024, 3, 1, 7, tzinfo=UTC), 1, seed=5)
    lake.write_hour("gaming", datetime(2024, 3, 1, 7, tzinfo=UTC), new7)
    for vid in ["gaming-7-0", "gaming-7-1", "gaming-7-2", "late-0", "late-1"]:
        del rows[vid]
    rows["new7-0"] = new7[0]
    _assert_reads_each_row_once(lake, rows)
    assert _names(lake, D1, "gaming") == ["day.parquet"]


def test_ray_dataset_reads_the_day_file(lake: Lake, fake_ray: _FakeRayData) -> None:
    _day_rows(lake)
    lake.compact_days([D1])
    ds = lake_dataset(lake, datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC), domains=["news"])
    assert ds == ("parquet", [f"{lake.base}/embeddings/day=2024-03-01/domain=news/day.parquet"])


def test_read_filters_ids_and_window_across_row_groups(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan filter keeps exactly the asked ids inside the window, whatever row group they sit in."""
    monkeypatch.setattr("ray_topics.storage.lake_format.ROW_GROUP", 8)  # files written in groups of 8
    monkeypatch.setattr("ray_topics.storage.lake.ROW_GROUP", 8)  # scanned in batches of 8
    rows = _rows("v", H.replace(hour=0), 60, step=timedelta(minutes=20))  # one day, 60 rows, 8 row groups
    lake.write_hour("news", H.replace(hour=0), rows)
    path = lake.compact_day("news", H.date())
    assert pq.ParquetFile(path).metadata.num_row_groups == 8
    wanted = {f"v{i}" for i in range(0, 60, 7)} | {"not-stored"}
    start, end = H.replace(hour=3), H.replace(hour=15)  # rows 9..44
    ids, vecs = lake.read(start, end, ["news"], video_ids=wanted)
    got = _by_id(ids, vecs)
    expect = {r["video_id"]: r["vector"] for r in rows if r["video_id"] in wanted and start <= r["published_at"] < end}
    assert set(got) == set(expect) == {"v14", "v21", "v28", "v35", "v42"}
    for vid, vec in expect.items():
        np.testing.assert_array_equal(got[vid], vec)


def test_a_lake_file_is_on_disk_before_its_name_points_at_it(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from ray_topics.storage import atomic

    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    path = lake.write_hour("news", H, _rows("f", H, 3))
    # the temporary file while it still had that name (before the rename), then its folder
    assert synced == [path + ".tmp", path.rsplit("/", 1)[0]]


def test_late_videos_of_many_hours_rewrite_a_compacted_day_once(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by review: refine's compaction appended late videos hour by hour, and each hour read the whole day
    file (as Python objects) and rewrote it: late videos in six hours of yesterday cost six rewrites of it.
    ``append_day`` merges them into it once; an open day takes them in their hours' files."""
    rows = _day_rows(lake)
    lake.compact_days([D1])
    late = [r for h in range(0, 24, 4) for r in _rows(f"late{h}-", datetime(2024, 3, 1, h, 30, tzinfo=UTC), 1, seed=h)]
    written: list[str] = []
    put = Lake._put
    monkeypatch.setattr(Lake, "_put", lambda self, path, table: written.append(path) or put(self, path, table))
    assert lake.append_day("gaming", D1, late) == written and len(written) == 1
    assert written[0].endswith("day=2024-03-01/domain=gaming/day.parquet")
    lake.append_day("gaming", D1, late[:2])  # a retry: idempotent by video_id
    rows.update({r["video_id"]: r for r in late})
    _assert_reads_each_row_once(lake, rows)
    table = lake.partition_table("gaming", D1)
    order = list(zip(table.column("published_at").to_pylist(), table.column("video_id").to_pylist(), strict=True))
    assert order == sorted(order)  # the day file stays in (published_at, video_id) order
    written.clear()
    d2 = datetime(2024, 3, 5, tzinfo=UTC)  # an open day: each late video into its hour's file
    assert len(lake.append_day("gaming", d2.date(), _rows("open-", d2, 3, step=timedelta(hours=2)))) == 3
    assert _names(lake, d2.date(), "gaming") == ["hour=00.parquet", "hour=02.parquet", "hour=04.parquet"]
