"""Tests of the HTML report: its data and figures on small stores, and the page in headless Chromium."""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from ray_topics.cli import main
from ray_topics.config import HealthConfig
from ray_topics.core.lifecycle import status_at
from ray_topics.core.types import EventType, TopicEvent
from ray_topics.execution.runtime import Runtime
from ray_topics.ops.health import ALERTS, DYING_TOPIC, LOW_CONFIDENCE, OVER_SPECIALIZED, QUIET_TOPIC
from ray_topics.ops.report import write_report
from ray_topics.ops.report_charts import activity_figure, lineage_figure, sizes_figure, topic_map_figure
from ray_topics.ops.report_data import gather
from ray_topics.storage.store import Store
from ray_topics.streams.planted import PlantedTopic, StreamSpec
from ray_topics.streams.replay import Replay
from ray_topics.streams.synthetic import generate
from ray_topics.tiers.monthly import run_monthly
from tests.chromium import open_page, require_chromium
from tests.conftest import make_config
from tests.test_health import _topic

AS_OF = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CFG = HealthConfig(low_confidence=0.6, max_channel_share=0.5, min_videos_for_alerts=10, quiet_days=7)
CHARTS = ("activity", "map", "lineage", "sizes")
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S | re.I)
PLOTLY_JS_BANNER = "* plotly.js v"


def _ingest(store: Store, rows: list[tuple[str, datetime, str, float]]) -> None:
    """One video per (topic_id, published_at, channel_id, confidence), titled after its topic and confidence."""
    start = store.count("videos")
    videos, classes = [], []
    for i, (tid, ts, channel, conf) in enumerate(rows):
        vid, domain = f"v{start + i}", tid.split(":")[0]
        videos.append(
            {"video_id": vid, "domain": domain, "channel_id": channel, "published_at": ts,
             "title": f"{tid} at {conf:.2f} #{start + i}"}
        )  # fmt: skip
        classes.append(
            {
                "video_id": vid, "domain": domain, "published_at": ts, "topic_id": tid, "confidence": conf,
                "status": "preliminary", "model_version": f"{domain}@1", "classified_at": ts,
            }
        )  # fmt: skip
    store.videos.ingest(videos, np.zeros((len(videos), 4), dtype=np.float32), classes)


LABELS = {
    "gaming:0": "<b>& speedrun",
    "gaming:1": "blurry \"mix\" 'quoted'",
    "gaming:2": "one channel show",
    "gaming:3": "quiet retro",
    "gaming:4": "merged away",
    "cooking:0": "sourdough bread",
}


@pytest.fixture()
def store() -> Store:
    s = Store("sqlite://")
    topics = [_topic(tid.split(":")[0], int(tid.split(":")[1]), label) for tid, label in LABELS.items()]
    topics[3].status = "dying"  # as its dying event says
    topics[4].status, topics[4].died_at = "merged", AS_OF - 5 * DAY
    topics[1].status, topics[1].died_at = "dead", AS_OF + 3 * DAY  # as its death after as_of says
    with s.begin() as conn:
        s.topics.upsert(topics, conn)
        s.topics.add_events(
            [
                TopicEvent("gaming", "gaming:0", EventType.BIRTH, AS_OF - 20 * DAY,
                           details={"size": 60, "by": "<script>"}),
                TopicEvent("gaming", "gaming:4", EventType.MERGE, AS_OF - 5 * DAY, related=["gaming:0"],
                           details={"into": "gaming:0"}),
                TopicEvent("gaming", "gaming:0", EventType.SPLIT, AS_OF - 3 * DAY, related=["gaming:2"],
                           details={"into": ["gaming:2"]}),
                TopicEvent("gaming", "gaming:0", EventType.DRIFT, AS_OF - 2 * DAY),
                TopicEvent("gaming", "gaming:3", EventType.DYING, AS_OF - 1 * DAY),
                # after as_of: not shown
                TopicEvent("gaming", "gaming:1", EventType.DEATH, AS_OF + 3 * DAY),
            ],
            conn,
        )  # fmt: skip
    rows = [("gaming:0", AS_OF - DAY * d - timedelta(hours=h), f"c{h}", 0.9) for d in range(14) for h in range(3)]
    rows += [("gaming:1", AS_OF - 2 * DAY - timedelta(hours=i), f"b{i}", 0.4) for i in range(12)]
    rows += [("gaming:2", AS_OF - 3 * DAY - timedelta(hours=i), "solo" if i < 8 else f"o{i}", 0.8 + i / 100)
             for i in range(10)]  # fmt: skip
    rows += [("gaming:3", AS_OF - 10 * DAY, "r", 0.9)]
    rows += [("cooking:0", AS_OF - DAY * d, "k", 0.8) for d in range(5)]
    _ingest(s, rows)
    return s


