"""Tests of request validation: every bad video names its field path and says what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ray_topics.core.validation import MAX_ID_LEN, MAX_TAG_LEN, InvalidVideo, VideoIn, validate_vector, validate_videos

DIM = 4
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
DOMAINS = ["gaming", "news"]


def _video(i: int = 0, **kw: object) -> dict:
    return {
        "video_id": f"v{i}",
        "channel_id": "c1",
        "published_at": "2024-03-01T11:00:00Z",
        "title": f"video {i}",
        **kw,
    }


def _validate(items: list, **kw: object) -> tuple[list[VideoIn], np.ndarray | None]:
    args = dict(dim=DIM, now=NOW, max_future_seconds=300, domains=DOMAINS, max_batch=5)
    return validate_videos(items, **{**args, **kw})


@pytest.mark.parametrize(
    ("items", "field", "says"),
    [
        ([_video(0), _video(1, embedding=[1.0, 2.0])], "videos.1.embedding", "2 values; this deployment expects 4"),
        ([_video(0, embedding=[1.0, float("nan"), 0.0, 0.0])], "videos.0.embedding", "NaN or infinite"),
        ([_video(0, embedding=[1.0, float("inf"), 0.0, 0.0])], "videos.0.embedding", "NaN or infinite"),
        ([_video(0, embedding=[float("-inf"), 0.0, 0.0, 0.0])], "videos.0.embedding", "NaN or infinite"),
        ([_video(0, embedding=[1e39, 0.0, 0.0, 0.0])], "videos.0.embedding", "NaN or infinite"),  # float32 overflow
        ([_video(0), _video(1, embedding=[0.0, float("nan"), 0.0, 0.0])], "videos.1.embedding", "NaN or infinite"),
        ([_video(0), _video(1, embedding=[0.0] * DIM)], "videos.1.embedding", "all zeros"),
        ([_video(0, embedding=[1.0, "x", 0.0, 0.0])], "videos.0.embedding.1", "valid number"),
        ([_video(0, title="   ")], "videos.0", "needs text (title, description or tags) or an embedding"),
        ([_video(0, title=None, description="", tags=[])], "videos.0", "needs text"),
        ([_video(0, published_at="2024-03-01T11:00:00")], "videos.0.published_at", "needs a UTC offset"),
        ([_video(0, published_at="2024-03-01T12:05:01Z")], "videos.0.published_at", "in the future"),
        ([_video(0, published_at="not a time")], "videos.0.published_at", "datetime"),
        (
            [_video(0), _video(1, domain="cars")],
            "videos.1.domain",
            "unknown domain 'cars'; known domains: gaming, news",
        ),
        ([_video(0), _video(1), _video(0)], "videos.2.video_id", "appears twice"),
        ([_video(0, colour="red")], "videos.0.colour", "unknown field; send only video_id, channel_id"),
        ([_video(0, video_id="")], "videos.0.video_id", "at least 1 character"),
        ([_video(0, video_id="x" * (MAX_ID_LEN + 1))], "videos.0.video_id", f"at most {MAX_ID_LEN}"),
        ([_video(0, views=-1)], "videos.0.views", "greater than or equal to 0"),
        ([_video(0, views=2**63)], "videos.0.views", "less than or equal to 9223372036854775807"),
        ([_video(0, published_at="0001-01-01T00:30:00+01:00")], "videos.0.published_at", "out of range in UTC"),
        ([_video(0, title="a\x00b")], "videos.0.title", "NUL character"),
        ([_video(0, tags=["ok", "bad\x00"])], "videos.0.tags", "NUL character"),
        ([_video(0, tags=["ok", "x" * (MAX_TAG_LEN + 1)])], "videos.0.tags.1", f"at most {MAX_TAG_LEN}"),
        ([_video(0, video_id="v\ud800")], "videos.0.video_id", "valid string"),  # a lone surrogate
        ([_video(0, description="x\udfff")], "videos.0.description", "valid string"),
        ([{"video_id": "v0", "published_at": "2024-03-01T11:00:00Z", "title": "t"}], "videos.0.channel_id", "required"),
        ([], "videos", "send at least one video"),
        ([_video(i) for i in range(6)], "videos", "6 videos in one request; the limit is 5"),
    ],
)
def test_invalid_video_names_field(items: list, field: str, says: str) -> None:
    with pytest.raises(InvalidVideo) as info:
        _validate(items)
    err = info.value
    assert err.field == field
    assert says in err.message
    assert str(err) == f"{field}: {err.message}"
    assert isinstance(err, ValueError)


def test_future_slack_is_respected() -> None:
    ok = _validate([_video(0, published_at="2024-03-01T12:05:00Z")])[0]  # exactly now + 300 s
    assert ok[0].published_at == NOW + timedelta(minutes=5)
    with pytest.raises(InvalidVideo, match="future"):
        _validate([_video(0, published_at="2024-03-01T12:00:01Z")], max_future_seconds=0)
    # no clock given: nothing is in the future
    far = _validate([_video(0, published_at="2999-01-01T00:00:00Z")], now=None)[0]
    assert far[0].published_at.year == 2999


def test_offsets_are_converted_to_utc() -> None:
    videos, _ = _validate([_video(0, published_at="2024-03-01T13:00:00+02:00")])
    assert videos[0].published_at == datetime(2024, 3, 1, 11, 0, tzinfo=UTC)
    assert videos[0].published_at.utcoffset() == timedelta(0)


def test_first_bad_video_is_reported_and_nothing_returned() -> None:
    with pytest.raises(InvalidVideo) as info:
        _validate([_video(0), _video(1, embedding=[0.0] * DIM), _video(2, domain="cars")])
    assert info.value.field == "videos.1.embedding"


def test_valid_mixed_batch_returns_nan_rows_for_missing_embeddings() -> None:
    items = [
        _video(0, tags=["a", "b"], category="Gaming"),
        _video(1, embedding=[1.0, 0.0, 0.0, 2.0], domain="news", title=None),
        _video(2, description="only a description", title=None, views=10),
    ]
    videos, vecs = _validate(items)
    assert [v.video_id for v in videos] == ["v0", "v1", "v2"]
    assert vecs is not None and vecs.shape == (3, DIM) and vecs.dtype == np.float32
    assert np.isnan(vecs[0]).all() and np.isnan(vecs[2]).all()
    np.testing.assert_array_equal(vecs[1], [1.0, 0.0, 0.0, 2.0])
    assert videos[0].tags == ["a", "b"] and videos[0].category == "Gaming"
    assert videos[2].views == 10
    rec = videos[1].record()
    assert "embedding" not in rec and rec["domain"] == "news"


def test_batch_without_embeddings_returns_none() -> None:
    videos, vecs = _validate([_video(0), _video(1)])
    assert len(videos) == 2 and vecs is None


def test_embedding_alone_is_enough() -> None:
    videos, vecs = _validate([_video(0, title=None, embedding=[0.0, 0.0, 0.5, 0.0])])
    assert videos[0].title is None
    np.testing.assert_array_equal(vecs[0], [0.0, 0.0, 0.5, 0.0])


def test_whitespace_is_stripped() -> None:
    videos, _ = _validate([_video(0, video_id="  v0 ", title="  hello  ")])
    assert (videos[0].video_id, videos[0].title) == ("v0", "hello")


def test_prebuilt_videos_pass_through() -> None:
    v = VideoIn.model_validate(_video(3))
    videos, vecs = _validate([v, _video(4)])
    assert videos[0] is v and vecs is None


def test_unknown_domain_allowed_without_domain_list() -> None:
    videos, _ = _validate([_video(0, domain="cars")], domains=None)
    assert videos[0].domain == "cars"


def test_no_batch_limit_when_none() -> None:
    videos, _ = _validate([_video(i) for i in range(20)], max_batch=None)
    assert len(videos) == 20


# ---------------------------------------------------------------- validate_vector


def test_validate_vector_accepts_good_rows() -> None:
    validate_vector(np.array([0.0, 0.1, 0.0, -2.0], dtype=np.float32), DIM)


@pytest.mark.parametrize(
    ("vec", "says"),
    [
        (np.ones(3, np.float32), "3 values; expected 4"),
        (np.ones((1, 4), np.float32), "expected 4"),
        (np.array(1.0), "0 values; expected 4"),
        (np.array([1.0, np.nan, 0, 0]), "NaN or infinite"),
        (np.array([1.0, 0, -np.inf, 0]), "NaN or infinite"),
        (np.zeros(4), "all zeros"),
    ],
)
def test_validate_vector_rejects(vec: np.ndarray, says: str) -> None:
    with pytest.raises(InvalidVideo) as info:
        validate_vector(vec, DIM)
    assert info.value.field == "embedding"
    assert says in info.value.message
