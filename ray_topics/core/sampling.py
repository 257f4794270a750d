"""Deterministic sampling by a stable hash of the video id: the same store always gives the same sample."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

__all__ = ["bottom_k", "slot_quota", "stable_key", "stable_pick", "union_capped"]

G = TypeVar("G", bound=Hashable)


def stable_key(video_id: str, salt: str = "") -> int:
    """The stable hash that orders ids for sampling (blake2b of ``salt + id``; same across processes)."""
    return int.from_bytes(hashlib.blake2b((salt + video_id).encode(), digest_size=8).digest(), "big")


def stable_pick(ids: Sequence[str], k: int, salt: str = "") -> list[str]:
    """``k`` ids chosen by a stable hash order (reproducible, unbiased by arrival order).

    Example:
        >>> stable_pick(["a", "b", "c", "d"], 2) == stable_pick(["d", "c", "b", "a"], 2)
        True
    """
    if len(ids) <= k:
        return list(ids)
    return sorted(ids, key=lambda i: stable_key(i, salt))[:k]


def bottom_k(pairs: Iterable[tuple[str, G]], k: int, salt: str = "") -> dict[G, tuple[list[str], int]]:
    """Per group: the ``k`` ids of smallest :func:`stable_key` (in that order) and the group's exact count.

    One pass over ``(id, group)`` pairs holding at most ``k`` ids per group, so a
    stream of any length is sampled in memory bounded by groups x ``k``. Each
    group's ids are the ones :func:`stable_pick` picks from it with the same
    salt: a uniform random sample, independent of arrival order.

    Example:
        >>> pairs = [("a", "x"), ("b", "x"), ("c", "x"), ("d", None)]
        >>> sample = bottom_k(pairs, 2, salt="s")
        >>> sample == bottom_k(reversed(pairs), 2, salt="s")
        True
        >>> sample["x"][0] == stable_pick(["a", "b", "c"], 2, salt="s"), sample["x"][1], sample[None]
        (True, 3, (['d'], 1))
    """
    heaps: dict[G, list[tuple[int, str]]] = {}
    counts: dict[G, int] = {}
    for vid, group in pairs:
        counts[group] = counts.get(group, 0) + 1
        heap = heaps.setdefault(group, [])
        item = (-stable_key(vid, salt), vid)  # a max-heap of the kept keys: its top is the first to go
        if len(heap) < k:
            heapq.heappush(heap, item)
        elif heap and item > heap[0]:
            heapq.heapreplace(heap, item)
    return {g: ([vid for _key, vid in sorted(heaps[g], reverse=True)], n) for g, n in counts.items()}


def slot_quota(per_window: int, slots: int, index: int) -> int:
    """How many of ``per_window`` items slot ``index`` keeps when a window holds ``slots`` slots: the
    quotas of any ``slots`` consecutive slots add up to exactly ``per_window`` (spread evenly, as a line
    is drawn on a pixel grid), so a sliding window holds ``per_window`` at any volume that fills it.

    Example:
        >>> [slot_quota(3, 2, i) for i in range(4)], sum(slot_quota(1000, 672, i) for i in range(5, 677))
        ([1, 2, 1, 2], 1000)
    """
    return (index + 1) * per_window // slots - index * per_window // slots


def union_capped(strata: dict[str, list[str]], cap: int) -> list[str]:
    """Union of the strata in a stable order, at most ``cap`` ids, each stratum keeping its fair share."""
    seen: dict[str, None] = {}
    lists = [v for v in strata.values() if v]
    pos = [0] * len(lists)
    while len(seen) < cap and any(p < len(lst) for p, lst in zip(pos, lists, strict=True)):
        for j, lst in enumerate(lists):
            if pos[j] < len(lst) and len(seen) < cap:
                seen.setdefault(lst[pos[j]], None)
                pos[j] += 1
    return list(seen)
