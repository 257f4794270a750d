"""Validation of incoming videos, shared by the HTTP API, replay and the CLI.

A bad video raises :class:`InvalidVideo` naming the field and what to do; a
batch is validated whole before anything is stored, so a bad request never
alters what is already there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = ["MAX_ID_LEN", "MAX_TAG_LEN", "InvalidVideo", "VideoIn", "validate_videos"]

MAX_ID_LEN = 128
MAX_TEXT_LEN = 20_000
MAX_TAGS = 100
MAX_TAG_LEN = 500  # one tag: a platform's whole tag field fits (YouTube's is 500 characters)
MAX_VIEWS = 2**63 - 1  # a BIGINT column


class InvalidVideo(ValueError):
    """A video in a request is invalid. ``field`` is a dotted path such as ``videos.3.embedding``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class VideoIn(BaseModel):
    """One video as clients send it (see docs/serving.md, HTTP contract)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    video_id: str = Field(min_length=1, max_length=MAX_ID_LEN)
    channel_id: str = Field(min_length=1, max_length=MAX_ID_LEN)
    published_at: datetime
    title: str | None = Field(default=None, max_length=MAX_TEXT_LEN)
    description: str | None = Field(default=None, max_length=MAX_TEXT_LEN)
    tags: list[Annotated[str, Field(max_length=MAX_TAG_LEN)]] = Field(default_factory=list, max_length=MAX_TAGS)
    category: str | None = Field(default=None, max_length=MAX_ID_LEN)
    domain: str | None = Field(default=None, max_length=64)
    views: int | None = Field(default=None, ge=0, le=MAX_VIEWS)
    embedding: list[float] | None = None

    @field_validator("video_id", "channel_id", "title", "description", "category", "domain")
    @classmethod
    def _storable_text(cls, v: str | None) -> str | None:
        return None if v is None else _storable(v)

    @field_validator("tags")
    @classmethod
    def _storable_tags(cls, v: list[str]) -> list[str]:
        return [_storable(t) for t in v]

    @field_validator("published_at")
    @classmethod
    def _aware(cls, v: datetime, info: ValidationInfo) -> datetime:
        if v.tzinfo is None:
            raise ValueError("published_at needs a UTC offset (RFC 3339, e.g. 2026-01-31T12:00:00Z)")
        try:
            v = v.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"published_at {v.isoformat()} is out of range in UTC") from None
        ctx = info.context or {}
        now, slack = ctx.get("now"), ctx.get("max_future_seconds")
        if now is not None and slack is not None and v > now + timedelta(seconds=slack):
            raise ValueError(f"published_at {v.isoformat()} is in the future (now {now.isoformat()})")
        return v

    @field_validator("embedding")
    @classmethod
    def _embedding(cls, v: list[float] | None, info: ValidationInfo) -> list[float] | None:
        """Dimension here; values (finite, not all zero) in :func:`validate_videos`, vectorised,
        or below when a single video is validated on its own."""
        if v is None:
            return v
        ctx = info.context or {}
        dim = ctx.get("dim")
        if dim is not None and len(v) != dim:
            raise ValueError(f"embedding has {len(v)} values; this deployment expects {dim}")
        if not ctx.get("values_checked_by_batch"):
            with np.errstate(over="ignore"):
                _check_values(np.asarray(v, dtype=np.float32))
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str | None, info: ValidationInfo) -> str | None:
        known = (info.context or {}).get("domains")
        if v is not None and known is not None and v not in known:
            raise ValueError(f"unknown domain {v!r}; known domains: {', '.join(sorted(known))}")
        return v

    @model_validator(mode="after")
    def _has_content(self, info: ValidationInfo) -> VideoIn:
        text = " ".join([self.title or "", self.description or "", *self.tags]).strip()
        given = (info.context or {}).get("embedding_given", False)
        if self.embedding is None and not given and not text:
            raise ValueError("a video needs text (title, description or tags) or an embedding")
        return self

    def record(self) -> dict[str, Any]:
        return self.model_dump(exclude={"embedding"})


def _storable(text: str) -> str:
    """``text`` if every store can hold it: PostgreSQL text has no NUL character.

    (Text that is not valid Unicode, a lone surrogate, pydantic refuses before this.)
    """
    if "\x00" in text:
        raise ValueError("text holds a NUL character (\\u0000); remove it")
    return text


_NOT_FINITE = "embedding holds NaN or infinite values"
_ALL_ZERO = "embedding is all zeros"


def _check_values(vec: np.ndarray) -> None:
    if not np.isfinite(vec).all():
        raise ValueError(_NOT_FINITE)
    if not vec.any():
        raise ValueError(_ALL_ZERO)


def validate_vector(vec: np.ndarray, dim: int) -> None:
    """Check one embedding row given out of band (replay, Parquet input): dimension, finite, non-zero."""
    if vec.shape != (dim,):
        raise InvalidVideo("embedding", f"embedding has {vec.shape[-1] if vec.ndim else 0} values; expected {dim}")
    try:
        _check_values(vec)
    except ValueError as exc:
        raise InvalidVideo("embedding", str(exc)) from None


def _field_of(err: dict[str, Any], prefix: str) -> str:
    loc = [str(p) for p in err.get("loc", ())]
    return ".".join([prefix, *loc]) if loc else prefix


def _message_of(err: dict[str, Any]) -> str:
    if err.get("type") == "extra_forbidden":
        return f"unknown field; send only {', '.join(VideoIn.model_fields)}"
    return str(err["msg"]).removeprefix("Value error, ")


def validate_videos(
    items: Sequence[Any],
    *,
    dim: int,
    now: datetime | None = None,
    max_future_seconds: int | None = None,
    domains: Sequence[str] | None = None,
    max_batch: int | None = None,
) -> tuple[list[VideoIn], np.ndarray | None]:
    """Validate a batch; returns the videos and their embeddings (None when none carried one).

    Rows without an embedding get NaN rows in the returned array, to be
    filled by the embedder.

    Raises:
        InvalidVideo: for the first invalid video, naming ``videos.N.field``.
    """
    if not items:
        raise InvalidVideo("videos", "send at least one video")
    if max_batch is not None and len(items) > max_batch:
        raise InvalidVideo("videos", f"{len(items)} videos in one request; the limit is {max_batch}")
    ctx = {
        "dim": dim,
        "now": now,
        "max_future_seconds": max_future_seconds,
        "domains": set(domains) if domains is not None else None,
        "values_checked_by_batch": True,
    }
    out: list[VideoIn] = []
    seen: set[str] = set()
    error: InvalidVideo | None = None
    for i, item in enumerate(items):
        try:
            v = item if isinstance(item, VideoIn) else VideoIn.model_validate(item, context=ctx)
        except ValidationError as exc:
            err = exc.errors()[0]
            error = InvalidVideo(_field_of(err, f"videos.{i}"), _message_of(err))
            break
        if v.video_id in seen:
            error = InvalidVideo(f"videos.{i}.video_id", f"video_id {v.video_id!r} appears twice in this request")
            break
        seen.add(v.video_id)
        out.append(v)
    vecs = _embeddings(out, dim)  # raises for an earlier video's values before ``error``
    if error is not None:
        raise error
    return out, vecs


def _embeddings(videos: list[VideoIn], dim: int) -> np.ndarray | None:
    """The batch's embeddings (NaN rows where none was sent), values checked in one pass."""
    given = [i for i, v in enumerate(videos) if v.embedding is not None]
    if not given:
        return None
    # checked as stored (float32): a value beyond float32's range is refused as infinite
    with np.errstate(over="ignore"):
        values = np.array([videos[i].embedding for i in given], dtype=np.float32)
    finite = np.isfinite(values).all(axis=1)
    nonzero = values.any(axis=1)
    for k in np.flatnonzero(~(finite & nonzero))[:1]:
        raise InvalidVideo(f"videos.{given[k]}.embedding", _NOT_FINITE if not finite[k] else _ALL_ZERO)
    vecs = np.full((len(videos), dim), np.nan, dtype=np.float32)
    vecs[given] = values
    return vecs
