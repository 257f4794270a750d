"""Topic health: per-topic activity of the last day and week, and the alerts it raises.

Everything is computed from the operational store in event time: ``as_of`` is
passed in, "today" is ``[as_of - 1 day, as_of)`` and "week" is
``[as_of - 7 days, as_of)``. Thresholds come in as keyword arguments (from the
``health`` section of the config through :func:`health_from_config`).

Alerts (each one fact, with one definition; they may fire together):
    ``DYING_TOPIC``: the topic's stored status is ``dying``. The daily tier sets
    it (``daily.dying_after_days`` without a video that fits the topic,
    ``ray_topics/core/lifecycle.py``); health reads it and never recomputes it,
    so the alert and the status cannot disagree.
    ``QUIET_TOPIC``: no video at all (any confidence) for ``quiet_days`` days or
    more: the early warning, days before the lifecycle would call the topic dying.
    ``LOW_CONFIDENCE``: at least ``min_videos_for_alerts`` videos this week and
    their mean confidence is below ``low_confidence``.
    ``OVER_SPECIALIZED``: at least ``min_videos_for_alerts`` videos this week and
    one channel posted more than ``max_channel_share`` of them.

Routing (:func:`routing_health`): the share of the week's videos routed to
their domain by category, by prototype and to the fallback domain, over all
domains and per domain, read back from what the store keeps of each video
(its domain and category; see the function for how).

Example:
    >>> from datetime import UTC, datetime
    >>> from ray_topics.storage.store import Store
    >>> topic_health(Store("sqlite://"), datetime(2024, 1, 8, tzinfo=UTC), low_confidence=0.6,
    ...              max_channel_share=0.5, min_videos_for_alerts=10, quiet_days=7)
    []
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ray_topics.config import Config, HealthConfig
from ray_topics.core.lifecycle import LIFECYCLE_EVENTS, known_at
from ray_topics.core.router import Route, route_shares
from ray_topics.core.timeutil import as_utc
from ray_topics.core.types import LIVE_STATUSES, Topic, TopicEvent, TopicStatus
from ray_topics.storage.store import Store

__all__ = [
    "ALERTS",
    "DYING_TOPIC",
    "LOW_CONFIDENCE",
    "OVER_SPECIALIZED",
    "QUIET_TOPIC",
    "TopicHealth",
    "average_confidence",
    "health_and_routing",
    "health_from_config",
    "health_from_payload",
    "health_payload",
    "health_summary",
    "last_video_at",
    "routing_from_config",
    "routing_health",
    "to_prometheus",
    "topic_health",
]

DYING_TOPIC = "DYING_TOPIC"
QUIET_TOPIC = "QUIET_TOPIC"
LOW_CONFIDENCE = "LOW_CONFIDENCE"
OVER_SPECIALIZED = "OVER_SPECIALIZED"
ALERTS = (DYING_TOPIC, QUIET_TOPIC, LOW_CONFIDENCE, OVER_SPECIALIZED)

_SUM_ROUNDING = 1e-9  # a mean that differs from a threshold by floating-point summation only is at it
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_METRIC_PREFIX = "ray_topics"


@dataclass
class TopicHealth:
    """Health of one live topic at ``as_of``.

    Attributes:
        topic_id: ``domain:number`` id.
        domain: the topic's domain.
        label: human-readable label.
        status: its status at ``as_of`` (``active`` or ``dying``): the stored one, or at a past
            ``as_of`` the one its lifecycle events give.
        videos_today: videos assigned to the topic in ``[as_of - 1 day, as_of)``.
        videos_week: videos assigned to the topic in ``[as_of - 7 days, as_of)``.
        avg_confidence_today: mean confidence of today's videos (None without videos).
        avg_confidence_week: mean confidence of the week's videos (None without videos).
        channels_week: distinct channels among the week's videos.
        top_channel_share_week: share of the week's videos posted by its busiest
            channel (None without videos).
        days_since_last_video: whole days between the newest video (or the stored
            ``last_seen_at``, whichever is newer) and ``as_of``.
        size: stored topic size.
        alerts: names from :data:`ALERTS`, in that order.
    """

    topic_id: str
    domain: str
    label: str
    status: str
    videos_today: int
    videos_week: int
    avg_confidence_today: float | None
    avg_confidence_week: float | None
    channels_week: int
    top_channel_share_week: float | None
    days_since_last_video: int
    size: int
    alerts: list[str] = field(default_factory=list)


def last_video_at(
    store: Store, before: datetime, *, domain: str | None = None, topic_ids: Sequence[str] | None = None
) -> dict[str, datetime]:
    """Publication time of the newest video of each topic published before ``before`` (aware UTC).

    Args:
        store: the operational store.
        before: exclusive upper bound (event time).
        domain: only this domain's topics (all domains when None).
        topic_ids: only these topics (all of ``domain``'s stored topics when None; ``domain`` is then unused).
    """
    ids = [t.topic_id for t in store.topics.list(domain)] if topic_ids is None else list(topic_ids)
    return store.classifications.newest_published(ids, before)


def average_confidence(
    store: Store, *, domain: str | None = None, start: datetime | None = None, end: datetime | None = None
) -> dict[str, tuple[int, float]]:
    """``topic_id -> (videos, mean confidence)`` over the videos published in ``[start, end)``.

    Args:
        store: the operational store.
        domain: only this domain (all domains when None).
        start: inclusive lower bound on publication time (unbounded when None).
        end: exclusive upper bound on publication time (unbounded when None).
    """
    return store.activity.average_confidence(domain, start, end)


def topic_health(
    store: Store,
    as_of: datetime,
    *,
    domain: str | None = None,
    low_confidence: float,
    max_channel_share: float,
    min_videos_for_alerts: int,
    quiet_days: int,
) -> list[TopicHealth]:
    """Health of every live topic (status ``active`` or ``dying``) at ``as_of``.

    Args:
        store: the operational store.
        as_of: event time the report is for (naive is taken as UTC).
        domain: only this domain (all domains when None).
        low_confidence: ``LOW_CONFIDENCE`` when the week's mean confidence is below this.
        max_channel_share: ``OVER_SPECIALIZED`` when one channel's share of the week's
            videos is above this.
        min_videos_for_alerts: the week needs at least this many videos before
            ``LOW_CONFIDENCE`` or ``OVER_SPECIALIZED`` is raised.
        quiet_days: ``QUIET_TOPIC`` after this many days without a video (``DYING_TOPIC``
            follows the stored status alone).

    Returns:
        One :class:`TopicHealth` per live topic, ordered by domain and topic number.
    """
    as_of = as_utc(as_of)
    topics = _live_at(store, domain, as_of)
    if not topics:
        return []
    # the week and its last day in one scan (the day's figures are the week's "recent" ones)
    week = {
        a["topic_id"]: a for a in store.activity.topic_activity(domain, as_of - _WEEK, as_of, recent_start=as_of - _DAY)
    }
    newest = last_video_at(store, as_of, topic_ids=[t.topic_id for t in topics])
    out: list[TopicHealth] = []
    for t in topics:
        w = week.get(t.topic_id)
        seen = [ts for ts in (newest.get(t.topic_id), t.last_seen_at) if ts is not None and ts <= as_of]
        last = max(seen) if seen else min(t.born_at, as_of)
        h = TopicHealth(
            topic_id=t.topic_id,
            domain=t.domain,
            label=t.label,
            status=t.status,
            videos_today=w["videos_recent"] if w else 0,
            videos_week=w["videos"] if w else 0,
            avg_confidence_today=w["avg_confidence_recent"] if w else None,
            avg_confidence_week=w["avg_confidence"] if w else None,
            channels_week=w["channels"] if w else 0,
            top_channel_share_week=w["top_channel_share"] if w else None,
            days_since_last_video=max(0, (as_of - last) // _DAY),
            size=int(t.size),
        )
        h.alerts = _alerts(
            h,
            low_confidence=low_confidence,
            max_channel_share=max_channel_share,
            min_videos_for_alerts=min_videos_for_alerts,
            quiet_days=quiet_days,
        )
        out.append(h)
    return out


def _live_at(store: Store, domain: str | None, as_of: datetime) -> list[Topic]:
    """The topics live at ``as_of``, with the status they had then (a later death, dying or return not known)."""
    topics = store.topics.list(domain, statuses=LIVE_STATUSES)
    later = [TopicEvent.from_row(e) for e in store.topics.events(domain, LIFECYCLE_EVENTS, after=as_of)]
    if later:  # a past as_of: statuses moved since (none at the present, the common call)
        ended = {e.topic_id for e in later} - {t.topic_id for t in topics}
        topics += store.topics.list(domain, ids=ended) if ended else []
        past = [TopicEvent.from_row(e) for e in store.topics.events(domain, LIFECYCLE_EVENTS, until=as_of)]
        topics = sorted(known_at(topics, past, later, as_of), key=lambda t: (t.domain, t.number))
    return [t for t in topics if t.born_at <= as_of and t.status in LIVE_STATUSES]  # a later birth: not known then


def _alerts(
    h: TopicHealth, *, low_confidence: float, max_channel_share: float, min_videos_for_alerts: int, quiet_days: int
) -> list[str]:
    alerts: list[str] = []
    if h.status == TopicStatus.DYING:
        alerts.append(DYING_TOPIC)
    if h.days_since_last_video >= quiet_days:
        alerts.append(QUIET_TOPIC)
    enough = h.videos_week >= min_videos_for_alerts
    # below the threshold, not at it: the database's sum of ten 0.6s is 5.999999999999999
    if enough and h.avg_confidence_week is not None and h.avg_confidence_week < low_confidence - _SUM_ROUNDING:
        alerts.append(LOW_CONFIDENCE)
    if enough and h.top_channel_share_week is not None and h.top_channel_share_week > max_channel_share:
        alerts.append(OVER_SPECIALIZED)
    return alerts


def health_from_config(
    store: Store, as_of: datetime, cfg: HealthConfig, domain: str | None = None
) -> list[TopicHealth]:
    """:func:`topic_health` with the thresholds of the ``health`` config section."""
    return topic_health(
        store,
        as_of,
        domain=domain,
        low_confidence=cfg.low_confidence,
        max_channel_share=cfg.max_channel_share,
        min_videos_for_alerts=cfg.min_videos_for_alerts,
        quiet_days=cfg.quiet_days,
    )


def health_summary(items: Iterable[TopicHealth]) -> dict[str, Any]:
    """Counts over a health list.

    Returns:
        ``{"topics": n, "alerting": topics with any alert, "alerts": {alert: n},
        "statuses": {status: n}, "domains": {domain: {"topics", "alerting",
        "alerts", "statuses"}}}``. Every alert of :data:`ALERTS` is present (0 when
        none); domains are sorted by name.

    Example:
        >>> h = TopicHealth("a:0", "a", "x", "dying", 0, 0, None, None, 0, None, 9, 3, [DYING_TOPIC])
        >>> s = health_summary([h])
        >>> s["alerts"][DYING_TOPIC], s["statuses"], s["domains"]["a"]["alerting"]
        (1, {'dying': 1}, 1)
    """

    def empty() -> dict[str, Any]:
        return {"topics": 0, "alerting": 0, "alerts": dict.fromkeys(ALERTS, 0), "statuses": Counter()}

    total = empty()
    domains: dict[str, dict[str, Any]] = {}
    for h in items:
        for acc in (total, domains.setdefault(h.domain, empty())):
            acc["topics"] += 1
            acc["alerting"] += bool(h.alerts)
            acc["statuses"][h.status] += 1
            for a in h.alerts:
                acc["alerts"][a] = acc["alerts"].get(a, 0) + 1
    for acc in (total, *domains.values()):
        acc["statuses"] = dict(sorted(acc["statuses"].items()))
    total["domains"] = dict(sorted(domains.items()))
    return total


# ---------------------------------------------------------------------- routing shares
ROUTES = frozenset(str(r) for r in Route)  # the routes a stored one is read as (others are read back)


def _read_back(domain: str, category: str | None, category_map: dict[str, str], fallback: str | None) -> Route:
    """The route of a video stored without one, as the router takes it from its domain and category."""
    if category_map.get(str(category or "").lower()) == domain:
        return Route.CATEGORY
    if domain == fallback:
        return Route.FALLBACK
    return Route.PROTOTYPE


def routing_health(
    store: Store,
    as_of: datetime,
    *,
    category_map: dict[str, str],
    fallback: str | None,
    domain: str | None = None,
    days: int = 7,
) -> dict[str, Any]:
    """How the last ``days`` days' videos reached their domain: named, by category, neighbours, prototype, fallback.

    Tier 1 stores each video's route with it (``videos.route``), so these are
    the router's own choices, as Tier 1 counts them while it routes (the
    replay summary's ``routing``, Serve's
    ``ray_topics_routed_videos_total{domain,route}``). A video stored without
    a route (before the store had the column, or by an import) has it read
    back as the router takes it: a video whose category maps to its domain
    came by ``category``; one in the fallback domain whose category does not
    map there went to the ``fallback``; any other came by ``prototype``.

    Returns:
        ``{"window_days", "videos": {route: n}, "share": {route: share}, "domains":
        {domain: {"videos", "share"}}}`` (every route present, 0 when unused).

    Example:
        >>> from datetime import UTC, datetime
        >>> routing_health(Store("sqlite://"), datetime(2024, 1, 8, tzinfo=UTC), category_map={}, fallback=None)
        ... # doctest: +NORMALIZE_WHITESPACE
        {'window_days': 7, 'videos': {'explicit': 0, 'category': 0, 'neighbours': 0, 'prototype': 0, 'fallback': 0},
         'share': {'explicit': 0.0, 'category': 0.0, 'neighbours': 0.0, 'prototype': 0.0, 'fallback': 0.0},
         'domains': {}}
    """
    as_of = as_utc(as_of)
    total: Counter[str] = Counter()
    per: dict[str, Counter[str]] = {}
    for dom, cat, stored, n in store.activity.route_counts(as_of - timedelta(days=days), as_of, domain):
        how = Route(stored) if stored in ROUTES else _read_back(dom, cat, category_map, fallback)
        total[how] += n
        per.setdefault(dom, Counter())[how] += n
    return {
        "window_days": days,
        **route_shares(total),
        "domains": {d: route_shares(c) for d, c in sorted(per.items())},
    }


def routing_from_config(store: Store, as_of: datetime, cfg: Config, domain: str | None = None) -> dict[str, Any]:
    """:func:`routing_health` over the week health reports, with the config's categories and fallback."""
    return routing_health(
        store,
        as_of,
        category_map=cfg.domains.category_map(),
        fallback=cfg.domains.fallback,
        domain=domain,
        days=_WEEK.days,
    )


