"""Read a user's video file (CSV, Parquet, JSON lines) into the replay's frame.

Example:
    >>> import io, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "v.csv")
    >>> _ = open(p, "w").write("id,text,ts,ch\\n1,hello world,2026-01-01T00:00:00Z,c1\\n")
    >>> df, emb = load_videos(p, ColumnMap(id_col="id", text_col="text", time_col="ts", channel_col="ch"))
    >>> df.loc[0, "title"], emb is None
    ('hello world', True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ColumnMap", "InputError", "load_videos", "read_table"]


# a time with its zone at the end: Z, an offset (+02:00, -0500) or UTC/GMT ("2024-01-01" names no zone)
_ZONE = r"\d:\d\d(?::\d\d)?(?:[.,]\d+)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?|UTC|GMT)$"


class InputError(ValueError):
    """The input file cannot be replayed; the message says what to change."""


@dataclass
class ColumnMap:
    """Which input column holds each field (None = absent)."""

    id_col: str = "video_id"
    time_col: str = "published_at"
    channel_col: str | None = "channel_id"
    text_col: str | None = None
    title_col: str | None = None
    description_col: str | None = None
    tags_col: str | None = None
    domain_col: str | None = None
    category_col: str | None = None
    views_col: str | None = None
    embedding_col: str | None = None
    naive_utc: bool = False  # timestamps without a zone are UTC (else refused, as the HTTP API refuses them)


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV, Parquet or JSON lines, by extension (.csv, .parquet/.pq, .jsonl/.ndjson/.json)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"input file not found: {p}")
    if p.stat().st_size == 0:
        raise InputError(f"input file {p} is empty")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        elif suffix in (".jsonl", ".ndjson", ".json"):
            df = pd.read_json(p, lines=True, dtype=False)
        elif suffix in (".csv", ".tsv"):
            df = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
        else:
            raise InputError(f"unknown input format {suffix!r}: use .csv, .parquet or .jsonl")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {p}: {exc}") from exc
    if df.empty:
        raise InputError(f"input file {p} holds no rows")
    return df


def load_videos(path: str | Path, cols: ColumnMap) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The replay frame (video columns) and the embeddings when ``embedding_col`` is given.

    Raises:
        InputError: missing columns, unparseable timestamps, empty file, bad embeddings.
    """
    raw = read_table(path)
    wanted = {k: v for k, v in vars(cols).items() if v and k.endswith("_col")}
    missing = [f"--{k.replace('_col', '').replace('_', '-')}-col {v!r}" for k, v in wanted.items() if v not in raw]
    if missing:
        raise InputError(f"column(s) not in {path}: {', '.join(missing)}; columns are: {', '.join(map(str, raw))}")
    if not (cols.text_col or cols.title_col or cols.description_col or cols.embedding_col):
        raise InputError("name the text (--text-col, or --title-col/--description-col) or --embedding-col")
    out = pd.DataFrame({"video_id": _ids(raw[cols.id_col], cols.id_col)})
    if pd.api.types.is_numeric_dtype(raw[cols.time_col]):
        raise InputError(
            f"column {cols.time_col!r} holds numbers; write timestamps as ISO 8601 (e.g. 2026-01-31T12:00:00Z)"
        )
    try:
        out["published_at"] = pd.to_datetime(raw[cols.time_col], utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise InputError(f"column {cols.time_col!r} has timestamps that cannot be parsed: {exc}") from exc
    if out["published_at"].isna().any():
        bad = raw.loc[out["published_at"].isna(), cols.time_col].iloc[0]
        raise InputError(f"column {cols.time_col!r} has empty or unparseable timestamps (e.g. {bad!r})")
    if not cols.naive_utc:
        naive = _naive_example(raw[cols.time_col])
        if naive is not None:
            raise InputError(
                f"column {cols.time_col!r} has timestamps without a zone (e.g. {naive!r}): write the offset "
                "(2026-01-31T12:00:00Z), or pass --naive-utc if they are UTC"
            )
    out["channel_id"] = raw[cols.channel_col].astype(str) if cols.channel_col else "unknown"
    text = lambda c: raw[c].fillna("").astype(str) if c else pd.Series("", index=raw.index)  # noqa: E731
    out["title"] = text(cols.title_col or cols.text_col)
    out["description"] = text(cols.description_col)
    out["tags"] = raw[cols.tags_col].map(_tags) if cols.tags_col else [[] for _ in range(len(raw))]
    # a missing domain or category is None in every format (CSV gives '', JSON null and Parquet None give NaN)
    out["domain"] = _optional(raw[cols.domain_col]) if cols.domain_col else None
    out["category"] = _optional(raw[cols.category_col]) if cols.category_col else None
    out["views"] = _views(raw[cols.views_col], cols.views_col) if cols.views_col else pd.NA
    emb = None
    if cols.embedding_col:
        try:
            emb = np.stack([np.asarray(_vector(v), dtype=np.float32) for v in raw[cols.embedding_col]])
        except (ValueError, TypeError) as exc:
            raise InputError(f"column {cols.embedding_col!r} must hold equal-length lists of numbers: {exc}") from exc
    dup = out["video_id"].duplicated()
    if dup.any():
        raise InputError(
            f"duplicate video ids in {path} (e.g. {out.loc[dup, 'video_id'].iloc[0]!r}); ids must be unique"
        )
    return out, emb


def _ids(col: pd.Series, name: str) -> pd.Series:
    """Video ids as text: a missing one refused; whole numbers a null made floats (``1.0``) written as ints."""
    if col.isna().any():
        raise InputError(f"column {name!r} (--id-col) has empty ids (row {int(col.isna().to_numpy().argmax())})")
    if pd.api.types.is_float_dtype(col) and (col == col.round()).all():
        col = col.astype("int64")
    return col.astype(str)


def _naive_example(col: pd.Series) -> Any:
    """A timestamp of ``col`` that names no zone, or None (a typed column says it whole; text by its ending)."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return None
    if pd.api.types.is_datetime64_dtype(col):
        return str(col.iloc[0])
    zoned = col.map(lambda v: getattr(v, "tzinfo", None) is not None if not isinstance(v, str) else True)
    text = col[col.map(lambda v: isinstance(v, str))].str.strip()
    zoned[text.index] = text.str.contains(_ZONE, regex=True)
    return None if zoned.all() else col[~zoned.astype(bool)].iloc[0]


def _views(col: pd.Series, name: str) -> pd.Series:
    """View counts (whole, missing allowed), or an error naming the column and a value that is none."""
    col = col.map(lambda v: None if isinstance(v, str) and not v.strip() else v)  # an empty CSV cell: missing
    num = pd.to_numeric(col, errors="coerce")
    bad = (num.isna() & col.notna()) | (num.notna() & (num != num.round()))
    if bad.any():
        raise InputError(f"column {name!r} (--views-col) holds a value that is no whole number: {col[bad].iloc[0]!r}")
    return num.astype("Int64")


def _optional(col: pd.Series) -> pd.Series:
    """Strings, with empty cells and missing values as None."""
    vals = [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v).strip() or None for v in col]
    return pd.Series(vals, index=col.index, dtype=object)


def _tags(v: object) -> list[str]:
    if isinstance(v, (list, tuple, np.ndarray)):
        return [str(x) for x in v]
    if isinstance(v, str) and v.strip():
        return [t.strip() for t in v.replace("|", ",").split(",") if t.strip()]
    return []


def _vector(v: object) -> list[float]:
    if isinstance(v, str):
        import json

        return json.loads(v)
    return list(v)  # type: ignore[arg-type]
