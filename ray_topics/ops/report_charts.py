"""The report's plotly figures: functions of one domain's :class:`~ray_topics.ops.report_data.DomainData`.

:func:`activity_figure`, :func:`topic_map_figure`, :func:`lineage_figure` and
:func:`sizes_figure`, with the palette and layout figures they share. Kept apart
from the data (nothing here reads the store) and from the HTML page
(:mod:`ray_topics.ops.report`, which only lays figures out) so a figure is built
and tested from plain data.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ray_topics.core.lifecycle import status_at
from ray_topics.core.types import LIVE_STATUSES, EventType, Topic, TopicEvent, TopicStatus
from ray_topics.ops.report_data import DomainData, lineage_links, project_2d

__all__ = [
    "DEFAULT_MAX_BARS",
    "DEFAULT_TOP_N",
    "activity_figure",
    "lineage_figure",
    "sizes_figure",
    "topic_map_figure",
]

DEFAULT_TOP_N = 10  # topics drawn one by one in "topics over time"; the rest are summed as "other topics"
DEFAULT_MAX_BARS = 40  # topics in the sizes chart (the biggest)
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
OTHER_COLOR = "#BAB0AC"
_NEUTRAL_COLOR = "#8C8C8C"  # a bar that is fine: not to be read as a status
ALERT_COLOR = "#CF222E"


# ---------------------------------------------------------------------- helpers
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
                line={"width": 1, "color": OTHER_COLOR},
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
            marker_color=[ALERT_COLOR if mean < low_confidence else _NEUTRAL_COLOR for _l, (_n, mean) in conf],
            customdata=[n for _l, (n, _m) in conf],
            hovertemplate="%{y}<br>mean %{x:.3f} over %{customdata:,} videos<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_vline(x=low_confidence, line_dash="dash", line_color=ALERT_COLOR, row=1, col=2)
    fig.update_xaxes(range=[0, 1], row=1, col=2)
    fig.update_yaxes(categoryorder="array", categoryarray=labels, autorange="reversed", automargin=True)
    return _layout(fig, _rows_height(len(biggest)), barmode="stack")
