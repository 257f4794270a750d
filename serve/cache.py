"""A per-replica cache of slow reads (health, stories): one computation at a time per key, shared by callers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

__all__ = ["PeriodCache"]


class PeriodCache:
    """``compute(*args)`` in a worker thread, at most once per ``period`` seconds per key.

    Callers of a key that arrive while it is computed wait for that computation's end, then take the
    value when it started after they arrived (it is as fresh as one of their own), else compute once
    more: with ``period`` 0 (no caching) concurrent callers still share one computation each instead
    of running one after another.

    Example:
        >>> calls = []
        >>> cache = PeriodCache(60.0)
        >>> asyncio.run(cache.get("k", lambda: calls.append(1) or len(calls)))
        1
        >>> asyncio.run(cache.get("k", lambda: calls.append(1) or len(calls)))
        1
    """

    def __init__(self, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self._clock = clock
        self._values: dict[Any, tuple[float, Any]] = {}  # key -> (when its computation started, value)
        self._locks: dict[Any, asyncio.Lock] = {}

    async def get(self, key: Any, compute: Callable[..., Any], *args: Any) -> Any:
        asked = self._clock()
        async with self._locks.setdefault(key, asyncio.Lock()):
            hit = self._values.get(key)
            if hit is None or (hit[0] < asked and self._clock() - hit[0] >= self.period):
                started = self._clock()
                hit = self._values[key] = (started, await asyncio.to_thread(compute, *args))
        return hit[1]
