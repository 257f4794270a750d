"""Tests of topic health and its Prometheus rendering, on a small store with known answers."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from ray_topics.config import HealthConfig, load_config
from ray_topics.core.types import Topic
from ray_topics.ops.health import (
    ALERTS,
    DYING_TOPIC,
    LOW_CONFIDENCE,
    OVER_SPECIALIZED,
    QUIET_TOPIC,
    TopicHealth,
    average_confidence,
    health_from_config,
    health_summary,
    last_video_at,
    routing_from_config,
    routing_health,
    to_prometheus,
    topic_health,
)
from ray_topics.storage.store import Store

AS_OF = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
THRESHOLDS = dict(low_confidence=0.6, max_channel_share=0.5, min_videos_for_alerts=10, quiet_days=7)

# one Prometheus sample line: name{label="value",...} value
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:\\.|[^"\\\n])*"'
SAMPLE = re.compile(
    rf"^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{{(?:{_LABEL}(?:,{_LABEL})*)?\}})? "
    r"(?:[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|NaN|[-+]Inf)$"
)


def _topic(domain: str, number: int, label: str, status: str = "active", size: int = 50) -> Topic:
    born = AS_OF - timedelta(days=40)
    return Topic(
        topic_id=f"{domain}:{number}",
        domain=domain,
        number=number,
        label=label,
        keywords=label.split(),
        centroid=np.zeros(4, dtype=np.float32),
        sim_mean=0.5,
        sim_std=0.1,
        size=size,
        status=status,
        born_at=born,
        last_seen_at=born,
        died_at=AS_OF - 2 * DAY if status == "dead" else None,
    )


def _videos(store: Store, topic_id: str, rows: list[tuple[datetime, str, float]]) -> None:
    """Ingest one video per (published_at, channel_id, confidence), classified to ``topic_id``."""
    domain = topic_id.split(":")[0]
    start = store.count("videos")
    videos, classes = [], []
    for i, (ts, channel, conf) in enumerate(rows):
        vid = f"v{start + i}"
        videos.append({"video_id": vid, "domain": domain, "channel_id": channel, "published_at": ts, "title": vid})
        classes.append(
            {
                "video_id": vid,
                "domain": domain,
                "published_at": ts,
                "topic_id": topic_id,
                "confidence": conf,
                "status": "preliminary",
                "model_version": f"{domain}@1",
                "classified_at": ts,
            }
        )
    store.videos.ingest(videos, np.zeros((len(videos), 4), dtype=np.float32), classes)


@pytest.fixture()
def store() -> Store:
    s = Store("sqlite://")
    topics = [
        _topic("gaming", 0, "busy speedrun"),
        _topic("gaming", 1, "blurry mix"),
        _topic("gaming", 2, "one channel show"),
        _topic("gaming", 3, "quiet retro"),
        _topic("gaming", 4, "tiny niche"),
        _topic("gaming", 5, "fading esports", status="dying"),
        _topic("gaming", 6, "gone", status="dead"),
        _topic("cooking", 0, "<b>& bread"),
    ]
    with s.begin() as conn:
        s.topics.upsert(topics, conn)
    # busy: 20 videos this week from 10 channels (2 each), 4 of them in the last day; confidence 0.9;
    # plus a video exactly at as_of (excluded) and one 8 days ago (outside the week)
    busy = [(AS_OF - timedelta(hours=1 + 5 * i), f"ch{6 + i}", 0.9) for i in range(4)]
    busy += [(AS_OF - 2 * DAY - timedelta(hours=6 * i), f"ch{i % 10}", 0.9) for i in range(16)]
    busy += [(AS_OF, "ch0", 0.9), (AS_OF - 8 * DAY, "ch0", 0.9)]
    _videos(s, "gaming:0", busy)
    # blurry: 12 videos this week, 12 channels, mean confidence 0.4 (0.3 and 0.5 alternating)
    _videos(s, "gaming:1", [(AS_OF - 2 * DAY - timedelta(hours=i), f"b{i}", 0.3 if i % 2 else 0.5) for i in range(12)])
    # one channel show: 10 videos this week, 8 from one channel (share 0.8)
    show = [(AS_OF - 3 * DAY - timedelta(hours=i), "solo" if i < 8 else f"o{i}", 0.9) for i in range(10)]
    _videos(s, "gaming:2", show)
    # quiet: last video 10 days ago
    _videos(s, "gaming:3", [(AS_OF - 10 * DAY - timedelta(hours=i), "r", 0.9) for i in range(3)])
    # tiny: 5 videos this week, all one channel, confidence 0.3 -> below min_videos_for_alerts
    _videos(s, "gaming:4", [(AS_OF - 2 * DAY - timedelta(hours=i), "t", 0.3) for i in range(5)])
    # fading: recent videos, but the lifecycle job marked it dying
    _videos(s, "gaming:5", [(AS_OF - DAY - timedelta(hours=i), f"f{i}", 0.9) for i in range(2)])
    _videos(s, "gaming:6", [(AS_OF - 3 * DAY, "x", 0.9)])
    _videos(s, "cooking:0", [(AS_OF - 2 * DAY - timedelta(hours=i), f"k{i}", 0.8) for i in range(12)])
    return s


def _by_id(items: list[TopicHealth]) -> dict[str, TopicHealth]:
    return {h.topic_id: h for h in items}


def test_live_topics_only_in_order(store: Store) -> None:
    items = topic_health(store, AS_OF, **THRESHOLDS)
    assert [h.topic_id for h in items] == [
        "cooking:0", "gaming:0", "gaming:1", "gaming:2", "gaming:3", "gaming:4", "gaming:5",
    ]  # fmt: skip
    assert [h.topic_id for h in topic_health(store, AS_OF, domain="cooking", **THRESHOLDS)] == ["cooking:0"]


def test_counts_today_and_week_are_exact(store: Store) -> None:
    h = _by_id(topic_health(store, AS_OF, **THRESHOLDS))
    busy = h["gaming:0"]
    assert (busy.videos_today, busy.videos_week) == (4, 20)
    assert busy.channels_week == 10
    assert busy.top_channel_share_week == pytest.approx(0.1)
    assert busy.avg_confidence_week == pytest.approx(0.9)
    assert busy.avg_confidence_today == pytest.approx(0.9)
    assert busy.days_since_last_video == 0
    assert busy.size == 50 and busy.label == "busy speedrun" and busy.status == "active"
    quiet = h["gaming:3"]
    assert (quiet.videos_today, quiet.videos_week, quiet.channels_week) == (0, 0, 0)
    assert quiet.avg_confidence_week is None and quiet.avg_confidence_today is None
    assert quiet.top_channel_share_week is None
    assert quiet.days_since_last_video == 10
    # window edges: [as_of - 7 days, as_of) includes its start and excludes as_of
    edge = topic_health(store, AS_OF + timedelta(microseconds=1), **THRESHOLDS)
    assert _by_id(edge)["gaming:0"].videos_week == 21


def test_alert_rules(store: Store) -> None:
    h = _by_id(topic_health(store, AS_OF, **THRESHOLDS))
    assert h["gaming:0"].alerts == []  # busy, active, confident, 10 channels
    assert h["gaming:1"].avg_confidence_week == pytest.approx(0.4)
    assert h["gaming:1"].alerts == [LOW_CONFIDENCE]
    assert h["gaming:2"].top_channel_share_week == pytest.approx(0.8)
    assert h["gaming:2"].alerts == [OVER_SPECIALIZED]
    assert h["gaming:3"].alerts == [QUIET_TOPIC]  # no video for 10 >= 7 days, but its status is still active
    tiny = h["gaming:4"]
    assert tiny.videos_week == 5 and tiny.avg_confidence_week == pytest.approx(0.3)
    assert tiny.top_channel_share_week == 1.0
    assert tiny.alerts == []  # below min_videos_for_alerts
    assert h["gaming:5"].alerts == [DYING_TOPIC]  # status dying, though it had videos yesterday
    assert h["cooking:0"].alerts == []


def test_a_topic_born_after_as_of_and_a_mean_at_the_threshold_raise_nothing(store: Store) -> None:
    """Health at a past ``as_of`` knows no topic born after it (its stored status, dying say, is later news);
    a week's mean confidence at ``low_confidence`` exactly (the database sums ten 0.6s to 5.999999999999999)
    is not below it."""
    later = dataclasses.replace(_topic("news", 0, "later story", status="dying"), born_at=AS_OF + 5 * DAY)
    at = dataclasses.replace(_topic("news", 1, "at the line"), number=1)
    with store.begin() as conn:
        store.topics.upsert([later, at], conn)
    _videos(store, "news:1", [(AS_OF - DAY - timedelta(hours=i), f"n{i}", 0.6) for i in range(10)])
    items = _by_id(topic_health(store, AS_OF, **THRESHOLDS))
    assert "news:0" not in items and items["news:1"].videos_week == 10
    assert THRESHOLDS["low_confidence"] == 0.6 and items["news:1"].alerts == []


def test_health_at_a_past_as_of_gives_the_statuses_of_then(store: Store) -> None:
    """Found by review: health (and the report) at a past ``as_of`` read the stored status, today's: a topic
    that died since was missing, one that became dying since raised DYING_TOPIC, one revived since did not."""
    from ray_topics.core.types import EventType, TopicEvent

    died = dataclasses.replace(_topic("news", 2, "died since", status="dead"), number=2, died_at=AS_OF + 3 * DAY)
    revived = dataclasses.replace(_topic("news", 3, "revived since"), number=3)
    with store.begin() as conn:
        store.topics.upsert([died, revived], conn)
        store.topics.add_events(
            [
                TopicEvent("news", "news:2", EventType.DYING, AS_OF - DAY),
                TopicEvent("news", "news:2", EventType.DEATH, AS_OF + 3 * DAY),
                TopicEvent("news", "news:3", EventType.DYING, AS_OF - 2 * DAY),
                TopicEvent("news", "news:3", EventType.REVIVAL, AS_OF + DAY),
                TopicEvent("gaming", "gaming:5", EventType.DYING, AS_OF + DAY),  # became dying after as_of
                TopicEvent("gaming", "gaming:0", EventType.DRIFT, AS_OF + DAY),  # no status moves
            ],
            conn,
        )
    then = topic_health(store, AS_OF, **THRESHOLDS)
    h = _by_id(then)
    assert (h["news:2"].status, h["news:3"].status, h["gaming:5"].status) == ("dying", "dying", "active")
    assert DYING_TOPIC in h["news:2"].alerts and DYING_TOPIC not in h["gaming:5"].alerts
    assert [x.topic_id for x in then] == sorted(h, key=lambda tid: (tid.split(":")[0], int(tid.split(":")[1])))
    now = _by_id(topic_health(store, AS_OF + 10 * DAY, **THRESHOLDS))
    assert "news:2" not in now and (now["news:3"].status, now["gaming:5"].status) == ("active", "dying")


def test_thresholds_are_parameters(store: Store) -> None:
    loose = dict(THRESHOLDS, min_videos_for_alerts=5, quiet_days=11)
    h = _by_id(topic_health(store, AS_OF, **loose))
    assert h["gaming:4"].alerts == [LOW_CONFIDENCE, OVER_SPECIALIZED]
    assert h["gaming:3"].alerts == []
    # exactly quiet_days without a video counts
    assert QUIET_TOPIC in _by_id(topic_health(store, AS_OF, **dict(THRESHOLDS, quiet_days=10)))["gaming:3"].alerts


def test_dying_follows_the_stored_status_and_quiet_the_idle_days(store: Store) -> None:
    """One definition each: DYING_TOPIC is the lifecycle's status, QUIET_TOPIC the health threshold alone."""
    never_quiet = _by_id(topic_health(store, AS_OF, **dict(THRESHOLDS, quiet_days=1000)))
    assert never_quiet["gaming:5"].alerts == [DYING_TOPIC]  # no threshold can silence the status
    assert never_quiet["gaming:3"].alerts == []  # 10 idle days: quiet at most, never dying on health's say
    # a dying topic with no video for quiet_days raises both, each for its own reason
    everything_quiet = _by_id(topic_health(store, AS_OF + 30 * DAY, **THRESHOLDS))
    assert everything_quiet["gaming:5"].alerts == [DYING_TOPIC, QUIET_TOPIC]
    assert everything_quiet["gaming:0"].alerts == [QUIET_TOPIC]


