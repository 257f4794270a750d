"""The per-replica cache of slow reads: once per period per key, and concurrent callers share a computation."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from ray_topics.storage.store import Store
from serve.cache import Aged, PeriodCache, SharedRead


class Slow:
    """A computation that counts its calls and blocks until released (so callers pile up behind it)."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0  # computations under way at once
        self.release = threading.Event()

    def __call__(self, tag: str) -> str:
        self.calls += 1
        self.running += 1
        try:
            self.release.wait(timeout=10)
            return f"{tag}{self.calls}"
        finally:
            self.running -= 1


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


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (yielding to the loop) until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.01)


def test_a_stale_value_is_answered_at_once_while_one_refresh_runs_behind_it() -> None:
    """Past the period but within ``stale``: callers get the old value without waiting, one computation
    starts behind them, and the callers after it get its value; past ``period + stale`` a caller waits."""

    async def scenario() -> list[str]:
        slow, now = Slow(), [0.0]
        cache = PeriodCache(60.0, stale=600.0, clock=lambda: now[0])
        slow.release.set()
        got = [await cache.get("k", slow, "v")]  # none stored: computed, waited for
        slow.release.clear()
        now[0] = 100.0
        got += [await asyncio.wait_for(cache.get("k", slow, "v"), 1) for _ in range(3)]  # stale, not waited for
        await _until(lambda: slow.running == 1)  # the refresh's thread has started
        await asyncio.sleep(0.1)
        assert slow.calls == 2  # one refresh behind them, not three
        slow.release.set()
        await _until(lambda: "k" not in cache._running)  # done, and its done-callback stored it
        got.append(await cache.get("k", slow, "v"))  # the refresh's value, no third computation
        now[0] = 100.0 + 660.0  # past period + stale since the refresh started: the caller waits for a fresh one
        got.append(await cache.get("k", slow, "v"))
        return got

    assert asyncio.run(scenario()) == ["v1", "v1", "v1", "v1", "v2", "v3"]


def test_without_caching_concurrent_callers_share_one_computation_not_queue() -> None:
    """Period 0: callers that arrive while a computation runs wait for it, then share ONE more computation
    (the first started before they asked), instead of each computing again after the one before."""
    slow = Slow()
    out = asyncio.run(_together(PeriodCache(0.0), slow, 6))
    assert out == ["v1"] + ["v2"] * 5
    assert slow.calls == 2
    slow.release.set()
    assert asyncio.run(PeriodCache(0.0).get("k", slow, "v")) == "v3"  # a later caller computes afresh
    off = PeriodCache(0.0, stale=600.0)  # the cache off: no stale answer either (the cold reads of a benchmark)
    assert [asyncio.run(off.get("k", slow, "v")) for _ in range(2)] == ["v4", "v5"]


def test_a_caller_that_gives_up_leaves_the_computation_to_the_others() -> None:
    """A cancelled request (its client went away) must not let a second computation start beside the first."""

    async def scenario(slow: Slow) -> tuple[str, str]:
        cache = PeriodCache(0.0)
        first = asyncio.create_task(cache.get("k", slow, "v"))
        await asyncio.sleep(0.05)
        first.cancel()
        await asyncio.sleep(0.05)
        again = asyncio.create_task(cache.get("k", slow, "v"))  # asked after v1 started: waits, then v2
        await asyncio.sleep(0.05)
        running_together = slow.running
        slow.release.set()
        return await again, str(running_together)

    slow = Slow()
    assert asyncio.run(scenario(slow)) == ("v2", "1")  # never two at once


