"""Model registry: immutable per-domain snapshots of the topic model.

Every job that changes a domain's topics publishes a new version (in the same
transaction as the change). Tier 1 and refine classify with the newest
version; every answer names it as ``domain@vN``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection

from ray_topics.core.index import CentroidIndex
from ray_topics.storage.store import Store, Topic

__all__ = ["DomainModel", "ModelRegistry", "version_name"]

LIVE_STATUSES = ("active", "dying")


def version_name(domain: str, version: int) -> str:
    return f"{domain}@v{version}"


@dataclass
class DomainModel:
    """One domain's topic model at one version: centroids, calibration, labels."""

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
    def from_topics(cls, domain: str, version: int, topics: list[Topic], dim: int) -> DomainModel:
        live = [t for t in topics if t.status in LIVE_STATUSES]
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
    def from_bytes(cls, blob: bytes) -> DomainModel:
        with np.load(io.BytesIO(blob)) as z:
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


class ModelRegistry:
    """Publishes and loads :class:`DomainModel` versions kept in the store."""

    def __init__(self, store: Store, dim: int) -> None:
        self.store = store
        self.dim = dim
        self._cache: dict[tuple[str, int], DomainModel] = {}

    def publish(self, domain: str, at: datetime, job: str, conn: Connection) -> int:
        """Snapshot the domain's live topics as they are inside ``conn`` and record a new version."""
        t = self.store.table("topics")
        from sqlalchemy import select

        rows = conn.execute(select(t).where(t.c.domain == domain).order_by(t.c.number)).fetchall()
        topics = [Topic.from_row(r) for r in rows]
        version = self.store.insert_model_version(domain, b"", 0, at, job, conn)
        model = DomainModel.from_topics(domain, version, topics, self.dim)
        mv = self.store.table("model_versions")
        conn.execute(
            mv.update()
            .where(mv.c.domain == domain, mv.c.version == version)
            .values(payload=model.to_bytes(), n_topics=len(model.topic_ids))
        )
        return version

    def latest_versions(self) -> dict[str, int]:
        return self.store.latest_versions()

    def load(self, domain: str, version: int) -> DomainModel:
        key = (domain, version)
        if key not in self._cache:
            blob = self.store.model_payload(domain, version)
            if blob is None:
                raise KeyError(f"no model version {version_name(domain, version)}")
            self._cache[key] = DomainModel.from_bytes(blob)
        return self._cache[key]

    def latest(self, domain: str) -> DomainModel:
        """Newest version; an empty version-0 model when the domain has none yet."""
        v = self.store.latest_versions().get(domain)
        if v is None:
            return DomainModel(
                domain, 0, [], [], np.zeros((0, self.dim), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32)
            )
        return self.load(domain, v)