def health_and_routing(
    store: Store, as_of: datetime, cfg: Config, domain: str | None = None
) -> tuple[list[TopicHealth], dict[str, Any]]:
    """What ``ray-topics health``, ``GET /v1/health`` and ``/metrics`` report: topic health and routing shares."""
    return health_from_config(store, as_of, cfg.health, domain), routing_from_config(store, as_of, cfg, domain)


def health_payload(at: datetime, items: Sequence[TopicHealth], routing: dict[str, Any]) -> bytes:
    """What :func:`health_and_routing` computed at ``at``, as JSON bytes (one replica's value for the others)."""
    return json.dumps({"at": as_utc(at).isoformat(), "items": [vars(h) for h in items], "routing": routing}).encode()


def health_from_payload(payload: bytes) -> tuple[datetime, list[TopicHealth], dict[str, Any]]:
    """(at, items, routing) from :func:`health_payload`'s bytes.

    Example:
        >>> from datetime import UTC
        >>> at = datetime(2024, 1, 8, tzinfo=UTC)
        >>> h = TopicHealth("a:0", "a", "x", "dying", 0, 3, None, 0.5, 2, 0.5, 4, 9, [DYING_TOPIC])
        >>> health_from_payload(health_payload(at, [h], {"window_days": 7})) == (at, [h], {"window_days": 7})
        True
    """
    d = json.loads(payload)
    return datetime.fromisoformat(d["at"]), [TopicHealth(**h) for h in d["items"]], d["routing"]


