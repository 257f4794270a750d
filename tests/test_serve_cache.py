"""The per-replica cache of slow reads: once per period per key, and concurrent callers share a computation."""

from __future__ import annotations

import asyncio
import threading

from serve.cache import PeriodCache


class Slow:
    """A computation that counts its calls and blocks until released (so callers pile up behind it)."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()

    def __call__(self, tag: str) -> str:
        self.calls += 1
        self.release.wait(timeout=10)
        return f"{tag}{self.calls}"


async def _together(cache: PeriodCache, slow: Slow, n: int) -> list[str]:
    first = asyncio.create_task(cache.get("k", slow, "v"))
    await asyncio.sleep(0.05)  # the first computation runs: the others arrive during it
    rest = [asyncio.create_task(cache.get("k", slow, "v")) for _ in range(n - 1)]
    await asyncio.sleep(0.05)
    slow.release.set()
    return [await first, *[await t for t in rest]]


def test_within_the_period_every_caller_gets_one_computation() -> None:
    slow, now = Slow(), [0.0]
    cache = PeriodCache(60.0, clock=lambda: now[0])
    slow.release.set()
    assert asyncio.run(cache.get("k", slow, "v")) == "v1"
    now[0] = 59.0
    assert asyncio.run(cache.get("k", slow, "v")) == "v1"
    assert asyncio.run(cache.get("other", slow, "o")) == "o2"  # a key of its own
    now[0] = 60.0
    assert asyncio.run(cache.get("k", slow, "v")) == "v3"  # the period is over


def test_without_caching_concurrent_callers_share_one_computation_not_queue() -> None:
    """Period 0: callers that arrive while a computation runs wait for it, then share ONE more computation
    (the first started before they asked), instead of each computing again after the one before."""
    slow = Slow()
    out = asyncio.run(_together(PeriodCache(0.0), slow, 6))
    assert out == ["v1"] + ["v2"] * 5
    assert slow.calls == 2
    slow.release.set()
    assert asyncio.run(PeriodCache(0.0).get("k", slow, "v")) == "v3"  # a later caller computes afresh
