"""Tier 1: classify videos by nearest topic centroid and store them durably.

Plain Python; the Ray Serve deployments in ``serve/`` are thin adapters
over :class:`RealtimeClassifier` and :func:`commit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from ray_topics.core.index import CentroidIndex
from ray_topics.core.router import DomainRouter
from ray_topics.core.validation import VideoIn
from ray_topics.execution.embedder import Embedder, video_text
from ray_topics.storage.registry import DomainModel, ModelRegistry
from ray_topics.storage.schema import PRELIMINARY
from ray_topics.storage.store import Store, Topic

__all__ = [
    "CLASSIFICATION_COLUMNS",
    "DomainClassifier",
    "RealtimeClassifier",
    "commit",
    "preliminary_rows",
    "result_view",
    "topic_view",
]


class DomainClassifier:
    """The newest model of each domain behind a centroid index; reloads when a version is published.

    Args:
        registry: where versions are read from.
        confidence: the config's ``confidence`` section as keyword arguments.
    """

    def __init__(self, registry: ModelRegistry, confidence: dict[str, float]) -> None:
        self.registry = registry
        self.confidence = confidence
        self._models: dict[str, tuple[DomainModel, CentroidIndex]] = {}

    def refresh(self, versions: dict[str, int] | None = None) -> dict[str, int]:
        """Load any domain whose newest version changed; returns the versions in use."""
        versions = self.registry.latest_versions() if versions is None else versions
        for domain, v in versions.items():
            cur = self._models.get(domain)
            if cur is None or cur[0].version != v:
                model = self.registry.load(domain, v)
                self._models[domain] = (model, model.index(**self.confidence))
        return {d: m.version for d, (m, _i) in self._models.items()}

    def label_of(self, domain: str, topic_id: str) -> str | None:
        """Label of a topic in the loaded version of its domain (None when it is not there)."""
        return self.model(domain)[0].label_of(topic_id)

    def model(self, domain: str) -> tuple[DomainModel, CentroidIndex]:
        if domain not in self._models:
            model = self.registry.latest(domain)
            self._models[domain] = (model, model.index(**self.confidence))
        return self._models[domain]

    def classify(self, domain: str, vectors: np.ndarray) -> list[dict[str, Any]]:
        """Topic, label, confidence and model version of each row (one domain)."""
        model, index = self.model(domain)
        m = index.search(vectors)
        return [
            {
                "domain": domain,
                "topic_id": tid,
                "topic_label": model.label_of(tid),
                "confidence": float(c),
                "model_version": model.name,
            }
            for tid, c in zip(m.topic_ids, m.confidences, strict=True)
        ]


class RealtimeClassifier:
    """Route, embed when needed, classify: the Tier 1 pipeline without storage.

    Args:
        router: picks each video's domain.
        models: per-domain models.
        embedder: used only for videos that carry no embedding.
        max_chars: characters of text fed to the embedder.
    """

    def __init__(
        self, router: DomainRouter, models: DomainClassifier, embedder: Embedder | None = None, max_chars: int = 1000
    ) -> None:
        self.router = router
        self.models = models
        self.embedder = embedder
        self.max_chars = max_chars

    def embed_missing(self, videos: Sequence[VideoIn], vectors: np.ndarray | None, dim: int) -> np.ndarray:
        """Fill rows without an embedding (NaN rows, or all when ``vectors`` is None)."""
        if vectors is None:
            vectors = np.full((len(videos), dim), np.nan, dtype=np.float32)
        todo = [i for i in range(len(videos)) if np.isnan(vectors[i, 0])]
        if todo:
            if self.embedder is None:
                raise RuntimeError("videos without an embedding need an embedder")
            texts = [video_text(videos[i].title, videos[i].description, videos[i].tags, self.max_chars) for i in todo]
            vectors[todo] = self.embedder.encode(texts)
        return vectors

    def classify(
        self, videos: Sequence[VideoIn], vectors: np.ndarray, at: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Returns (video records with their domain, classification rows), aligned with ``videos``."""
        records = [v.record() for v in videos]
        domains = self.router.route(records, vectors)
        results: list[dict[str, Any]] = [{}] * len(videos)
        by_domain: dict[str, list[int]] = {}
        for i, d in enumerate(domains):
            records[i]["domain"] = d
            by_domain.setdefault(d, []).append(i)
        for d, idx in by_domain.items():
            rows = preliminary_rows([records[i] for i in idx], self.models.classify(d, vectors[idx]), at)
            for i, r in zip(idx, rows, strict=True):
                results[i] = r
        return records, results


def preliminary_rows(records: list[dict[str, Any]], answers: list[dict[str, Any]], at: datetime) -> list[dict]:
    """Classification rows (with ``topic_label``) of one domain's records and the model's answers."""
    return [
        {**a, "video_id": r["video_id"], "published_at": r["published_at"], "status": PRELIMINARY, "classified_at": at}
        for r, a in zip(records, answers, strict=True)
    ]


def commit(
    store: Store,
    records: list[dict[str, Any]],
    vectors: np.ndarray,
    results: list[dict[str, Any]],
    label_of: Callable[[str, str], str | None] | None = None,
) -> list[dict[str, Any]]:
    """Store videos, embeddings and preliminary classifications in one transaction.

    Returns the stored answer of each video (a retried video_id gets its
    first answer back, and nothing is written twice). ``label_of(domain,
    topic_id)`` names the topic of a stored answer this batch did not produce.
    """
    rows = [{k: r[k] for k in CLASSIFICATION_COLUMNS} for r in results]
    stored = store.ingest(records, vectors, rows)
    labels = {r["topic_id"]: r["topic_label"] for r in results}
    out = []
    for r in records:
        view = result_view(stored[r["video_id"]], labels)
        if view["topic_label"] is None and view["topic_id"] is not None and label_of is not None:
            view["topic_label"] = label_of(view["domain"], view["topic_id"])
        out.append(view)
    return out


CLASSIFICATION_COLUMNS = (
    "video_id",
    "domain",
    "published_at",
    "topic_id",
    "confidence",
    "status",
    "model_version",
    "classified_at",
)


def result_view(row: dict[str, Any], labels: dict[str | None, str | None] | None = None) -> dict[str, Any]:
    """The public shape of a stored classification."""
    tid = row["topic_id"]
    return {
        "video_id": row["video_id"],
        "domain": row["domain"],
        "topic_id": tid,
        "topic_label": (labels or {}).get(tid),
        "confidence": round(float(row["confidence"]), 4),
        "status": row["status"],
        "model_version": row["model_version"],
    }


def topic_view(t: Topic) -> dict[str, Any]:
    """The public shape of a topic."""
    return {
        "topic_id": t.topic_id,
        "domain": t.domain,
        "label": t.label,
        "keywords": t.keywords,
        "status": t.status,
        "size": t.size,
        "born_at": t.born_at.isoformat(),
        "last_seen_at": t.last_seen_at.isoformat(),
        "died_at": t.died_at.isoformat() if t.died_at else None,
    }
