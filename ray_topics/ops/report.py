"""Static HTML report: one self-contained file, charts drawn as inline SVG.

No JavaScript, no external CSS, fonts or images, no plotting library: the SVG
is written by the small helpers below, so the file opens anywhere, offline.
Per domain it shows daily videos per topic (the ``top_n`` busiest topics as
lines), the lifecycle timeline (births, dying, deaths, revivals, merges,
splits, drift), topic sizes and mean confidence as bars, the health table
with its alerts and the table of every topic.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from ray_topics.config import HealthConfig
    >>> from ray_topics.storage.store import Store
    >>> cfg = HealthConfig(low_confidence=0.6, max_channel_share=0.5, min_videos_for_alerts=10, dying_days=7)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_report(Store("sqlite://"), f"{d}/r.html", datetime(2024, 1, 8, tzinfo=UTC), health_cfg=cfg)
    ...     "<svg" in p.read_text() or "No topics" in p.read_text()
    True
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ray_topics.config import HealthConfig
from ray_topics.core.timeutil import as_utc
from ray_topics.core.types import EventType, Topic, TopicStatus
from ray_topics.ops.health import ALERTS, TopicHealth, average_confidence, health_from_config, health_summary
from ray_topics.storage.store import Store

__all__ = ["DEFAULT_MAX_BARS", "DEFAULT_TOP_N", "write_report"]

DEFAULT_TOP_N = 10
DEFAULT_MAX_BARS = 40

# ---------------------------------------------------------------------- presentation constants
_W = 760  # chart width (SVG user units; the SVG scales to its container)
_LINE_H = 240
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 48, 16, 12, 28
_X_TICKS = 8
_Y_TICKS = 4
_ROW_H = 22  # timeline row
_BAR_H = 18  # bar row
_BAR_LABEL_W = 230
_BAR_VALUE_W = 64
_LABEL_CHARS = 32
_KEYWORDS_SHOWN = 8
_MARKER_R = 4
_NO_DAY = timedelta(microseconds=1)
_HOURLY_TICKS_BELOW = timedelta(days=2)  # timeline ticks show the hour on shorter spans
# Tableau 10: distinguishable, colour-blind tolerant
_PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
_DASHES = ("", "6 3", "2 3")
_EVENT_COLORS = {
    EventType.BIRTH: "#59a14f",
    EventType.DYING: "#edc948",
    EventType.DEATH: "#e15759",
    EventType.REVIVAL: "#76b7b2",
    EventType.MERGE: "#4e79a7",
    EventType.SPLIT: "#b07aa1",
    EventType.DRIFT: "#9c755f",
}
_STATUS_COLORS = {
    TopicStatus.ACTIVE: "#59a14f",
    TopicStatus.DYING: "#edc948",
    TopicStatus.DEAD: "#e15759",
    TopicStatus.MERGED: "#4e79a7",
}
_OTHER_COLOR = "#8c8c8c"
_LIGHT = {TopicStatus.DYING}  # statuses whose badge colour needs dark text
_DARK_TEXT = "#1f2328"

_CSS = """
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#ffffff; --panel:#f6f8fa; --accent:#0969da; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:20px 32px; background:var(--panel); border-bottom:1px solid var(--line); }
header h1 { margin:0 0 4px; font-size:22px; }
main { padding:0 32px 48px; max-width:1640px; }
nav a { margin-right:14px; color:var(--accent); text-decoration:none; }
nav a:hover { text-decoration:underline; }
section.domain { border-top:2px solid var(--line); margin-top:28px; padding-top:8px; }
h2 { font-size:20px; margin:12px 0 6px; }
h3 { font-size:15px; margin:20px 0 6px; color:#24292f; }
.muted { color:var(--muted); }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:14px 0; }
.card { background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:8px 14px; min-width:120px; }
.card b { display:block; font-size:20px; }
.cols { display:grid; grid-template-columns:repeat(auto-fit,minmax(680px,1fr)); gap:8px 28px; }
svg.chart { width:100%; max-width:760px; height:auto; display:block; background:var(--bg); }
svg text { font:11px system-ui,sans-serif; fill:#57606a; }
svg .grid { stroke:#eaeef2; }
svg .axis { stroke:#8c959f; }
ul.legend { list-style:none; padding:0; margin:6px 0; display:flex; flex-wrap:wrap; gap:4px 14px; font-size:12px; }
.swatch { display:inline-block; width:14px; height:3px; vertical-align:middle; margin-right:5px; }
table { border-collapse:collapse; width:100%; font-size:13px; margin:4px 0 8px; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--panel); position:sticky; top:0; }
tr:nth-child(even) td { background:#fbfcfd; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.badge { display:inline-block; padding:0 6px; border-radius:10px; font-size:11px; color:#fff; white-space:nowrap; }
.alert { background:#cf222e; margin:1px 2px; }
.kw { color:var(--muted); font-size:12px; }
.scroll { max-height:520px; overflow:auto; border:1px solid var(--line); border-radius:6px; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _slug(text: str) -> str:
    return "d-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "domain")


def _short(text: str, n: int = _LABEL_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _ts(ts: datetime | None) -> str:
    return "" if ts is None else ts.strftime("%Y-%m-%d %H:%M")


def _num(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"


def _nice_ceiling(v: float) -> float:
    """Smallest 1, 2 or 5 x 10^k at or above ``v`` (1 for v <= 0).

    Example:
        >>> [_nice_ceiling(v) for v in (0, 3, 10, 11, 0.3, 420)]
        [1.0, 5.0, 10.0, 20.0, 0.5, 500.0]
    """
    if v <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(v))
    return next(m * base for m in (1, 2, 5, 10) if v <= m * base)


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}">'
        + "".join(body)
        + "</svg>"
    )


# ---------------------------------------------------------------------- charts
def _line_chart(days: list[date], series: list[tuple[str, str, list[int]]]) -> str:
    """Daily counts as polylines. ``series``: (name, colour+dash key, counts per day)."""
    plot_w, plot_h = _W - _PAD_L - _PAD_R, _LINE_H - _PAD_T - _PAD_B
    top = _nice_ceiling(max((max(c) for _n, _k, c in series if c), default=0))
    n = len(days)

    def x(i: int) -> float:
        return _PAD_L + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return _PAD_T + plot_h * (1 - v / top)

    body: list[str] = []
    for k in range(_Y_TICKS + 1):
        v = top * k / _Y_TICKS
        body.append(f'<line class="grid" x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        body.append(f'<text x="{_PAD_L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{_e(_num(v))}</text>')
    step = max(1, -(-n // _X_TICKS))
    for i in range(0, n, step):
        body.append(f'<text x="{x(i):.1f}" y="{_LINE_H - 8}" text-anchor="middle">{days[i].strftime("%m-%d")}</text>')
    body.append(f'<line class="axis" x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>')
    for i, (name, _key, counts) in enumerate(series):
        color, dash = _PALETTE[i % len(_PALETTE)], _DASHES[(i // len(_PALETTE)) % len(_DASHES)]
        pts = " ".join(f"{x(j):.1f},{y(c):.1f}" for j, c in enumerate(counts))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.8"{dash_attr} points="{pts}">'
            f"<title>{_e(name)}: {sum(counts):,} videos</title></polyline>"
        )
        if n == 1:
            body.append(f'<circle cx="{x(0):.1f}" cy="{y(counts[0]):.1f}" r="{_MARKER_R}" fill="{color}"/>')
    return _svg(_W, _LINE_H, body, "daily videos per topic")


def _legend(series: list[tuple[str, str, list[int]]]) -> str:
    items = []
    for i, (name, _key, counts) in enumerate(series):
        color = _PALETTE[i % len(_PALETTE)]
        items.append(f'<li><span class="swatch" style="background:{color}"></span>{_e(name)} ({sum(counts):,})</li>')
    return '<ul class="legend">' + "".join(items) + "</ul>"


def _timeline(events: list[dict[str, Any]], start: datetime, end: datetime) -> str:
    """One row per event type, one marker per event, over ``[start, end]``."""
    plot_w = _W - _BAR_LABEL_W // 2 - _PAD_R
    left = _BAR_LABEL_W // 2
    height = _ROW_H * len(EventType) + _PAD_B
    span = max((end - start).total_seconds(), 1.0)

    def x(ts: datetime) -> float:
        return left + plot_w * min(max((ts - start).total_seconds() / span, 0.0), 1.0)

    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ev in events:
        by_type[ev["type"]].append(ev)
    body: list[str] = []
    for r, kind in enumerate(EventType):
        cy = _ROW_H * r + _ROW_H / 2
        body.append(f'<line class="grid" x1="{left}" x2="{_W - _PAD_R}" y1="{cy}" y2="{cy}"/>')
        body.append(f'<text x="{left - 8}" y="{cy + 4}" text-anchor="end">{_e(kind)} ({len(by_type[kind])})</text>')
        color = _EVENT_COLORS.get(kind, _OTHER_COLOR)
        for ev in by_type[kind]:
            details = json.dumps(ev.get("details") or {}, sort_keys=True, default=str)
            tip = f"{kind} {ev['topic_id']} at {_ts(ev['at'])} {details}"
            body.append(
                f'<circle cx="{x(ev["at"]):.1f}" cy="{cy}" r="{_MARKER_R}" fill="{color}" fill-opacity="0.75">'
                f"<title>{_e(tip)}</title></circle>"
            )
    base = _ROW_H * len(EventType)
    body.append(f'<line class="axis" x1="{left}" x2="{_W - _PAD_R}" y1="{base}" y2="{base}"/>')
    fmt = "%m-%d" if end - start >= _HOURLY_TICKS_BELOW else "%m-%d %H:%M"
    for k in range(_X_TICKS + 1):
        ts = start + (end - start) * k / _X_TICKS
        body.append(f'<text x="{x(ts):.1f}" y="{base + 16}" text-anchor="middle">{ts.strftime(fmt)}</text>')
    return _svg(_W, height, body, "topic lifecycle events")


def _bars(rows: list[tuple[str, float, str, str]], top: float, threshold: float | None = None) -> str:
    """Horizontal bars. ``rows``: (label, value, colour, tooltip); ``top``: value of a full bar."""
    plot_w = _W - _BAR_LABEL_W - _BAR_VALUE_W
    height = _BAR_H * len(rows) + _PAD_T
    top = top if top > 0 else 1.0
    body: list[str] = []
    for i, (label, value, color, tip) in enumerate(rows):
        y0 = _PAD_T / 2 + _BAR_H * i
        w = plot_w * max(value, 0.0) / top
        body.append(
            f'<text x="{_BAR_LABEL_W - 8}" y="{y0 + _BAR_H * 0.7:.1f}" text-anchor="end">{_e(_short(label))}</text>'
            f'<rect x="{_BAR_LABEL_W}" y="{y0 + 2:.1f}" width="{w:.1f}" height="{_BAR_H - 4}" fill="{color}" rx="2">'
            f"<title>{_e(tip)}</title></rect>"
            f'<text x="{_BAR_LABEL_W + w + 5:.1f}" y="{y0 + _BAR_H * 0.7:.1f}">{_e(_num(value))}</text>'
        )
    if threshold is not None:
        tx = _BAR_LABEL_W + plot_w * threshold / top
        body.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="0" y2="{height}" stroke="#cf222e" stroke-dasharray="4 3">'
            f"<title>threshold {_e(_num(threshold))}</title></line>"
        )
    return _svg(_W, height, body, "bars")


# ---------------------------------------------------------------------- tables
def _badge(text: str, color: str, cls: str = "", fg: str = "#fff") -> str:
    return f'<span class="badge {cls}" style="background:{color};color:{fg}">{_e(text)}</span>'


def _status(status: str) -> str:
    return _badge(status, _STATUS_COLORS.get(status, _OTHER_COLOR), fg=_DARK_TEXT if status in _LIGHT else "#fff")


def _status_legend() -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{c};height:10px"></span>{_e(s)}</li>'
        for s, c in _STATUS_COLORS.items()
    )
    return f'<ul class="legend">{items}</ul>'


def _opt(v: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def _health_table(items: list[TopicHealth]) -> str:
    if not items:
        return '<p class="muted">No live topics.</p>'
    items = sorted(items, key=lambda h: (-len(h.alerts), h.topic_id))
    head = (
        "<tr><th>Topic</th><th>Label</th><th>Status</th><th class=num>Today</th><th class=num>Week</th>"
        "<th class=num>Conf. week</th><th class=num>Channels</th><th class=num>Top channel</th>"
        "<th class=num>Idle days</th><th>Alerts</th></tr>"
    )
    rows = []
    for h in items:
        alerts = "".join(_badge(a, "#cf222e", "alert") for a in h.alerts) or '<span class="muted">none</span>'
        rows.append(
            f"<tr><td>{_e(h.topic_id)}</td><td>{_e(h.label)}</td><td>{_status(h.status)}</td>"
            f"<td class=num>{h.videos_today:,}</td><td class=num>{h.videos_week:,}</td>"
            f"<td class=num>{_opt(h.avg_confidence_week)}</td><td class=num>{h.channels_week:,}</td>"
            f"<td class=num>{_opt(h.top_channel_share_week, '{:.0%}')}</td>"
            f"<td class=num>{h.days_since_last_video}</td><td>{alerts}</td></tr>"
        )
    return f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>'


def _topic_table(topics: list[Topic]) -> str:
    head = (
        "<tr><th>Topic</th><th>Label / keywords</th><th>Status</th><th class=num>Size</th>"
        "<th class=num>Coherence</th><th>Born</th><th>Last seen</th><th>Died</th></tr>"
    )
    rows = []
    for t in topics:
        kws = ", ".join(t.keywords[:_KEYWORDS_SHOWN])
        rows.append(
            f"<tr><td>{_e(t.topic_id)}</td><td>{_e(t.label)}<div class=kw>{_e(kws)}</div></td>"
            f"<td>{_status(t.status)}</td><td class=num>{t.size:,}</td><td class=num>{_opt(t.coherence)}</td>"
            f"<td>{_ts(t.born_at)}</td><td>{_ts(t.last_seen_at)}</td><td>{_ts(t.died_at)}</td></tr>"
        )
    return f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>'


def _cards(pairs: Sequence[tuple[str, Any]]) -> str:
    return (
        '<div class="cards">' + "".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in pairs) + "</div>"
    )


# ---------------------------------------------------------------------- sections
def _day_range(counts: list[tuple[str, datetime | str, int]], as_of: datetime, start: datetime | None) -> list[date]:
    last = (as_of - _NO_DAY).date()
    first = start.date() if start is not None else None
    if first is None:
        seen = [date.fromisoformat(str(d)[:10]) for _t, d, _n in counts]
        first = min([d for d in seen if d <= last], default=last)
    first = min(first, last)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _domain_section(
    store: Store,
    domain: str,
    topics: list[Topic],
    health: list[TopicHealth],
    as_of: datetime,
    start: datetime | None,
    *,
    health_cfg: HealthConfig,
    top_n: int,
    max_bars: int,
) -> str:
    labels = {t.topic_id: t.label for t in topics}
    parts = [f'<section class="domain" id="{_slug(domain)}"><h2>{_e(domain)}</h2>']
    statuses = {s: sum(t.status == s for t in topics) for s in TopicStatus}
    summary = health_summary(health)
    parts.append(_cards([*((f"{s} topics", n) for s, n in statuses.items()), *summary["alerts"].items()]))

    # topics over time
    counts = store.activity.daily_counts(domain)
    days = _day_range(counts, as_of, start)
    index = {d: i for i, d in enumerate(days)}
    per_topic: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for tid, day, n in counts:
        i = index.get(date.fromisoformat(str(day)[:10]))
        if i is not None:
            per_topic[tid][i] += n
    ranked = sorted(per_topic.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    shown = [(f"{tid} {labels.get(tid, '')}".strip(), tid, c) for tid, c in ranked[:top_n] if sum(c) > 0]
    parts.append('<div class="cols"><div>')
    parts.append(
        f"<h3>Topics over time <span class=muted>(daily videos, top {len(shown)} of {len(ranked)})</span></h3>"
    )
    parts.append(_line_chart(days, shown) + _legend(shown) if shown else '<p class="muted">No videos.</p>')

    # lifecycle timeline
    events = [e for e in store.topics.events(domain) if e["at"] <= as_of and (start is None or e["at"] >= start)]
    t0 = min([datetime.combine(days[0], datetime.min.time(), as_of.tzinfo)] + [e["at"] for e in events])
    parts.append("</div><div><h3>Births, deaths, merges, splits, drift</h3>")
    parts.append(_timeline(events, t0, as_of))
    parts.append("</div></div>")

    # sizes and confidence
    by_size = sorted(topics, key=lambda t: (-t.size, t.topic_id))[:max_bars]
    size_rows = [
        (f"{t.topic_id} {t.label}", float(t.size), _STATUS_COLORS.get(t.status, _OTHER_COLOR), f"{t.label}: {t.size:,}")
        for t in by_size
    ]
    parts.append('<div class="cols"><div>')
    parts.append(f"<h3>Topic sizes <span class=muted>(top {len(by_size)} of {len(topics)})</span></h3>")
    if size_rows:
        parts.append(_bars(size_rows, max(r[1] for r in size_rows)) + _status_legend())
    conf = average_confidence(store, domain=domain, start=start, end=as_of)
    conf_ranked = sorted(conf.items(), key=lambda kv: (-kv[1][0], kv[0]))[:max_bars]
    conf_rows = [
        (
            f"{tid} {labels.get(tid, '')}",
            mean,
            _PALETTE[0] if mean >= health_cfg.low_confidence else _STATUS_COLORS[TopicStatus.DEAD],
            f"{labels.get(tid, tid)}: mean {mean:.3f} over {n:,} videos",
        )
        for tid, (n, mean) in conf_ranked
    ]
    parts.append(
        "</div><div><h3>Average confidence <span class=muted>(by volume; dashed line: "
        f"low-confidence threshold {health_cfg.low_confidence:g})</span></h3>"
    )
    parts.append(_bars(conf_rows, 1.0, health_cfg.low_confidence) if conf_rows else '<p class="muted">No videos.</p>')
    parts.append("</div></div>")

    parts.append(f"<h3>Health and alerts <span class=muted>(as of {_ts(as_of)} UTC, live topics)</span></h3>")
    parts.append(_health_table(health))
    parts.append("<h3>Topics</h3>" + (_topic_table(topics) if topics else '<p class="muted">No topics.</p>'))
    parts.append("</section>")
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
        top_n: lines per "topics over time" chart (the busiest topics).
        max_bars: bars per size / confidence chart (the biggest topics).
        window_days: show only the last ``window_days`` days (all history when None).

    Returns:
        The path written.
    """
    if top_n < 1 or max_bars < 1:
        raise ValueError("top_n and max_bars must be at least 1")
    as_of = as_utc(as_of)
    assert as_of is not None
    start = None if window_days is None else as_of - timedelta(days=window_days)
    all_topics = store.topics.list()
    health = health_from_config(store, as_of, health_cfg)
    domains = sorted({t.domain for t in all_topics} | {e["domain"] for e in store.topics.events()})
    summary = health_summary(health)

    head = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><div class=muted>as of {_ts(as_of)} UTC · {len(domains)} domains · "
        f"{len(all_topics)} topics</div></header><main>"
    )
    parts = [head]
    if domains:
        parts.append("<nav>" + "".join(f'<a href="#{_slug(d)}">{_e(d)}</a>' for d in domains) + "</nav>")
    parts.append(
        _cards(
            [
                ("live topics", summary["topics"]),
                ("alerting topics", summary["alerting"]),
                *summary["alerts"].items(),
                *((f"{s} (live)", n) for s, n in summary["statuses"].items()),
            ]
        )
    )
    if not domains:
        parts.append('<p class="muted">No topics yet.</p>')
    else:
        alert_rows = "".join(
            f"<tr><td><a href='#{_slug(d)}'>{_e(d)}</a></td><td class=num>{s['topics']}</td>"
            + "".join(f"<td class=num>{s['alerts'][a]}</td>" for a in ALERTS)
            + "</tr>"
            for d, s in summary["domains"].items()
        )
        parts.append(
            "<h3>Alerts per domain</h3><table><tr><th>Domain</th><th class=num>Live topics</th>"
            + "".join(f"<th class=num>{_e(a)}</th>" for a in ALERTS)
            + f"</tr>{alert_rows}</table>"
        )
    by_domain_topics: dict[str, list[Topic]] = defaultdict(list)
    for t in all_topics:
        by_domain_topics[t.domain].append(t)
    by_domain_health: dict[str, list[TopicHealth]] = defaultdict(list)
    for h in health:
        by_domain_health[h.domain].append(h)
    for d in domains:
        parts.append(
            _domain_section(
                store, d, by_domain_topics[d], by_domain_health[d], as_of, start,
                health_cfg=health_cfg, top_n=top_n, max_bars=max_bars,
            )
        )  # fmt: skip
    parts.append("</main></body></html>\n")

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(parts), encoding="utf-8")
    tmp.replace(out)
    return out
