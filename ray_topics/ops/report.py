"""The HTML report: per domain, interactive charts of the topics' life and the tables behind them.

One self-contained file an operator opens offline, or gets as an attachment:
plotly draws the charts (hover, zoom, a click on a legend entry hides a topic),
and plotly.js is inlined once, so nothing is fetched. The module is a thin
builder over plain data:

- :func:`gather` reads everything the report shows from the store, once, into
  a :class:`ReportData` with one :class:`DomainData` per domain;
- :func:`activity_figure`, :func:`topic_map_figure`, :func:`lineage_figure` and
  :func:`sizes_figure` turn one domain's data into a plotly figure (no store);
- :func:`render_html` lays figures and tables out; :func:`write_report` does
  all three and writes the file atomically.

Per domain: daily videos per topic (stacked), the topic map (centroids in 2-D,
with a time slider), the lineage (births, dying, deaths, revivals, merges and
splits, with links from parent to child), sizes and mean confidence, the
health table with its alerts, and each topic's keywords, example titles and
top channels.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from ray_topics.config import HealthConfig
    >>> from ray_topics.storage.store import Store
    >>> cfg = HealthConfig(low_confidence=0.6, max_channel_share=0.5, min_videos_for_alerts=10, quiet_days=7)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_report(Store("sqlite://"), f"{d}/r.html", datetime(2024, 1, 8, tzinfo=UTC), health_cfg=cfg)
    ...     "No topics yet" in p.read_text()
    True
"""

from __future__ import annotations

import html
import math
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ray_topics.config import HealthConfig
from ray_topics.core.timeutil import as_utc
from ray_topics.core.types import LIVE_STATUSES, EventType, Topic, TopicEvent, TopicStatus
from ray_topics.ops.health import ALERTS, TopicHealth, average_confidence, health_from_config, health_summary
from ray_topics.storage.store import Store

__all__ = [
    "DEFAULT_MAX_BARS",
    "DEFAULT_TOP_N",
    "DomainData",
    "ReportData",
    "activity_figure",
    "gather",
    "lineage_figure",
    "lineage_links",
    "project_2d",
    "render_html",
    "sizes_figure",
    "status_at",
    "topic_map_figure",
    "write_report",
]

DEFAULT_TOP_N = 10  # topics drawn one by one in "topics over time"; the rest are summed as "other topics"
DEFAULT_MAX_BARS = 40  # topics in the sizes chart (the biggest)
EXAMPLES_PER_TOPIC = 3
CHANNELS_PER_TOPIC = 3
KEYWORDS_SHOWN = 8
MAP_FRAMES = 12  # steps of the topic map's time slider
# the only layout figures: a chart's height, a row of the lineage and bar charts, the margins around a plot
CHART_HEIGHT = 460
ROW_HEIGHT = 26
MARGIN = {"l": 24, "r": 24, "t": 48, "b": 40}
MAP_MARKER_PX = (6, 56)  # diameters of the topic map's quietest and busiest topic

STATUS_COLORS: dict[str, str] = {
    TopicStatus.ACTIVE: "#54A24B",
    TopicStatus.DYING: "#EECA3B",
    TopicStatus.DEAD: "#E45756",
    TopicStatus.MERGED: "#4C78A8",
}
EVENT_STYLE: dict[str, tuple[str, str]] = {  # event type -> (marker symbol, colour)
    EventType.BIRTH: ("circle", "#54A24B"),
    EventType.DYING: ("triangle-down", "#EECA3B"),
    EventType.DEATH: ("x", "#E45756"),
    EventType.REVIVAL: ("triangle-up", "#72B7B2"),
    EventType.MERGE: ("diamond", "#4C78A8"),
    EventType.SPLIT: ("star", "#B279A2"),
    EventType.DRIFT: ("circle-open", "#9D755D"),
}
_OTHER_COLOR = "#BAB0AC"
_NEUTRAL_COLOR = "#8C8C8C"  # a bar that is fine: not to be read as a status
_ALERT_COLOR = "#CF222E"
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