def test_a_failure_is_not_kept_and_the_callers_behind_it_share_one_more_try(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def failing() -> str:
        calls.append(1)
        time.sleep(0.1)
        raise RuntimeError("store down")

    failed: list[tuple[str, str]] = []

    async def scenario() -> list[BaseException | str]:
        cache = PeriodCache(60.0, on_error=lambda key, error: failed.append((key, str(error))))
        first = asyncio.create_task(cache.get("k", failing))
        await asyncio.sleep(0.02)
        waiting = [asyncio.create_task(cache.get("k", failing)) for _ in range(4)]
        got = await asyncio.gather(first, *waiting, return_exceptions=True)
        return [*got, await cache.get("k", lambda: "back")]  # a failure is not cached: the next call computes

    with caplog.at_level(logging.WARNING, logger="ray_topics.serve"):
        *errors, back = asyncio.run(scenario())
    assert "store down" in caplog.text  # logged: a refresh behind a stale answer has no caller to see it
    assert all(isinstance(e, RuntimeError) for e in errors) and back == "back"
    assert len(calls) <= 2  # the first's callers share its error; the latecomers, one more computation
    assert failed == [("k", "store down")] * len(calls)  # each failed computation counted once (a metric)


def test_a_finished_computation_whose_callback_has_not_run_yet_is_settled_not_spun_on() -> None:
    """Between a computation's end and its done-callback, another request's handler may run first: it must
    take the finished result (or start afresh), not await the done future in a loop that never yields."""

    async def scenario() -> str:
        cache = PeriodCache(0.0)
        done = asyncio.get_running_loop().create_future()
        done.set_result((0.0, "old"))  # finished (its age, its value); the cache's callback on it never ran
        cache._running["k"] = (-1.0, done)  # started before the caller asks
        return await cache.get("k", lambda: "new")

    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(asyncio.run(scenario())), daemon=True)
    t.start()
    t.join(timeout=10)
    assert out == ["new"]  # period 0: "old" started before the caller asked


# ------------------------------------------------------------------ one computation per period for every replica


class Clock:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _replicas(store: Store, n: int, clock: Clock, period: float = 60.0, stale: float = 600.0) -> list[SharedRead]:
    return [SharedRead(store.shared_reads, period, stale, clock) for _ in range(n)]


def _read(replica: SharedRead, value: str, calls: list[str]) -> str:
    return replica.get("health:", lambda: calls.append(value) or value, str.encode, bytes.decode)


def test_a_replica_reads_the_value_another_computed_within_the_period(store: Store) -> None:
    clock, calls = Clock(), []
    a, b, c = _replicas(store, 3, clock)
    assert _read(a, "a1", calls) == "a1"
    clock.advance(59)
    assert (_read(b, "b1", calls), _read(c, "c1", calls)) == ("a1", "a1")
    assert calls == ["a1"]  # three replicas, one computation
    clock.advance(2)  # past the period: the first to ask claims it and computes; the value is the new one
    assert _read(b, "b2", calls) == "b2" and _read(a, "a2", calls) == "b2"
    assert calls == ["a1", "b2"]


def test_while_another_replica_holds_the_claim_the_stale_value_is_answered(store: Store) -> None:
    clock, calls = Clock(), []
    a, b = _replicas(store, 2, clock)
    _read(a, "a1", calls)
    clock.advance(120)
    assert store.shared_reads.claim("health:", clock(), clock.now + timedelta(seconds=660))  # a third computes
    assert _read(a, "a2", calls) == "a1" and _read(b, "b2", calls) == "a1"  # stale, nobody waits for it
    clock.advance(600)  # past period + stale: too old to answer, computed here although the claim is held
    assert _read(b, "b3", calls) == "b3"
    assert calls == ["a1", "b3"]
    clock.advance(1)  # b's value is fresh for everybody
    assert _read(a, "a4", calls) == "b3"


def test_a_replicas_cache_ages_another_replicas_value_from_when_it_was_computed(store: Store) -> None:
    """A replica's :class:`PeriodCache` over :class:`SharedRead`, as the Ingress builds them. A value another
    replica computed 659 s ago (a third holds the claim and died) is answered stale, but kept as 659 s old,
    not as fresh from this call: a second later it is too old (period + stale) and this replica computes its
    own, where it used to answer the 660-s old value as fresh for another period, then stale for 600 s more
    (at most period + stale old, not 2 x (period + stale))."""
    clock, calls = Clock(), []
    start = clock.now
    (a, b) = _replicas(store, 2, clock)
    cache = PeriodCache(60.0, 600.0, clock=lambda: (clock.now - start).total_seconds())

    def read(value: str) -> str:
        compute = lambda: calls.append(value) or value  # noqa: E731
        return asyncio.run(cache.get("health", b.aged, "health:", compute, str.encode, bytes.decode))

    _read(a, "a1", calls)
    clock.advance(61)
    assert store.shared_reads.claim("health:", clock(), clock.now + timedelta(seconds=660))  # and dies
    clock.advance(598)
    assert read("b1") == "a1"  # 659 s old: another replica computes it (so the claim says)
    clock.advance(1)
    assert read("b2") == "b2"  # 660 s old: too old for anyone; computed here
    assert calls == ["a1", "b2"]
    assert b.aged("health:", lambda: "b3", str.encode, bytes.decode) == Aged("b2", 0.0)  # its own, fresh


