"""Slow reads (health, stories): one computation at a time per key and replica, shared by its callers
(:class:`PeriodCache`), and one per period for all replicas of a store (:class:`SharedRead`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from ray_topics.storage.shared_reads import SharedReads

__all__ = ["Aged", "PeriodCache", "SharedRead"]

T = TypeVar("T")

log = logging.getLogger("ray_topics.serve")


@dataclass(frozen=True)
class Aged(Generic[T]):
    """A value computed ``seconds`` before the computation that answers it began: one another replica stored
    (:meth:`SharedRead.aged`). :class:`PeriodCache` ages it from when it was computed, not from when it was
    fetched."""

    value: T
    seconds: float


class PeriodCache:
    """``compute(*args)`` in a worker thread, at most once per ``period`` seconds per key, one at a time.

    A caller takes the stored value while it is younger than ``period`` (its age counted from when its
    computation started; for an :class:`Aged` value, from when that value was computed). Else it joins the
    computation under way, if that started after the caller asked (its result, or its error, is as fresh
    as one of the caller's own), or waits for it and looks again, or starts one. So concurrent callers
    share one computation even with ``period`` 0 (no caching), and a caller that gives up (a client that
    disconnects: Serve cancels its request) leaves the computation running for the others instead of
    letting a second one start.

    With ``stale`` above 0, a value older than ``period`` by less than ``stale`` is still answered at
    once, and a computation starts behind it (unless one is under way) for the callers after it: no
    caller waits for a recomputation while someone has asked within ``period + stale`` seconds (a
    Prometheus scrape keeps its timeout however slow the computation grows). Older than that, or none
    stored, the caller waits as above. With ``period`` 0 the cache is off and ``stale`` has no effect:
    every caller gets a computation that started after it asked.

    A failed computation is logged and handed to ``on_error(key, error)`` (a metric's counter: a refresh
    behind a stale answer has no caller to raise it to), and its value is not kept.

    Example:
        >>> calls = []
        >>> cache = PeriodCache(60.0)
        >>> asyncio.run(cache.get("k", lambda: calls.append(1) or len(calls)))
        1
        >>> asyncio.run(cache.get("k", lambda: calls.append(1) or len(calls)))
        1
    """

    def __init__(
        self,
        period: float,
        stale: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[Any, BaseException], None] | None = None,
    ) -> None:
        self.period, self.stale = period, stale
        self._clock = clock
        self._on_error = on_error
        self._values: dict[Any, tuple[float, Any]] = {}  # key -> (when its value was computed, value)
        self._running: dict[Any, tuple[float, asyncio.Future[Any]]] = {}  # key -> (started, computation)

    async def get(self, key: Any, compute: Callable[..., Any], *args: Any) -> Any:
        asked = self._clock()
        while True:
            running = self._running.get(key)
            if running is not None and running[1].done():  # finished, its callback not yet run: settle it here
                self._settle(key, *running)  # (awaiting a done future would not yield: this loop would spin)
                running = None
            hit = self._values.get(key)
            if hit is not None and (hit[0] >= asked or asked - hit[0] < self.period):
                return hit[1]
            if hit is not None and self.period > 0 and asked - hit[0] < self.period + self.stale:
                if running is None:  # refreshed behind this caller, for the next ones
                    self._start(key, compute, args)
                return hit[1]
            if running is None:
                running = self._start(key, compute, args)
            started, future = running
            if started >= asked:
                return (await asyncio.shield(future))[1]  # its value, or its error: shared
            # started before this caller asked: too old for it once done (unless within the period); its
            # failure is its own callers', this caller then tries afresh
            with contextlib.suppress(Exception):
                await asyncio.shield(future)

    def _start(self, key: Any, compute: Callable[..., Any], args: tuple[Any, ...]) -> tuple[float, asyncio.Future[Any]]:
        started = self._clock()

        def run() -> tuple[float, Any]:  # (its age when the computation started, the value)
            out = compute(*args)
            return (max(0.0, out.seconds), out.value) if isinstance(out, Aged) else (0.0, out)

        future = asyncio.ensure_future(asyncio.to_thread(run))
        self._running[key] = (started, future)
        future.add_done_callback(lambda f: self._settle(key, started, f))
        return started, future

    def _settle(self, key: Any, started: float, future: asyncio.Future[Any]) -> None:
        """A finished computation: no longer under way, and its value kept (not its error, which is logged and
        handed to ``on_error``). Idempotent."""
        if self._running.get(key, (None, None))[1] is future:
            del self._running[key]
            if future.cancelled():
                return
            error = future.exception()  # (reading the error marks it retrieved)
            if error is None:
                age, value = future.result()
                self._values[key] = (started - age, value)
            else:
                log.warning("computing %r failed: %r", key, error)
                if self._on_error is not None:
                    self._on_error(key, error)


class SharedRead:
    """A slow read computed once per ``period`` for every replica of a store, not once per replica.

    ``get`` (blocking: call it in a worker thread, as :class:`PeriodCache` does) answers the value the store
    holds (:class:`ray_topics.storage.shared_reads.SharedReads`) while it is younger than ``period``. Past
    it, the caller that claims the key computes, stores and answers; a caller that finds the claim taken
    answers the stored value while it is younger than ``period + stale`` (another replica is computing),
    else computes itself. A claim lasts ``period + stale`` seconds: a replica that dies computing holds the
    others back no longer than a value may be answered stale. With ``period`` 0 every call computes. The
    store is an aid, not a condition: a claim or a store the database refuses is logged, and the value is
    computed and answered here; a claim whose value it failed to store stays this replica's (it computes
    again at its next call, not answering the older stored value while its own claim holds the others off).

    Example:
        >>> from ray_topics.storage.store import Store
        >>> store = Store("sqlite://")
        >>> one, other = SharedRead(store.shared_reads, 60.0), SharedRead(store.shared_reads, 60.0)  # two replicas
        >>> one.get("k", lambda: "first", str.encode, bytes.decode)
        'first'
        >>> other.get("k", lambda: "second", str.encode, bytes.decode)  # within the minute: the first's value
        'first'
    """

    def __init__(
        self,
        reads: SharedReads,
        period: float,
        stale: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.reads, self.period, self.stale = reads, timedelta(seconds=period), timedelta(seconds=stale)
        self._clock = clock
        # key -> the end of this replica's claim whose value it failed to store (or whose release failed):
        # the claim is still its own until then, so its next call computes again instead of taking the
        # claim for another replica's and answering the older stored value
        self._held: dict[str, datetime] = {}

    def get(self, key: str, compute: Callable[[], T], encode: Callable[[T], bytes], decode: Callable[[bytes], T]) -> T:
        return self.aged(key, compute, encode, decode).value

    def aged(
        self, key: str, compute: Callable[[], T], encode: Callable[[T], bytes], decode: Callable[[bytes], T]
    ) -> Aged[T]:
        """:meth:`get`'s value, and how long before this call it was computed (0: computed by this call)."""
        if not self.period:
            return Aged(compute(), 0.0)
        now = self._clock()
        try:
            stored = self.reads.get(key)
            held = (stored[0], decode(stored[1])) if stored is not None else None
        except Exception:  # a value this version cannot read (another version's, or damaged): as none stored
            log.warning("reading the stored %r failed; computing it", key, exc_info=True)
            held = None
        if held is not None and now - held[0] < self.period:
            return Aged(held[1], (now - held[0]).total_seconds())
        until = now + self.period + self.stale
        try:
            mine = self.reads.claim(key, now, until)
        except Exception:  # a write the store refused (SQLite's write lock held too long): computed here
            log.warning("claiming %r failed; computing it here", key, exc_info=True)
            mine = None
        own = self._held.pop(key, None)
        if not mine and own is not None and now < own:
            mine, until = True, own  # the claim the store holds is this replica's own, not stored before
        if mine is False and held is not None and now - held[0] < self.period + self.stale:
            return Aged(held[1], (now - held[0]).total_seconds())  # another replica computes it
        claim = until if mine else None
        started = self._clock()
        try:
            value = compute()
        except BaseException:
            if claim is not None:  # the next caller tries again, not after the claim runs out
                try:
                    self.reads.release(key, claim)
                    self._held.pop(key, None)
                except Exception:  # the computation's error is the one to raise; the claim is still ours
                    log.warning("releasing %r failed", key, exc_info=True)
                    self._held[key] = claim
            raise
        try:
            self.reads.put(key, started, encode(value), claim)  # kept only if newer than the stored value
            self._held.pop(key, None)
        except Exception:  # the value is still this caller's answer; the claim is still ours
            log.warning("storing %r failed", key, exc_info=True)
            if claim is not None:
                self._held[key] = claim
        return Aged(value, 0.0)
