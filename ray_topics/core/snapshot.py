"""A domain's topic model at one version: the immutable snapshot Tier 1 and refine classify with."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ray_topics.core.arrays import read_npz
from ray_topics.core.index import CentroidIndex
from ray_topics.core.types import Topic

__all__ = ["ModelSnapshot", "version_name"]


def version_name(domain: str, version: int) -> str:
    """How answers name a version: ``domain@vN``."""
    return f"{domain}@v{version}"


@dataclass
class ModelSnapshot:
    """One domain's live topics at one version: centroids, calibration, labels.

    Version 0 is the empty model of a domain that has none yet; version -1 an
    unpublished one a job classifies with before its commit.
    """

    domain: str
    version: int
    topic_ids: list[str]
    labels: list[str]
    centroids: np.ndarray
    sim_mean: np.ndarray
    sim_std: np.ndarray

    @property
    def name(self) -> str:
        return version_name(self.domain, self.version)

    @classmethod
    def from_topics(cls, domain: str, version: int, topics: Sequence[Topic], dim: int) -> ModelSnapshot:
        live = [t for t in topics if t.live]
        return cls(
            domain=domain,
            version=version,
            topic_ids=[t.topic_id for t in live],
            labels=[t.label for t in live],
            centroids=(np.stack([t.centroid for t in live]) if live else np.zeros((0, dim), np.float32)).astype(
                np.float32
            ),
            sim_mean=np.array([t.sim_mean for t in live], dtype=np.float32),
            sim_std=np.array([t.sim_std for t in live], dtype=np.float32),
        )

    @classmethod
    def empty(cls, domain: str, dim: int) -> ModelSnapshot:
        return cls.from_topics(domain, 0, [], dim)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        meta = {"domain": self.domain, "version": self.version, "topic_ids": self.topic_ids, "labels": self.labels}
        np.savez_compressed(
            buf,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            centroids=self.centroids,
            sim_mean=self.sim_mean,
            sim_std=self.sim_std,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ModelSnapshot:
        z = read_npz(io.BytesIO(blob))  # (np.load alone fails in threads loading at once: core/arrays.py)
        meta = json.loads(z["meta"].tobytes().decode())
        return cls(
            domain=meta["domain"],
            version=int(meta["version"]),
            topic_ids=meta["topic_ids"],
            labels=meta["labels"],
            centroids=z["centroids"],
            sim_mean=z["sim_mean"],
            sim_std=z["sim_std"],
        )

    def index(self, **confidence: Any) -> CentroidIndex:
        """A fitted :class:`CentroidIndex`; ``confidence`` = the config's confidence section."""
        return CentroidIndex(**confidence).fit(self.topic_ids, self.centroids, self.sim_mean, self.sim_std)

    def label_of(self, topic_id: str | None) -> str | None:
        if topic_id is None:
            return None
        try:
            return self.labels[self.topic_ids.index(topic_id)]
        except ValueError:
            return None
