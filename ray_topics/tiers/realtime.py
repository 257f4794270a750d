"""Tier 1: route each video to a domain, classify it by nearest topic centroid, store it durably.

The one Tier 1 path. Its steps are plain functions so that every caller runs
the same code: the Serve app (``serve/app.py``) calls them across its
deployments (:func:`texts_to_embed` and :func:`route` in the ingress,
:func:`classify_rows` and :func:`commit` in the DomainModel replica, which
adds batching, multiplexing and the group commit around them);
:class:`RealtimeClassifier` chains them in one process for replay, the
CLI's ``classify`` and the benchmarks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from ray_topics.core.index import CentroidIndex, unit_rows
from ray_topics.core.router import DomainRouter
from ray_topics.core.snapshot import ModelSnapshot
from ray_topics.core.text import video_text
from ray_topics.core.types import ClassificationStatus, Topic
from ray_topics.core.validation import VideoIn
from ray_topics.execution.embedder import Embedder
from ray_topics.storage.registry import ModelRegistry
from ray_topics.storage.store import Store

__all__ = [
    "CLASSIFICATION_COLUMNS",
    "DomainClassifier",
    "RealtimeClassifier",
    "classify_rows",
    "commit",
    "in_request_order",
    "result_view",
    "route",
    "texts_to_embed",
    "topic_view",
]

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


class DomainClassifier:
    """The newest model of each domain behind a centroid index; reloads when a version is published.

    Args:
        registry: where versions are read from.
        confidence: the config's ``confidence`` section as keyword arguments.
    """

    def __init__(self, registry: ModelRegistry, confidence: dict[str, float]) -> None:
        self.registry = registry
        self.confidence = confidence
        self._models: dict[str, tuple[ModelSnapshot, CentroidIndex]] = {}

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

    def model(self, domain: str) -> tuple[ModelSnapshot, CentroidIndex]:
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


def texts_to_embed(
    videos: Sequence[VideoIn], vectors: np.ndarray | None, dim: int, max_chars: int
) -> tuple[np.ndarray, list[int], list[str]]:
    """(vectors with NaN rows where none was given, the indices of those rows, their texts to embed)."""
    if vectors is None:
        vectors = np.full((len(videos), dim), np.nan, dtype=np.float32)
    todo = [i for i in range(len(videos)) if np.isnan(vectors[i, 0])]
    texts = [video_text(videos[i].title, videos[i].description, videos[i].tags, max_chars) for i in todo]
    return vectors, todo, texts


def route(
    router: DomainRouter, videos: Sequence[VideoIn], vectors: np.ndarray
) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """(each video's record with its ``domain`` and ``routed_by``, the indices of each domain's videos in order).

    ``routed_by`` says how the domain was chosen (:class:`ray_topics.core.router.Route`).
    """
    records = [v.record() for v in videos]
    by_domain: dict[str, list[int]] = {}
    domains, how = router.routes(records, vectors)
    for i, (d, h) in enumerate(zip(domains, how, strict=True)):
        records[i]["domain"], records[i]["routed_by"] = d, h
        by_domain.setdefault(d, []).append(i)
    return records, by_domain


def classify_rows(
    models: DomainClassifier, domain: str, records: list[dict[str, Any]], vectors: np.ndarray, at: datetime
) -> list[dict[str, Any]]:
    """Preliminary classification rows (with ``topic_label``) of one domain's records, classified at ``at``."""
    return [
        {
            **a,
            "video_id": r["video_id"],
            "published_at": r["published_at"],
            "status": ClassificationStatus.PRELIMINARY,
            "classified_at": at,
        }
        for r, a in zip(records, models.classify(domain, vectors), strict=True)
    ]