def test_a_window_of_no_whole_day_charts_the_day_before_a_midnight_as_of(store: Store) -> None:
    """At a midnight ``as_of`` the charts' last day is the day before; a window shorter than a day (0) charts
    that day, with its videos, as a window of one does (the read starts where the chart does)."""
    midnight = datetime.combine(AS_OF.date() + timedelta(days=1), datetime.min.time(), UTC)
    one, none = (gather(store, midnight, health_cfg=CFG, window_days=w).domains[1] for w in (1, 0))
    assert one.days == none.days == [AS_OF.date()]
    assert one.daily == none.daily and sum(one.daily["gaming:0"]) == 3


def test_gather_reads_plain_data_per_domain(store: Store) -> None:
    data = gather(store, AS_OF, health_cfg=CFG)
    assert [d.domain for d in data.domains] == ["cooking", "gaming"]
    cooking, gaming = data.domains
    assert cooking.days[-1] == AS_OF.date() and cooking.daily["cooking:0"][-5:] == [1] * 5
    assert sum(gaming.daily["gaming:0"]) == 42 and gaming.days[0] == (AS_OF - 13 * DAY).date()
    assert [e.type for e in gaming.events] == ["birth", "merge", "split", "drift", "dying"]  # the death is later
    assert gaming.channels["gaming:2"][0] == ("solo", 8)
    assert gaming.examples["gaming:2"] == ["gaming:2 at 0.89 #63", "gaming:2 at 0.88 #62", "gaming:2 at 0.87 #61"]
    assert gaming.confidence["gaming:1"] == (12, pytest.approx(0.4))
    assert {h.topic_id for h in gaming.health} == {"gaming:0", "gaming:1", "gaming:2", "gaming:3"}
    window = gather(store, AS_OF, health_cfg=CFG, window_days=4).domains[1]
    assert len(window.days) == 5 and sum(window.daily["gaming:0"]) == 15  # whole days, 3 videos each
    assert window.confidence["gaming:2"][0] == 10 and "gaming:3" not in window.confidence


def test_report_is_self_contained_escaped_and_complete(store: Store, tmp_path: Path) -> None:
    path = write_report(store, tmp_path / "out" / "report.html", AS_OF, health_cfg=CFG, title="Report <&>")
    assert path == tmp_path / "out" / "report.html" and path.is_file()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert text.count(PLOTLY_JS_BANNER) == 1  # plotly.js inline, once
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I) and "<link" not in text and "@import" not in text
    page = SCRIPT.sub("", text)  # the page outside its scripts links nothing outside the file
    assert "http://" not in page and "https://" not in page
    assert "<title>Report &lt;&amp;&gt;</title>" in text
    for label in LABELS.values():
        assert html.escape(label) in page, label
    assert "<b>&" not in text and "&lt;script&gt;" in text  # labels and event details reach plotly escaped
    for d in ("cooking", "gaming"):
        for kind in CHARTS:
            assert f'data-chart="{kind}" data-domain="{d}"' in text
    raised = Counter(re.findall(r'class="badge"[^>]*>([A-Z_]+)<', page))  # the health table's alerts
    assert raised == {DYING_TOPIC: 1, QUIET_TOPIC: 1, LOW_CONFIDENCE: 1, OVER_SPECIALIZED: 1}
    assert "gaming:2 at 0.89 #63" in page and "solo (8)" in page  # example titles and top channels
    assert 'id="d-gaming"' in text and 'href="#d-gaming"' in text


