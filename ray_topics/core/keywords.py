"""Topic keywords by class-based TF-IDF (BERTopic's c-TF-IDF) and labels from them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ray_topics.core.tokens import TOKEN_PATTERN, corpus_words, keyword_text, stop_words

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import CountVectorizer

__all__ = ["ctfidf_keywords", "ctfidf_scores", "keyword_vectorizer", "label_from_keywords"]


def _words_only(doc: str, known: Collection[str] | None = None) -> str:
    return keyword_text(doc, known).lower()


def keyword_vectorizer(
    min_df: int = 1,
    vocabulary: Sequence[str] | None = None,
    stops: Collection[str] | None = None,
    docs: Sequence[str] | None = None,
    known: Collection[str] | None = None,
) -> CountVectorizer:
    """The document-word counter keywords are taken from: binary, stop words and debris removed.

    ``stops``: the stop words (:func:`ray_topics.core.tokens.stop_words`); None: English. ``docs``: the corpus
    it will count, whose own words tell where an acronym in a hashtag ends (``#NHSfrontline``:
    :func:`ray_topics.core.tokens.corpus_words`), or ``known``: those words, read once for several counters of
    one corpus; neither: by case alone.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    if known is None:
        known = corpus_words(docs) if docs is not None else frozenset()
    return CountVectorizer(
        stop_words=sorted(stop_words() if stops is None else stops),
        min_df=min_df,
        binary=True,
        token_pattern=TOKEN_PATTERN,
        preprocessor=partial(_words_only, known=known) if known else _words_only,
        vocabulary=vocabulary,
    )


def ctfidf_scores(
    docs: Sequence[str],
    labels: Sequence[object],
    min_df: int = 1,
    *,
    min_docs: int = 2,
    stops: Collection[str] | None = None,
    vectorizer: CountVectorizer | None = None,
) -> tuple[list[object], np.ndarray, np.ndarray]:
    """(classes, vocabulary, classes x words c-TF-IDF weights) under the rules of :func:`ctfidf_keywords`.

    A weight is ``sqrt(tf_c) * log(1 + A / f)`` with ``tf_c`` the number of the class's
    documents containing the word, or 0 where the word is in fewer than ``min_docs`` of
    them. Up to a factor per class (``1 / sqrt(tf summed over the class)``), that is
    BERTopic's ``ClassTfidfTransformer(reduce_frequent_words=True)`` on the same
    counts, which rounds ``A`` down to an integer: the words rank the same
    (``tests/test_bertopic_io.py`` checks it).
    """
    from scipy import sparse

    classes = sorted(set(labels), key=str)
    if not any(d and d.strip() for d in docs):
        return classes, np.array([], dtype=object), np.zeros((len(classes), 0))
    vec = keyword_vectorizer(min_df, stops=stops, docs=docs) if vectorizer is None else vectorizer
    try:
        x = vec.fit_transform(docs)  # documents x words, 0/1
    except ValueError:  # empty vocabulary
        return classes, np.array([], dtype=object), np.zeros((len(classes), 0))
    pos = {c: i for i, c in enumerate(classes)}
    rows = np.array([pos[lab] for lab in labels])
    member = sparse.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(classes), len(rows)))
    tf = np.asarray((member @ x).todense(), dtype=np.float64)  # classes x words: documents containing the word
    n_docs = np.bincount(rows, minlength=len(classes))
    avg_words = tf.sum() / len(classes)
    idf = np.log(1.0 + avg_words / np.maximum(tf.sum(axis=0), 1.0))
    scores = np.sqrt(tf) * idf
    scores[tf < np.minimum(min_docs, n_docs)[:, None]] = 0.0
    return classes, vec.get_feature_names_out(), scores


def ctfidf_keywords(
    docs: Sequence[str],
    labels: Sequence[object],
    top_n: int = 10,
    min_df: int = 1,
    *,
    min_docs: int = 2,
    stops: Collection[str] | None = None,
    vectorizer: CountVectorizer | None = None,
) -> dict[object, list[str]]:
    """Top ``top_n`` c-TF-IDF words of each class in ``labels``.

    BERTopic's c-TF-IDF, ``sqrt(tf_c) * log(1 + A / f)`` (``A``: mean words per
    class, ``f``: the word's count over all classes), with the stop words ``stops``
    removed (None: English; :func:`ray_topics.core.tokens.stop_words`), and links,
    @handles and file names before them (:func:`keyword_text`; a hashtag's acronym ends where
    the corpus's own words say),
    counted in *documents*: ``tf_c`` is the number of the class's documents that
    contain the word, not its occurrences. A name repeated in
    one long text then weighs as one document, and a keyword must appear in at
    least ``min_docs`` of its class's documents (in all of them when the class
    has fewer). Both keep topic keywords to words the members share, which is
    what makes them co-occur (NPMI) over a corpus. Classes whose texts are
    empty get []. The weights: :func:`ctfidf_scores`. ``vectorizer`` replaces the
    counter (:func:`keyword_vectorizer`; ``min_df`` and ``stops`` are then its own),
    so another tokeniser can be compared under the same weights.

    Example:
        >>> docs = ["cat cat purr", "cat meow purr", "dog bark", "dog woof bark"]
        >>> kw = ctfidf_keywords(docs, [0, 0, 1, 1], top_n=2)
        >>> sorted(kw[0]), sorted(kw[1])
        (['cat', 'purr'], ['bark', 'dog'])
        >>> ctfidf_keywords(["ebola http://ow.ly/a1", "ebola bit.ly/b2 @who", "flu pic.twitter.com/x", "flu t.co/y"],
        ...                 [0, 0, 1, 1], top_n=3)
        {0: ['ebola'], 1: ['flu']}
    """
    classes, words, scores = ctfidf_scores(docs, labels, min_df, min_docs=min_docs, stops=stops, vectorizer=vectorizer)
    out: dict[object, list[str]] = {}
    for i, c in enumerate(classes):
        row = scores[i]
        order = np.argsort(-row, kind="stable")[:top_n]
        out[c] = [str(words[j]) for j in order if row[j] > 0]
    return out


def label_from_keywords(keywords: Sequence[str], fallback: str, n: int = 3) -> str:
    """A readable label: the first ``n`` keywords, or ``fallback`` when there are none."""
    return ", ".join(keywords[:n]) if keywords else fallback