def commit(
    store: Store,
    records: list[dict[str, Any]],
    vectors: np.ndarray,
    rows: list[dict[str, Any]],
    label_of: Callable[[str, str], str | None] | None = None,
) -> list[dict[str, Any]]:
    """Store videos, embeddings and preliminary classifications in one transaction.

    Returns the stored answer of each video (a retried video_id gets its
    first answer back, and nothing is written twice). ``label_of(domain,
    topic_id)`` names the topic of a stored answer this batch did not produce.
    """
    # stored as unit vectors, as every job reads them (a client's model may not normalise its output)
    stored = store.videos.ingest(records, unit_rows(vectors), [{k: r[k] for k in CLASSIFICATION_COLUMNS} for r in rows])
    labels = {r["topic_id"]: r["topic_label"] for r in rows}
    out = []
    for r in records:
        view = result_view(stored[r["video_id"]], labels)
        if view["topic_label"] is None and view["topic_id"] is not None and label_of is not None:
            view["topic_label"] = label_of(view["domain"], view["topic_id"])
        out.append(view)
    return out


def in_request_order(n: int, by_domain: dict[str, list[int]], answers: Sequence[list[Any]]) -> list[Any]:
    """Per-domain answers (in ``by_domain``'s order) put back in the order of the ``n`` videos asked."""
    out: list[Any] = [None] * n
    for idx, ans in zip(by_domain.values(), answers, strict=True):
        for i, a in zip(idx, ans, strict=True):
            out[i] = a
    return out


class RealtimeClassifier:
    """The Tier 1 steps chained in one process: embed what has no embedding, route, classify, commit.

    Args:
        router: picks each video's domain.
        models: per-domain models.
        store: where answers are stored (:meth:`classify_and_store`).
        embedder: used only for videos that carry no embedding.
        max_chars: characters of text fed to the embedder.
    """

    def __init__(
        self,
        router: DomainRouter,
        models: DomainClassifier,
        store: Store | None = None,
        embedder: Embedder | None = None,
        max_chars: int = 1000,
    ) -> None:
        self.router = router
        self.models = models
        self.store = store
        self.embedder = embedder
        self.max_chars = max_chars
        self.routed: Counter[str] = Counter()  # videos by how their domain was chosen

    def embed_missing(self, videos: Sequence[VideoIn], vectors: np.ndarray | None, dim: int) -> np.ndarray:
        """Fill rows without an embedding (NaN rows, or all when ``vectors`` is None)."""
        vectors, todo, texts = texts_to_embed(videos, vectors, dim, self.max_chars)
        if todo:
            if self.embedder is None:
                raise RuntimeError("videos without an embedding need an embedder")
            vectors[todo] = self.embedder.encode(texts)
        return vectors

    def classify(
        self, videos: Sequence[VideoIn], vectors: np.ndarray, at: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(video records with their domain, preliminary classification rows), aligned with ``videos``."""
        records, by_domain = route(self.router, videos, vectors)
        self.routed.update(r["routed_by"] for r in records)
        answers = [
            classify_rows(self.models, d, [records[i] for i in idx], vectors[idx], at) for d, idx in by_domain.items()
        ]
        return records, in_request_order(len(videos), by_domain, answers)

    def classify_and_store(self, videos: Sequence[VideoIn], vectors: np.ndarray, at: datetime) -> list[dict[str, Any]]:
        """Classify and commit in one transaction; the stored answer of each video, in order."""
        if self.store is None:
            raise RuntimeError("classify_and_store needs a store")
        records, rows = self.classify(videos, vectors, at)
        return commit(self.store, records, vectors, rows, self.models.label_of)


def result_view(row: dict[str, Any], labels: dict[str | None, str | None] | None = None) -> dict[str, Any]:
    """The public shape of a stored classification."""
    tid = row["topic_id"]
    return {
        "video_id": row["video_id"],
        "domain": row["domain"],
        "topic_id": tid,
        "topic_label": (labels or {}).get(tid),
        "confidence": round(float(row["confidence"]), 4),
        "status": str(row["status"]),
        "model_version": row["model_version"],
    }


def topic_view(t: Topic, global_topic: int | None = None) -> dict[str, Any]:
    """The public shape of a topic; ``global_topic``: the global topic linking it (None: unlinked)."""
    return {
        "topic_id": t.topic_id,
        "domain": t.domain,
        "label": t.label,
        "keywords": t.keywords,
        "status": str(t.status),
        "size": t.size,
        "born_at": t.born_at.isoformat(),
        "last_seen_at": t.last_seen_at.isoformat(),
        "died_at": t.died_at.isoformat() if t.died_at else None,
        "global_topic": global_topic,
    }