def test_every_domain_has_its_own_section_id_whatever_its_name(tmp_path: Path) -> None:
    """Found by review: the id was the name's ASCII letters, so ``cooking news`` and ``cooking-news``, and any
    two names of other scripts (``d-domain``), shared one: the links of the page led to the first of them."""
    names = ["cooking news", "cooking-news", "料理", "ゲーム", "gaming"]
    s = Store("sqlite://")
    with s.begin() as conn:
        s.topics.upsert([_topic(d, 0, f"{d} topic") for d in names], conn)
    _ingest(s, [(f"{d}:0", AS_OF - DAY, "c", 0.9) for d in names])
    text = write_report(s, tmp_path / "r.html", AS_OF, health_cfg=CFG).read_text(encoding="utf-8")
    ids = re.findall(r'<section class="domain" id="([^"]+)"><h2>([^<]+)</h2>', text)
    assert sorted(html.unescape(n) for _i, n in ids) == sorted(names)
    assert len({i for i, _n in ids}) == len(names) and ("d-gaming", "gaming") in ids
    nav = re.search(r"<nav>(.*?)</nav>", text).group(1)
    links = dict((html.unescape(n), i) for i, n in re.findall(r'<a href="#([^"]+)">([^<]+)</a>', nav))
    assert links == {html.unescape(n): i for i, n in ids}  # each link leads to its own domain


def test_lineage_links_parents_to_children_and_status_replays(store: Store) -> None:
    gaming = gather(store, AS_OF, health_cfg=CFG).domains[1]
    fig = lineage_figure(gaming, AS_OF)
    rows = dict(zip(fig.layout.yaxis.ticktext, fig.layout.yaxis.tickvals, strict=True))
    row = {name.split(" ")[0]: v for name, v in rows.items()}
    traces = {t.name: t for t in fig.data}
    split, merge = traces["split links (1)"], traces["merge links (1)"]
    assert list(split.y[:2]) == [row["gaming:0"], row["gaming:2"]]  # from the old topic to the new one
    assert list(merge.y[:2]) == [row["gaming:4"], row["gaming:0"]]  # from the absorbed topic to the survivor
    assert {"birth (1)", "split (1)", "merge (1)", "dying (1)", "drift (1)"} <= set(traces)
    assert "death (1)" not in traces
    topics = {t.topic_id: t for t in gaming.topics}
    events = [e for e in gaming.events if e.topic_id == "gaming:3"]
    assert status_at(topics["gaming:3"], events, AS_OF - 2 * DAY) == "active"
    assert status_at(topics["gaming:3"], events, AS_OF) == "dying"
    assert status_at(topics["gaming:4"], [], AS_OF - 6 * DAY) == "active"
    assert status_at(topics["gaming:4"], [], AS_OF - 5 * DAY) == "merged"
    assert status_at(topics["gaming:4"], [], topics["gaming:4"].born_at - DAY) is None


def test_map_shows_live_topics_by_status_over_time(store: Store) -> None:
    gaming = gather(store, AS_OF, health_cfg=CFG).domains[1]
    fig = topic_map_figure(gaming, AS_OF)
    now = {t.name: set(t.text) for t in fig.data}
    # gaming:4 was merged: not live; gaming:3 is dying only in the last step
    assert now == {"active": {"gaming:0", "gaming:1", "gaming:2"}, "dying": {"gaming:3"}}
    first = {t.name: set(t.text) for t in fig.frames[0].data}
    assert first["dying"] == set() and "gaming:4" in first["active"] and "gaming:3" in first["active"]
    assert fig.layout.sliders[0].active == len(fig.frames) - 1
    hover = fig.data[0].hovertext[0]
    assert "keywords:" in hover and "• gaming:0 at 0.90" in hover