_CSS = """
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#ffffff; --panel:#f6f8fa; --accent:#0969da; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:16px 24px; background:var(--panel); border-bottom:1px solid var(--line); }
header h1 { margin:0 0 4px; font-size:22px; }
main { padding:0 24px 48px; }
nav { margin-top:12px; }
nav a { margin-right:14px; color:var(--accent); text-decoration:none; }
section.domain { border-top:2px solid var(--line); margin-top:28px; padding-top:8px; }
h2 { font-size:20px; margin:12px 0 6px; }
h3 { font-size:15px; margin:22px 0 2px; }
.muted { color:var(--muted); font-weight:normal; font-size:13px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:14px 0; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 14px; min-width:120px; }
.card b { display:block; font-size:20px; }
.chart { width:100%; }
table { border-collapse:collapse; width:100%; font-size:13px; margin:4px 0 8px; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--panel); position:sticky; top:0; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.badge { display:inline-block; padding:0 6px; border-radius:10px; font-size:11px; color:#fff; white-space:nowrap; }
.kw, .ex { color:var(--muted); font-size:12px; }
.scroll { max-height:560px; overflow:auto; border:1px solid var(--line); border-radius:6px; }
"""


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
    """

    title: str
    as_of: datetime
    start: datetime | None
    low_confidence: float
    summary: dict[str, Any]
    domains: list[DomainData]


def gather(
    store: Store,
    as_of: datetime,
    *,
    health_cfg: HealthConfig,
    title: str = "ray-topics report",
    window_days: int | None = None,
) -> ReportData:
    """Read what the report shows from the store: every query of the report is here.

    Args:
        store: the operational store.
        as_of: event time of the report (naive is taken as UTC); nothing published
            or recorded after it is shown.
        health_cfg: the ``health`` config section (alert thresholds).
        title: page title.
        window_days: the charts' days are the last ``window_days`` (all history when None).
    """
    as_of = as_utc(as_of)
    assert as_of is not None
    start = None if window_days is None else as_of - timedelta(days=window_days)
    topics = [t for t in store.topics.list() if t.born_at <= as_of]  # a later birth is not known yet
    health = health_from_config(store, as_of, health_cfg)
    events = [_event(e) for e in store.topics.events() if e["at"] <= as_of]
    names = sorted({t.domain for t in topics} | {e.domain for e in events})
    domains = []
    for name in names:
        counts = store.activity.daily_counts(name)
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
    return ReportData(title, as_of, start, health_cfg.low_confidence, health_summary(health), domains)


def _event(row: dict[str, Any]) -> TopicEvent:
    return TopicEvent(
        row["domain"], row["topic_id"], EventType(row["type"]), row["at"], list(row["related"]), dict(row["details"])
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
def status_at(topic: Topic, events: Sequence[TopicEvent], at: datetime) -> str | None:
    """The topic's status at ``at``, replayed from its lifecycle events; None before its birth.

    The store keeps only the current status; the topic map's slider needs the
    past ones. An ended topic (``died_at`` set) keeps its stored status from then on.

    Example:
        >>> from datetime import UTC, datetime
        >>> import numpy as np
        >>> t = Topic("d:0", "d", 0, "x", [], np.zeros(2), 0, 0, 1, "active", datetime(2024, 1, 1, tzinfo=UTC),
        ...           datetime(2024, 1, 1, tzinfo=UTC))
        >>> ev = [TopicEvent("d", "d:0", EventType.DYING, datetime(2024, 1, 5, tzinfo=UTC))]
        >>> [status_at(t, ev, datetime(2024, 1, day, tzinfo=UTC)) for day in (1, 4, 6)]
        ['active', 'active', 'dying']
    """
    if topic.born_at > at:
        return None
    if topic.died_at is not None and topic.died_at <= at:
        return topic.status
    status = TopicStatus.ACTIVE
    for e in sorted(events, key=lambda e: e.at):
        if e.at > at:
            break
        if e.type == EventType.DYING:
            status = TopicStatus.DYING
        elif e.type == EventType.REVIVAL:
            status = TopicStatus.ACTIVE
        elif e.type == EventType.DEATH:
            status = TopicStatus.DEAD
        elif e.type == EventType.MERGE and "into" in e.details:
            status = TopicStatus.MERGED
    return str(status)


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


def _esc(text: Any) -> str:
    """Text for plotly: it reads a little HTML (``<b>``, ``<br>``), so stored text is escaped first."""
    return html.escape(str(text), quote=False)


def _name(topic_id: str, topics: dict[str, Topic]) -> str:
    t = topics.get(topic_id)
    return _esc(f"{topic_id} {t.label}" if t is not None else topic_id)


def _keywords(t: Topic | None) -> str:
    return _esc(", ".join(t.keywords[:KEYWORDS_SHOWN])) if t is not None else ""


def _layout(fig: go.Figure, height: int, legend: dict[str, Any] | None = None, **kwargs: Any) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin=MARGIN,
        hoverlabel={"align": "left"},
        legend={"groupclick": "togglegroup", **(legend or {})},
        **kwargs,
    )
    return fig


def _day_steps(days: Sequence[date]) -> int:
    """Days per step of the topic map's slider and per tick of a daily axis: at most MAP_FRAMES of them."""
    return max(1, math.ceil(len(days) / MAP_FRAMES))


