"""Global topics: topics of different domains that are one story, linked under one stable id.

The rule (:func:`link_groups`): two live topics of *different* domains whose
centroids' cosine is at least the threshold are linked, and linked topics form
one group. Links are taken strongest first; one that would put two topics of
the same domain in a group is skipped (two topics of one domain that are one
story are a merge, the monthly tier's job), so a group holds at most one topic
per domain. Without such a conflict the groups are the connected components of
the links.

Ids (:func:`assign_ids`): each group takes the id of the current group it
shares most topics with (so a group that splits keeps its id on the part that
kept most of its topics, and of two groups that join, the one that brings
more topics gives its id); a group sharing none takes back the id of an ended
group whose last topics it shares, else a new id. An id never names other
topics, and a relink that changes nothing changes no id. Every change is a
:class:`GlobalEvent`, which carries the group's topics after it, so the
groups at any past time are the members of each id's last event by then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from ray_topics.core.index import normalize

__all__ = ["GlobalEvent", "GlobalEventType", "Relink", "assign_ids", "group_links", "link_groups"]

# rows of the similarity matrix computed at a time: memory stays at BLOCK x topics floats
BLOCK = 1024


class GlobalEventType(StrEnum):
    """Kinds of lineage event of a global topic."""

    FORM = "form"  # a new group, or an ended one formed again by its topics (details: reformed)
    LINK = "link"  # topics joined the group
    UNLINK = "unlink"  # topics left it (ended, drifted apart, or joined another group)
    SPLIT = "split"  # topics left it to form other groups (details: into)
    MERGE = "merge"  # it took in the topics of groups that ended (details: absorbed)
    END = "end"  # fewer than two of its topics are linked any more (details: into, when they joined another)


@dataclass(frozen=True)
class GlobalEvent:
    """``type`` happened to global topic ``global_id``; ``members`` are its topics after it (none after END)."""

    global_id: int
    type: GlobalEventType
    members: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Relink:
    """The groups after a relink (id -> topic ids, sorted) and the events that lead there from before."""

    groups: dict[int, tuple[str, ...]]
    events: list[GlobalEvent]

    def summary(self) -> dict[str, Any]:
        """What a job reports of it: the number of global topics and the events by type."""
        return {"groups": len(self.groups), "events": dict(Counter(str(e.type) for e in self.events))}


def link_groups(
    topic_ids: Sequence[str], domains: Sequence[str], centroids: np.ndarray, threshold: float
) -> list[tuple[str, ...]]:
    """Groups of two or more topics linked by the rule (see module doc), each sorted, in sorted order.

    The input order does not matter: topics are taken in id order and equal
    similarities in id order of their pair.

    Example:
        >>> c = np.array([[1, 0, 0], [0.99, 0.14, 0], [0.98, 0, 0.2], [0, 0, 1]], dtype=np.float32)
        >>> link_groups(["a:1", "b:1", "a:2", "c:1"], ["a", "b", "a", "c"], c, 0.92)
        [('a:1', 'b:1')]
    """
    if len(topic_ids) != len(domains) or len(topic_ids) != len(centroids):
        raise ValueError("topic_ids, domains and centroids must be aligned")
    x = normalize(np.asarray(centroids, dtype=np.float32)) if len(topic_ids) else np.zeros((0, 1), np.float32)
    doms = np.array(list(domains), dtype=object)
    links: list[tuple[float, int, int]] = []
    for lo in range(0, len(topic_ids), BLOCK):
        sim = x[lo : lo + BLOCK] @ x.T
        rows, cols = np.nonzero(sim >= threshold)
        for r, j in zip(rows.tolist(), cols.tolist(), strict=True):
            i = lo + r
            if i < j and doms[i] != doms[j]:
                links.append((float(sim[r, j]), i, j))
    return group_links(topic_ids, domains, links)


def group_links(
    topic_ids: Sequence[str], domains: Sequence[str], links: Iterable[tuple[float, int, int]]
) -> list[tuple[str, ...]]:
    """The groups that ``links`` form: ``(strength, i, j)`` joins ``topic_ids[i]`` and ``topic_ids[j]``.

    Links are taken strongest first (equal strengths in id order of their
    pair); one that would put two topics of one domain in a group is skipped.
    Returns the groups of two or more topics, each sorted, in sorted order.

    Example:
        >>> group_links(["a:1", "b:1", "a:2"], ["a", "b", "a"], [(0.9, 0, 1), (0.95, 1, 2)])
        [('a:2', 'b:1')]
    """
    if len(topic_ids) != len(domains):
        raise ValueError("topic_ids and domains must be aligned")
    ordered = sorted((-s, *sorted((topic_ids[i], topic_ids[j])), i, j) for s, i, j in links if domains[i] != domains[j])
    parent = list(range(len(topic_ids)))
    held: dict[int, set[str]] = {k: {domains[k]} for k in range(len(topic_ids))}  # root -> its group's domains

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for *_key, i, j in ordered:
        ri, rj = root(i), root(j)
        if ri == rj or held[ri] & held[rj]:
            continue  # linked already, or the groups share a domain
        parent[rj] = ri
        held[ri] |= held.pop(rj)
    groups: dict[int, list[str]] = {}
    for k, tid in enumerate(topic_ids):
        groups.setdefault(root(k), []).append(tid)
    return sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


def assign_ids(
    groups: Sequence[Sequence[str]],
    current: Mapping[int, Sequence[str]],
    ended: Mapping[int, Sequence[str]],
    next_id: int,
) -> Relink:
    """Give each of ``groups`` an id (see module doc) and describe the change from ``current``.

    Args:
        groups: the new groups (:func:`link_groups`).
        current: the groups stored now, id -> topic ids.
        ended: ended groups, id -> their topics when they ended (ids that may come back).
        next_id: the first id never used.

    Example:
        >>> r = assign_ids([("a:1", "b:1"), ("c:1", "d:1")], {7: ["a:1", "b:1", "c:1", "d:1", "e:1"]}, {}, 9)
        >>> r.groups
        {7: ('a:1', 'b:1'), 9: ('c:1', 'd:1')}
        >>> [(e.global_id, str(e.type)) for e in r.events]
        [(7, 'split'), (9, 'form')]
    """
    new = [tuple(sorted(g)) for g in groups]
    ids: dict[int, int] = {}  # group index -> id
    kept = _match(new, current, ids)
    revived = _match(new, {g: m for g, m in ended.items() if g not in current}, ids)
    for gi in sorted((gi for gi in range(len(new)) if gi not in ids), key=lambda gi: new[gi]):
        ids[gi] = next_id
        next_id += 1
    after = {ids[gi]: new[gi] for gi in range(len(new))}
    owner = {tid: gid for gid, members in after.items() for tid in members}
    before = {tid: gid for gid, members in current.items() for tid in members}
    events: list[GlobalEvent] = []
    for gid in sorted(after):
        members = after[gid]
        if gid not in kept:
            origins = sorted({before[t] for t in members if t in before})
            details: dict[str, Any] = {"from": origins} if origins else {}
            if gid in revived:
                details["reformed"] = True
            events.append(GlobalEvent(gid, GlobalEventType.FORM, members, details))
            continue
        old = set(current[gid])
        added, removed = sorted(set(members) - old), sorted(old - set(members))
        absorbed = sorted({before[t] for t in added if t in before and before[t] not in after})
        if absorbed:
            events.append(GlobalEvent(gid, GlobalEventType.MERGE, members, {"absorbed": absorbed, "added": added}))
        elif added:
            events.append(GlobalEvent(gid, GlobalEventType.LINK, members, {"added": added}))
        if removed:
            into = sorted({owner[t] for t in removed if t in owner and owner[t] not in kept})
            kind = GlobalEventType.SPLIT if into else GlobalEventType.UNLINK
            events.append(GlobalEvent(gid, kind, members, {"removed": removed, **({"into": into} if into else {})}))
    for gid in sorted(set(current) - set(after)):
        went = Counter(owner[t] for t in current[gid] if t in owner)
        into = min(went, key=lambda g: (-went[g], g)) if went else None
        details = {"last": sorted(current[gid]), **({"into": into} if into is not None else {})}
        events.append(GlobalEvent(gid, GlobalEventType.END, (), details))
    return Relink(after, events)


def _match(groups: list[tuple[str, ...]], olds: Mapping[int, Sequence[str]], ids: dict[int, int]) -> set[int]:
    """Give unmatched groups the id of the old group they share most topics with; returns the ids given.

    Pairs are taken by shared topics (most first), then by the group's size
    (larger first), then by id (oldest first), each group and id used once.
    """
    where: dict[str, list[int]] = {}
    for gid, members in olds.items():
        for t in members:
            where.setdefault(t, []).append(gid)
    cands = []
    for gi, g in enumerate(groups):
        if gi in ids:
            continue
        shared = Counter(gid for t in g for gid in where.get(t, ()))
        cands += [(-n, -len(g), gid, gi) for gid, n in shared.items()]
    used: set[int] = set()
    for _n, _size, gid, gi in sorted(cands):
        if gi not in ids and gid not in used:
            ids[gi] = gid
            used.add(gid)
    return used