def test_charts_stay_readable_at_scale(tmp_path: Path) -> None:
    """5 domains x 30 topics x 60 days: top_n series, the rest summed; max_bars bars; every topic in the tables."""
    s = Store("sqlite://")
    domains = ["gaming", "cooking", "tech", "sports", "news"]
    with s.begin() as conn:
        s.topics.upsert([_topic(d, n, f"{d} topic {n}", size=10 + n) for d in domains for n in range(30)], conn)
    rows = [
        (f"{d}:{n}", AS_OF - DAY * day - timedelta(hours=1), f"ch{n % 7}", 0.5 + n / 100)
        for d in domains
        for n in range(30)
        for day in range(60)
        if (n + day) % 3 == 0 or n < 5
    ]
    _ingest(s, rows)
    data = gather(s, AS_OF, health_cfg=CFG)
    news = next(d for d in data.domains if d.domain == "news")
    act = activity_figure(news, top_n=6)
    names = [t.name for t in act.data]
    assert len(names) == 7 and names[-1] == "other topics (24)"
    assert [n.split(" ")[0] for n in names[:5]] == [f"news:{n}" for n in range(5)]  # the busiest, one by one
    per_day = np.sum([t.y for t in act.data], axis=0)
    assert per_day.tolist() == [sum(c[i] for c in news.daily.values()) for i in range(len(news.days))]
    bars = sizes_figure(news, CFG.low_confidence, max_bars=12)
    assert sum(len(t.y) for t in bars.data if t.name != "mean confidence") == 12
    text = write_report(s, tmp_path / "big.html", AS_OF, health_cfg=CFG, top_n=6, max_bars=12).read_text("utf-8")
    for d in domains:
        for n in range(30):
            assert f"{d} topic {n}" in text
    assert len(SCRIPT.sub("", text)) < 1_000_000


def test_empty_store_and_bad_arguments(tmp_path: Path) -> None:
    text = write_report(Store("sqlite://"), tmp_path / "empty.html", AS_OF, health_cfg=CFG).read_text("utf-8")
    assert "No topics yet" in text and all(a in text for a in ALERTS)
    assert PLOTLY_JS_BANNER not in text  # nothing to draw, no plotly.js
    with pytest.raises(ValueError):
        write_report(Store("sqlite://"), tmp_path / "bad.html", AS_OF, health_cfg=CFG, top_n=0)


# ---------------------------------------------------------------------- the page, in Chromium
PLANTED = ("gaming/speedrun", "cooking/bread")  # one topic each; gaming/fork becomes two
FORK_DAY = 2
PROBE = """(async () => {
  const charts = () => [...document.querySelectorAll('div.chart')];
  const drawn = c => c.querySelector('.js-plotly-plot svg.main-svg');
  for (let i = 0; i < 200 && !charts().every(drawn); i++) await new Promise(r => setTimeout(r, 100));
  const main = document.querySelector('main').getBoundingClientRect().width;
  return charts().map(c => ({
    kind: c.dataset.chart, domain: c.dataset.domain, share: c.getBoundingClientRect().width / main,
    svgs: c.querySelectorAll('svg.main-svg').length,
    marks: c.querySelectorAll('.scatterlayer path.point, .scatterlayer path.js-line, .barlayer path').length,
    texts: [...c.querySelectorAll('svg text')].map(t => t.textContent),
  }));
})()"""


def _holder(held: dict[str, str | None], video_ids: list[str]) -> str:
    top, n = Counter(held[v] for v in video_ids).most_common(1)[0]
    assert top is not None and n > 0.5 * len(video_ids), "a planted topic has no topic of its own"
    return top