def _day_ticks(days: Sequence[date]) -> dict[str, Any]:
    """A date axis ticked on whole days (plotly would tick a short span every 12 hours)."""
    return {"type": "date", "tick0": days[0].isoformat(), "dtick": _day_steps(days) * 86_400_000, "tickformat": "%b %d"}


def _rows_height(rows: int) -> int:
    return max(CHART_HEIGHT // 2, rows * ROW_HEIGHT + MARGIN["t"] + MARGIN["b"])


# ---------------------------------------------------------------------- figures
def activity_figure(d: DomainData, top_n: int = DEFAULT_TOP_N) -> go.Figure:
    """Daily videos per topic, stacked: the ``top_n`` busiest topics one by one, the rest as "other topics"."""
    topics = {t.topic_id: t for t in d.topics}
    ranked = sorted(d.daily.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    shown, rest = ranked[:top_n], ranked[top_n:]
    fig = go.Figure()
    for i, (tid, counts) in enumerate(shown):
        fig.add_trace(
            go.Scatter(
                x=d.days,
                y=counts,
                name=_name(tid, topics),
                stackgroup="videos",
                mode="lines",
                line={"width": 1, "color": qualitative.T10[i % len(qualitative.T10)]},
                customdata=[_keywords(topics.get(tid))] * len(d.days),
                hovertemplate="%{x|%Y-%m-%d}: <b>%{y:,}</b> videos<br>%{customdata}<extra>%{fullData.name}</extra>",
            )
        )
    if rest:
        other = [sum(day) for day in zip(*(counts for _tid, counts in rest), strict=True)]
        fig.add_trace(
            go.Scatter(
                x=d.days,
                y=other,
                name=f"other topics ({len(rest)})",
                stackgroup="videos",
                mode="lines",
                line={"width": 1, "color": _OTHER_COLOR},
                hovertemplate="%{x|%Y-%m-%d}: <b>%{y:,}</b> videos<extra>%{fullData.name}</extra>",
            )
        )
    return _layout(
        fig,
        CHART_HEIGHT,
        xaxis=_day_ticks(d.days),
        yaxis_title="videos per day",
        hovermode="closest",
        showlegend=True,
    )


def topic_map_figure(d: DomainData, as_of: datetime) -> go.Figure:
    """The live topics' centroids in 2-D (PCA), sized by their videos, coloured by status, with a time slider.

    Every topic keeps one place (its current centroid) so a step of the slider
    only changes who is alive, their status then and their recent volume: the
    last step is ``as_of``, each step sums the videos of the days since the
    previous one.
    """
    topics = d.topics
    xy = project_2d(np.stack([t.centroid for t in topics])) if topics else np.zeros((0, 2))
    where = {t.topic_id: xy[i] for i, t in enumerate(topics)}
    by_topic: dict[str, list[TopicEvent]] = defaultdict(list)
    for e in d.events:
        by_topic[e.topic_id].append(e)
    step = _day_steps(d.days)
    ends = list(range(len(d.days) - 1, -1, -step))[::-1]  # index of each step's last day
    peak = max((sum(c[max(0, i - step + 1) : i + 1]) for c in d.daily.values() for i in ends), default=0)
    # marker areas scale with videos; the busiest topic of any step gets the largest marker (plotly's formula)
    sizeref = 2.0 * max(peak, 1) / MAP_MARKER_PX[1] ** 2
    frames: list[tuple[str, list[go.Scatter]]] = []
    for i in ends:
        at = min(as_of, datetime.combine(d.days[i] + timedelta(days=1), time(), UTC))
        traces = []
        for status in LIVE_STATUSES:
            pts = []
            for t in topics:
                now = t.status if at >= as_of else status_at(t, by_topic[t.topic_id], at)
                if now == status:
                    videos = sum(d.daily.get(t.topic_id, [])[max(0, i - step + 1) : i + 1])
                    pts.append((t, videos))
            traces.append(
                go.Scatter(
                    x=[where[t.topic_id][0] for t, _n in pts],
                    y=[where[t.topic_id][1] for t, _n in pts],
                    mode="markers+text",
                    name=str(status),
                    text=[_esc(t.topic_id) for t, _n in pts],
                    textposition="top center",
                    marker={
                        "size": [n for _t, n in pts],
                        "sizemode": "area",
                        "sizeref": sizeref,
                        "sizemin": MAP_MARKER_PX[0],
                        "color": STATUS_COLORS[status],
                        "opacity": 0.7,
                        "line": {"width": 1, "color": "#ffffff"},
                    },
                    hovertext=[_map_hover(t, n, step, d) for t, n in pts],
                    hoverinfo="text",
                )
            )
        frames.append((d.days[i].isoformat(), traces))
    fig = go.Figure(data=frames[-1][1] if frames else [])
    span = np.ptp(xy, axis=0) if len(xy) else np.ones(2)
    pad = np.where(span > 0, span, 1.0) * 0.15
    lo, hi = (xy.min(axis=0) - pad, xy.max(axis=0) + pad) if len(xy) else (-pad, pad)
    axis = {"showticklabels": False, "zeroline": False, "showgrid": False}
    _layout(
        fig,
        CHART_HEIGHT,
        xaxis={**axis, "range": [lo[0], hi[0]], "title": "first principal axis of the centroids"},
        yaxis={**axis, "range": [lo[1], hi[1]], "title": "second"},
    )
    if len(frames) > 1:
        fig.frames = [go.Frame(data=traces, name=label) for label, traces in frames]
        animate = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}
        fig.update_layout(
            sliders=[
                {
                    "active": len(frames) - 1,
                    "currentvalue": {"prefix": f"videos of the {step} day(s) to "},
                    "pad": {"t": MARGIN["b"]},
                    "steps": [{"label": label, "method": "animate", "args": [[label], animate]} for label, _ in frames],
                }
            ],
            height=CHART_HEIGHT + MARGIN["b"] * 2,
        )
    return fig


def _map_hover(t: Topic, videos: int, step: int, d: DomainData) -> str:
    lines = [f"<b>{_esc(t.topic_id)}</b> {_esc(t.label)}", f"{videos:,} videos in {step} day(s), size {t.size:,}"]
    lines.append(f"keywords: {_keywords(t)}")
    lines += [f"• {_esc(title)}" for title in d.examples.get(t.topic_id, [])]
    return "<br>".join(lines)


def lineage_figure(d: DomainData, as_of: datetime, start: datetime | None = None) -> go.Figure:
    """Each topic's life as a line from birth to its end, its events as markers, and arrows from
    parent to child for every split and merge.

    The x-axis opens on the window (``start`` to ``as_of``); the whole history is
    drawn, so zooming out shows what came before.
    """
    topics = sorted(d.topics, key=lambda t: t.number)
    row = {t.topic_id: i for i, t in enumerate(topics)}
    known = {t.topic_id: t for t in topics}
    fig = go.Figure()
    for status, color in STATUS_COLORS.items():
        mine = [t for t in topics if t.status == status]
        if not mine:
            continue
        xs: list[Any] = []
        ys: list[Any] = []
        for t in mine:
            end = t.died_at if t.died_at is not None and t.died_at <= as_of else as_of
            xs += [t.born_at, end, None]
            ys += [row[t.topic_id], row[t.topic_id], None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=f"{status} topics ({len(mine)})",
                line={"width": ROW_HEIGHT // 3, "color": color},
                opacity=0.5,
                hoverinfo="skip",
            )
        )
    for kind, (symbol, color) in EVENT_STYLE.items():
        mine_ev = [e for e in d.events if e.type == kind and e.topic_id in row]
        if not mine_ev:
            continue
        fig.add_trace(
            go.Scatter(
                x=[e.at for e in mine_ev],
                y=[row[e.topic_id] for e in mine_ev],
                mode="markers",
                name=f"{kind} ({len(mine_ev)})",
                legendgroup=str(kind),  # a click on the event hides its links too
                marker={"symbol": symbol, "color": color, "size": ROW_HEIGHT // 2, "line": {"width": 1}},
                hovertext=[_event_hover(e, known) for e in mine_ev],
                hoverinfo="text",
            )
        )
    links = [link for link in lineage_links(d.events) if link[1] in row and link[2] in row]
    for kind in (EventType.SPLIT, EventType.MERGE):
        mine_links = [link for link in links if link[0] == kind]
        if not mine_links:
            continue
        xs, ys, sizes, tips = [], [], [], []
        for _k, parent, child, at in mine_links:
            tip = f"{kind}: {_name(parent, known)} → {_name(child, known)}<br>{at:%Y-%m-%d %H:%M}"
            xs += [at, at, None]
            ys += [row[parent], row[child], None]
            sizes += [0, ROW_HEIGHT // 2, 0]
            tips += [tip, tip, ""]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=f"{kind} links ({len(mine_links)})",
                legendgroup=str(kind),
                line={"width": 2, "color": EVENT_STYLE[kind][1]},
                marker={"symbol": "arrow", "angleref": "previous", "size": sizes, "color": EVENT_STYLE[kind][1]},
                hovertext=tips,
                hoverinfo="text",
            )
        )
    return _layout(
        fig,
        _rows_height(len(topics)),
        # the window when there is one; else plotly's own range, with room for the first and last markers
        xaxis={"type": "date", **({"range": [start, as_of]} if start is not None else {})},
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(len(topics))),
            "ticktext": [_name(t.topic_id, known) for t in topics],
            "autorange": "reversed",
            "automargin": True,
            "zeroline": False,  # row 0 is a topic, not a zero
        },
        hovermode="closest",
        legend={"orientation": "h", "x": 0, "y": 1, "yanchor": "bottom"},  # one line above: rows may be few
    )


