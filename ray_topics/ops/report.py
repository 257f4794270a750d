"""The HTML report: per domain, interactive charts of the topics' life and the tables behind them.

One self-contained file an operator opens offline, or gets as an attachment:
plotly draws the charts (hover, zoom, a click on a legend entry hides a topic),
and plotly.js is inlined once, so nothing is fetched. The page is a thin
builder over plain data:

- :func:`~ray_topics.ops.report_data.gather` (:mod:`ray_topics.ops.report_data`)
  reads everything the report shows from the store, once, into a
  :class:`~ray_topics.ops.report_data.ReportData` with one
  :class:`~ray_topics.ops.report_data.DomainData` per domain;
- the figures of :mod:`ray_topics.ops.report_charts` turn one domain's data into
  a plotly figure (no store);
- :func:`render_html` (here) lays figures and tables out; :func:`write_report`
  does all three and writes the file atomically.

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

import hashlib
import html
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from ray_topics.config import HealthConfig
from ray_topics.core.types import Topic, TopicStatus
from ray_topics.ops.health import ALERTS, TopicHealth, health_summary
from ray_topics.ops.report_charts import (
    ALERT_COLOR,
    DEFAULT_MAX_BARS,
    DEFAULT_TOP_N,
    OTHER_COLOR,
    STATUS_COLORS,
    activity_figure,
    lineage_figure,
    sizes_figure,
    topic_map_figure,
)
from ray_topics.ops.report_data import DomainData, ReportData, gather
from ray_topics.storage.store import Store
from ray_topics.storage.stories import Story

__all__ = [
    "render_html",
    "write_report",
]

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
_SLUG_HASH_CHARS = 8  # of a domain id's hash: two names of one report sharing an id is then a 1 in 4e9 chance

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
    """An HTML id for a domain: its name when that is one, else its ASCII letters and a hash of the whole name,
    so two names never share an id (``cooking news`` and ``cooking-news``; ``料理`` and ``ゲーム``)."""
    plain = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    if plain == text:
        return f"d-{plain}"
    return f"d-{plain or 'domain'}-{hashlib.sha1(text.encode()).hexdigest()[:_SLUG_HASH_CHARS]}"


def _ts(ts: datetime | None) -> str:
    return "" if ts is None else ts.strftime("%Y-%m-%d %H:%M")


def _opt(v: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def _badge(text: str, color: str) -> str:
    dark = color == STATUS_COLORS[TopicStatus.DYING]  # the yellow badge needs dark text
    return f'<span class="badge" style="background:{color};{"color:#1f2328" if dark else ""}">{_e(text)}</span>'


def _status(status: str) -> str:
    return _badge(status, STATUS_COLORS.get(status, OTHER_COLOR))


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
        alerts = "".join(_badge(a, ALERT_COLOR) for a in h.alerts) or '<span class="muted">none</span>'
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


def _global_table(groups: dict[int, list[Topic]]) -> str:
    """The global topics: each id with its topics (domain, id, label), one story across domains."""
    if not groups:
        return '<p class="muted">No topics of different domains are linked.</p>'
    head = "<tr><th>Global topic</th><th>Topics</th></tr>"
    rows = []
    for gid, members in sorted(groups.items()):
        cells = "".join(
            f"<div><a href='#{_slug(t.domain)}'>{_e(t.domain)}</a> {_e(t.topic_id)} {_status(t.status)} "
            f"{_e(t.label)}</div>"
            for t in members
        )
        rows.append(f'<tr data-global="{gid}"><td>g{gid}</td><td>{cells}</td></tr>')
    return f'<table class="global">{head}{"".join(rows)}</table>'


def _story_table(stories: list[tuple[Story, Topic | None]], max_rows: int) -> str:
    """The largest stories that cross domains: the topic, its videos per domain, those of other domains."""
    if not stories:
        return '<p class="muted">No story holds videos of another domain in these days (or none is placed yet).</p>'
    head = "<tr><th>Story topic</th><th>Label</th><th>Videos by domain</th><th class=num>Of other domains</th></tr>"
    rows = []
    for st, t in stories[:max_rows]:
        by = ", ".join(f"{_e(d)} {n}" for d, n in st.videos.most_common())
        status = _status(t.status) if t else ""
        rows.append(
            f'<tr data-story="{_e(st.topic_id)}"><td><a href="#{_slug(st.domain)}">{_e(st.domain)}</a> '
            f"{_e(st.topic_id)} {status}</td><td>{_e(t.label if t else '')}</td><td>{by}</td>"
            f"<td class=num>{st.elsewhere}</td></tr>"
        )
    more = f'<p class="muted">and {len(stories) - max_rows} more</p>' if len(stories) > max_rows else ""
    return f'<table class="stories">{head}{"".join(rows)}</table>{more}'


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
    if data.domains:
        parts += [
            '<h3>Global topics <span class="muted">topics of different domains that are one story (near-duplicate '
            "centroids), linked under one id</span></h3>",
            _global_table(data.global_topics),
        ]
    if data.story_days is not None:
        w = data.story_window
        days = f"the days from {_ts(w[0])} to {_ts(w[1])} UTC" if w else "no day placed yet"
        parts += [
            f'<h3>Stories across domains <span class="muted">the story view as the stories job placed {days}: '
            "each video under its nearest topic of any domain; topics holding videos of other domains, largest "
            "first</span></h3>",
            _story_table(data.stories, max_bars),
        ]
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
    story_fit: float | None = None,
    story_days: int | None = None,
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
        story_fit, story_days: with both, a table of the stories that cross domains in the last
            ``story_days`` (:func:`ray_topics.ops.report_data.gather`).

    Returns:
        The path written.
    """
    if top_n < 1 or max_bars < 1:
        raise ValueError("top_n and max_bars must be at least 1")
    data = gather(
        store,
        as_of,
        health_cfg=health_cfg,
        title=title,
        window_days=window_days,
        story_fit=story_fit,
        story_days=story_days,
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_html(data, top_n=top_n, max_bars=max_bars), encoding="utf-8")
    tmp.replace(out)
    return out
