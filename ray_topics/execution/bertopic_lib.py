"""The optional BERTopic dependency (the ``bertopic`` extra): imported lazily, with an install hint when missing.

Importing ``bertopic`` loads torch, transformers, UMAP, HDBSCAN, plotly and
pandas (tens of seconds), so nothing imports it before a command or a
setting needs it: ``import-bertopic``, ``export-bertopic``
(:mod:`ray_topics.interop`) and ``keywords.representation: keybert | mmr``
(:mod:`ray_topics.execution.representation`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["INSTALL_HINT", "BertopicUnavailable", "require_bertopic"]

INSTALL_HINT = "pip install 'ray-topics[bertopic]' (BERTopic 0.17)"


class BertopicUnavailable(ImportError):
    """BERTopic is not installed; the message says how to install it."""


def require_bertopic() -> Any:
    """The ``BERTopic`` class; :class:`BertopicUnavailable` with the install hint when it does not import."""
    try:
        from bertopic import BERTopic
    except ImportError as exc:
        raise BertopicUnavailable(f"this needs BERTopic, which does not import ({exc}): {INSTALL_HINT}") from exc
    return BERTopic
