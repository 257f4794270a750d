"""Topic keywords by class-based TF-IDF (BERTopic's c-TF-IDF) and labels from them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ctfidf_keywords", "label_from_keywords"]


def ctfidf_keywords(
    docs: Sequence[str], labels: Sequence[object], top_n: int = 10, min_df: int = 1
) -> dict[object, list[str]]:
    """Top ``top_n`` c-TF-IDF words of each class in ``labels``.

    Each class is one document (its members' texts joined); a word's score in
    class ``c`` is BERTopic's c-TF-IDF ``sqrt(tf_c) * log(1 + A / f)`` (``A``:
    mean words per class, ``f``: the word's frequency over all classes), with
    English stop words removed. Classes whose texts are empty get [].

    Example:
        >>> docs = ["cat cat purr", "cat meow", "dog bark", "dog woof bark"]
        >>> kw = ctfidf_keywords(docs, [0, 0, 1, 1], top_n=2)
        >>> set(kw[0]) <= {"cat", "meow", "purr"}, set(kw[1]) <= {"dog", "bark", "woof"}
        (True, True)
    """
    from sklearn.feature_extraction.text import CountVectorizer

    classes = sorted(set(labels), key=str)
    joined = [" ".join(d for d, lab in zip(docs, labels, strict=True) if lab == c) for c in classes]
    if not any(j.strip() for j in joined):
        return {c: [] for c in classes}
    vec = CountVectorizer(stop_words="english", min_df=min_df, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9\-]+\b")
    try:
        counts = vec.fit_transform(joined)
    except ValueError:  # empty vocabulary
        return {c: [] for c in classes}
    tf = counts.toarray().astype(np.float64)
    avg_words = tf.sum() / len(classes)
    idf = np.log(1.0 + avg_words / np.maximum(tf.sum(axis=0), 1.0))
    scores = np.sqrt(tf) * idf
    words = vec.get_feature_names_out()
    out: dict[object, list[str]] = {}
    for i, c in enumerate(classes):
        row = scores[i]
        order = np.argsort(-row)[:top_n]
        out[c] = [str(words[j]) for j in order if row[j] > 0]
    return out


def label_from_keywords(keywords: Sequence[str], fallback: str, n: int = 3) -> str:
    """A readable label: the first ``n`` keywords, or ``fallback`` when there are none."""
    return ", ".join(keywords[:n]) if keywords else fallback
