"""The keyword step every tier runs (``keywords.representation``): our c-TF-IDF, or BERTopic's representation models.

* ``ctfidf`` (default): :func:`ray_topics.core.keywords.ctfidf_keywords`, no BERTopic needed.
* ``keybert``: BERTopic's ``KeyBERTInspired``: each topic's ``keywords.candidates`` best c-TF-IDF
  words, re-ranked by the cosine of their embedding to the mean embedding of the topic's
  ``keywords.keybert_docs`` most representative documents.
* ``mmr``: BERTopic's ``MaximalMarginalRelevance``: the candidates re-ranked for relevance to
  the topic and difference from each other (``keywords.mmr_diversity``).

For both, the candidates' weights are BERTopic's own ``ClassTfidfTransformer``
(``reduce_frequent_words=True``) on our counts: a word counts once per document
(:func:`ray_topics.core.keywords.keyword_vectorizer`), and a word in fewer than
``min_docs`` of a topic's documents is no candidate for it. Words and documents
are embedded by the configured embedder. BERTopic is the ``bertopic`` extra,
imported on first use (:mod:`ray_topics.execution.bertopic_lib`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from ray_topics.core.keywords import ctfidf_keywords, ctfidf_scores, keyword_vectorizer
from ray_topics.core.tokens import corpus_words
from ray_topics.execution.bertopic_lib import require_bertopic

__all__ = ["KINDS", "KeywordModel"]

KINDS = ("ctfidf", "keybert", "mmr")


class KeywordModel:
    """Keywords of each class of documents, by ``kind`` (see module doc).

    Args:
        kind: ``ctfidf``, ``keybert`` or ``mmr``.
        encode: texts -> unit embeddings (the embedder's ``encode``); called only by keybert and mmr.
        candidates: c-TF-IDF words per class that keybert and mmr re-rank.
        mmr_diversity: MMR's diversity, 0 (relevance only) to 1.
        keybert_docs: representative documents per class (keybert).
        keybert_samples: documents per class that keybert picks its representative ones from.
        stops: stop words, never keywords (:func:`ray_topics.core.tokens.stop_words` of
            ``keywords.languages`` and ``keywords.stop_words``); None: English.
    """

    def __init__(
        self,
        kind: str = "ctfidf",
        encode: Callable[[list[str]], np.ndarray] | None = None,
        *,
        candidates: int = 30,
        mmr_diversity: float = 0.3,
        keybert_docs: int = 5,
        keybert_samples: int = 500,
        stops: Collection[str] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"keywords.representation must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        self.encode = encode
        self.candidates = candidates
        self.mmr_diversity = mmr_diversity
        self.keybert_docs = keybert_docs
        self.keybert_samples = keybert_samples
        self.stops = None if stops is None else frozenset(stops)

    def __call__(
        self, docs: Sequence[str], labels: Sequence[object], top_n: int = 10, min_df: int = 1, *, min_docs: int = 2
    ) -> dict[object, list[str]]:
        """The ``top_n`` keywords of each class of ``labels`` (the signature of ``ctfidf_keywords``)."""
        if self.kind == "ctfidf":
            return ctfidf_keywords(docs, labels, top_n, min_df, min_docs=min_docs, stops=self.stops)
        scored = self.represent(docs, labels, top_n, min_df, min_docs=min_docs)
        return {c: [w for w, _s in ws] for c, ws in scored.items()}

    def represent(
        self, docs: Sequence[str], labels: Sequence[object], top_n: int = 10, min_df: int = 1, *, min_docs: int = 2
    ) -> dict[object, list[tuple[str, float]]]:
        """``(word, score)`` of each class by BERTopic's representation model (``keybert`` or ``mmr``)."""
        from scipy import sparse

        require_bertopic()
        from bertopic.vectorizers import ClassTfidfTransformer

        known = corpus_words(docs)  # read once, for both counters of these documents
        counter = keyword_vectorizer(min_df, stops=self.stops, known=known)
        classes, words, ours = ctfidf_scores(docs, labels, min_df, min_docs=min_docs, vectorizer=counter)
        out: dict[object, list[tuple[str, float]]] = {c: [] for c in classes}
        if not len(words):
            return out
        vec = keyword_vectorizer(vocabulary=list(words), stops=self.stops, known=known)
        pos = {c: i for i, c in enumerate(classes)}
        topic = np.array([pos[lab] for lab in labels])
        shape = (len(classes), len(topic))
        member = sparse.csr_matrix((np.ones(len(topic)), (topic, np.arange(len(topic)))), shape=shape)
        tf = (member @ vec.transform(docs)).tocsr()  # classes x words: documents containing the word
        ctfidf = ClassTfidfTransformer(reduce_frequent_words=True).fit(tf)
        weights = ctfidf.transform(tf.astype(np.float64)).toarray()
        weights[ours <= 0] = 0.0  # our min-documents rule: a word too few members share is no candidate
        best = np.argsort(-weights, axis=1, kind="stable")[:, : self.candidates]
        wanted = {}  # class -> its candidates, (word, weight) best first; classes without one are left out
        for k in range(len(classes)):
            if ws := [(str(words[j]), float(weights[k, j])) for j in best[k] if weights[k, j] > 0]:
                wanted[k] = ws
        if not wanted:
            return out
        model = self._model(top_n)
        host = self._host(vec, ctfidf)
        frame = _documents(docs, topic, set(wanted))
        matrix = sparse.csr_matrix(weights[sorted(wanted)])
        picked = model.extract_topics(host, frame, matrix, wanted)
        for k, ws in picked.items():
            out[classes[int(k)]] = [(str(w), float(s)) for w, s in ws if w][:top_n]
        return out

    def _model(self, top_n: int) -> Any:
        from bertopic.representation import KeyBERTInspired, MaximalMarginalRelevance

        if self.kind == "keybert":
            return KeyBERTInspired(
                top_n_words=top_n,
                nr_repr_docs=self.keybert_docs,
                nr_samples=self.keybert_samples,
                nr_candidate_words=self.candidates,
            )
        return MaximalMarginalRelevance(diversity=self.mmr_diversity, top_n_words=top_n)

    def _host(self, vec: Any, ctfidf: Any) -> Any:
        """The BERTopic object a representation model reads: our counter, c-TF-IDF and embedder."""
        from bertopic.backend import BaseEmbedder

        if self.encode is None:
            raise ValueError(f"keywords.representation {self.kind} embeds words: give the KeywordModel an encoder")
        encode = self.encode

        class _Encoder(BaseEmbedder):
            def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
                return np.asarray(encode(list(documents)), dtype=np.float32)

        bertopic_cls = require_bertopic()
        return bertopic_cls(embedding_model=_Encoder(), vectorizer_model=vec, ctfidf_model=ctfidf)


def _documents(docs: Sequence[str], topic: np.ndarray, keep: set[int]) -> Any:
    """BERTopic's documents frame (``Document``, ``ID``, ``Topic``) of the classes in ``keep``."""
    import pandas as pd

    rows = [i for i, k in enumerate(topic.tolist()) if k in keep]
    return pd.DataFrame({"Document": [docs[i] for i in rows], "ID": rows, "Topic": topic[rows]})
