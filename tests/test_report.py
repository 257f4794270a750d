"""Tests of the static HTML report on small synthetic stores."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from ray_topics.config import HealthConfig
from ray_topics.core.types import EventType, TopicEvent
from ray_topics.ops.health import ALERTS, DYING_TOPIC, LOW_CONFIDENCE, OVER_SPECIALIZED
from ray_topics.ops.report import write_report
from ray_topics.storage.store import Store
from tests.test_health import _topic

AS_OF = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CFG = HealthConfig(low_confidence=0.6, max_channel_share=0.5, min_videos_for_alerts=10, dying_days=7)
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def _ingest(store: Store, rows: list[tuple[str, datetime, str, float]]) -> None:
    """One video per (topic_id, published_at, channel_id, confidence)."""
    start = store.count("videos")
    videos, classes = [], []
    for i, (tid, ts, channel, conf) in enumerate(rows):
        vid, domain = f"v{start + i}", tid.split(":")[0]
        videos.append({"video_id": vid, "domain": domain, "channel_id": channel, "published_at": ts})
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
    topics[4].status, topics[4].died_at = "merged", AS_OF - 5 * DAY
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
    rows += [("gaming:2", AS_OF - 3 * DAY - timedelta(hours=i), "solo" if i < 8 else f"o{i}", 0.9) for i in range(10)]
    rows += [("gaming:3", AS_OF - 10 * DAY, "r", 0.9)]
    rows += [("cooking:0", AS_OF - DAY * d, "k", 0.8) for d in range(5)]
    _ingest(s, rows)
    return s


def test_report_is_self_contained_and_complete(store: Store, tmp_path: Path) -> None:
    path = write_report(store, tmp_path / "out" / "report.html", AS_OF, health_cfg=CFG, title="Report <&>")
    assert path == tmp_path / "out" / "report.html" and path.is_file()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "<title>Report &lt;&amp;&gt;</title>" in text
    for label in LABELS.values():
        assert html.escape(label) in text, label
    assert "<b>&" not in text
    assert "<script" not in text.lower()  # event details are escaped too
    assert text.count("<svg") >= 8  # 2 domains x (lines, timeline, sizes, confidence)
    for alert in (DYING_TOPIC, LOW_CONFIDENCE, OVER_SPECIALIZED):
        assert alert in text
    assert not EXTERNAL.search(text)
    assert "http://" not in text and "https://" not in text
    assert "<link" not in text and "@import" not in text
    for kind in ("birth", "merge", "split", "drift", "dying"):
        assert f">{kind} (1)<" in text, kind
    assert ">death (0)<" in text  # the event after as_of is left out
    assert 'id="d-gaming"' in text and 'href="#d-gaming"' in text


def test_report_caps_lines_per_chart(tmp_path: Path) -> None:
    """5 domains x 30 topics x 60 days stays readable: at most top_n lines per chart."""
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
    path = write_report(s, tmp_path / "big.html", AS_OF, health_cfg=CFG, top_n=6, max_bars=12)
    text = path.read_text(encoding="utf-8")
    assert text.count("<polyline") == 6 * len(domains)
    # the busiest topics (0..4 post every day) are drawn
    for n in range(5):
        assert f"<title>gaming:{n} gaming topic {n}: 60 videos</title>" in text
    assert text.count("<rect") == 2 * 12 * len(domains)
    for d in domains:
        for n in range(30):
            assert f"{d} topic {n}" in text
    assert len(text) < 2_000_000


def test_report_window_and_empty_store(tmp_path: Path) -> None:
    empty = write_report(Store("sqlite://"), tmp_path / "empty.html", AS_OF, health_cfg=CFG)
    text = empty.read_text(encoding="utf-8")
    assert "No topics yet" in text and all(a in text for a in ALERTS)
    with pytest.raises(ValueError):
        write_report(Store("sqlite://"), tmp_path / "bad.html", AS_OF, health_cfg=CFG, top_n=0)


def test_report_window_days(store: Store, tmp_path: Path) -> None:
    text = write_report(store, tmp_path / "w.html", AS_OF, health_cfg=CFG, window_days=4).read_text("utf-8")
    assert ">birth (0)<" in text and ">drift (1)<" in text
