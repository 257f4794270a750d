"""Tests of the NumPy file reads every thread goes through (ray_topics/core/arrays.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ray_topics.core.arrays import read_npy, read_npz
from ray_topics.interop.bertopic_import import read_embeddings


def test_named_members_are_read_and_the_others_left_alone(tmp_path: Path) -> None:
    """A user's embeddings file may hold more than the import reads, object arrays included (which NumPy
    refuses to read without pickle): the import reads its embeddings and ids only."""
    path = tmp_path / "train.npz"
    emb = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.savez(path, embeddings=emb, ids=np.array(["a", "b", "c"]), docs=np.array(["x", None, 3], dtype=object))
    got = read_npz(path, ("embeddings", "ids", "absent"))
    assert sorted(got) == ["embeddings", "ids"] and got["embeddings"].tolist() == emb.tolist()
    with pytest.raises(ValueError, match="allow_pickle"):  # every member: the object array is read too
        read_npz(path)
    vectors, ids = read_embeddings(path)
    assert vectors.tolist() == emb.tolist() and ids == ["a", "b", "c"]


def test_an_archive_is_not_one_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "two.npz", a=np.zeros(2), b=np.ones(2))
    np.save(tmp_path / "one.npy", np.arange(3))
    assert read_npy(tmp_path / "one.npy").tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="archive"):
        read_npy(tmp_path / "two.npz")
