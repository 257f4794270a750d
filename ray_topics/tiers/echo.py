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

Cost: on a day when another domain bore a topic within the pool window, the
domain's pool window is read once, ``monthly.reassign_chunk`` embeddings at
a time (as :func:`ray_topics.tiers.daily.fitting_newborns` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ray_topics.core.lifecycle import make_topic, model_of, reassign, reclassified
from ray_topics.core.sampling import stable_pick
from ray_topics.core.text import video_text
from ray_topics.core.types import LIVE_STATUSES, EventType, Topic, TopicEvent
from ray_topics.execution.runtime import Runtime

__all__ = ["Echoes", "echo_births", "guests_of"]

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
    ``global_topics.link_threshold`` of one of them is linked by centroid already.
    """
    pairs = rt.store.topics.echoes()
    echoes = {e for e, _g in pairs}
    echoed = {g for e, g in pairs if e.startswith(f"{domain}:")}
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
    ]


def echo_births(
    rt: Runtime, domain: str, own: Sequence[Topic], window: tuple[datetime, datetime], number: int
) -> Echoes:
    """The echoes of other domains' recent births among ``domain``'s pool-window videos (see module doc).

    ``own``: the domain's live topics and today's newborns; ``number``: the first free topic number.
    """
    out = Echoes()
    if not rt.cfg.global_topics.echo_births or domain == rt.cfg.domains.fallback:
        return out  # the fallback holds what fits no domain: a video there that fits a topic was routed wrong
    guests = guests_of(rt, domain, own, window[0])
    out.stats = {"guests": len(guests), "echoes": 0}
    if not guests:
        return out
    index = model_of(domain, [*own, *guests], rt.cfg.embedding.dim).index(**rt.confidence)
    fits = rt.cfg.daily.misfit_confidence  # a video fits a topic at this confidence, as Tier 1 counts it
    by_guest: dict[str, list[int]] = {g.topic_id: [] for g in guests}
    ids: list[str] = []
    vecs: list[np.ndarray] = []
    others: list[str] = []
    for chunk, chunk_vecs in rt.window_vectors(domain, window):
        for row, vec in zip(reclassified(chunk, index.search(chunk_vecs), window[1]), chunk_vecs, strict=True):
            if row["topic_id"] in by_guest and row["confidence"] >= fits:
                by_guest[row["topic_id"]].append(len(ids))
                ids.append(row["video_id"])
                vecs.append(vec)
            else:
                others.append(row["video_id"])
        others = stable_pick(others, rt.cfg.monthly.reassign_chunk)  # the contrast sample, bounded
    floor = rt.cfg.daily.min_cluster_floor
    found = {g: m for g, m in by_guest.items() if len(m) > floor}
    out.stats["candidates"] = {g: len(m) for g, m in found.items()}
    if not found:
        return out
    members = np.stack(vecs)
    keywords = _keywords(rt, ids, found, stable_pick(others, len(ids)))
    rows = {r["video_id"]: r for r in rt.store.classifications.rows_for(ids, with_text=False)}
    guest = {g.topic_id: g for g in guests}
    link = rt.cfg.global_topics.link_threshold
    for gid, idx in sorted(found.items()):
        t = make_topic(
            domain,
            number + len(out.topics),
            members[idx],
            keywords.get(gid, []),
            window[1],
            upper_quantile=rt.cfg.weekly.calibration_upper_quantile,
            last_seen_at=max(rows[ids[i]]["published_at"] for i in idx),
        )
        if float(t.centroid @ guest[gid].centroid) < link:
            continue  # no near-duplicate of the guest: a different story near it, or a broad guest's catch
        out.topics.append(t)
        out.events.append(
            TopicEvent.of(t, EventType.BIRTH, window[1], [gid], size=len(idx), keywords=t.keywords[:5], echo_of=gid)
        )
    born = {t.topic_id for t in out.topics}
    index = model_of(domain, [*own, *out.topics], rt.cfg.embedding.dim).index(**rt.confidence)
    out.reassign = reassign(ids, members, index, born, window[1])
    out.stats["echoes"] = len(out.topics)
    return out


def _keywords(rt: Runtime, ids: list[str], found: dict[str, list[int]], contrast: list[str]) -> dict[Any, list[str]]:
    """Each echo's keywords: its members' words against a sample of the window's other videos (c-TF-IDF)."""
    label: dict[str, Any] = {ids[i]: gid for gid, idx in found.items() for i in idx}
    texts = {r["video_id"]: r for r in rt.store.classifications.rows_for([*label, *contrast])}
    keep = [v for v in [*label, *contrast] if v in texts]
    docs = [
        video_text(texts[v]["title"], texts[v]["description"], texts[v]["tags"], rt.cfg.embedding.max_chars)
        for v in keep
    ]
    return rt.keywords(docs, [label.get(v, REST) for v in keep], top_n=rt.cfg.weekly.top_keywords)