def test_the_old_dying_days_key_says_what_it_became() -> None:
    with pytest.raises(ValueError, match=r"health\.quiet_days"):
        HealthConfig(low_confidence=0.6, max_channel_share=0.5, min_videos_for_alerts=10, dying_days=7)
    assert load_config().health.quiet_days == 7


def test_naive_as_of_is_utc(store: Store) -> None:
    aware = topic_health(store, AS_OF, **THRESHOLDS)
    naive = topic_health(store, AS_OF.replace(tzinfo=None), **THRESHOLDS)
    assert aware == naive


def test_from_config_and_summary(store: Store) -> None:
    items = health_from_config(store, AS_OF, HealthConfig(**THRESHOLDS))
    assert items == topic_health(store, AS_OF, **THRESHOLDS)
    s = health_summary(items)
    assert s["topics"] == 7 and s["alerting"] == 4
    assert s["alerts"] == {DYING_TOPIC: 1, QUIET_TOPIC: 1, LOW_CONFIDENCE: 1, OVER_SPECIALIZED: 1}
    assert s["statuses"] == {"active": 6, "dying": 1}
    assert s["domains"]["cooking"] == {
        "topics": 1, "alerting": 0, "alerts": dict.fromkeys(ALERTS, 0), "statuses": {"active": 1},
    }  # fmt: skip
    assert s["domains"]["gaming"]["alerts"][DYING_TOPIC] == 1
    assert health_summary([])["alerts"] == dict.fromkeys(ALERTS, 0)


