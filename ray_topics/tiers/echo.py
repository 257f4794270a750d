"""Echo births: a story born in one domain is born, linked, in another that holds part of it.

One story often reaches two domains: publishers file it under two desks, or
the router sends part of it elsewhere. Where both parts are topics, the
global topics link them when their centroids are near-duplicates
(:mod:`ray_topics.core.global_topics`). A small part usually is no topic:
its videos are too few for a birth of their own (they stay misfits, or sit
in the nearest broad topic of their domain), so the story stays split with
nothing to link.

The daily job therefore offers each domain the topics born elsewhere within
its pool window (*guests*; an echo is no guest, so echoes do not chain)
beside its own: the window's videos whose nearest topic is a guest and that
fit it (confidence at least ``daily.misfit_confidence``, as Tier 1 counts a
fit), those Tier 1 would have given the guest had it been this domain's, are
the story's part here. When more than ``daily.min_cluster_floor`` of them
are found (the story itself passed the full birth rule where it was born)
and their centroid is a near-duplicate of the guest's (cosine at least
``global_topics.link_threshold``, the linking rule itself), the part is born
as this domain's topic (an *echo*; its birth event names the guest in
``related`` and ``details.echo_of``), its videos move to it at once, and the
commit's relink links it to the guest like any other pair. The centroid gate
matters on real text: a broad guest (a domain's first topics are broad)
accepts videos of many stories, and without it news articles about Malaysia
were born as the echo of a Brexit topic (RESULTS.md). A guest is echoed at
most once per domain, and not at all where the domain already has a topic
that close to it. The fallback domain (``domains.fallback``) hosts no echo:
it holds the videos that fit no domain, so one of its videos that fits
another domain's topic was routed wrong (a new store's first day sends every
uncategorised video there), not filed under a second desk.

Cost: on every day a guest (a birth elsewhere within the pool window) is
still unechoed here, the domain's pool window is read once,
``monthly.reassign_chunk`` embeddings at a time, holding each guest's sum
and a stable sample of at most ``reassign_chunk`` ids; on a day with an echo
it is read a second time to move the echo's videos (about 2 s and 9 s per
domain of 17,000 videos a day: ``benchmarks/newborn_cost.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ray_topics.core.index import normalize
from ray_topics.core.lifecycle import make_topic, model_of, reassign
from ray_topics.core.sampling import bottom_k
from ray_topics.core.text import video_text
from ray_topics.core.types import LIVE_STATUSES, EventType, Topic, TopicEvent
from ray_topics.execution.runtime import Runtime

__all__ = ["Echoes", "echo_births", "echo_reach", "guests_of"]

REST = "<rest>"  # the keyword contrast's class: the window's videos that are no echo's


@dataclass
class Echoes:
    """What :func:`echo_births` decided for one domain: the topics born, their events and the rows moved."""

    topics: list[Topic] = field(default_factory=list)
    events: list[TopicEvent] = field(default_factory=list)
    reassign: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def guests_of(rt: Runtime, domain: str, own: Sequence[Topic], since: datetime) -> list[Topic]:
    """Live topics of other domains born since ``since`` that this domain has neither echoed nor linked.

    ``own``: this domain's live topics (today's newborns included). A guest within
    ``global_topics.link_threshold`` of one of them is linked by centroid already, and one whose global
    topic holds a topic of this domain is linked to it through others (an echo would push that one out).

    Reads the echo births of the last days only (:func:`echo_reach`), not every birth ever recorded.
    """
    pairs = rt.store.topics.echoes(since=echo_reach(rt.cfg, since))
    echoes = {e for e, _g in pairs}
    echoed = {g for e, g in pairs if _in(e, domain)}
    linked, groups = rt.store.global_topics.of_topics(), rt.store.global_topics.groups()
    cents = np.stack([t.centroid for t in own]) if own else None
    threshold = rt.cfg.global_topics.link_threshold
    return [
        g
        for g in rt.store.topics.list(statuses=LIVE_STATUSES)
        if g.domain != domain
        and g.born_at >= since
        and g.topic_id not in echoed
        and g.topic_id not in echoes  # an echo is not echoed in turn: no chains of echoes
        and (cents is None or float((cents @ g.centroid).max()) < threshold)
        and not any(_in(t, domain) for t in groups.get(linked.get(g.topic_id, -1), []))
    ]


def echo_reach(cfg: Any, since: datetime) -> datetime:
    """The oldest echo birth that can concern a guest born since ``since`` (:func:`guests_of`).

    A guest that is itself an echo was born at its ``born_at``, so since ``since``. An echo of a guest was
    born by a daily run whose pool window held the guest's birth, a window of at most
    ``max(daily.pool_window_days, daily.max_pool_window_days)`` days that ends at the echo's birth; a
    scheduler's catch-up (``schedule.catch_up_hours``) may run an older day after a newer one, whose
    guests were born up to that much after it. An echo older than that (a day forced out of order by
    hand) is not read: its guest is then offered again only where the echo is neither live within
    ``global_topics.link_threshold`` of it nor linked to it.

    Example:
        >>> from datetime import UTC
        >>> from ray_topics.config import load_config
        >>> echo_reach(load_config(), datetime(2026, 3, 31, tzinfo=UTC)).isoformat()  # 28 days and 48 hours
        '2026-03-01T00:00:00+00:00'
    """
    days = max(cfg.daily.pool_window_days, cfg.daily.max_pool_window_days)
    return since - timedelta(days=days, hours=cfg.schedule.catch_up_hours)


def echo_births(
    rt: Runtime, domain: str, own: Sequence[Topic], window: tuple[datetime, datetime], number: int
) -> Echoes:
    """The echoes of other domains' recent births among ``domain``'s pool-window videos (see module doc).

    ``own``: the domain's live topics and today's newborns; ``number``: the first free topic number.
    Two reads of the window, ``monthly.reassign_chunk`` embeddings at a time: the first counts and sums
    each guest's fitting videos (and keeps a stable sample of at most ``reassign_chunk`` ids of each,
    for the echo's calibration and keywords), the second, on a day with an echo, moves them.
    """
    out = Echoes()
    if not rt.cfg.global_topics.echo_births or domain == rt.cfg.domains.fallback:
        return out  # the fallback holds what fits no domain: a video there that fits a topic was routed wrong
    guests = {g.topic_id: g for g in guests_of(rt, domain, own, window[0])}
    out.stats = {"guests": len(guests), "echoes": 0}
    if not guests:
        return out
    index = model_of(domain, [*own, *guests.values()], rt.cfg.embedding.dim).index(**rt.confidence)
    fits = rt.cfg.daily.misfit_confidence  # a video fits a topic at this confidence, as Tier 1 counts it
    sums = {g: np.zeros(rt.cfg.embedding.dim, np.float64) for g in guests}

    def matches() -> Iterator[tuple[str, str]]:
        for ids, vecs in rt.window_vectors(domain, window):
            m = index.search(vecs)
            for k, (vid, tid, c) in enumerate(zip(ids, m.topic_ids, m.confidences, strict=True)):
                if tid in sums and c >= fits:
                    sums[tid] += vecs[k]
                    yield vid, tid
                else:
                    yield vid, REST

    sample = bottom_k(matches(), rt.cfg.monthly.reassign_chunk, salt=domain)
    floor, link = rt.cfg.daily.min_cluster_floor, rt.cfg.global_topics.link_threshold
    linked = rt.store.global_topics.of_topics()
    taken: set[int] = set()
    for gid in sorted(guests, key=lambda g: (-sample.get(g, ((), 0))[1], g)):
        ids, n = sample.get(gid, ([], 0))
        centroid = normalize(sums[gid])
        if n <= floor or float(centroid @ guests[gid].centroid) < link:
            continue  # too few, or no near-duplicate of the guest (a different story, or a broad guest's catch)
        if linked.get(gid) in taken or any(float(centroid @ e.centroid) >= link for e in out.topics):
            continue  # one echo per story: a guest linked to one echoed already, or this part echoed already
        found, vecs, _bad = rt.usable_vectors(domain, ids)
        rows = rt.store.classifications.rows_for(found, with_text=False)
        if not rows:
            continue
        t = make_topic(
            domain,
            number + len(out.topics),
            vecs,
            _keywords(rt, found, sample.get(REST, ([], 0))[0][: len(found)]),
            window[1],
            upper_quantile=rt.cfg.weekly.calibration_upper_quantile,
            last_seen_at=max(r["published_at"] for r in rows),
        )
        out.topics.append(dataclasses.replace(t, centroid=centroid.astype(np.float32), size=n))
        out.events.append(
            TopicEvent.of(t, EventType.BIRTH, window[1], [gid], size=n, keywords=t.keywords[:5], echo_of=gid)
        )
        taken.add(linked.get(gid, -1))
    out.stats["echoes"] = len(out.topics)
    if out.topics:
        born = {t.topic_id for t in out.topics}
        index = model_of(domain, [*own, *out.topics], rt.cfg.embedding.dim).index(**rt.confidence)
        for ids, vecs in rt.window_vectors(domain, window):
            out.reassign.extend(reassign(ids, vecs, index, born, window[1]))
    return out


def _in(topic_id: str, domain: str) -> bool:
    """Whether ``topic_id`` (``domain:number``) is a topic of ``domain``."""
    return topic_id.startswith(f"{domain}:")


def _keywords(rt: Runtime, members: list[str], contrast: list[str]) -> list[str]:
    """An echo's keywords: its members' words against as many of the window's other videos (c-TF-IDF)."""
    texts = {r["video_id"]: r for r in rt.store.classifications.rows_for([*members, *contrast])}
    keep = [v for v in [*members, *contrast] if v in texts]
    docs = [
        video_text(texts[v]["title"], texts[v]["description"], texts[v]["tags"], rt.cfg.embedding.max_chars)
        for v in keep
    ]
    mine = set(members)
    labels = ["echo" if v in mine else REST for v in keep]
    return rt.keywords(docs, labels, top_n=rt.cfg.weekly.top_keywords).get("echo", [])
