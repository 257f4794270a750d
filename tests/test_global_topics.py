"""Global topics: the linking rule, its stored groups and lineage (SQLite and PostgreSQL), the tiers, CLI and report."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from ray_topics.cli import main
from ray_topics.config import load_config
from ray_topics.core.global_topics import GlobalEventType, assign_ids, group_links, link_groups
from ray_topics.core.index import normalize
from ray_topics.core.plan import Plan
from ray_topics.core.types import EventType, Topic, TopicEvent, TopicStatus
from ray_topics.execution.runtime import Runtime
from ray_topics.ops.report import write_report
from ray_topics.storage.global_topics import GlobalTopics
from ray_topics.storage.runs import once
from ray_topics.storage.store import Store
from ray_topics.streams.planted import PlantedTopic, StreamSpec
from ray_topics.streams.replay import Replay
from ray_topics.streams.synthetic import generate
from ray_topics.tiers.job import commit_lock, commit_plan
from tests.conftest import at_once, make_config

AT = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
DIM = 32
THRESHOLD = load_config().global_topics.link_threshold
DOMAINS = ("gaming", "tech", "news")


def _unit(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    return normalize(rng.standard_normal((n, DIM)))


def _near(rng: np.random.Generator, center: np.ndarray, cosine: float) -> np.ndarray:
    """A unit vector at exactly ``cosine`` to ``center``."""
    w = rng.standard_normal(DIM)
    w -= (w @ center) * center
    return normalize(cosine * center + np.sqrt(1 - cosine**2) * normalize(w))


def _topic(domain: str, number: int, centroid: np.ndarray, status: str = "active", label: str = "") -> Topic:
    return Topic(
        topic_id=f"{domain}:{number}",
        domain=domain,
        number=number,
        label=label or f"{domain} {number}",
        keywords=[],
        centroid=normalize(centroid).astype(np.float32),
        sim_mean=0.6,
        sim_std=0.05,
        size=10,
        status=status,
        born_at=AT,
        last_seen_at=AT,
    )


def _groups(topics: list[Topic], threshold: float = THRESHOLD) -> list[tuple[str, ...]]:
    live = [t for t in topics if t.live]
    return link_groups(
        [t.topic_id for t in live], [t.domain for t in live], np.stack([t.centroid for t in live]), threshold
    )


# ---------------------------------------------------------------- the rule (core)


def test_config_links_at_the_monthly_merge_threshold() -> None:
    cfg = load_config()
    assert cfg.global_topics.link_threshold == cfg.monthly.merge_threshold == 0.92


def test_near_duplicates_across_three_domains_link_and_same_domain_never() -> None:
    rng = np.random.default_rng(0)
    story, other = _unit(rng, 2)
    topics = [
        _topic("gaming", 0, _near(rng, story, 0.97)),
        _topic("tech", 3, _near(rng, story, 0.97)),
        _topic("news", 1, _near(rng, story, 0.97)),
        # the same story twice in one domain: a merge for the monthly tier, never a link
        _topic("news", 2, _near(rng, story, 0.99)),
        # unrelated topics of every domain, and a pair just below the threshold
        *(_topic(d, 7, v) for d, v in zip(DOMAINS, _unit(rng, 3), strict=True)),
        _topic("gaming", 8, other),
        _topic("tech", 8, _near(rng, other, THRESHOLD - 0.01)),
    ]
    (group,) = _groups(topics)
    assert len(group) == 3 and Counter(t.split(":")[0] for t in group) == Counter(DOMAINS)
    assert {"gaming:0", "tech:3"} < set(group)
    # two topics of one domain alone are never linked, however close
    assert _groups([_topic("news", 1, story), _topic("news", 2, story)]) == []
    # the order of the topics does not matter
    assert _groups(topics[::-1]) == [group]
    # a dead or merged topic is not linked (only live topics are passed)
    assert _groups([_topic("gaming", 0, story), _topic("tech", 0, story, status=TopicStatus.DEAD)]) == []


# Centroid cosines measured by benchmarks/links.py (benchmarks/RESULTS.md, "Issue 14: linking one story across
# domains"): the topics of one planted story in two or three domains, and the closest pairs of different stories
# (planted related stories, centers at 0.85 and 0.80; on news, the closest pair whose members' full-fit topics
# overlap little).
ONE_STORY = (0.956, 0.973, 0.994)
DIFFERENT_STORIES = (0.847, 0.830, 0.799)


@pytest.mark.parametrize(("cosine", "linked"), [(c, True) for c in ONE_STORY] + [(c, False) for c in DIFFERENT_STORIES])
def test_measured_cosines_link_one_story_and_keep_different_stories_apart(cosine: float, linked: bool) -> None:
    rng = np.random.default_rng(6)
    story = _unit(rng)[0]
    pair = [_topic("gaming", 0, story), _topic("tech", 0, _near(rng, story, cosine))]
    assert _groups(pair) == ([("gaming:0", "tech:0")] if linked else [])


def test_links_are_taken_strongest_first_one_topic_per_domain() -> None:
    ids, doms = ["a:1", "b:1", "a:2", "c:1"], ["a", "b", "a", "c"]
    # b:1 is closer to a:2 than to a:1: it joins a:2, and a:1 (same domain as a:2) stays out; c:1 joins them
    assert group_links(ids, doms, [(0.93, 0, 1), (0.95, 1, 2), (0.94, 1, 3)]) == [("a:2", "b:1", "c:1")]
    assert group_links(ids, doms, [(0.99, 0, 2)]) == []  # two topics of one domain: never a link
    assert group_links(ids, doms, []) == []


def test_ids_are_stable_under_relink_and_a_split_keeps_the_id_on_the_larger_part() -> None:
    first = assign_ids([("gaming:0", "tech:0"), ("news:1", "tech:5")], {}, {}, 1)
    assert first.groups == {1: ("gaming:0", "tech:0"), 2: ("news:1", "tech:5")}
    assert [str(e.type) for e in first.events] == ["form", "form"]
    same = assign_ids(list(first.groups.values())[::-1], first.groups, {}, 3)
    assert same.groups == first.groups and same.events == []  # nothing changed: no event, no id churn
    grown = assign_ids([("gaming:0", "news:0", "tech:0"), ("news:1", "tech:5")], first.groups, {}, 3)
    assert grown.groups[1] == ("gaming:0", "news:0", "tech:0") and set(grown.groups) == {1, 2}
    (link,) = grown.events
    assert (link.global_id, link.type, link.details) == (1, GlobalEventType.LINK, {"added": ["news:0"]})
    # a split: the part keeping most of the old topics keeps the id, the other part gets a new one
    big = {4: ("cooking:1", "gaming:2", "news:2", "sports:2", "tech:2")}
    split = assign_ids([("cooking:1", "gaming:2"), ("news:2", "sports:2", "tech:2")], big, {}, 9)
    assert split.groups == {4: ("news:2", "sports:2", "tech:2"), 9: ("cooking:1", "gaming:2")}
    kinds = {(e.global_id, e.type): e.details for e in split.events}
    assert kinds[(4, GlobalEventType.SPLIT)]["into"] == [9] and kinds[(9, GlobalEventType.FORM)] == {"from": [4]}
    # two groups joining: the id of the one bringing more topics stays, the other ends into it
    joined = assign_ids([("cooking:1", "gaming:2", "news:2", "sports:2", "tech:2")], split.groups, {}, 10)
    assert set(joined.groups) == {4}
    kinds = {(e.global_id, e.type): e.details for e in joined.events}
    assert kinds[(4, GlobalEventType.MERGE)]["absorbed"] == [9] and kinds[(9, GlobalEventType.END)]["into"] == 4


def test_an_ended_group_gets_its_id_back_when_its_topics_link_again() -> None:
    ended = assign_ids([], {5: ("gaming:0", "tech:0")}, {}, 6)
    assert ended.groups == {} and [(e.global_id, str(e.type)) for e in ended.events] == [(5, "end")]
    again = assign_ids([("gaming:0", "tech:0")], {}, {5: ("gaming:0", "tech:0")}, 6)
    assert again.groups == {5: ("gaming:0", "tech:0")} and again.events[0].details == {"reformed": True}
    fresh = assign_ids([("gaming:9", "tech:9")], {}, {5: ("gaming:0", "tech:0")}, 6)
    assert fresh.groups == {6: ("gaming:9", "tech:9")}  # an id never names other topics


def test_relinking_a_drifted_world_keeps_every_id() -> None:
    """Small moves of every centroid (a week's drift) relink to the same groups under the same ids."""
    rng = np.random.default_rng(1)
    stories = _unit(rng, 4)
    topics = [_topic(d, k, _near(rng, s, 0.985)) for k, s in enumerate(stories) for d in DOMAINS]
    before = assign_ids(_groups(topics), {}, {}, 1)
    assert len(before.groups) == 4 and all(len(g) == 3 for g in before.groups.values())
    moved = [dataclasses.replace(t, centroid=_near(rng, t.centroid, 0.999)) for t in topics]
    after = assign_ids(_groups(moved), before.groups, {}, 5)
    assert after.groups == before.groups and after.events == []


# ---------------------------------------------------------------- the store (SQLite and PostgreSQL)


def test_relink_stores_groups_members_and_lineage(store: Store) -> None:
    rng = np.random.default_rng(2)
    story = _unit(rng)[0]
    a, b = _topic("gaming", 0, _near(rng, story, 0.98)), _topic("tech", 0, _near(rng, story, 0.98))
    lone = _topic("news", 0, _unit(rng)[0])
    store.topics.upsert([a, b, lone])
    first = store.global_topics.relink(THRESHOLD, AT, job="daily", job_run_id=7)
    assert first.groups == {1: ("gaming:0", "tech:0")}
    assert store.global_topics.groups() == {1: ["gaming:0", "tech:0"]}
    assert store.global_topics.of_topics() == {"gaming:0": 1, "tech:0": 1}
    assert store.global_topics.of_topics(["tech:0", "news:0"]) == {"tech:0": 1}
    assert store.global_topics.members(1) == ["gaming:0", "tech:0"] and store.global_topics.members(2) == []
    (ev,) = store.global_topics.events()
    assert (ev["global_id"], ev["type"], ev["members"], ev["job"], ev["job_run_id"]) == (
        1,
        "form",
        ["gaming:0", "tech:0"],
        "daily",
        7,
    )
    assert store.global_topics.relink(THRESHOLD, AT + DAY).events == []  # nothing changed, nothing written
    assert len(store.global_topics.events()) == 1
    # a third domain joins, then the first topic dies: links form and break, the id stays
    store.topics.upsert([_topic("news", 1, _near(rng, story, 0.98))])
    store.global_topics.relink(THRESHOLD, AT + 2 * DAY)
    store.topics.upsert([dataclasses.replace(a, status=TopicStatus.DEAD)])
    store.global_topics.relink(THRESHOLD, AT + 3 * DAY)
    assert store.global_topics.groups() == {1: ["news:1", "tech:0"]}
    assert [(e["type"], e["members"]) for e in store.global_topics.events(1)] == [
        ("form", ["gaming:0", "tech:0"]),
        ("link", ["gaming:0", "news:1", "tech:0"]),
        ("unlink", ["news:1", "tech:0"]),
    ]
    # the groups of any past time replay from the lineage
    assert store.global_topics.at(AT - DAY) == {}
    assert store.global_topics.at(AT + 2 * DAY) == {1: ["gaming:0", "news:1", "tech:0"]}
    # down to one live topic: the group ends; linked again, the same topics get the same id back
    store.topics.upsert([dataclasses.replace(b, status=TopicStatus.DEAD)])
    store.global_topics.relink(THRESHOLD, AT + 4 * DAY)
    assert store.global_topics.groups() == {} and store.global_topics.at(AT + 4 * DAY) == {}
    store.topics.upsert([b])
    assert store.global_topics.relink(THRESHOLD, AT + 5 * DAY).groups == {1: ("news:1", "tech:0")}
    # the topics of one global topic, as the API pages them
    assert [t.topic_id for t in store.topics.list(ids=store.global_topics.members(1))] == ["news:1", "tech:0"]
    assert [t.topic_id for t in store.topics.list(ids=["tech:0", "news:1"], after=("news", 1))] == ["tech:0"]


def test_a_store_made_before_global_topics_gains_the_tables_on_open(store_url: tuple[str, str | None]) -> None:
    url, schema = store_url
    first = Store(url, schema=schema)
    first.topics.upsert([_topic("gaming", 0, np.ones(DIM)), _topic("tech", 0, np.ones(DIM))])
    prefix = f'"{schema}".' if schema else ""
    with first.begin() as conn:  # the earlier schema: no global topic tables
        for name in ("global_topic_events", "global_topic_members", "global_topics"):
            conn.execute(text(f"DROP TABLE {prefix}{name}"))
    first.dispose()
    again = Store(url, schema=schema)
    assert again.count("topics") == 2 and again.count("global_topics") == 0
    assert again.global_topics.relink(THRESHOLD, AT).groups == {1: ("gaming:0", "tech:0")}
    again.dispose()


def _commit_newborn(rt: Runtime, topic: Topic) -> None:
    """Commit ``topic``'s birth as the daily job does: its domain's lock, one transaction with its job run."""
    plan = Plan(topic.domain, topics=[topic], events=[TopicEvent.of(topic, EventType.BIRTH, AT)], base_version=0)
    once(
        rt.store.runs,
        "daily",
        topic.domain,
        (AT - DAY, AT),
        lambda run_id: (plan.stats, lambda conn: commit_plan(rt, plan, "daily", AT, run_id, conn)),
        lock=commit_lock(topic.domain),
    )


def test_two_domains_committing_duplicate_births_at_once_are_linked(
    tmp_path: Path, store_url: tuple[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each commit's relink reads the other's newborn: whichever commits second links both.

    On PostgreSQL both commits have written their topic before either relinks (a
    barrier): without the global topics' lock each relink would miss the other's
    uncommitted topic and neither would link. On SQLite the commits cannot overlap
    (one writer at a time), so they only start together.
    """
    rt = Runtime(make_config(tmp_path, store=store_url))
    rng = np.random.default_rng(3)
    story = _unit(rng)[0]
    births = [_topic(d, 0, _near(rng, story, 0.98)) for d in ("gaming", "tech")]
    both_wrote = threading.Barrier(2, timeout=60) if rt.store.dialect == "postgresql" else None
    real = GlobalTopics.relink

    def relink_once_both_wrote(self, *args, **kwargs):
        if both_wrote is not None:
            both_wrote.wait()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GlobalTopics, "relink", relink_once_both_wrote)

    def commit(t: Topic) -> None:
        r = Runtime(rt.cfg)
        try:
            _commit_newborn(r, t)
        finally:
            r.store.dispose()

    at_once(*[lambda t=t: commit(t) for t in births], timeout=120)
    assert rt.store.global_topics.groups() == {1: ["gaming:0", "tech:0"]}
    (ev,) = rt.store.global_topics.events()
    assert ev["type"] == "form" and ev["job"] == "daily"
    runs = {r["domain"]: r for r in rt.store.runs.all()}
    assert sum("global_topics" in r["stats"] for r in runs.values()) == 1  # the second commit formed it
    rt.store.dispose()


def test_weekly_and_monthly_commits_relink_links_break_and_form(sqlite_runtime: Runtime) -> None:
    """A commit that moves a centroid (weekly drift) or ends a topic (monthly merge) relinks every live topic."""
    rt = sqlite_runtime
    rng = np.random.default_rng(4)
    story, elsewhere = _unit(rng, 2)
    g, t = _topic("gaming", 0, _near(rng, story, 0.98)), _topic("tech", 0, _near(rng, story, 0.98))
    for topic in (g, t):
        _commit_newborn(rt, topic)
    assert rt.store.global_topics.groups() == {1: ["gaming:0", "tech:0"]}

    def commit(job: str, at: datetime, *topics: Topic) -> dict:
        plan = Plan(topics[0].domain, topics=list(topics))
        return once(
            rt.store.runs,
            job,
            plan.domain,
            (at - DAY, at),
            lambda run_id: (plan.stats, lambda conn: commit_plan(rt, plan, job, at, run_id, conn)),
            lock=commit_lock(plan.domain),
        )

    drifted = dataclasses.replace(t, centroid=elsewhere)
    stats = commit("weekly", AT + 7 * DAY, drifted)
    assert stats["global_topics"] == {"groups": 0, "events": {"end": 1}}
    assert rt.store.global_topics.groups() == {}
    back = dataclasses.replace(t, centroid=_near(rng, story, 0.98))
    commit("weekly", AT + 14 * DAY, back)
    assert rt.store.global_topics.groups() == {1: ["gaming:0", "tech:0"]}  # the same id: the same topics
    # monthly: gaming:0 merged into a new gaming:1 that carries the story on
    survivor = _topic("gaming", 1, _near(rng, story, 0.99))
    commit("monthly", AT + 28 * DAY, dataclasses.replace(g, status=TopicStatus.MERGED), survivor)
    assert rt.store.global_topics.groups() == {1: ["gaming:1", "tech:0"]}
    last = rt.store.global_topics.events(1)[-2:]
    assert [(e["type"], e["job"]) for e in last] == [("link", "monthly"), ("unlink", "monthly")]


# ---------------------------------------------------------------- the daily tier on a planted stream


def test_daily_links_a_story_born_in_two_domains_at_birth(sqlite_runtime: Runtime) -> None:
    """One planted story whose videos are split between gaming and tech (their centers at cosine 0.999).

    Each domain's daily job gives it a topic; the centroids of the two newborns are
    near-duplicates (cosine ~0.98 on this stream), above the default link threshold,
    so the second birth's commit links them, while unrelated topics stay unlinked.
    """
    spec = StreamSpec(
        topics=[
            PlantedTopic("gaming/a", "gaming", rate=60),
            PlantedTopic("tech/a", "tech", rate=60),
            PlantedTopic("gaming/story", "gaming", rate=40, start_day=3),
            PlantedTopic("tech/story", "tech", rate=40, start_day=3, near="gaming/story", near_cosine=0.999),
        ],
        days=8,
        start=AT,
        noise_rate=5,
        seed=3,
    )
    stream = generate(spec)
    rt = sqlite_runtime
    Replay(rt).run(stream.videos, stream.embeddings)
    truth = dict(zip(stream.videos.video_id, stream.videos.true_topic, strict=True))
    planted = {}
    for t in rt.store.topics.list():
        members = Counter(truth[r["video_id"]] for r in rt.store.classifications.members_of([t.topic_id]))
        planted[members.most_common(1)[0][0]] = t.topic_id
    assert set(planted) == {"gaming/a", "tech/a", "gaming/story", "tech/story"}
    story = sorted([planted["gaming/story"], planted["tech/story"]])
    assert rt.store.global_topics.groups() == {1: story}
    (formed,) = rt.store.global_topics.events()
    births = {e["topic_id"]: e["at"] for e in rt.store.topics.events(types=["birth"])}
    assert formed["job"] == "daily" and formed["at"] == max(births[tid] for tid in story)  # at the later birth
    run = next(r for r in rt.store.runs.all() if r["id"] == formed["job_run_id"])
    assert run["job"] == "daily" and run["stats"]["global_topics"] == {"groups": 1, "events": {"form": 1}}


def _story_in_two_domains(tech_rate: float, cosine: float = 0.999, part_in: str = "tech", seed: int = 3):
    """A story born in gaming (40 a day from day 3) whose small part in ``part_in`` (``tech_rate`` a day) is too
    small for a birth of its own (centers at ``cosine``); gaming and tech also have a stable topic each."""
    spec = StreamSpec(
        topics=[
            PlantedTopic("gaming/a", "gaming", rate=60),
            PlantedTopic("tech/a", "tech", rate=60),
            PlantedTopic("gaming/story", "gaming", rate=40, start_day=3),
            PlantedTopic("part/story", part_in, rate=tech_rate, start_day=3, near="gaming/story", near_cosine=cosine),
        ],
        days=9,
        start=AT,
        noise_rate=5,
        seed=seed,
    )
    return generate(spec)


def _holders(rt: Runtime, stream, planted: str) -> Counter:
    ids = stream.videos.video_id[stream.videos.true_topic == planted].tolist()
    return Counter(r["topic_id"] for r in rt.store.classifications.rows_for(ids, with_text=False))


def test_a_story_born_in_one_domain_is_echoed_where_a_small_part_of_it_sits(sqlite_runtime: Runtime) -> None:
    """tech's part of the story (4 a day) never reaches a birth of its own; gaming's birth is offered to
    tech's daily job as a guest, and tech's window videos nearer to it than to any tech topic are born as
    tech's echo topic, linked to gaming's story topic as one global topic. Nothing else is echoed, and a
    forced re-run of the daily job echoes nothing again."""
    from ray_topics.tiers.daily import run_daily

    rt = sqlite_runtime
    stream = _story_in_two_domains(tech_rate=4)
    Replay(rt).run(stream.videos, stream.embeddings)
    story = _holders(rt, stream, "gaming/story").most_common(1)[0][0]
    assert story and story.startswith("gaming:")
    echoes = rt.store.topics.echoes()
    assert [o for _e, o in echoes] == [story]
    (echo,) = [e for e, _o in echoes]
    assert echo.startswith("tech:")
    (birth,) = [e for e in rt.store.topics.events("tech", ["birth"]) if e["topic_id"] == echo]
    assert birth["related"] == [story] and birth["details"]["echo_of"] == story
    part = _holders(rt, stream, "part/story")
    assert part[echo] > 0.5 * part.total() and set(part) <= {echo, None}  # in the echo, the rest misfits
    assert _holders(rt, stream, "tech/a")[echo] <= 0.05 * part.total()  # tech's own topic kept its videos
    assert list(rt.store.global_topics.groups().values()) == [sorted([story, echo])]
    end = AT + 9 * DAY
    run_daily(rt, end, force=True)
    assert [e for e, _o in rt.store.topics.echoes()] == [echo]


def test_a_guest_linked_through_others_to_a_topic_of_the_domain_is_not_offered(sqlite_runtime: Runtime) -> None:
    """tech:0 - cooking:0 - gaming:0 form one global topic by cosine although tech:0 and gaming:0 sit apart;
    an echo of gaming:0 in tech would take tech:0's place in it, so gaming:0 is no guest of tech. A recent
    topic of no group is, and so is none of tech's own."""
    from ray_topics.tiers.echo import guests_of

    rt, rng = sqlite_runtime, np.random.default_rng(8)
    a = _unit(rng)[0]
    cooking = _near(rng, a, 0.95)
    gaming = normalize(2 * cooking - a)  # 0.95 from cooking, further from a
    tech0, other = _topic("tech", 0, a), _topic("news", 0, _unit(rng)[0])
    topics = [tech0, _topic("cooking", 0, cooking), _topic("gaming", 0, gaming), other]
    assert float(tech0.centroid @ topics[2].centroid) < THRESHOLD <= float(topics[1].centroid @ topics[2].centroid)
    rt.store.topics.upsert(topics)
    rt.store.global_topics.relink(THRESHOLD, AT)
    assert list(rt.store.global_topics.groups().values()) == [["cooking:0", "gaming:0", "tech:0"]]
    assert [g.topic_id for g in guests_of(rt, "tech", [tech0], AT - DAY)] == ["news:0"]


def test_a_guest_echoed_here_is_not_offered_again_and_old_echoes_are_not_read(sqlite_runtime: Runtime) -> None:
    """news:0 (born a week ago) was echoed in tech by a catch-up run of the day before it was born, and the
    echo has since drifted off it and died: the echo birth alone says news:0 is no guest of tech. news:1's
    echo in gaming does not concern tech. A year of echo births before the reach (:func:`echo_reach`) is
    not read: the check reads what the pool window, the longest pool window and a catch-up span."""
    from ray_topics.tiers.echo import echo_reach, guests_of

    rt, rng = sqlite_runtime, np.random.default_rng(9)
    since = AT - 7 * DAY
    reach = echo_reach(rt.cfg, since)
    old = [_topic("news", 100 + k, _unit(rng)[0], status="dead") for k in range(50)]
    guest, other = _topic("news", 0, _unit(rng)[0]), _topic("news", 1, _unit(rng)[0])
    guest = dataclasses.replace(guest, born_at=since + DAY)
    echo = _topic("tech", 7, _unit(rng)[0], status="dead")  # drifted off the guest: no link, no cosine
    rt.store.topics.upsert([*old, guest, other, echo])
    events = [
        TopicEvent("tech", f"tech:{200 + k}", EventType.BIRTH, reach - (k + 1) * DAY, details={"echo_of": t.topic_id})
        for k, t in enumerate(old)
    ]
    events += [
        TopicEvent("tech", "tech:7", EventType.BIRTH, guest.born_at - DAY, details={"echo_of": "news:0"}),
        TopicEvent("gaming", "gaming:3", EventType.BIRTH, AT, details={"echo_of": "news:1"}),
    ]
    with rt.store.begin() as conn:
        rt.store.topics.add_events(events, conn)
    asked: list[datetime | None] = []
    read = rt.store.topics.echoes

    def spy(since: datetime | None = None, conn: Any = None) -> list[tuple[str, str]]:
        asked.append(since)
        return read(since, conn)

    rt.store.topics.echoes = spy  # type: ignore[method-assign]
    assert [g.topic_id for g in guests_of(rt, "tech", [], since)] == ["news:1"]
    assert [g.topic_id for g in guests_of(rt, "gaming", [], since)] == ["news:0"]
    assert asked == [reach, reach]
    assert read(reach) == [("tech:7", "news:0"), ("gaming:3", "news:1")]


@pytest.mark.parametrize(
    ("cosine", "part_in", "overrides"),
    [
        (0.999, "tech", ["global_topics.echo_births=false"]),
        (max(DIFFERENT_STORIES), "tech", []),
        (0.999, load_config().domains.fallback, []),
    ],
    ids=["echo-births-off", "a-different-story", "in-the-fallback-domain"],
)
def test_no_echo_without_the_rule_for_a_different_story_or_in_the_fallback(
    tmp_path: Path, cosine: float, part_in: str, overrides: list[str]
) -> None:
    """Off, the small part stays unlinked; on, a different story in tech at the cosine of news' closest
    different stories is not echoed (its videos do not fit the guest), and the fallback domain, which holds
    what fits no domain, hosts no echo of the story's part sent there."""
    rt = Runtime(make_config(tmp_path, *overrides))
    stream = _story_in_two_domains(tech_rate=4, cosine=cosine, part_in=part_in)
    Replay(rt).run(stream.videos, stream.embeddings)
    assert rt.store.topics.echoes() == []
    assert rt.store.global_topics.groups() == {}
    assert not any(t.domain == part_in and t.status == "active" and t.size < 40 for t in rt.store.topics.list())


# ---------------------------------------------------------------- CLI and report


def _linked_workdir(work: Path) -> Runtime:
    rt = Runtime(make_config(work))
    rng = np.random.default_rng(5)
    story = _unit(rng)[0]
    topics = [
        _topic("gaming", 0, _near(rng, story, 0.98), label="speedrun record"),
        _topic("tech", 0, _near(rng, story, 0.98), label="record console"),
        _topic("news", 0, _unit(rng)[0], label="election night"),
    ]
    for t in topics:
        _commit_newborn(rt, t)
    return rt


def test_cli_topics_shows_the_global_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _linked_workdir(tmp_path).store.dispose()
    assert main(["topics", "--workdir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert rows["gaming:0"][3] == rows["tech:0"][3] == "g1" and rows["news:0"][3] == "-"


def test_report_lists_global_topics_with_their_members(tmp_path: Path) -> None:
    rt = _linked_workdir(tmp_path)
    cfg = rt.cfg.health
    page = write_report(rt.store, tmp_path / "r.html", AT, health_cfg=cfg).read_text()
    row = page[page.index('<tr data-global="1">') :]
    row = row[: row.index("</tr>")]
    assert "g1" in row and "gaming:0" in row and "tech:0" in row and "speedrun record" in row
    assert "news:0" not in row
    rt.store.dispose()


def test_a_relink_committed_after_a_later_ones_is_stamped_no_earlier(tmp_path: Path) -> None:
    """Found by review: a job of an earlier as_of committing after a later one (a retried weekly after the next
    daily, an hours-long monthly past midnight) stamped its relink's events with its own as_of: a link sorted
    before its global topic's form, and ``at(as_of)`` showed a topic linked before it was born."""
    from ray_topics.storage.store import Store

    s = Store(f"sqlite:///{tmp_path / 's.db'}")
    rng = np.random.default_rng(1)
    story = _unit(rng)[0]
    s.topics.upsert([dataclasses.replace(_topic("gaming", 0, _near(rng, story, 0.98)), born_at=AT - DAY)])
    tech = dataclasses.replace(_topic("tech", 0, _near(rng, story, 0.98)), born_at=AT + DAY)
    s.topics.upsert([tech])
    s.global_topics.relink(THRESHOLD, AT + DAY, job="daily")  # Tuesday's daily: tech:0 born and linked
    s.topics.upsert([dataclasses.replace(_topic("news", 0, _near(rng, story, 0.98)), born_at=AT - DAY)])
    s.global_topics.relink(THRESHOLD, AT, job="weekly")  # Monday's weekly, committed after it
    events = s.global_topics.events(1)
    assert [e["type"] for e in events] == ["form", "link"] and {e["at"] for e in events} == {AT + DAY}
    assert s.global_topics.at(AT) == {} and s.global_topics.at(AT + DAY) == {1: ["gaming:0", "news:0", "tech:0"]}
    s.dispose()
