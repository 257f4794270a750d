"""Leases: one lake writer at a time, across processes; a killed holder lets go; refine and archive at once."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from ray_topics.execution.runtime import Runtime
from ray_topics.storage.leases import LeaseBusy
from ray_topics.storage.store import Store
from ray_topics.tiers.archive import run_archive
from ray_topics.tiers.refine import compact
from tests.conftest import PG_URL, at_once, make_config, require_postgres
from tests.test_tiering import D0, DAY, _ingest, _listing, _runtime


@pytest.fixture
def two(store_url: tuple[str, str | None]) -> Iterator[tuple[Store, Store]]:
    """Two handles of one store, as two processes would have, refusing a busy lease at once."""
    a = Store(store_url[0], schema=store_url[1])
    b = Store(store_url[0], schema=store_url[1], create=False)
    yield a, b
    a.dispose()
    b.dispose()


def test_a_held_lease_refuses_a_second_holder_until_released(two: tuple[Store, Store]) -> None:
    a, b = two
    with a.leases.hold("lake", "archive"):
        with pytest.raises(LeaseBusy, match="already running"):
            with b.leases.hold("lake", "refine"):
                pass
        with a.leases.hold("lake", "a restore inside the archive job"):  # re-entrant in its thread
            pass
        with b.leases.hold("other", "refine"):  # another lease is free
            pass
    with b.leases.hold("lake", "refine"):
        pass


def test_a_waiting_holder_gets_the_lease_once_released(store_url: tuple[str, str | None]) -> None:
    a = Store(store_url[0], schema=store_url[1])
    b = Store(store_url[0], schema=store_url[1], create=False, lease_wait_seconds=30, lease_poll_seconds=0.05)
    held = threading.Event()

    def hold_briefly() -> None:
        with a.leases.hold("lake", "archive"):
            held.set()
            time.sleep(0.5)

    t = threading.Thread(target=hold_briefly)
    t.start()
    held.wait(10)
    t0 = time.monotonic()
    with b.leases.hold("lake", "refine"):
        waited = time.monotonic() - t0
    t.join()
    assert 0.2 < waited < 30
    a.dispose()
    b.dispose()


def _hold_forever(url: str, schema: str | None, ready: mp.Event) -> None:  # type: ignore[valid-type]
    s = Store(url, schema=schema, create=False)
    with s.leases.hold("lake", "a job that will be killed"):
        ready.set()
        time.sleep(600)


def test_a_killed_holder_lets_go(store_url: tuple[str, str | None]) -> None:
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    Store(store_url[0], schema=store_url[1]).dispose()
    child = ctx.Process(target=_hold_forever, args=(store_url[0], store_url[1], ready))
    child.start()
    try:
        assert ready.wait(120)
        s = Store(store_url[0], schema=store_url[1], create=False, lease_wait_seconds=20, lease_poll_seconds=0.1)
        with pytest.raises(LeaseBusy):
            Store(store_url[0], schema=store_url[1], create=False).leases.hold("lake", "refine").__enter__()
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        with s.leases.hold("lake", "refine"):  # the OS (file lock) or PostgreSQL (session ends) released it
            pass
        s.dispose()
    finally:
        if child.is_alive():
            child.kill()


def test_a_node_lost_mid_job_gives_up_its_postgresql_lease_within_dead_client_s(tmp_path: Path) -> None:
    """A killed process closes its connection and its lease goes at once (above); a node that loses power or
    its network sends nothing, and PostgreSQL would keep the session, and the lease, until the operating
    system's keepalive gives up (about two hours on Linux). Every session a job opens (the lease's
    connection included: the same engine) asks the server to probe a silent client and end its session
    within ``store.dead_client_s``. (A half-open connection cannot be made here; the settings are what the
    server acts on.)"""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    rt = Runtime(make_config(tmp_path, "store.dead_client_s=120", store=(PG_URL, schema)))
    try:
        with rt.store.leases.hold("lake", "refine"), rt.store.connect() as conn:
            shown = [conn.execute(text(f"SHOW {n}")).scalar() for n in ("tcp_keepalives_idle", "tcp_user_timeout")]
            assert shown == ["60", "120000"]
            (n,) = conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).one()
            assert n >= 1  # the lease, held by a session with those settings
    finally:
        rt.store.drop()
        rt.store.dispose()


def _state(rt: Runtime) -> tuple:
    ids, _vecs = rt.aging.read(D0, D0 + 10 * DAY)
    stats = {k: v["tier"] for k, v in rt.store.access.stats().items()}
    return _listing(rt), sorted(ids), stats


def test_refine_and_archive_started_at_once_end_as_one_after_the_other(tmp_path: Path) -> None:
    at = D0 + 9 * DAY

    def fresh(name: str) -> Runtime:
        rt = _runtime(tmp_path / name, "execution.lease_wait_seconds=60", "execution.lease_poll_seconds=0.05")
        _ingest(rt, "gaming", range(8), n=40)
        compact(rt, D0 + 4 * DAY)  # days 0-3 in the lake already; 4-7 still hot
        return rt

    orders = {}
    for first, second in (("refine", "archive"), ("archive", "refine")):
        rt = fresh(f"{first}-then-{second}")
        for step in (first, second):
            compact(rt, at) if step == "refine" else run_archive(rt, at)
        orders[first] = _state(rt)
        rt.store.dispose()

    rt = fresh("at-once")
    other = Runtime(rt.cfg)
    at_once(lambda: compact(rt, at), lambda: run_archive(other, at), timeout=120)
    assert _state(rt) in orders.values()
    assert rt.store.count("embeddings") == 0 or rt.store.videos.uncompacted(at + timedelta(days=1)) == []
    rt.store.dispose()
    other.store.dispose()
