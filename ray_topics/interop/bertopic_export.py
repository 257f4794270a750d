"""``ray-topics export-bertopic``: a domain's current model as a BERTopic model folder (safetensors layout).

The newest model version of the domain becomes BERTopic topics ``0 .. n-1``
in the version's order: topic embeddings are our centroids, the
representation is each topic's keywords, the size is the videos the store
assigns to it (its recorded size while it has none), and the custom label is
:func:`ray_topics.core.foreign_topics.exported_label` (our id, then our label), so
an import of the export gives back the same ids, labels and keywords.

Representation scores: ray-topics keeps a topic's keywords in order, not their
c-TF-IDF weights. A topic whose keywords are still the words an import took
from BERTopic gets that import's scores back; any other gets ``1 - k / n`` for
its ``k``-th of ``n`` keywords (a rank, which is what ``visualize_barchart``
then draws). Calibration (``sim_mean``, ``sim_std``) and our ids travel in
``ray_topics.json`` beside BERTopic's files (BERTopic ignores it), so an
import of an untouched export restores them exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray_topics.core.foreign_topics import exported_label
from ray_topics.execution.bertopic_lib import require_bertopic
from ray_topics.execution.runtime import Runtime
from ray_topics.interop.bertopic_files import BertopicModelError, write_model

__all__ = ["export_bertopic", "rank_scores"]


def rank_scores(words: list[str]) -> list[tuple[str, float]]:
    """``(word, 1 - k / n)`` of the ``k``-th of ``n`` keywords.

    Example:
        >>> rank_scores(["a", "b", "c", "d"])
        [('a', 1.0), ('b', 0.75), ('c', 0.5), ('d', 0.25)]
    """
    n = len(words)
    return [(w, 1.0 - k / n) for k, w in enumerate(words)]


def export_bertopic(rt: Runtime, domain: str, out: str | Path) -> dict[str, Any]:
    """Write ``domain``'s newest model version to the new folder ``out``; returns the export's summary."""
    if domain not in rt.cfg.domains.names:
        raise BertopicModelError(f"{domain!r} is not a domain of the config: {rt.cfg.domains.names}")
    require_bertopic()  # before reading the store: without BERTopic nothing is done
    if Path(out).exists():
        raise BertopicModelError(f"{out} exists already: name a new folder to export to")
    snap = rt.registry.latest(domain)
    if not snap.topic_ids:
        raise BertopicModelError(f"domain {domain} has no model yet ({snap.name}): nothing to export")
    topics = {t.topic_id: t for t in rt.store.topics.list(domain)}
    counts = rt.store.classifications.topic_sizes(domain)
    imported = {r["topic_id"]: r for r in rt.store.bertopic_ids.of_domain(domain)}
    words, sizes, labels, entries = [], [], [], []
    for k, (tid, label) in enumerate(zip(snap.topic_ids, snap.labels, strict=True)):
        t = topics[tid]
        rep = [(str(w), float(s)) for w, s in (imported.get(tid) or {}).get("representation", [])]
        words.append(rep if [w for w, _s in rep] == list(t.keywords) else rank_scores(list(t.keywords)))
        sizes.append(counts.get(tid) or int(t.size))
        labels.append(exported_label(tid, label))
        entries.append(
            {
                "bertopic_id": k,
                "topic_id": tid,
                "label": label,
                "sim_mean": float(snap.sim_mean[k]),
                "sim_std": float(snap.sim_std[k]),
            }
        )
    sidecar = {"domain": domain, "version": snap.name, "dim": int(snap.centroids.shape[1]), "topics": entries}
    write_model(
        out, snap.centroids, words, sizes, labels, embedding_model=rt.cfg.bertopic.embedding_model, sidecar=sidecar
    )
    return {
        "domain": domain,
        "version": snap.name,
        "out": str(out),
        "topics": len(entries),
        "bertopic_ids": {str(e["bertopic_id"]): e["topic_id"] for e in entries},
    }
