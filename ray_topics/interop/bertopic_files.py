"""BERTopic's model files: read a saved model (safetensors, pytorch or pickle), write one in its safetensors layout.

BERTopic is an optional dependency (the ``bertopic`` extra), imported only
when a command needs it; without it
:func:`ray_topics.execution.bertopic_lib.require_bertopic` raises
:class:`~ray_topics.execution.bertopic_lib.BertopicUnavailable` with the install hint.

Reading uses BERTopic's own loader. A pickle is ``BERTopic.load(file)``
(``joblib.load``: a pickle runs code when loaded, so import only pickles you
trust). A folder is what ``BERTopic.load(folder)`` does, step by step
(``load_local_files``, then ``_create_model_from_files``), less one thing:
the embedding model its ``config.json`` may name is not loaded, since
``BERTopic.load`` would fetch it from the Hugging Face hub and ray-topics
embeds with its own model. Its name is kept, to warn when it is not the
configured one. ``_create_model_from_files`` is private to BERTopic: the
extra pins BERTopic to 0.17.

Writing builds a BERTopic object from the topics (no UMAP or HDBSCAN model:
``BaseDimensionalityReduction`` and ``BaseCluster``, the same empty models
``BERTopic.load`` gives a folder) and calls its own ``save(...,
serialization="safetensors")``, so ``BERTopic.load(OUT)`` reads it, and its
``transform`` assigns by cosine to the topic embeddings: our centroids.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ray_topics.core.foreign_topics import ForeignTopic
from ray_topics.execution.bertopic_lib import require_bertopic

__all__ = ["SIDECAR", "BertopicModelError", "LoadedModel", "read_model", "write_model"]

# files of a model BERTopic saved with serialization="safetensors" or "pytorch"
TOPICS_FILE = "topics.json"
CONFIG_FILE = "config.json"
EMBEDDING_FILES = ("topic_embeddings.safetensors", "topic_embeddings.bin")
# what an export adds beside BERTopic's files (BERTopic.load ignores it): our ids and calibration
SIDECAR = "ray_topics.json"


class BertopicModelError(ValueError):
    """A BERTopic model cannot be imported or exported; the message says what to do."""


@dataclass
class LoadedModel:
    """What an import takes from a BERTopic model.

    Attributes:
        topics: its topics, the outlier topic ``-1`` left out.
        dim: its topic embeddings' dimension.
        doc_topics: its training documents' topics, in training order (``topics_``), if it holds them.
        serialization: ``safetensors``, ``pytorch`` or ``pickle``.
        embedding_model: the embedding model its ``config.json`` names, if any.
        sidecar: the ``ray_topics.json`` of a folder an export wrote, if any.
        model: the BERTopic object itself.
    """

    topics: list[ForeignTopic]
    dim: int
    doc_topics: np.ndarray | None
    serialization: str
    embedding_model: str | None
    sidecar: dict[str, Any] | None
    model: Any


def read_model(path: str | Path) -> LoadedModel:
    """Read a saved BERTopic model; :class:`BertopicModelError` says why one cannot be read."""
    p = Path(path)
    if not p.exists():
        raise BertopicModelError(f"no BERTopic model at {p}: no such file or folder")
    if p.is_dir():
        model, serialization, pointer = _read_folder(p)
        sidecar = _read_sidecar(p / SIDECAR)
    else:
        model, serialization, pointer, sidecar = _read_pickle(p), "pickle", None, None
    return _loaded(p, model, serialization, pointer, sidecar)


def _read_folder(p: Path) -> tuple[Any, str, str | None]:
    have = {f.name for f in p.iterdir()}
    weights = [f for f in EMBEDDING_FILES if f in have]
    missing = [f for f in (TOPICS_FILE, CONFIG_FILE) if f not in have]
    missing += [] if weights else [" or ".join(EMBEDDING_FILES)]
    if missing:
        raise BertopicModelError(
            f"{p} is not a BERTopic model folder: it lacks {', '.join(missing)}. A folder written by "
            "BERTopic.save(path, serialization='safetensors' or 'pytorch') holds topics.json, config.json and "
            "topic_embeddings.safetensors (or .bin); a pickled model is one file"
        )
    require_bertopic()
    from bertopic import _save_utils
    from bertopic._bertopic import _create_model_from_files

    try:
        topics, params, tensors, ctfidf, ctfidf_config, images = _save_utils.load_local_files(p)
        pointer = params.pop("embedding_model", None)
        model = _create_model_from_files(topics, params, tensors, ctfidf, ctfidf_config, images, warn_no_backend=False)
    except Exception as exc:  # a corrupt JSON or tensor file: BERTopic raises anything
        msg = f"cannot read the BERTopic model in {p} (a file is corrupt or incomplete): {exc}"
        raise BertopicModelError(msg) from exc
    return model, "safetensors" if weights[0].endswith(".safetensors") else "pytorch", pointer


def _read_pickle(p: Path) -> Any:
    bertopic_cls = require_bertopic()
    try:
        model = bertopic_cls.load(str(p))
    except Exception as exc:  # joblib/pickle raise anything on a file that is not a pickle
        raise BertopicModelError(
            f"cannot read {p} as a pickled BERTopic model (BERTopic.save(path, serialization='pickle')): {exc}"
        ) from exc
    if not isinstance(model, bertopic_cls):
        raise BertopicModelError(f"{p} holds a pickled {type(model).__name__}, not a BERTopic model")
    return model


def _read_sidecar(p: Path) -> dict[str, Any] | None:
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise BertopicModelError(f"cannot read {p} (written by export-bertopic): {exc}") from exc
    if not isinstance(data, dict):
        raise BertopicModelError(f"{p} (written by export-bertopic) is damaged: not a JSON object")
    topics = data.get("topics", [])
    if not isinstance(topics, list):
        raise BertopicModelError(f"{p} (written by export-bertopic) is damaged: 'topics' is not a list")
    data["topics"] = [_sidecar_entry(p, k, e) for k, e in enumerate(topics)]
    return data


def _sidecar_entry(p: Path, k: int, entry: Any) -> dict[str, Any]:
    """One topic of an export's sidecar: its BERTopic id and a usable calibration (finite mean, std >= 0)."""
    try:
        tid, mean, std = entry["bertopic_id"], float(entry["sim_mean"]), float(entry["sim_std"])
    except (TypeError, KeyError, ValueError) as exc:
        raise BertopicModelError(f"{p} (written by export-bertopic) is damaged: topic entry {k}: {exc!r}") from exc
    if isinstance(tid, bool) or not isinstance(tid, int) or not (np.isfinite(mean) and np.isfinite(std) and std >= 0):
        raise BertopicModelError(
            f"{p} (written by export-bertopic) is damaged: topic entry {k} has bertopic_id {tid!r}, "
            f"sim_mean {mean}, sim_std {std} (an integer id, a finite mean and a std >= 0)"
        )
    return {**entry, "sim_mean": mean, "sim_std": std}