def test_a_failed_computation_frees_the_claim_for_the_next_caller(store: Store) -> None:
    clock = Clock()
    a, b = _replicas(store, 2, clock)

    def failing() -> str:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError, match="store down"):
        a.get("health:", failing, str.encode, bytes.decode)
    calls: list[str] = []
    assert _read(b, "b1", calls) == "b1" and calls == ["b1"]  # claimed at once, not after the claim ran out


def test_an_older_value_never_replaces_a_newer_one(store: Store) -> None:
    reads, t = store.shared_reads, datetime(2024, 3, 1, tzinfo=UTC)
    reads.put("k", t + timedelta(seconds=5), b"newer")
    reads.put("k", t, b"older")  # a slow replica that started first finishes last
    assert reads.get("k") == (t + timedelta(seconds=5), b"newer")


def test_replicas_asking_at_once_compute_once(store_url: tuple[str, str | None]) -> None:
    """Eight replicas (threads, each with its own connections) find the stored value stale at the same moment:
    one claims the computation, the other seven answer the stale value at once, nothing is computed twice."""
    stores = [Store(store_url[0], schema=store_url[1]) for _ in range(8)]
    clock, calls, lock = Clock(), [], threading.Lock()
    _read(SharedRead(stores[0].shared_reads, 60.0, 600.0, clock), "seed", calls)  # a value, now stale
    clock.advance(120)
    gate = threading.Barrier(8)

    def replica(i: int) -> str:
        def compute() -> str:
            with lock:
                calls.append(f"r{i}")
            time.sleep(0.3)
            return f"r{i}"

        gate.wait()
        return SharedRead(stores[i].shared_reads, 60.0, 600.0, clock).get("health:", compute, str.encode, bytes.decode)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(replica, range(8)))
    fresh = [c for c in calls if c != "seed"]
    assert len(fresh) == 1  # one claim, one computation
    assert got.count(fresh[0]) == 1 and got.count("seed") == 7  # the others answered the stale value at once
    for s in stores:
        s.dispose()


def test_a_store_that_refuses_writes_leaves_the_value_computed_here(store: Store, monkeypatch) -> None:
    """The shared row is an aid: a claim or a put the database refuses (SQLite's write lock held by a long
    job commit) is logged, and the caller computes and answers the value itself."""
    clock, calls = Clock(), []
    (a,) = _replicas(store, 1, clock)
    _read(a, "a1", calls)
    clock.advance(61)

    def locked(*_args: object, **_kw: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(store.shared_reads, "claim", locked)
    monkeypatch.setattr(store.shared_reads, "put", locked)
    assert _read(a, "a2", calls) == "a2" and calls == ["a1", "a2"]


def test_a_put_ends_its_own_claim_only(store: Store) -> None:
    """A computation that outlasted its claim stores its value without ending the claim another replica took
    since: a third replica does not compute as well."""
    reads, t = store.shared_reads, datetime(2024, 3, 1, tzinfo=UTC)
    first = t + timedelta(seconds=60)
    assert reads.claim("k", t, first)
    second = first + timedelta(seconds=61)
    assert reads.claim("k", first + timedelta(seconds=1), second)  # the first claim ran out
    reads.put("k", t, b"slow", claim=first)  # the first computation ends late
    assert not reads.claim("k", first + timedelta(seconds=2), second + timedelta(seconds=60))
    reads.release("k", second)
    assert reads.claim("k", first + timedelta(seconds=3), second + timedelta(seconds=60))


def test_a_stored_value_this_version_cannot_read_is_computed_again(store: Store) -> None:
    """Another version's payload (or damaged bytes) is as none stored: computed and answered, not an error."""
    clock, calls = Clock(), []
    (a,) = _replicas(store, 1, clock)
    store.shared_reads.put("health:", clock(), b"\xff\xfe not utf-8")
    clock.advance(1)
    assert _read(a, "a1", calls) == "a1" and calls == ["a1"]
    assert _read(a, "a2", calls) == "a1"  # and stored again for the others


def test_a_failed_computation_raises_its_own_error_when_the_release_fails_too(store: Store, monkeypatch) -> None:
    clock = Clock()
    (a,) = _replicas(store, 1, clock)

    def failing() -> str:
        raise RuntimeError("computation failed")

    def refused(*_args: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(store.shared_reads, "release", refused)
    with pytest.raises(RuntimeError, match="computation failed"):
        a.get("health:", failing, str.encode, bytes.decode)


class Holder:
    """Another connection holding the lock a shared read's write needs (SQLite's write lock, a job's commit;
    on PostgreSQL the key's row), until released or ``hold_s`` runs out."""

    def __init__(self, store_url: tuple[str, str | None], key: str, hold_s: float = 20.0) -> None:
        self.store = Store(store_url[0], schema=store_url[1])
        self.store.shared_reads.put(key, datetime(2024, 1, 1, tzinfo=UTC), b"old")
        self.held, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(key, hold_s), daemon=True)
        self.thread.start()
        assert self.held.wait(10)

    def _hold(self, key: str, hold_s: float) -> None:
        t = self.store.table("shared_reads")
        with self.store.begin() as conn:
            conn.execute(t.update().where(t.c.key == key).values(payload=b"held"))  # the row (and SQLite's lock)
            self.held.set()
            self.done.wait(hold_s)

    def release(self) -> None:
        self.done.set()
        self.thread.join()
        self.store.dispose()


def test_a_claim_gives_up_on_a_held_lock_after_its_own_wait(store_url: tuple[str, str | None]) -> None:
    """A replica's claim waits ``wait_s`` for a lock a job holds, not the store's 30-s busy timeout: while the
    lock is held (20 s) the claim fails, and the replica computes and answers the value on its own. With the
    store's own wait the claim would wait for the lock and succeed. The connection's wait is put back after."""
    holder = Holder(store_url, "health:")
    store = Store(store_url[0], schema=store_url[1])
    try:
        reads = store.shared_reads.waiting(0.2)
        with pytest.raises(Exception, match=r"(?i)locked|lock timeout"):
            reads.claim("health:", datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 1, 1, tzinfo=UTC))
        assert holder.thread.is_alive()  # failed while the lock was still held, not after it was let go
        calls: list[str] = []
        assert _read(SharedRead(reads, 60.0, 600.0, Clock()), "mine", calls) == "mine" and calls == ["mine"]
        assert holder.thread.is_alive()
        with store.connect() as conn:  # the pooled connection waits as long as before for the jobs
            if store.dialect == "sqlite":
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            else:  # SET LOCAL: the short wait ended with its transaction
                assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "0"
    finally:
        holder.release()
        store.dispose()