# ---------------------------------------------------------------------- Prometheus text format
def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in labels.items()) + "}"


def to_prometheus(items: Sequence[TopicHealth], as_of: datetime, routing: dict[str, Any] | None = None) -> str:
    """Render a health list in the Prometheus text exposition format (version 0.0.4).

    Gauges per topic (labels ``domain`` and ``topic``, the topic id):
    ``ray_topics_topic_videos_today``, ``ray_topics_topic_videos_week``,
    ``ray_topics_topic_avg_confidence_week`` (absent without videos),
    ``ray_topics_topic_channels_week``, ``ray_topics_topic_top_channel_share_week``
    (absent without videos), ``ray_topics_topic_days_since_last_video``,
    ``ray_topics_topic_size``; ``ray_topics_topic_alert`` = 1 per raised alert
    (extra label ``alert``); ``ray_topics_health_alerts{alert}`` counts each alert;
    ``ray_topics_health_as_of_timestamp_seconds`` is ``as_of`` as a Unix time. With
    ``routing`` (:func:`routing_health`): ``ray_topics_routing_share_week{route}`` (share of
    the week's videos routed by ``category``, ``prototype``, to the ``fallback``, or
    ``explicit``) and ``ray_topics_routing_videos_week{domain,route}``.

    Example:
        >>> from datetime import UTC, datetime
        >>> h = TopicHealth("a:0", "a", "x", "dying", 0, 0, None, None, 0, None, 9, 3, [DYING_TOPIC])
        >>> text = to_prometheus([h], datetime(2024, 1, 1, tzinfo=UTC))
        >>> 'ray_topics_topic_alert{domain="a",topic="a:0",alert="DYING_TOPIC"} 1' in text
        True
    """
    p = _METRIC_PREFIX
    families: list[tuple[str, str, list[str]]] = []

    def family(name: str, help_text: str, samples: list[tuple[dict[str, str], float | None]]) -> None:
        lines = [f"{name}{_labels(**lab) if lab else ''} {_number(v)}" for lab, v in samples if v is not None]
        families.append((name, help_text, lines))

    def per_topic(attr: str) -> list[tuple[dict[str, str], float | None]]:
        return [({"domain": h.domain, "topic": h.topic_id}, getattr(h, attr)) for h in items]

    family(f"{p}_topic_videos_today", "Videos assigned to the topic in the last day.", per_topic("videos_today"))
    family(f"{p}_topic_videos_week", "Videos assigned to the topic in the last 7 days.", per_topic("videos_week"))
    family(
        f"{p}_topic_avg_confidence_week",
        "Mean classification confidence of the topic's videos in the last 7 days.",
        per_topic("avg_confidence_week"),
    )
    family(
        f"{p}_topic_channels_week",
        "Distinct channels among the topic's videos in the last 7 days.",
        per_topic("channels_week"),
    )
    family(
        f"{p}_topic_top_channel_share_week",
        "Share of the topic's videos in the last 7 days posted by its busiest channel.",
        per_topic("top_channel_share_week"),
    )
    family(
        f"{p}_topic_days_since_last_video",
        "Whole days since the topic's newest video.",
        per_topic("days_since_last_video"),
    )
    family(f"{p}_topic_size", "Stored size of the topic.", per_topic("size"))
    family(
        f"{p}_topic_alert",
        "1 for each health alert raised on the topic.",
        [({"domain": h.domain, "topic": h.topic_id, "alert": a}, 1) for h in items for a in h.alerts],
    )
    counts = health_summary(items)["alerts"]
    family(f"{p}_health_alerts", "Live topics raising each alert.", [({"alert": a}, n) for a, n in counts.items()])
    if routing is not None:
        family(
            f"{p}_routing_share_week",
            "Share of the last 7 days' videos that reached their domain by each route.",
            [({"route": r}, v) for r, v in routing["share"].items()],
        )
        family(
            f"{p}_routing_videos_week",
            "Videos of the last 7 days by domain and by how they reached it.",
            [({"domain": d, "route": r}, n) for d, x in routing["domains"].items() for r, n in x["videos"].items()],
        )
    family(
        f"{p}_health_as_of_timestamp_seconds",
        "Event time the health figures are computed for (Unix seconds).",
        [({}, as_utc(as_of).timestamp())],
    )
    out: list[str] = []
    for name, help_text, lines in families:
        out.append(f"# HELP {name} {_escape_help(help_text)}")
        out.append(f"# TYPE {name} gauge")
        out.extend(lines)
    return "\n".join(out) + "\n"