def test_query_helpers(store: Store) -> None:
    last = last_video_at(store, AS_OF, domain="gaming")
    assert last["gaming:3"] == AS_OF - 10 * DAY
    assert last["gaming:0"] == AS_OF - timedelta(hours=1)  # the video at as_of is excluded
    assert "cooking:0" not in last
    conf = average_confidence(store, domain="gaming", start=AS_OF - 7 * DAY, end=AS_OF)
    assert conf["gaming:1"] == (12, pytest.approx(0.4))
    assert "gaming:3" not in conf


def test_empty_store() -> None:
    assert topic_health(Store("sqlite://"), AS_OF, **THRESHOLDS) == []


def test_prometheus_text_parses_and_holds_alerts(store: Store) -> None:
    items = topic_health(store, AS_OF, **THRESHOLDS)
    text = to_prometheus(items, AS_OF)
    assert text.endswith("\n")
    names = set()
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* \S", line), line
            continue
        assert SAMPLE.match(line), line
        names.add(line.split("{")[0].split(" ")[0])
    for name in (
        "ray_topics_topic_videos_week",
        "ray_topics_topic_avg_confidence_week",
        "ray_topics_topic_channels_week",
        "ray_topics_topic_alert",
    ):
        assert name in names
        assert f"# TYPE {name} gauge" in text and f"# HELP {name} " in text
    assert 'ray_topics_topic_alert{domain="gaming",topic="gaming:1",alert="LOW_CONFIDENCE"} 1' in text
    assert 'ray_topics_topic_alert{domain="gaming",topic="gaming:2",alert="OVER_SPECIALIZED"} 1' in text
    assert 'ray_topics_topic_videos_week{domain="gaming",topic="gaming:0"} 20' in text
    conf = re.search(r'^ray_topics_topic_avg_confidence_week\{domain="gaming",topic="gaming:1"\} (\S+)$', text, re.M)
    assert conf and float(conf.group(1)) == pytest.approx(0.4)
    # a topic without videos this week has no confidence sample
    assert 'ray_topics_topic_avg_confidence_week{domain="gaming",topic="gaming:3"}' not in text
    assert f"ray_topics_health_as_of_timestamp_seconds {int(AS_OF.timestamp())}" in text