def test_a_replica_whose_store_failed_computes_again_under_its_own_claim(store: Store, monkeypatch) -> None:
    """A put the database refused leaves the replica's claim in the store: at its next call past the period
    it computes again (the claim is its own), instead of answering the older stored value for as long as its
    own claim holds every replica off; the store that then succeeds ends the claim."""
    clock, calls = Clock(), []
    a, b = _replicas(store, 2, clock)
    _read(a, "a1", calls)
    clock.advance(61)
    put = store.shared_reads.put

    def refused_once(*args: object, **kw: object) -> None:
        monkeypatch.setattr(store.shared_reads, "put", put)
        raise RuntimeError("database is locked")

    monkeypatch.setattr(store.shared_reads, "put", refused_once)
    assert _read(a, "a2", calls) == "a2"  # computed, not stored: a1 is still the stored value, a's claim held
    clock.advance(61)
    assert _read(a, "a3", calls) == "a3"  # not a1: a's own claim, so a computes
    assert calls == ["a1", "a2", "a3"]
    clock.advance(1)
    assert _read(b, "b4", calls) == "a3"  # stored, for the others
    clock.advance(60)
    assert _read(b, "b5", calls) == "b5"  # and a's claim ended with it: b claims the next


def test_a_failed_reset_of_the_wait_leaves_the_committed_claim_claimed(tmp_path) -> None:
    """SQLite: the busy timeout is put back after the claim's transaction ended. If that fails, the claim
    (committed) is still reported as taken, and the connection that kept the short wait is dropped, not
    pooled for the jobs' writes."""
    from sqlalchemy import event

    from ray_topics.storage.db import SQLITE_BUSY_S

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    t = datetime(2024, 3, 1, tzinfo=UTC)

    def fail_reset(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement == f"PRAGMA busy_timeout={SQLITE_BUSY_S * 1000}":
            raise RuntimeError("reset failed")

    event.listen(store.engine, "before_cursor_execute", fail_reset)
    try:
        assert store.shared_reads.waiting(0.2).claim("health:", t, t + timedelta(minutes=11))
    finally:
        event.remove(store.engine, "before_cursor_execute", fail_reset)
    assert not store.shared_reads.claim("health:", t + timedelta(minutes=1), t + timedelta(minutes=12))  # stored
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_S * 1000
    store.dispose()
