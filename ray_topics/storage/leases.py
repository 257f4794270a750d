"""Leases: one job at a time writes a thing (the lake's partitions), across processes and machines.

A lease is held for the whole of a job's work (minutes), unlike the commit
lock (:meth:`Database.lock`), which lives as long as one transaction.

* PostgreSQL: a session-level advisory lock on a connection of its own, held
  until released or until that connection closes (a crashed holder releases it).
  It needs a direct (or session-pooled) connection: a transaction-pooling proxy
  such as pgbouncer in transaction mode cannot hold it. Should that connection
  drop while the job runs, the lock is gone with it: a second writer can then
  start before the first has finished (not yet detected).
* SQLite (one machine): an exclusive ``flock`` on a file beside the database,
  released by the OS when its holder exits, however it exits; for an in-memory
  database, a lock of this process.

Re-entrant in the thread that holds it (the archive job restores partitions
through the same code path as any reader).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from sqlalchemy import text

from ray_topics.storage.db import Database, lock_id

__all__ = ["LeaseBusy", "Leases"]

log = logging.getLogger(__name__)


class LeaseBusy(RuntimeError):
    """Another job holds the lease and did not let go within the configured wait."""


class Leases:
    """Named leases of one store.

    Args:
        db: the store's database.
        wait_seconds: how long :meth:`hold` waits for a busy lease before it raises :class:`LeaseBusy`
            (0: fail at once).
        poll_seconds: how often a waiting :meth:`hold` tries again.
    """

    _held: ClassVar[dict[tuple[int, str], tuple[int, int]]] = {}  # (database, name) -> (thread id, depth), this process
    _guard: ClassVar[threading.Lock] = threading.Lock()
    _memory: ClassVar[dict[tuple[int, str], threading.Lock]] = {}

    def __init__(self, db: Database, wait_seconds: float = 0.0, poll_seconds: float = 1.0) -> None:
        self.db = db
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds

    @contextmanager
    def hold(self, name: str, holder: str) -> Iterator[None]:
        """Hold the lease ``name`` for the block; ``holder`` names the job in the busy message."""
        key = (id(self.db), name)
        me = threading.get_ident()
        with self._guard:
            owner = self._held.get(key)
            if owner is not None and owner[0] == me:
                self._held[key] = (me, owner[1] + 1)
                reentered = True
            else:
                reentered = False
        if reentered:
            try:
                yield
            finally:
                self._leave(key)
            return
        with self._acquire(name, holder):
            with self._guard:
                self._held[key] = (me, 1)
            try:
                yield
            finally:
                self._leave(key)

    def _leave(self, key: tuple[int, str]) -> None:
        with self._guard:
            thread, depth = self._held[key]
            if depth > 1:
                self._held[key] = (thread, depth - 1)
            else:
                del self._held[key]

    @contextmanager
    def _acquire(self, name: str, holder: str) -> Iterator[None]:
        if self.db.dialect == "postgresql":
            with self._postgres(name, holder):
                yield
        elif self.db.in_memory:
            lock = self._memory.setdefault((id(self.db), name), threading.Lock())
            self._wait(name, holder, lambda: lock.acquire(blocking=False))
            try:
                yield
            finally:
                lock.release()
        else:
            with self._file(name, holder):
                yield

    def _wait(self, name: str, holder: str, try_once: Any) -> None:
        deadline = time.monotonic() + self.wait_seconds
        while not try_once():
            if time.monotonic() >= deadline:
                raise LeaseBusy(
                    f"{holder}: the {name!r} lease is held by another job (already running); waited "
                    f"{self.wait_seconds:g} s (leases.wait_seconds). Run it again when that job has finished."
                )
            time.sleep(self.poll_seconds)

    @contextmanager
    def _postgres(self, name: str, holder: str) -> Iterator[None]:
        k = lock_id(f"{self.db.schema}:lease:{name}")
        conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            self._wait(
                name, holder, lambda: bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": k}).scalar())
            )
            log.debug("%s holds the %r lease", holder, name)
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": k})
                except Exception:  # the connection died: PostgreSQL released the lock with the session
                    log.warning("%s: could not release the %r lease; dropping its connection", holder, name)
                    conn.invalidate()
        finally:
            conn.close()

    @contextmanager
    def _file(self, name: str, holder: str) -> Iterator[None]:
        path = f"{self.db.engine.url.database}.{name}.lease"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:

            def try_once() -> bool:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    return False

            self._wait(name, holder, try_once)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
