"""Event concentration (issue 14, "one event, one topic"): how whole each event stays in one topic.

An *event* is a set of documents that belong together: a planted topic (the
intended truth: a near-duplicate pair one event, a split topic's parts two
after the fork), or, on real text, the documents holding one rare, bursty
term (:func:`bursty_terms`). For each event and each side (the streaming
answers, one full BERTopic fit):

* concentration: the share of the event's documents in its largest topic
  (documents with no topic, or the full fit's outliers, count in the
  denominator and in no topic);
* misfit share: the share that are misfits (streaming: no topic or a
  confidence below ``daily.misfit_confidence``; full fit: outliers);
* spread: how many topics hold at least :data:`SPREAD_SHARE` of the event.

Not a script: :mod:`benchmarks.quality` imports it.

How news events are chosen (:func:`bursty_terms`): every word of the
keyword tokeniser (:func:`ray_topics.core.keywords.keyword_vectorizer`: links
and handles dropped, English stop words) found in at least
:data:`MIN_EVENT_DOCS` documents and at most :data:`MAX_EVENT_SHARE` of the
corpus (rare, specific), at least :data:`BURST_SHARE` of whose documents fall
within :data:`BURST_DAYS` consecutive days (a story, not a topic of every
week), and written with a capital in at least :data:`NAMED_SHARE` of its
occurrences (a name: Rutte, Orly, Adele, not "imposing" or "alcohol",
which burst by chance); ranked by that share, then by documents; a term whose documents
overlap an already chosen one's by :data:`MAX_OVERLAP` (Jaccard) or more is
the same story and skipped; at most :data:`MAX_EVENTS` terms.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["bursty_terms", "concentration", "planted_events", "summarise", "term_documents"]

SPREAD_SHARE = 0.05  # a topic holding at least this share of an event counts in its spread
MIN_EVENT_DOCS = 10  # a news event term is in at least this many documents
MAX_EVENT_SHARE = 0.02  # ... and in at most this share of the corpus
BURST_DAYS = 7  # ... at least BURST_SHARE of them within this many consecutive days
BURST_SHARE = 0.8
NAMED_SHARE = 0.5  # ... written with a capital at least this often (a name)
MAX_OVERLAP = 0.5  # Jaccard of two terms' documents at which they are one story
MAX_EVENTS = 30


def concentration(members: np.ndarray, labels: np.ndarray, misfit: np.ndarray, none: Any) -> dict[str, float]:
    """Concentration, misfit share and spread of one event (``members``: its documents' positions).

    Example:
        >>> labels = np.array(["a", "a", "a", "b", "<none>"], dtype=object)
        >>> concentration(np.arange(5), labels, labels == "<none>", "<none>")
        {'n': 5, 'largest': 0.6, 'misfit': 0.2, 'spread': 2}
    """
    lab = labels[members]
    counts = Counter(x for x in lab.tolist() if x != none)
    n = len(members)
    largest = max(counts.values(), default=0)
    return {
        "n": n,
        "largest": largest / n if n else 0.0,
        "misfit": float(misfit[members].mean()) if n else 0.0,
        "spread": sum(1 for k in counts.values() if k >= SPREAD_SHARE * n),
    }


def domain_split(
    members: np.ndarray,
    domains: np.ndarray,
    labelled: np.ndarray,
    joined: dict[str, np.ndarray] | None = None,
    none: Any = None,
    reference: np.ndarray | None = None,
    reference_none: Any = None,
) -> dict[str, float]:
    """Where an event's documents outside its largest domain came from: their category mapped them there
    (``by_category``: the publishers filed the story under two desks) or the router sent them (``by_router``).

    With ``joined`` ({view: labels}, ``none`` the label of no topic): of the documents the router sent
    out, the share of the event that each view still holds with the event, in the event's largest label
    of that view (``joined_<view>``: a global topic linking their topic to the event's, say, or the story
    view placing them there), and ``unjoined``, the share of the event that the router split off and no
    view holds with it.

    Example:
        >>> domains = np.array(["w", "w", "w", "p", "p"], dtype=object)
        >>> domain_split(np.arange(5), domains, np.array([True, False, True, True, False]))
        {'largest': 0.6, 'by_category': 0.2, 'by_router': 0.2}
        >>> story = np.array(["w:0", "w:0", "w:0", "w:0", "p:3"], dtype=object)
        >>> domain_split(np.arange(5), domains, np.zeros(5, bool), {"story": story})
        {'largest': 0.6, 'by_category': 0.0, 'by_router': 0.4, 'joined_story': 0.2, 'unjoined': 0.2}

    With ``reference`` (one full fit's labels, ``reference_none`` its outlier label), also the part of those
    shares that the reference holds *with the event*, in the event's largest reference topic
    (``by_router_in_reference``, ``unjoined_in_reference``): a document that merely names the event's term
    but that one model of the whole corpus files under another story is not a story split by the router.

        >>> full = np.array([0, 0, 0, 0, 5])
        >>> got = domain_split(np.arange(5), domains, np.zeros(5, bool), {"story": story}, None, full, -1)
        >>> got["by_router_in_reference"], got["unjoined_in_reference"]
        (0.2, 0.0)
    """
    dom, lab = domains[members], labelled[members]
    counts = Counter(dom.tolist())
    top = max(counts, key=lambda d: counts[d]) if counts else None
    out = dom != top
    routed = out & ~lab
    n = max(len(members), 1)
    got = {
        "largest": counts.get(top, 0) / n,
        "by_category": float((out & lab).sum() / n),
        "by_router": float(routed.sum() / n),
    }
    if joined:
        held = np.zeros(len(members), dtype=bool)
        for view, labels in joined.items():
            lab_v = labels[members]
            sizes = Counter(x for x in lab_v.tolist() if x != none)
            home = max(sizes, key=lambda k: sizes[k]) if sizes else none
            with_it = routed & (lab_v == home) & (lab_v != none)
            got[f"joined_{view}"] = float(with_it.sum() / n)
            held |= with_it
        got["unjoined"] = float((routed & ~held).sum() / n)
    if reference is not None:
        ref = reference[members]
        sizes = Counter(x for x in ref.tolist() if x != reference_none)
        with_event = ref == max(sizes, key=lambda k: sizes[k]) if sizes else np.zeros(len(members), dtype=bool)
        got["by_router_in_reference"] = float((routed & with_event).sum() / n)
        if joined:
            got["unjoined_in_reference"] = float((routed & ~held & with_event).sum() / n)
    return got


def summarise(per_event: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Means (and the median concentration) over the events."""
    if not per_event:
        return {"events": 0, "largest": None, "largest_median": None, "misfit": None, "spread": None}
    v = list(per_event.values())
    return {
        "events": len(v),
        "largest": float(np.mean([e["largest"] for e in v])),
        "largest_median": float(np.median([e["largest"] for e in v])),
        "misfit": float(np.mean([e["misfit"] for e in v])),
        "spread": float(np.mean([e["spread"] for e in v])),
    }


def planted_events(truth_labels: np.ndarray, noise: Any) -> dict[str, np.ndarray]:
    """Each planted topic (of a truth view) as an event: its videos' positions."""
    return {str(t): np.flatnonzero(truth_labels == t) for t in sorted(set(truth_labels.tolist()) - {noise}, key=str)}


def bursty_terms(docs: Sequence[str], days: np.ndarray) -> dict[str, np.ndarray]:
    """Rare terms whose documents crowd into a few days: ``term -> positions`` (rules in the module doc).

    Args:
        docs: the corpus' texts.
        days: each document's publication day as a number (days since any epoch).

    Example:
        >>> docs = ["Quake in Town"] * 12 + ["Quake"] + ["budget talks"] * 30 + ["other news"] * 700
        >>> days = np.array([3] * 12 + [20] + list(range(30)) + list(range(700)), dtype=float) % 30
        >>> sorted(bursty_terms(docs, days))  # "quake" and "town" are one story: the burstier is kept
        ['town']
    """
    from ray_topics.core.keywords import keyword_vectorizer

    vec = keyword_vectorizer()
    x = vec.fit_transform(docs).tocsc()
    words = vec.get_feature_names_out()
    df = np.asarray(x.sum(axis=0)).ravel()
    cap = MAX_EVENT_SHARE * len(docs)
    cands = []
    for j in np.flatnonzero((df >= MIN_EVENT_DOCS) & (df <= cap)):
        rows = x.indices[x.indptr[j] : x.indptr[j + 1]]
        d = np.sort(days[rows])
        # the most documents within BURST_DAYS consecutive days (a window starting at each document's day)
        ends = np.searchsorted(d, d + BURST_DAYS, side="left")
        burst = int((ends - np.arange(len(d))).max()) / len(d)
        if burst >= BURST_SHARE and _named(str(words[j]), [docs[i] for i in rows]):
            cands.append((burst, len(rows), str(words[j]), set(rows.tolist())))
    cands.sort(key=lambda c: (-c[0], -c[1], c[2]))
    chosen: dict[str, set[int]] = {}
    for _b, _n, word, rows in cands:
        if len(chosen) >= MAX_EVENTS:
            break
        if any(len(rows & r) / len(rows | r) >= MAX_OVERLAP for r in chosen.values()):
            continue
        chosen[word] = rows
    return {w: np.array(sorted(r)) for w, r in chosen.items()}


def term_documents(docs: Sequence[str], terms: Sequence[str]) -> dict[str, np.ndarray]:
    """``term -> positions`` of the documents whose keyword tokens hold the term (a story named by hand, as the
    issue named the health stream's outbreak story by its word), whatever its share or burst.

    Example:
        >>> term_documents(["Ebola in #Guinea", "flu", "#EbolaOutbreak news"], ["ebola", "guinea", "mars"])
        {'ebola': array([0, 2]), 'guinea': array([0]), 'mars': array([], dtype=int64)}
    """
    from ray_topics.core.keywords import keyword_vectorizer

    analyse = keyword_vectorizer().build_analyzer()
    tokens = [set(analyse(d)) for d in docs]
    return {t: np.array([i for i, words in enumerate(tokens) if t.lower() in words], dtype=np.int64) for t in terms}


def _named(word: str, texts: Sequence[str]) -> bool:
    """Whether ``word`` is written with a capital in at least :data:`NAMED_SHARE` of its occurrences in ``texts``."""
    found = [m.group(0) for t in texts for m in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", t, re.I)]
    return bool(found) and sum(w[:1].isupper() for w in found) >= NAMED_SHARE * len(found)
