"""``ray-topics import-bertopic``: a fitted BERTopic model as the first model version of one or more domains.

Every check runs before anything is written (the model's files, its
embedding dimension against ``embedding.dim``, the domain map, the training
embeddings); then one transaction per import writes every domain's topics,
their birth events, a new model version per domain (which Tier 1 serves from
its next look at the registry) and the BERTopic id -> topic id mapping
(``bertopic_ids``). Only a domain with no topic yet can be imported into.

How each BERTopic topic becomes ours (ids, labels, keywords, calibration) is
:mod:`ray_topics.core.foreign_topics`; what is carried and what is lost is
docs/bertopic.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ray_topics.core.arrays import read_npy, read_npz
from ray_topics.core.foreign_topics import (
    ForeignTopic,
    assign_numbers,
    imported_topic,
    member_calibration,
    prior_calibration,
)
from ray_topics.core.snapshot import version_name
from ray_topics.core.types import Topic, TopicEvent
from ray_topics.execution.runtime import Runtime
from ray_topics.interop.bertopic_files import BertopicModelError, LoadedModel, read_model
from ray_topics.tiers.job import commit_lock

__all__ = ["JOB", "import_bertopic", "read_domain_map", "read_embeddings"]

log = logging.getLogger(__name__)

JOB = "import-bertopic"  # the job named by the model versions and events an import writes
# the embedding model ray-topics ships (embedding.model_path null): a model naming another one warns
PACKAGED_MODEL = "all-MiniLM-L6-v2"


def read_domain_map(path: str | Path, domains: list[str]) -> dict[int, str]:
    """``BERTopic topic id -> domain`` from a YAML or JSON mapping file (``{0: news, 3: sports}``)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BertopicModelError(f"cannot read the domain map {p}: {exc}") from exc
    if not isinstance(data, dict):
        raise BertopicModelError(f"the domain map {p} must map BERTopic topic ids to domains, e.g. {{0: news}}")
    out: dict[int, str] = {}
    for k, d in data.items():
        whole = (isinstance(k, int) and not isinstance(k, bool)) or (
            isinstance(k, str) and k.strip().lstrip("-").isdigit()
        )
        if not whole or int(k) in out:  # 1.5 or true would be truncated to a topic id; "0" beside 0 is it twice
            raise BertopicModelError(f"the domain map {p}: {k!r} is not a BERTopic topic id, or names one twice")
        out[int(k)] = str(d)
    unknown = sorted({d for d in out.values() if d not in domains})
    if unknown:
        raise BertopicModelError(f"the domain map {p} names domain(s) {unknown} not in the config: {domains}")
    return out


def read_embeddings(path: str | Path) -> tuple[np.ndarray, list[str] | None]:
    """The training documents' embeddings (training order) and their ids, from ``.npy`` or ``.npz``.

    ``.npz``: arrays ``embeddings`` (n x dim) and ``ids`` (n); ``.npy``: the embeddings alone.
    """
    p = Path(path)
    try:
        if p.suffix == ".npy":
            return np.asarray(read_npy(p), dtype=np.float32), None
        z = read_npz(p, ("embeddings", "ids"))
        if "embeddings" not in z:
            raise BertopicModelError(f"{p} holds no array named 'embeddings'")
        ids = [str(x) for x in z["ids"]] if "ids" in z else None
        return np.asarray(z["embeddings"], dtype=np.float32), ids
    except BertopicModelError:
        raise
    except Exception as exc:
        msg = f"cannot read the training embeddings {p} (.npy, or .npz with embeddings, ids): {exc}"
        raise BertopicModelError(msg) from exc


def _check_embeddings(m: LoadedModel, vecs: np.ndarray, ids: list[str] | None, dim: int, path: str | Path) -> None:
    if m.doc_topics is None:
        raise BertopicModelError(
            "the model holds no training assignments (topics_), so --embeddings cannot be matched to topics; "
            "import without --embeddings (the calibration prior) or save the model after fit"
        )
    if vecs.ndim != 2 or vecs.shape[1] != dim:
        raise BertopicModelError(f"the training embeddings in {path} have shape {vecs.shape}; expected (n, {dim})")
    if len(vecs) != len(m.doc_topics):
        raise BertopicModelError(
            f"{path} holds {len(vecs)} embeddings but the model was fitted on {len(m.doc_topics)} documents: "
            "give one row per training document, in the order fit() saw them"
        )
    if ids is not None and (len(ids) != len(vecs) or len(set(ids)) != len(ids)):
        raise BertopicModelError(f"the ids in {path} must be unique, one per embedding")
    if not np.isfinite(vecs).all():
        raise BertopicModelError(f"the training embeddings in {path} hold NaN or infinite values")


def _calibration(rt: Runtime, m: LoadedModel, t: ForeignTopic, vecs: np.ndarray | None) -> tuple[float, float, str]:
    """(mu, sigma, where from) of one topic: its members' embeddings, an export's sidecar, or the prior."""
    if vecs is not None and m.doc_topics is not None:
        members = vecs[m.doc_topics == t.foreign_id]
        if len(members):
            mu, sigma = member_calibration(t.embedding, members, rt.cfg.weekly.calibration_upper_quantile)
            return mu, sigma, "training embeddings"
    side = {e["bertopic_id"]: e for e in (m.sidecar or {}).get("topics", [])}  # checked by read_model
    if t.foreign_id in side:
        return side[t.foreign_id]["sim_mean"], side[t.foreign_id]["sim_std"], "export sidecar"
    b = rt.cfg.bertopic
    mu, sigma = prior_calibration(t.embedding, b.prior_sim_mean, b.prior_sim_std)
    return mu, sigma, "prior"