def test_prometheus_escapes_label_values() -> None:
    odd = TopicHealth('d"q\\x\ny', 'd"q\\x\ny', "l", "active", 1, 1, 0.5, 0.5, 1, 1.0, 0, 1, [LOW_CONFIDENCE])
    text = to_prometheus([odd], AS_OF)
    assert 'domain="d\\"q\\\\x\\ny"' in text
    for line in text.splitlines():
        assert line.startswith("#") or SAMPLE.match(line), line


def _routed(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """Ingest ``n`` unclassified-topic videos per (domain, category, n, published_at[, the route Tier 1 took])."""
    videos, classes = [], []
    for domain, category, n, ts, *route in rows:
        for _ in range(n):
            vid = f"r{len(videos)}"
            videos.append(
                {"video_id": vid, "domain": domain, "channel_id": "c", "published_at": ts, "category": category,
                 "routed_by": route[0] if route else None}
            )  # fmt: skip
            classes.append({"video_id": vid, "domain": domain, "published_at": ts, "topic_id": None, "confidence": 0.0,
                            "status": "preliminary", "model_version": f"{domain}@1", "classified_at": ts})  # fmt: skip
    store.videos.ingest(videos, np.zeros((len(videos), 4), dtype=np.float32), classes)


CATEGORIES = {"games": "gaming", "gaming": "gaming", "food": "cooking", "other": "general"}


@pytest.fixture()
def routed() -> Store:
    """A week of videos whose stored domain and category tell how each was routed."""
    s = Store("sqlite://")
    week = AS_OF - 2 * DAY
    _routed(
        s,
        [
            ("gaming", "Games", 6, week),  # category maps to the domain (any case): by category
            ("gaming", "vlog", 3, week),  # a category no mapping covers: by prototype
            ("gaming", None, 1, week),  # no category: by prototype
            ("cooking", "food", 4, week),
            ("cooking", None, 2, week),
            ("general", None, 3, week),  # the fallback domain, its category unmapped: to the fallback
            ("general", "other", 1, week),  # the fallback's own category: by category
            ("gaming", "games", 5, AS_OF - 8 * DAY),  # before the week: not counted
            ("gaming", None, 5, AS_OF),  # at as_of: not counted
        ],
    )
    return s


def test_routing_shares_of_the_week(routed: Store) -> None:
    r = routing_health(routed, AS_OF, category_map=CATEGORIES, fallback="general")
    assert r["window_days"] == 7
    assert r["videos"] == {"explicit": 0, "category": 11, "neighbours": 0, "prototype": 6, "fallback": 3}
    assert r["share"] == {"explicit": 0.0, "category": 0.55, "neighbours": 0.0, "prototype": 0.3, "fallback": 0.15}
    assert sum(r["share"].values()) == pytest.approx(1.0)
    assert r["domains"]["gaming"]["videos"] == {
        "explicit": 0,
        "category": 6,
        "neighbours": 0,
        "prototype": 4,
        "fallback": 0,
    }
    assert r["domains"]["general"]["share"] == {
        "explicit": 0.0,
        "category": 0.25,
        "neighbours": 0.0,
        "prototype": 0.0,
        "fallback": 0.75,
    }
    assert list(r["domains"]) == ["cooking", "gaming", "general"]
    only = routing_health(routed, AS_OF, category_map=CATEGORIES, fallback="general", domain="cooking")
    assert only["videos"] == {"explicit": 0, "category": 4, "neighbours": 0, "prototype": 2, "fallback": 0}
    assert list(only["domains"]) == ["cooking"]


def test_routing_shares_are_the_stored_routes_and_a_video_stored_without_one_is_read_back(
    store_url: tuple[str, str | None],
) -> None:
    week = AS_OF - 2 * DAY
    store = Store(store_url[0], schema=store_url[1])  # both backends (this module's ``store`` is SQLite's)
    _routed(
        store,
        [
            ("gaming", None, 4, week, "neighbours"),  # voted in by labelled neighbours: "prototype" if read back
            ("gaming", "food", 2, week, "explicit"),  # the request named gaming: "prototype" if read back
            ("gaming", None, 1, week, "prototype"),
            ("gaming", "games", 3, week, "category"),
            ("general", None, 2, week, "fallback"),
            ("cooking", None, 5, week),  # stored before the store kept routes: read back, by prototype
            ("cooking", "food", 1, week),  # read back, by category
            ("gaming", None, 7, AS_OF - 8 * DAY, "neighbours"),  # before the week: not counted
        ],
    )
    r = routing_health(store, AS_OF, category_map=CATEGORIES, fallback="general")
    assert r["videos"] == {"explicit": 2, "category": 4, "neighbours": 4, "prototype": 6, "fallback": 2}
    assert r["domains"]["gaming"]["videos"] == {
        "explicit": 2,
        "category": 3,
        "neighbours": 4,
        "prototype": 1,
        "fallback": 0,
    }
    assert r["domains"]["cooking"]["videos"]["prototype"] == 5
    store.dispose()


def test_routing_without_a_fallback_counts_every_unmapped_video_by_prototype(routed: Store) -> None:
    r = routing_health(routed, AS_OF, category_map=CATEGORIES, fallback=None)
    assert r["videos"] == {"explicit": 0, "category": 11, "neighbours": 0, "prototype": 9, "fallback": 0}


def test_routing_from_config_reads_the_domains_section(routed: Store) -> None:
    cfg = load_config()  # gaming: games, esports ...; cooking: food ...; fallback general: general, other
    r = routing_from_config(routed, AS_OF, cfg)
    assert r["videos"] == {"explicit": 0, "category": 11, "neighbours": 0, "prototype": 6, "fallback": 3}
    assert routing_health(Store("sqlite://"), AS_OF, category_map={}, fallback=None)["share"]["category"] == 0.0


def test_prometheus_carries_the_routing_shares(routed: Store) -> None:
    r = routing_health(routed, AS_OF, category_map=CATEGORIES, fallback="general")
    text = to_prometheus([], AS_OF, r)
    for line in text.splitlines():
        assert line.startswith("#") or SAMPLE.match(line), line
    assert 'ray_topics_routing_share_week{route="category"} 0.55' in text
    assert 'ray_topics_routing_share_week{route="fallback"} 0.15' in text
    assert 'ray_topics_routing_videos_week{domain="gaming",route="prototype"} 4' in text
    assert "# TYPE ray_topics_routing_share_week gauge" in text
    assert "ray_topics_routing" not in to_prometheus([], AS_OF)  # without routing: no routing families


def test_cli_health_shows_the_routing_shares(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from ray_topics.cli import main
    from ray_topics.execution.runtime import Runtime

    store = Runtime(load_config(workdir=str(tmp_path))).store
    _routed(store, [("gaming", "games", 3, AS_OF - DAY), ("general", None, 1, AS_OF - DAY)])
    assert main(["health", "--workdir", str(tmp_path), "--as-of", AS_OF.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "routing, last 7 days: category 75.0 % (3), fallback 25.0 % (1)" in out
    summary = json.loads(out[out.index("{") :])
    assert summary["routing"]["share"] == {
        "explicit": 0.0,
        "category": 0.75,
        "neighbours": 0.0,
        "prototype": 0.0,
        "fallback": 0.25,
    }
    assert main(["health", "--workdir", str(tmp_path), "--as-of", AS_OF.isoformat(), "--prometheus"]) == 0
    assert 'ray_topics_routing_share_week{route="category"} 0.75' in capsys.readouterr().out


def test_a_week_stored_before_classifications_carried_channel_and_route_reads_the_same(
    store_url: tuple[str, str | None],
) -> None:
    """Each classification carries its video's channel and route from ingest, so health reads the week without
    a join; rows stored before it did are read through ``videos`` and give the same figures."""
    store = Store(store_url[0], schema=store_url[1])
    week = AS_OF - 2 * DAY
    routes = ["category", "neighbours", "prototype", None]  # None: stored before the store kept routes
    videos, classes = [], []
    for i in range(60):
        domain = ("gaming", "cooking")[i % 2]
        at = week + i * timedelta(minutes=7)
        videos.append(
            {
                "video_id": f"w{i:02d}",
                "domain": domain,
                "channel_id": "busy" if i % 3 else f"c{i % 5}",
                "published_at": at,
                "category": ("games", "food", None)[i % 3],
                "routed_by": routes[i % 4],
            }
        )
        classes.append({"video_id": f"w{i:02d}", "domain": domain, "published_at": at,
                        "topic_id": f"{domain}:{i % 4 // 2}", "confidence": 0.3 + (i % 7) / 10,
                        "status": "refined", "model_version": f"{domain}@1", "classified_at": at})  # fmt: skip
    store.videos.ingest(videos, np.zeros((len(videos), 4), dtype=np.float32), classes)
    c, v = store.table("classifications"), store.table("videos")
    with store.engine.connect() as conn:
        copies = {r.video_id: (r.channel_id, r.route) for r in conn.execute(c.select())}
        stored = {r.video_id: (r.channel_id, r.route) for r in conn.execute(v.select())}
    assert copies == stored and len(copies) == 60

    def figures() -> tuple[Any, ...]:
        act = store.activity.topic_activity(None, AS_OF - 7 * DAY, AS_OF, recent_start=week + 3 * timedelta(hours=1))
        routing = routing_health(store, AS_OF, category_map=CATEGORIES, fallback="general")
        rounded = [{k: round(x, 9) if isinstance(x, float) else x for k, x in a.items()} for a in act]
        return sorted(rounded, key=lambda a: a["topic_id"]), routing  # the sums' order may differ

    now = figures()
    assert {a["topic_id"] for a in now[0]} == {"gaming:0", "gaming:1", "cooking:0", "cooking:1"}
    assert 0 < min(a["top_channel_share"] for a in now[0]) < 1 and max(a["channels"] for a in now[0]) > 1
    assert sum(now[1]["videos"].values()) == 60 and now[1]["videos"]["neighbours"] == 15
    with store.begin() as conn:  # half the week as a store before the copies: NULL in the new columns
        conn.execute(c.update().where(c.c.video_id < "w30").values(channel_id=None, route=None))
    assert figures() == now
    store.dispose()