def _event_hover(e: TopicEvent, topics: dict[str, Topic]) -> str:
    details = ", ".join(f"{k}: {v}" for k, v in sorted(e.details.items()) if k != "keywords")
    lines = [f"<b>{_esc(e.type)}</b> {_name(e.topic_id, topics)}", f"{e.at:%Y-%m-%d %H:%M}"]
    return "<br>".join(lines + ([_esc(details)] if details else []))


def sizes_figure(d: DomainData, low_confidence: float, max_bars: int = DEFAULT_MAX_BARS) -> go.Figure:
    """The ``max_bars`` biggest topics: size coloured by status, and mean confidence against its threshold."""
    topics = {t.topic_id: t for t in d.topics}
    biggest = sorted(d.topics, key=lambda t: (-t.size, t.topic_id))[:max_bars]
    labels = [_name(t.topic_id, topics) for t in biggest]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        column_widths=[0.6, 0.4],
        horizontal_spacing=0.02,
        subplot_titles=("size (videos)", f"mean confidence in the window (dashed: {low_confidence:g})"),
    )
    for status, color in STATUS_COLORS.items():
        mine = [(label, t) for label, t in zip(labels, biggest, strict=True) if t.status == status]
        if mine:
            fig.add_trace(
                go.Bar(
                    x=[t.size for _l, t in mine],
                    y=[label for label, _t in mine],
                    orientation="h",
                    name=str(status),
                    marker_color=color,
                    customdata=[_keywords(t) for _l, t in mine],
                    hovertemplate="%{y}<br>size %{x:,}<br>%{customdata}<extra></extra>",
                ),
                row=1,
                col=1,
            )
    conf = [
        (label, d.confidence[t.topic_id])
        for label, t in zip(labels, biggest, strict=True)
        if t.topic_id in d.confidence
    ]
    fig.add_trace(
        go.Bar(
            x=[mean for _l, (_n, mean) in conf],
            y=[label for label, _c in conf],
            orientation="h",
            name="mean confidence",
            showlegend=False,
            marker_color=[_ALERT_COLOR if mean < low_confidence else _NEUTRAL_COLOR for _l, (_n, mean) in conf],
            customdata=[n for _l, (n, _m) in conf],
            hovertemplate="%{y}<br>mean %{x:.3f} over %{customdata:,} videos<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_vline(x=low_confidence, line_dash="dash", line_color=_ALERT_COLOR, row=1, col=2)
    fig.update_xaxes(range=[0, 1], row=1, col=2)
    fig.update_yaxes(categoryorder="array", categoryarray=labels, autorange="reversed", automargin=True)
    return _layout(fig, _rows_height(len(biggest)), barmode="stack")


# ---------------------------------------------------------------------- HTML
class _Charts:
    """Renders figures as ``<div>`` s: the first carries plotly.js inline, every later one reuses it."""

    def __init__(self) -> None:
        self.drawn = 0

    def __call__(self, fig: go.Figure, domain: str, kind: str) -> str:
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=self.drawn == 0,
            config=_PLOTLY_CONFIG,
            auto_play=False,  # the map opens on its last step, as_of, and moves only when asked
            div_id=f"{_slug(domain)}-{kind}-{self.drawn}",  # stable ids: the same store gives the same file
        )
        self.drawn += 1
        return f'<div class="chart" data-chart="{kind}" data-domain="{_e(domain)}">{div}</div>'


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _slug(text: str) -> str:
    return "d-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "domain")


def _ts(ts: datetime | None) -> str:
    return "" if ts is None else ts.strftime("%Y-%m-%d %H:%M")


def _opt(v: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def _badge(text: str, color: str) -> str:
    dark = color == STATUS_COLORS[TopicStatus.DYING]  # the yellow badge needs dark text
    return f'<span class="badge" style="background:{color};{"color:#1f2328" if dark else ""}">{_e(text)}</span>'


def _status(status: str) -> str:
    return _badge(status, STATUS_COLORS.get(status, _OTHER_COLOR))


def _cards(pairs: Sequence[tuple[str, Any]]) -> str:
    cards = "".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in pairs)
    return f'<div class="cards">{cards}</div>'


def _health_table(items: list[TopicHealth]) -> str:
    if not items:
        return '<p class="muted">No live topics.</p>'
    head = (
        "<tr><th>Topic</th><th>Label</th><th>Status</th><th class=num>Today</th><th class=num>Week</th>"
        "<th class=num>Conf. week</th><th class=num>Channels</th><th class=num>Top channel</th>"
        "<th class=num>Idle days</th><th>Alerts</th></tr>"
    )
    rows = []
    for h in sorted(items, key=lambda h: (-len(h.alerts), h.topic_id)):
        alerts = "".join(_badge(a, _ALERT_COLOR) for a in h.alerts) or '<span class="muted">none</span>'
        rows.append(
            f"<tr><td>{_e(h.topic_id)}</td><td>{_e(h.label)}</td><td>{_status(h.status)}</td>"
            f"<td class=num>{h.videos_today:,}</td><td class=num>{h.videos_week:,}</td>"
            f"<td class=num>{_opt(h.avg_confidence_week)}</td><td class=num>{h.channels_week:,}</td>"
            f"<td class=num>{_opt(h.top_channel_share_week, '{:.0%}')}</td>"
            f"<td class=num>{h.days_since_last_video}</td><td>{alerts}</td></tr>"
        )
    return f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>'


def _topic_table(d: DomainData) -> str:
    if not d.topics:
        return '<p class="muted">No topics.</p>'
    head = (
        "<tr><th>Topic</th><th>Label / keywords</th><th>Example titles</th><th>Top channels</th><th>Status</th>"
        "<th class=num>Size</th><th class=num>Coherence</th><th>Born</th><th>Last seen</th><th>Ended</th></tr>"
    )
    rows = []
    for t in d.topics:
        titles = "".join(f"<div class=ex>{_e(x)}</div>" for x in d.examples.get(t.topic_id, []))
        channels = ", ".join(f"{_e(c)} ({n:,})" for c, n in d.channels.get(t.topic_id, []))
        rows.append(
            f"<tr><td>{_e(t.topic_id)}</td><td>{_e(t.label)}<div class=kw>{_e(', '.join(t.keywords))}</div></td>"
            f"<td>{titles}</td><td class=kw>{channels}</td><td>{_status(t.status)}</td>"
            f"<td class=num>{t.size:,}</td><td class=num>{_opt(t.coherence)}</td>"
            f"<td>{_ts(t.born_at)}</td><td>{_ts(t.last_seen_at)}</td><td>{_ts(t.died_at)}</td></tr>"
        )
    return f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>'


def _domain_section(data: ReportData, d: DomainData, charts: _Charts, *, top_n: int, max_bars: int) -> str:
    statuses = {s: sum(t.status == s for t in d.topics) for s in TopicStatus}
    summary = health_summary(d.health)
    hint = "hover for keywords; click a legend entry to hide it, double-click to show it alone; drag to zoom"
    parts = [
        f'<section class="domain" id="{_slug(d.domain)}"><h2>{_e(d.domain)}</h2>',
        _cards([*((f"{s} topics", n) for s, n in statuses.items()), *summary["alerts"].items()]),
        f'<h3>Topics over time <span class="muted">daily videos, stacked; {_e(hint)}</span></h3>',
        charts(activity_figure(d, top_n), d.domain, "activity") if d.daily else '<p class="muted">No videos.</p>',
    ]
    if d.topics:
        parts += [
            '<h3>Topic map <span class="muted">centroids in 2-D (PCA): near means similar; size: videos in the '
            "step; the slider steps through time</span></h3>",
            charts(topic_map_figure(d, data.as_of), d.domain, "map"),
            '<h3>Lineage <span class="muted">each topic from birth to its end; arrows run from parent to child '
            "(split: the old topic to the new one; merge: the absorbed topic to the one that kept it)</span></h3>",
            charts(lineage_figure(d, data.as_of, data.start), d.domain, "lineage"),
            f'<h3>Sizes and confidence <span class="muted">the {min(max_bars, len(d.topics))} biggest of '
            f"{len(d.topics)} topics</span></h3>",
            charts(sizes_figure(d, data.low_confidence, max_bars), d.domain, "sizes"),
        ]
    parts += [
        f'<h3>Health and alerts <span class="muted">as of {_ts(data.as_of)} UTC, live topics</span></h3>',
        _health_table(d.health),
        "<h3>Topics</h3>",
        _topic_table(d),
        "</section>",
    ]
    return "".join(parts)


def render_html(data: ReportData, *, top_n: int = DEFAULT_TOP_N, max_bars: int = DEFAULT_MAX_BARS) -> str:
    """The report as one HTML page (plotly.js inline, once, when there is a chart to draw)."""
    charts = _Charts()
    s = data.summary
    window = "all history" if data.start is None else f"from {_ts(data.start)}"
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(data.title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(data.title)}</h1><div class=muted>as of {_ts(data.as_of)} UTC · {window} · "
        f"{len(data.domains)} domains · {sum(len(d.topics) for d in data.domains)} topics</div>",
        "<nav>" + "".join(f'<a href="#{_slug(d.domain)}">{_e(d.domain)}</a>' for d in data.domains) + "</nav>",
        "</header><main>",
        _cards(
            [
                ("live topics", s["topics"]),
                ("alerting topics", s["alerting"]),
                *s["alerts"].items(),
                *((f"{k} (live)", n) for k, n in s["statuses"].items()),
            ]
        ),
    ]
    if not data.domains:
        parts.append('<p class="muted">No topics yet.</p>')
    else:
        rows = "".join(
            f"<tr><td><a href='#{_slug(name)}'>{_e(name)}</a></td><td class=num>{ds['topics']}</td>"
            + "".join(f"<td class=num>{ds['alerts'][a]}</td>" for a in ALERTS)
            + "</tr>"
            for name, ds in s["domains"].items()
        )
        parts.append(
            "<h3>Alerts per domain</h3><table><tr><th>Domain</th><th class=num>Live topics</th>"
            + "".join(f"<th class=num>{_e(a)}</th>" for a in ALERTS)
            + f"</tr>{rows}</table>"
        )
    parts += [_domain_section(data, d, charts, top_n=top_n, max_bars=max_bars) for d in data.domains]
    parts.append("</main></body></html>\n")
    return "".join(parts)


def write_report(
    store: Store,
    path: str | os.PathLike[str],
    as_of: datetime,
    *,
    health_cfg: HealthConfig,
    title: str = "ray-topics report",
    top_n: int = DEFAULT_TOP_N,
    max_bars: int = DEFAULT_MAX_BARS,
    window_days: int | None = None,
) -> Path:
    """Write the report as one self-contained HTML file.

    Args:
        store: the operational store.
        path: file to write (parent folders are created); replaced atomically.
        as_of: event time of the report; nothing after it is shown.
        health_cfg: the ``health`` config section (alert thresholds).
        title: page title.
        top_n: topics drawn one by one in "topics over time" (the busiest; the rest are summed).
        max_bars: topics in the sizes and confidence chart (the biggest).
        window_days: the charts show the last ``window_days`` days (all history when None).

    Returns:
        The path written.
    """
    if top_n < 1 or max_bars < 1:
        raise ValueError("top_n and max_bars must be at least 1")
    data = gather(store, as_of, health_cfg=health_cfg, title=title, window_days=window_days)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_html(data, top_n=top_n, max_bars=max_bars), encoding="utf-8")
    tmp.replace(out)
    return out
