"""Topics of a model fitted elsewhere (BERTopic) as ours, and our ids inside its labels.

Plain Python: the BERTopic adapter (:mod:`ray_topics.interop`) reads the
model's files into :class:`ForeignTopic` s, and the rules here turn them
into :class:`~ray_topics.core.types.Topic` s of one domain:

* the centroid is the topic's embedding (BERTopic's ``topic_embeddings_`` row), made unit length;
* the keywords are its representation's words, the label its custom label when it has one
  (else ours, from the keywords), the size its size;
* its number is the ray-topics id an exported label carries (``news:7 | label``, see
  :func:`exported_label`), else the BERTopic id, else the domain's next free number, so a
  model's topic ids survive an import and an export followed by an import;
* its calibration comes from its members' similarity to the centroid when their embeddings
  are known (:func:`ray_topics.core.index.calibrate`), else from :func:`prior_calibration`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ray_topics.core.index import UNIT_TOLERANCE, calibrate, normalize
from ray_topics.core.keywords import label_from_keywords
from ray_topics.core.types import EventType, Topic, TopicEvent, TopicStatus

__all__ = [
    "ForeignTopic",
    "assign_numbers",
    "exported_label",
    "imported_topic",
    "member_calibration",
    "parse_exported_label",
    "prior_calibration",
]

# how an exported custom label carries our id: "<domain>:<number> | <label>"
_EXPORTED = re.compile(r"^(?P<domain>[^\s:|]+):(?P<number>\d+) \| (?P<label>.*)$", re.DOTALL)


@dataclass(frozen=True)
class ForeignTopic:
    """One topic of a foreign model as its files hold it.

    Attributes:
        foreign_id: its id there (BERTopic: ``0, 1, ...``; the outlier topic ``-1`` is never one).
        embedding: its topic embedding (any length; BERTopic's is the mean of its members' embeddings).
        words: its representation, best first: ``(word, score)``.
        label: its custom label, or None when it has none.
        size: its number of training documents.
    """

    foreign_id: int
    embedding: np.ndarray
    words: list[tuple[str, float]] = field(default_factory=list)
    label: str | None = None
    size: int = 0


def exported_label(topic_id: str, label: str) -> str:
    """The custom label an export writes: our id, then our label.

    Example:
        >>> exported_label("news:7", "trump, white, house")
        'news:7 | trump, white, house'
        >>> parse_exported_label(_)
        ('news', 7, 'trump, white, house')
    """
    return f"{topic_id} | {label}"


def parse_exported_label(text: str | None) -> tuple[str, int, str] | None:
    """``(domain, number, label)`` of a label :func:`exported_label` wrote, else None."""
    m = _EXPORTED.match(text or "")
    return None if m is None else (m["domain"], int(m["number"]), m["label"])


def assign_numbers(foreign: Sequence[ForeignTopic], taken: Iterable[int] = ()) -> dict[int, int]:
    """Our topic number of each foreign topic (by ``foreign_id``), never one in ``taken`` or given twice.

    In order of preference: the number an exported label carries, the foreign id,
    the next number above every other.

    Example:
        >>> e = np.ones(2)
        >>> ts = [ForeignTopic(0, e, label="news:7 | a"), ForeignTopic(1, e), ForeignTopic(7, e)]
        >>> assign_numbers(ts)
        {0: 7, 1: 1, 7: 8}
    """
    used = set(taken)
    out: dict[int, int] = {}
    for t in foreign:
        parsed = parse_exported_label(t.label)
        if parsed is not None and parsed[1] not in used:
            out[t.foreign_id] = parsed[1]
            used.add(parsed[1])
    for t in foreign:
        if t.foreign_id not in out and t.foreign_id >= 0 and t.foreign_id not in used:
            out[t.foreign_id] = t.foreign_id
            used.add(t.foreign_id)
    for t in foreign:
        if t.foreign_id not in out:
            out[t.foreign_id] = max(used, default=-1) + 1
            used.add(out[t.foreign_id])
    return out


def member_calibration(centroid: np.ndarray, members: np.ndarray, upper_quantile: float) -> tuple[float, float]:
    """(mu, sigma) of the members' cosine to the centroid (:func:`ray_topics.core.index.calibrate`)."""
    sims = normalize(np.atleast_2d(members)) @ normalize(centroid)
    return calibrate(sims, upper_quantile)


def prior_calibration(embedding: np.ndarray, prior_mean: float, prior_std: float) -> tuple[float, float]:
    """(mu, sigma) of a topic whose members are unknown.

    BERTopic's topic embedding is the mean ``m`` of its members' embeddings; when
    those are unit vectors (sentence-transformers' normalised output) the members'
    mean cosine to the centroid is exactly ``|m|``, so ``mu = |m|``. A longer
    vector was not such a mean: ``mu = prior_mean``. ``sigma`` is always ``prior_std``.

    Example:
        >>> members = normalize(np.array([[1.0, 0.2], [1.0, -0.2]]))
        >>> mu, sd = prior_calibration(members.mean(axis=0), 0.5, 0.05)
        >>> round(mu, 4) == round(float(members[0] @ normalize(members.mean(axis=0))), 4), sd
        (True, 0.05)
    """
    norm = float(np.linalg.norm(np.asarray(embedding, dtype=np.float64)))
    mu = norm if 0.0 < norm <= 1.0 + UNIT_TOLERANCE else prior_mean  # longer: no mean of unit vectors
    return min(mu, 1.0), prior_std


def imported_topic(
    domain: str, number: int, t: ForeignTopic, at: datetime, mu: float, sigma: float
) -> tuple[Topic, TopicEvent]:
    """The active topic ``domain:number`` made from ``t``, and its birth event (``by: import``)."""
    tid = f"{domain}:{number}"
    keywords = [w for w, _s in t.words if w]
    parsed = parse_exported_label(t.label)
    custom = parsed[2] if parsed is not None else t.label
    topic = Topic(
        topic_id=tid,
        domain=domain,
        number=number,
        label=custom or label_from_keywords(keywords, fallback=tid),
        keywords=keywords,
        centroid=normalize(np.asarray(t.embedding, dtype=np.float32)),
        sim_mean=float(mu),
        sim_std=float(sigma),
        size=int(t.size),
        status=TopicStatus.ACTIVE,
        born_at=at,
        last_seen_at=at,
        updated_at=at,
    )
    event = TopicEvent.of(topic, EventType.BIRTH, at, by="import", size=int(t.size))
    return topic, event
