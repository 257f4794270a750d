"""Tests of reading user video files: CSV, Parquet and JSON lines give the same frame; errors say what to change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ray_topics.streams.loader import ColumnMap, InputError, load_videos, read_table

ROWS = [
    {
        "vid": "v1",
        "ts": "2024-03-01T10:00:00Z",
        "chan": "c1",
        "title": "Speedrun world record",
        "desc": "any% in 12 minutes",
        "tags": ["games", "speedrun"],
        "dom": "gaming",
        "cat": "Gaming",
        "views": 120,
        "emb": [1.0, 0.0, 0.5],
    },
    {
        "vid": "v2",
        "ts": "2024-03-01T12:30:00+02:00",
        "chan": "c2",
        "title": "Sourdough basics",
        "desc": "",
        "tags": [],
        "dom": None,
        "cat": None,
        "views": 7,
        "emb": [0.0, 1.0, 0.0],
    },
    {
        "vid": "v3",
        "ts": "2024-03-02T00:00:00Z",
        "chan": "c1",
        "title": "Election night",
        "desc": "live results",
        "tags": ["news"],
        "dom": None,
        "cat": "politics",
        "views": None,
        "emb": [0.2, 0.2, 0.2],
    },
]

FULL = ColumnMap(
    id_col="vid",
    time_col="ts",
    channel_col="chan",
    title_col="title",
    description_col="desc",
    tags_col="tags",
    domain_col="dom",
    category_col="cat",
    views_col="views",
    embedding_col="emb",
)


def _write(tmp_path: Path, fmt: str, rows: list[dict] = ROWS) -> Path:
    df = pd.DataFrame(rows)
    if fmt == "parquet":
        p = tmp_path / "videos.parquet"
        df.to_parquet(p)
    elif fmt == "jsonl":
        p = tmp_path / "videos.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        p = tmp_path / "videos.csv"
        csv = df.copy()
        csv["tags"] = csv["tags"].map(",".join)  # tags as a comma string
        csv["emb"] = csv["emb"].map(json.dumps)  # embeddings as JSON text
        csv["views"] = csv["views"].map(lambda v: "" if v is None or pd.isna(v) else str(int(v)))
        csv["dom"] = csv["dom"].fillna("")
        csv["cat"] = csv["cat"].fillna("")
        csv.to_csv(p, index=False)
    return p


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_each_format_reads_the_known_frame(tmp_path: Path, fmt: str) -> None:
    df, emb = load_videos(_write(tmp_path, fmt), FULL)
    assert list(df.columns) == [
        "video_id",
        "published_at",
        "channel_id",
        "title",
        "description",
        "tags",
        "domain",
        "category",
        "views",
    ]
    assert df["video_id"].tolist() == ["v1", "v2", "v3"]
    assert df["published_at"].tolist() == [
        pd.Timestamp("2024-03-01T10:00:00Z"),
        pd.Timestamp("2024-03-01T10:30:00Z"),  # +02:00 converted to UTC
        pd.Timestamp("2024-03-02T00:00:00Z"),
    ]
    assert str(df["published_at"].dt.tz) == "UTC"
    assert df["channel_id"].tolist() == ["c1", "c2", "c1"]
    assert df["title"].tolist() == ["Speedrun world record", "Sourdough basics", "Election night"]
    assert df["description"].tolist() == ["any% in 12 minutes", "", "live results"]
    assert df["tags"].tolist() == [["games", "speedrun"], [], ["news"]]
    assert df["domain"].tolist() == ["gaming", None, None]
    assert df["category"].tolist() == ["Gaming", None, "politics"]
    assert df["views"].tolist()[:2] == [120, 7] and pd.isna(df["views"].iloc[2])
    assert emb is not None and emb.dtype == np.float32
    np.testing.assert_array_equal(emb, np.array([r["emb"] for r in ROWS], dtype=np.float32))


def test_all_formats_agree(tmp_path: Path) -> None:
    frames = []
    for fmt in ("csv", "parquet", "jsonl"):
        sub = tmp_path / fmt
        sub.mkdir()
        frames.append(load_videos(_write(sub, fmt), FULL))
    (csv, e0), (parquet, e1), (jsonl, e2) = frames
    for other in (parquet, jsonl):
        assert csv.astype(object).where(csv.notna(), None).to_dict("list") == other.astype(object).where(
            other.notna(), None
        ).to_dict("list")
    np.testing.assert_array_equal(e0, e1)
    np.testing.assert_array_equal(e0, e2)


def test_text_col_fills_title(tmp_path: Path) -> None:
    p = tmp_path / "v.csv"
    p.write_text("id,body,when\n1,hello world,2024-01-01T00:00:00Z\n2,second,2024-01-01T01:00:00Z\n")
    df, emb = load_videos(p, ColumnMap(id_col="id", time_col="when", channel_col=None, text_col="body"))
    assert df["title"].tolist() == ["hello world", "second"]
    assert df["description"].tolist() == ["", ""]
    assert df["channel_id"].tolist() == ["unknown", "unknown"]
    assert df["tags"].tolist() == [[], []]
    assert df["domain"].tolist() == [None, None] and df["category"].tolist() == [None, None]
    assert emb is None


def test_title_and_description_columns(tmp_path: Path) -> None:
    p = tmp_path / "v.csv"
    p.write_text("video_id,published_at,channel_id,t,d,body\nv1,2024-01-01T00:00:00Z,c,Title,Desc,Body\n")
    df, _ = load_videos(p, ColumnMap(title_col="t", description_col="d", text_col="body"))
    assert (df.loc[0, "title"], df.loc[0, "description"]) == ("Title", "Desc")  # title_col wins over text_col
    df, _ = load_videos(p, ColumnMap(description_col="d"))
    assert (df.loc[0, "title"], df.loc[0, "description"]) == ("", "Desc")


def test_tags_separators(tmp_path: Path) -> None:
    p = tmp_path / "v.csv"
    p.write_text(
        "video_id,published_at,channel_id,title,tags\n"
        'v1,2024-01-01T00:00:00Z,c,x," a , b ,,c"\n'
        "v2,2024-01-01T00:00:00Z,c,x,a|b\n"
        "v3,2024-01-01T00:00:00Z,c,x,\n"
    )
    df, _ = load_videos(p, ColumnMap(title_col="title", tags_col="tags"))
    assert df["tags"].tolist() == [["a", "b", "c"], ["a", "b"], []]


def test_integer_ids_become_strings(tmp_path: Path) -> None:
    p = tmp_path / "v.jsonl"
    p.write_text(
        '{"video_id": 7, "published_at": "2024-01-01T00:00:00Z", "channel_id": "c", "title": "a"}\n'
        '{"video_id": 8, "published_at": "2024-01-01T00:00:00Z", "channel_id": "c", "title": "b"}\n'
    )
    df, _ = load_videos(p, ColumnMap(title_col="title"))
    assert df["video_id"].tolist() == ["7", "8"]


def test_embedding_only_input(tmp_path: Path) -> None:
    p = tmp_path / "v.parquet"
    pd.DataFrame(
        {
            "video_id": ["a", "b"],
            "published_at": ["2024-01-01T00:00:00Z"] * 2,
            "channel_id": ["c", "c"],
            "vec": [np.array([1.0, 2.0], np.float32), np.array([3.0, 4.0], np.float32)],
        }
    ).to_parquet(p)
    df, emb = load_videos(p, ColumnMap(embedding_col="vec"))
    np.testing.assert_array_equal(emb, [[1.0, 2.0], [3.0, 4.0]])
    assert df["title"].tolist() == ["", ""]


# ---------------------------------------------------------------- errors


def _csv(tmp_path: Path, body: str, name: str = "v.csv") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


GOOD_CSV = "video_id,published_at,channel_id,text\nv1,2024-01-01T00:00:00Z,c,hello\n"


@pytest.mark.parametrize(
    ("cols", "flag"),
    [
        (ColumnMap(text_col="body"), "--text-col 'body'"),
        (ColumnMap(id_col="id", text_col="text"), "--id-col 'id'"),
        (ColumnMap(time_col="when", text_col="text"), "--time-col 'when'"),
        (ColumnMap(text_col="text", tags_col="labels"), "--tags-col 'labels'"),
        (ColumnMap(text_col="text", embedding_col="vec"), "--embedding-col 'vec'"),
    ],
)
def test_missing_column_names_flag_and_lists_columns(tmp_path: Path, cols: ColumnMap, flag: str) -> None:
    with pytest.raises(InputError) as info:
        load_videos(_csv(tmp_path, GOOD_CSV), cols)
    msg = str(info.value)
    assert flag in msg
    assert "columns are: video_id, published_at, channel_id, text" in msg


def test_no_text_nor_embedding(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--text-col"):
        load_videos(_csv(tmp_path, GOOD_CSV), ColumnMap())


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-45T00:00:00Z", ""])
def test_unparseable_timestamps(tmp_path: Path, bad: str) -> None:
    body = GOOD_CSV + f"v2,{bad},c,bye\n"
    with pytest.raises(InputError, match=r"column 'published_at' has .*timestamps"):
        load_videos(_csv(tmp_path, body), ColumnMap(text_col="text"))


def test_empty_file(tmp_path: Path) -> None:
    for name in ("v.csv", "v.jsonl", "v.parquet"):
        with pytest.raises(InputError, match="is empty"):
            load_videos(_csv(tmp_path, "", name), ColumnMap(text_col="text"))


def test_header_only(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no rows"):
        load_videos(_csv(tmp_path, "video_id,published_at,channel_id,text\n"), ColumnMap(text_col="text"))


def test_empty_parquet(tmp_path: Path) -> None:
    p = tmp_path / "v.parquet"
    pd.DataFrame({"video_id": pd.Series([], dtype=str)}).to_parquet(p)
    with pytest.raises(InputError, match="holds no rows"):
        load_videos(p, ColumnMap(text_col="text"))


def test_duplicate_ids(tmp_path: Path) -> None:
    body = GOOD_CSV + "v1,2024-01-02T00:00:00Z,c,again\n"
    with pytest.raises(InputError, match=r"duplicate video ids .*'v1'"):
        load_videos(_csv(tmp_path, body), ColumnMap(text_col="text"))


def test_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unknown input format '\.xlsx': use \.csv, \.parquet or \.jsonl"):
        load_videos(_csv(tmp_path, GOOD_CSV, "v.xlsx"), ColumnMap(text_col="text"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_table(tmp_path / "nope.csv")


def test_corrupt_parquet(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_table(_csv(tmp_path, "this is not parquet", "v.parquet"))


def test_ragged_embeddings(tmp_path: Path) -> None:
    p = tmp_path / "v.jsonl"
    p.write_text(
        '{"video_id": "a", "published_at": "2024-01-01T00:00:00Z", "channel_id": "c", "e": [1, 2]}\n'
        '{"video_id": "b", "published_at": "2024-01-01T00:00:00Z", "channel_id": "c", "e": [1, 2, 3]}\n'
    )
    with pytest.raises(InputError, match="column 'e' must hold equal-length lists of numbers"):
        load_videos(p, ColumnMap(embedding_col="e"))