def _loaded(
    p: Path, model: Any, serialization: str, pointer: str | None, sidecar: dict[str, Any] | None
) -> LoadedModel:
    emb = getattr(model, "topic_embeddings_", None)
    reps = getattr(model, "topic_representations_", None)
    if emb is None or not reps:
        raise BertopicModelError(f"the BERTopic model in {p} is not fitted (it has no topic embeddings)")
    emb = np.asarray(emb, dtype=np.float32)
    ids = sorted(int(k) for k in reps)
    if emb.ndim != 2 or emb.shape[0] != len(ids):
        raise BertopicModelError(
            f"the BERTopic model in {p} is inconsistent: {len(ids)} topics but topic embeddings of shape {emb.shape}"
        )
    if not np.isfinite(emb).all():
        bad = [ids[r] for r in np.flatnonzero(~np.isfinite(emb).all(axis=1))]
        raise BertopicModelError(f"the topic embeddings in {p} hold NaN or infinite values (topics {bad}): damaged")
    sizes = {int(k): int(v) for k, v in (model.topic_sizes_ or {}).items()}
    custom = list(model.custom_labels_ or [])
    default_labels = model.topic_labels_
    topics = []
    for row, k in enumerate(ids):
        if k == -1:
            continue
        label = custom[row] if row < len(custom) else None
        if label == default_labels.get(k):  # BERTopic fills topics given no custom label with its own
            label = None
        words = [(str(w), float(s)) for w, s in reps[k] if str(w)]
        topics.append(ForeignTopic(k, emb[row], words, label or None, sizes.get(k, 0)))
    doc_topics = getattr(model, "topics_", None)
    return LoadedModel(
        topics=topics,
        dim=int(emb.shape[1]),
        doc_topics=np.asarray(doc_topics, dtype=np.int64) if doc_topics is not None and len(doc_topics) else None,
        serialization=serialization,
        embedding_model=pointer if isinstance(pointer, str) else None,
        sidecar=sidecar,
        model=model,
    )


def write_model(
    out: str | Path,
    embeddings: np.ndarray,
    words: Sequence[Sequence[tuple[str, float]]],
    sizes: Sequence[int],
    labels: Sequence[str],
    *,
    embedding_model: str | None = None,
    sidecar: dict[str, Any] | None = None,
) -> None:
    """Write topics ``0 .. n-1`` (row ``k`` of each argument) as a BERTopic model folder ``out``.

    The folder is written beside ``out`` and renamed into place, so ``out`` is
    either absent or whole; ``out`` must not exist yet.
    """
    bertopic_cls = require_bertopic()
    from bertopic._bertopic import TopicMapper
    from bertopic.cluster import BaseCluster
    from bertopic.dimensionality import BaseDimensionalityReduction

    target = Path(out)
    if target.exists():
        raise BertopicModelError(f"{target} exists already: name a new folder to export to")
    n = len(labels)
    top_n = max([len(w) for w in words], default=0)
    model = bertopic_cls(
        embedding_model=None,
        umap_model=BaseDimensionalityReduction(),
        hdbscan_model=BaseCluster(),
        top_n_words=max(top_n, 1),
    )
    model.topic_embeddings_ = np.asarray(embeddings, dtype=np.float32)
    model.topic_representations_ = {k: [(str(w), float(s)) for w, s in words[k]] for k in range(n)}
    model.topic_sizes_ = {k: int(sizes[k]) for k in range(n)}
    model.topics_ = []  # no training documents travel: get_topic_freq and the plots read topic_sizes_
    model.custom_labels_ = list(labels)
    model.topic_mapper_ = TopicMapper(list(range(n)))
    model.topic_aspects_ = {}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save(str(tmp), serialization="safetensors", save_embedding_model=embedding_model or False)
        if sidecar is not None:
            (tmp / SIDECAR).write_text(json.dumps(sidecar, indent=2))
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