def _replay_with_split(tmp_path: Path) -> tuple[Runtime, dict[str, str], tuple[str, list[str]], datetime]:
    """A small planted replay (about 2,300 videos, 5 days, then a monthly run) and its planted split as lineage.

    ``gaming/fork`` is one topic until day 2, then two. The tiers give its parts
    topics of their own (one born from the daily misfit pool, one from the
    monthly recluster), but record them as births: in a replay this short and
    small the old topic never holds both parts, which the monthly tier needs to
    record a ``split``. So the split is written to the store as the monthly tier
    writes it: on the topic that held the fork before it (``into``) and on each
    topic holding a part after it (``from``).
    """
    start = datetime(2026, 3, 2, tzinfo=UTC)
    stream = generate(
        StreamSpec(
            topics=[
                PlantedTopic("gaming/speedrun", "gaming", rate=100),
                PlantedTopic("gaming/fork", "gaming", rate=250, parts=2, parts_cosine=0.85, split_day=FORK_DAY),
                PlantedTopic("cooking/bread", "cooking", rate=100),
            ],
            days=5,
            start=start,
            seed=3,
        )
    )
    rt = Runtime(make_config(tmp_path / "wd"))
    Replay(rt).run(stream.videos, stream.embeddings)
    end = start + 5 * DAY
    run_monthly(rt, end)  # the recluster gives the fork's second part a topic of its own
    v = stream.videos
    held = {r["video_id"]: r["topic_id"] for r in rt.store.classifications.rows_for(list(v.video_id), False)}
    late = (v.published_at >= start + (FORK_DAY + 1) * DAY).to_numpy()
    owners = {p: _holder(held, list(v.video_id[(v.true_topic == p).to_numpy() & late])) for p in PLANTED}
    before = (v.true_topic == "gaming/fork").to_numpy() & (v.published_at < start + FORK_DAY * DAY).to_numpy()
    parent = _holder(held, list(v.video_id[before]))
    parts = {_holder(held, list(v.video_id[(v.true_part == k).to_numpy() & late])) for k in (0, 1)}
    children = sorted(parts - {parent})
    assert children, "the fork's parts are still one topic"
    topics = {t.topic_id: t for t in rt.store.topics.list("gaming")}
    at = max(topics[c].born_at for c in children)
    rt.store.topics.add_events(
        [TopicEvent("gaming", parent, EventType.SPLIT, at, children, {"into": children, "planted": True})]
        + [TopicEvent("gaming", c, EventType.SPLIT, at, [parent], {"from": parent, "planted": True}) for c in children]
    )
    owners |= {f"gaming/fork before day {FORK_DAY}": parent} | {f"gaming/fork part {c}": c for c in children}
    return rt, owners, (parent, children), end


def test_report_of_a_planted_replay_draws_every_chart_in_chromium(tmp_path: Path) -> None:
    chromium = require_chromium()
    rt, owners, (parent, children), end = _replay_with_split(tmp_path)
    path = tmp_path / "report.html"
    argv = ["report", "--as-of", end.isoformat(), "--out", str(path), "--workdir", str(tmp_path / "wd")]
    assert main(argv) == 0  # as an operator writes it
    page = open_page(chromium, path, PROBE)
    assert page.errors == [] and page.external_requests == []
    charts = {(c["domain"], c["kind"]): c for c in page.probe}
    assert set(charts) == {(d, k) for d in ("cooking", "gaming") for k in CHARTS}
    for key, c in charts.items():
        assert c["svgs"] >= 1 and c["marks"] > 0, f"{key} is not drawn"
        assert c["share"] > 0.95, f"{key} uses {c['share']:.0%} of the page width"
    labels = {t.topic_id: f"{t.topic_id} {t.label}" for t in rt.store.topics.list()}
    for planted, tid in owners.items():
        domain = planted.split("/")[0]
        assert labels[tid] in charts[(domain, "activity")]["texts"], planted  # legend: its topic, by name
        assert labels[tid] in charts[(domain, "lineage")]["texts"], planted  # a row of the lineage
        assert tid in charts[(domain, "map")]["texts"], planted  # a point of the map
    lineage = charts[("gaming", "lineage")]["texts"]
    assert f"split links ({len(children)})" in lineage
    assert labels[parent] in lineage and all(labels[c] in lineage for c in children)
    assert any(t.startswith("birth (") for t in lineage)
    fig = lineage_figure(gather(rt.store, end, health_cfg=rt.cfg.health).domains[1], end)
    rows = dict(zip(fig.layout.yaxis.ticktext, fig.layout.yaxis.tickvals, strict=True))
    split = next(t for t in fig.data if t.name.startswith("split links"))
    assert [(split.y[3 * i], split.y[3 * i + 1]) for i in range(len(children))] == [
        (rows[labels[parent]], rows[labels[c]]) for c in children
    ]  # an arrow from the topic that held the fork to each topic holding a part of it
