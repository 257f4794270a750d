"""What the HTML report reads and derives from the store: a :class:`ReportData`, one :class:`DomainData` per domain.

:func:`gather` holds every query the report makes, run once, and gives each topic
the status it had at ``as_of`` (:func:`ray_topics.core.lifecycle.known_at`);
:func:`lineage_links` and :func:`project_2d` derive from that data what the store
does not keep (parent-to-child links, a 2-D map). Kept apart from
the figures (:mod:`ray_topics.ops.report_charts`) and the page
(:mod:`ray_topics.ops.report`) so the store is read in one place and both are
functions of plain data, testable without a store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np

from ray_topics.config import HealthConfig
from ray_topics.core.lifecycle import known_at
from ray_topics.core.timeutil import as_utc
from ray_topics.core.types import EventType, Topic, TopicEvent
from ray_topics.ops.health import TopicHealth, average_confidence, health_from_config, health_summary
from ray_topics.ops.stories import placed_until
from ray_topics.storage.store import Store
from ray_topics.storage.stories import Story

__all__ = [
    "DomainData",
    "ReportData",
    "gather",
    "lineage_links",
    "project_2d",
]

EXAMPLES_PER_TOPIC = 3
CHANNELS_PER_TOPIC = 3


# ---------------------------------------------------------------------- the data
@dataclass
class DomainData:
    """What the report shows of one domain, as read from the store at ``as_of``.

    Attributes:
        domain: the domain's name.
        topics: every topic born by ``as_of``, any status, by number.
        health: the live topics' health (:mod:`ray_topics.ops.health`).
        days: the report's days, oldest first (the window, or the whole history).
        daily: ``topic_id -> videos`` per day of ``days``.
        events: every lineage event up to ``as_of``, oldest first (the whole
            history: a topic's place in the lineage and its status at an earlier
            time need its events before the window too).
        confidence: ``topic_id -> (videos, mean confidence)`` over the window.
        examples: ``topic_id ->`` titles of its most confident videos in the window.
        channels: ``topic_id ->`` its busiest channels in the window, as (channel, videos).
    """

    domain: str
    topics: list[Topic]
    health: list[TopicHealth]
    days: list[date]
    daily: dict[str, list[int]]
    events: list[TopicEvent]
    confidence: dict[str, tuple[int, float]]
    examples: dict[str, list[str]]
    channels: dict[str, list[tuple[str, int]]]


@dataclass
class ReportData:
    """Everything the report shows: the page's facts and one :class:`DomainData` per domain.

    Attributes:
        title: the page title.
        as_of: event time of the report (aware UTC).
        start: start of the window (None: the whole history).
        low_confidence: the ``LOW_CONFIDENCE`` threshold, drawn on the confidence bars.
        summary: :func:`ray_topics.ops.health.health_summary` of every live topic.
        domains: by name.
        global_topics: the global topics at ``as_of``: id -> its topics (one story across domains).
        stories: the placed story view's stories that cross domains, largest first, each with its topic
            (:meth:`ray_topics.storage.stories.StoryMoves.crossing`), over ``story_window``.
        story_days: the placed days the stories sum (None: the report shows no stories).
        story_window: those days, ending with the newest day placed by ``as_of`` (None: none placed).
    """

    title: str
    as_of: datetime
    start: datetime | None
    low_confidence: float
    summary: dict[str, Any]
    domains: list[DomainData]
    global_topics: dict[int, list[Topic]] = field(default_factory=dict)
    stories: list[tuple[Story, Topic | None]] = field(default_factory=list)
    story_days: int | None = None
    story_window: tuple[datetime, datetime] | None = None


def gather(
    store: Store,
    as_of: datetime,
    *,
    health_cfg: HealthConfig,
    title: str = "ray-topics report",
    window_days: int | None = None,
    story_fit: float | None = None,
    story_days: int | None = None,
) -> ReportData:
    """Read what the report shows from the store: every query of the report is here.

    Args:
        store: the operational store.
        as_of: event time of the report (naive is taken as UTC); nothing published
            or recorded after it is shown.
        health_cfg: the ``health`` config section (alert thresholds).
        title: page title.
        window_days: the charts' days are the last ``window_days`` (all history when None).
        story_fit, story_days: with both, the stories that cross domains over the ``story_days`` placed
            days before ``as_of``, a video fitting its answer at ``story_fit`` (``daily.misfit_confidence``).
    """
    as_of = as_utc(as_of)
    assert as_of is not None
    start = None if window_days is None else as_of - timedelta(days=window_days)
    every = [TopicEvent.from_row(e) for e in store.topics.events()]
    events = [e for e in every if e.at <= as_of]
    # a later birth is not known yet; a later death, dying or merge not either
    topics = known_at(
        [t for t in store.topics.list() if t.born_at <= as_of], events, [e for e in every if e.at > as_of], as_of
    )
    health = health_from_config(store, as_of, health_cfg)
    names = sorted({t.domain for t in topics} | {e.domain for e in events})
    # the charts' whole days (_day_range's, with a window): from its first midnight up to as_of, included
    first_day = None if start is None else datetime.combine(_day_range([], as_of, start)[0], time(), UTC)
    shown_until = as_of + timedelta(microseconds=1)
    domains = []
    for name in names:
        counts = store.activity.daily_counts(name, first_day, shown_until)
        days = _day_range([d for _t, d, _n in counts], as_of, start)
        index = {d: i for i, d in enumerate(days)}
        daily: dict[str, list[int]] = {}
        for tid, day, n in counts:
            i = index.get(date.fromisoformat(str(day)[:10]))
            if i is not None:
                daily.setdefault(tid, [0] * len(days))[i] += n
        examples = store.activity.examples(name, start, as_of, EXAMPLES_PER_TOPIC)
        domains.append(
            DomainData(
                domain=name,
                topics=[t for t in topics if t.domain == name],
                health=[h for h in health if h.domain == name],
                days=days,
                daily=daily,
                events=[e for e in events if e.domain == name],
                confidence=average_confidence(store, domain=name, start=start, end=as_of),
                examples={tid: [r["title"] for r in rows if r["title"]] for tid, rows in examples.items()},
                channels=store.activity.top_channels(name, start, as_of, CHANNELS_PER_TOPIC),
            )
        )
    by_id = {t.topic_id: t for t in topics}
    linked = {
        gid: [by_id[tid] for tid in members if tid in by_id] for gid, members in store.global_topics.at(as_of).items()
    }
    stories, story_window = [], None
    if story_fit is not None and story_days is not None:
        end = placed_until(store, as_of)  # the days summed are days placed, as GET /v1/stories sums them
        if end is not None:
            story_window = (end - timedelta(days=story_days), end)
            stories = [(st, by_id.get(st.topic_id)) for st in store.stories.crossing(*story_window, story_fit)]
    return ReportData(
        title,
        as_of,
        start,
        health_cfg.low_confidence,
        health_summary(health),
        domains,
        global_topics=linked,
        stories=stories,
        story_days=story_days if story_fit is not None else None,
        story_window=story_window,
    )


def _day_range(seen: Sequence[str], as_of: datetime, start: datetime | None) -> list[date]:
    """The days from the window's start (else the first day with a video) to ``as_of``'s day."""
    last = (as_of - timedelta(microseconds=1)).date()  # as_of at midnight: the day before is the last
    if start is not None:
        first = start.date()
    else:
        first = min((d for d in (date.fromisoformat(s[:10]) for s in seen) if d <= last), default=last)
    first = min(first, last)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# ---------------------------------------------------------------------- pure helpers
def lineage_links(events: Sequence[TopicEvent]) -> list[tuple[str, str, str, datetime]]:
    """(kind, parent, child, at) of every split and merge: a split from the old topic to each new
    one, a merge from the absorbed topic to the one that absorbed it.

    The monthly tier records each split and merge on both sides (``into`` on one,
    ``from`` or ``absorbed`` on the other); either side alone gives the link, and
    a link recorded on both sides is listed once.

    Example:
        >>> from datetime import UTC, datetime
        >>> at = datetime(2024, 2, 1, tzinfo=UTC)
        >>> links = lineage_links([
        ...     TopicEvent("d", "d:0", EventType.SPLIT, at, ["d:3"], {"into": ["d:3"]}),
        ...     TopicEvent("d", "d:3", EventType.SPLIT, at, ["d:0"], {"from": "d:0"}),
        ...     TopicEvent("d", "d:1", EventType.MERGE, at, ["d:2"], {"into": "d:2"}),
        ... ])
        >>> [(kind, parent, child) for kind, parent, child, _at in links]
        [('split', 'd:0', 'd:3'), ('merge', 'd:1', 'd:2')]
    """
    links: dict[tuple[str, str, str, datetime], None] = {}
    for e in events:
        d = e.details
        if e.type == EventType.SPLIT:
            if "from" in d:
                links[("split", str(d["from"]), e.topic_id, e.at)] = None
            else:
                for child in d.get("into", e.related):
                    links[("split", e.topic_id, str(child), e.at)] = None
        elif e.type == EventType.MERGE:
            if "into" in d:
                links[("merge", e.topic_id, str(d["into"]), e.at)] = None
            for absorbed in d.get("absorbed", []):
                links[("merge", str(absorbed), e.topic_id, e.at)] = None
    return list(links)


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """Rows projected on their first two principal axes (PCA), signs fixed so the picture is stable.

    PCA rather than UMAP: deterministic, instant for hundreds of centroids, and a
    distance on the map still means a distance between centroids. Fewer than two
    rows, or rows that are all equal, sit at the origin.

    Example:
        >>> xy = project_2d(np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]))
        >>> xy.shape, bool(np.isfinite(xy).all())
        ((4, 2), True)
    """
    x = np.asarray(vectors, dtype=np.float64)
    out = np.zeros((len(x), 2))
    if len(x) < 2:
        return out
    u, s, _ = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    k = min(2, len(s))
    out[:, :k] = u[:, :k] * s[:k]
    for j in range(k):
        if out[np.argmax(np.abs(out[:, j])), j] < 0:
            out[:, j] = -out[:, j]
    return out