def import_bertopic(
    rt: Runtime,
    path: str | Path,
    domain: str,
    at: datetime,
    *,
    domain_map: Mapping[int, str] | None = None,
    embeddings: str | Path | None = None,
) -> dict[str, Any]:
    """Import the BERTopic model at ``path`` into ``domain`` (topics ``domain_map`` names go to theirs).

    Returns the summary: per domain its version, topics and ``bertopic id -> topic id``;
    the calibration source of each topic; warnings. Raises :class:`BertopicModelError`
    (nothing written) when the model, the map or the embeddings cannot be imported.
    """
    cfg = rt.cfg
    names = cfg.domains.names
    if domain not in names:
        raise BertopicModelError(f"--domain {domain!r} is not a domain of the config: {names}")
    m = read_model(path)
    if m.dim != cfg.embedding.dim:
        raise BertopicModelError(
            f"the model's topic embeddings have dimension {m.dim}, the configured embedder's (embedding.dim) "
            f"{cfg.embedding.dim}: ray-topics would compare them with embeddings of another model. Fit BERTopic "
            "on the configured model's embeddings, or configure an embedder of that dimension (embedding.model_path, "
            "embedding.dim). Nothing was written."
        )
    if not m.topics:
        raise BertopicModelError(f"the BERTopic model in {path} has no topic but the outliers (-1): nothing to import")
    empty = [t.foreign_id for t in m.topics if not t.words]
    if empty:
        raise BertopicModelError(
            f"BERTopic topic(s) {empty} have no keywords (an empty representation): update_topics, or reduce or "
            "merge them, and save the model again. Nothing was written."
        )
    dmap = dict(domain_map or {})
    stray = sorted(set(dmap) - {t.foreign_id for t in m.topics})
    if stray:
        raise BertopicModelError(f"the domain map names BERTopic topic(s) {stray}, which the model does not have")
    vecs = None
    if embeddings is not None:
        vecs, ids = read_embeddings(embeddings)
        _check_embeddings(m, vecs, ids, cfg.embedding.dim, embeddings)
    warnings = []
    named = (m.embedding_model or PACKAGED_MODEL).lower()
    if PACKAGED_MODEL.lower() not in named and cfg.embedding.model_path is None:
        warnings.append(
            f"the model names the embedding model {m.embedding_model!r}; ray-topics embeds with {PACKAGED_MODEL}: "
            "its centroids only mean something if both are the same model"
        )
    by_domain: dict[str, list[ForeignTopic]] = {}
    for t in m.topics:
        by_domain.setdefault(dmap.get(t.foreign_id, domain), []).append(t)
    planned: dict[str, tuple[list[Topic], list[TopicEvent], dict[int, str]]] = {}
    sources: dict[str, str] = {}
    for d, foreign in sorted(by_domain.items()):
        numbers = assign_numbers(foreign)
        topics, events, mapping = [], [], {}
        for t in foreign:
            mu, sigma, src = _calibration(rt, m, t, vecs)
            topic, event = imported_topic(d, numbers[t.foreign_id], t, at, mu, sigma)
            event.details.update(bertopic_id=t.foreign_id, source=m.serialization, calibration=src)
            topics.append(topic)
            events.append(event)
            mapping[t.foreign_id] = topic.topic_id
            sources[topic.topic_id] = src
        planned[d] = (topics, events, mapping)
    store = rt.store  # the first touch of the store: every check above passed
    busy = {d: n for d in planned if (n := len(store.topics.list(d)))}
    if busy:
        raise BertopicModelError(_busy_message(busy))
    reps = {t.foreign_id: t.words for t in m.topics}
    versions: dict[str, int] = {}
    with store.begin() as conn:
        for d in sorted(planned):
            store.lock(conn, commit_lock(d))
        busy = {d: n for d in planned if (n := len(store.topics.list(d, conn=conn)))}
        if busy:  # a job or another import wrote topics since the check above
            raise BertopicModelError(_busy_message(busy))
        for d, (topics, events, mapping) in sorted(planned.items()):
            store.topics.upsert(topics, conn)
            store.topics.add_events(events, conn)
            versions[d] = rt.registry.publish(d, at, JOB, conn)
            store.bertopic_ids.add(d, mapping, {k: reps[k] for k in mapping}, str(path), at, conn)
        store.global_topics.relink(cfg.global_topics.link_threshold, at, conn, job=JOB)  # as every job's commit
    for w in warnings:
        log.warning(w)
    return {
        "source": str(path),
        "serialization": m.serialization,
        "domains": {
            d: {
                "version": version_name(d, versions[d]),
                "topics": len(topics),
                "bertopic_ids": {str(k): v for k, v in sorted(mapping.items())},
            }
            for d, (topics, _e, mapping) in sorted(planned.items())
        },
        "calibration": {src: sum(1 for s in sources.values() if s == src) for src in sorted(set(sources.values()))},
        "warnings": warnings,
    }


def _busy_message(busy: dict[str, int]) -> str:
    held = ", ".join(f"{d} ({n} topics)" for d, n in sorted(busy.items()))
    return (
        f"domain(s) {held} already have topics: an import starts a domain's model, it does not merge into one. "
        "Import into a domain with no topics (another --workdir or store, or --domain / --domain-map). "
        "Nothing was written."
    )
