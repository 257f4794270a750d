"""The database handle every repository shares: engine, tables, transactions, dialect helpers.

The same code runs on SQLite (embedded default) and PostgreSQL (cluster).
Times go through :class:`UTCDateTime`: stored as naive UTC, always handed
back aware, so no caller converts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, create_engine, event, func, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex

from ray_topics.storage.schema import RETIRED_INDEXES, build_metadata

__all__ = ["Database", "chunks", "lock_id", "session_options"]

log = logging.getLogger(__name__)

IN_CHUNK = 500  # ids per IN (...) clause: below SQLite's and psycopg's parameter limits
SQLITE_BUSY_S = 30  # how long a SQLite statement waits for another connection's write lock before it fails


def chunks(seq: Sequence[Any], n: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """``seq`` in slices of at most ``n`` (for IN clauses)."""
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class Database:
    """Engine and tables of the operational store.

    Args:
        url: SQLAlchemy URL (``sqlite:///path.db`` or ``postgresql+psycopg://...``).
        schema: PostgreSQL schema to use (created if missing); ignored on SQLite.
        create: create missing tables.
        pool_size, max_overflow, pool_timeout_s: this process's PostgreSQL connection pool.
        statement_timeout_s: PostgreSQL cancels a statement running longer (0: no limit).
        dead_client_s: PostgreSQL ends the session of a client silent about this long (0: the server's
            settings): :func:`session_options`.
    """

    def __init__(
        self,
        url: str,
        schema: str | None = None,
        create: bool = True,
        *,
        pool_size: int = 5,
        max_overflow: int = 5,
        pool_timeout_s: float = 30.0,
        statement_timeout_s: float = 0.0,
        dead_client_s: float = 0.0,
    ) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        is_sqlite = url.startswith("sqlite")
        if is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_S}
            if url in ("sqlite://", "sqlite:///:memory:"):
                kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(
                pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout_s
            )
            options = session_options(statement_timeout_s, dead_client_s)
            if options:
                kwargs["connect_args"] = {"options": options}
        self.engine: Engine = create_engine(url, **kwargs)
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.schema = None if is_sqlite else schema
        self.metadata = build_metadata(self.schema)
        self._ignoring: dict[str, Any] = {}  # insert_ignoring's statements, by table
        if create:
            self.create()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database (one process, one connection)."""
        return isinstance(self.engine.pool, StaticPool)

    def table(self, name: str) -> Any:
        return self.metadata.tables[f"{self.schema}.{name}" if self.schema else name]

    def create(self) -> None:
        """Create missing tables, columns and indexes, and drop indexes a newer one replaced.

        ``create_all`` skips a table that exists, columns and indexes included,
        so a store made by an earlier version gains its new columns (nullable
        only: :func:`_add_column`) and indexes here. Existing ones are looked up
        in the catalogue first: no DDL (and no table lock) runs when nothing is
        missing.
        """
        with self.engine.begin() as conn:
            # looked up first: PostgreSQL checks the database's CREATE privilege before IF NOT EXISTS, so a
            # role given only its schema's tables (every job's and replica's) could not open the store
            if self.schema and not inspect(conn).has_schema(self.schema):
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            self.metadata.create_all(conn)
            insp = inspect(conn)
            for table in self.metadata.sorted_tables:
                columns = {c["name"] for c in insp.get_columns(table.name, schema=self.schema)}
                for col in table.columns:
                    if col.name not in columns:
                        _add_column(conn, table, col)
                have = {ix["name"] for ix in insp.get_indexes(table.name, schema=self.schema)}
                for ix in sorted(table.indexes, key=lambda i: str(i.name)):
                    if ix.name not in have:
                        conn.execute(CreateIndex(ix, if_not_exists=True))
            prep = conn.dialect.identifier_preparer
            for tname, iname in RETIRED_INDEXES:
                if iname in {ix["name"] for ix in insp.get_indexes(tname, schema=self.schema)}:
                    qualified = (
                        f"{prep.quote_schema(self.schema)}.{prep.quote(iname)}" if self.schema else prep.quote(iname)
                    )
                    conn.execute(text(f"DROP INDEX IF EXISTS {qualified}"))

    def drop(self) -> None:
        with self.engine.begin() as conn:
            if self.schema:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            else:
                self.metadata.drop_all(conn)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction; everything inside commits together or not at all."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def begin_waiting(self, wait_s: float) -> Iterator[Connection]:
        """One transaction whose lock waits give up after ``wait_s`` seconds instead of the store's timeout.

        For a write that may be skipped (a cache's): it fails fast rather than queue behind a job's commit
        holding SQLite's write lock, or a row lock on PostgreSQL (``lock_timeout``, this transaction only).
        On SQLite the connection's own wait is put back afterwards (it returns to the pool).
        """
        ms = max(1, int(wait_s * 1000))
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                with conn.begin():
                    conn.execute(text(f"SET LOCAL lock_timeout = {ms}"))
                    yield conn
                return
            conn.exec_driver_sql(f"PRAGMA busy_timeout={ms}")
            conn.commit()  # (the pragma autobegan a transaction: end it before this one)
            try:
                with conn.begin():
                    yield conn
            finally:  # the transaction has ended (committed or not): a failed reset must not say otherwise
                try:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_S * 1000}")
                    conn.commit()
                except Exception:  # a connection left with the short wait must not serve the jobs' writes
                    log.warning("resetting a SQLite connection's busy timeout failed; dropping it", exc_info=True)
                    conn.invalidate()

    @contextmanager
    def writing(self, conn: Connection | None) -> Iterator[Connection]:
        """``conn`` when the caller holds a transaction, else a transaction of its own.

        Every write method of every repository takes an optional ``conn`` and
        writes through this, so a job can put several writes in one commit.
        """
        if conn is not None:
            yield conn
        else:
            with self.engine.begin() as own:
                yield own

    @contextmanager
    def reading(self, conn: Connection | None) -> Iterator[Connection]:
        """``conn`` when the caller holds one (a read inside its transaction), else a connection of its own."""
        if conn is not None:
            yield conn
        else:
            with self.engine.connect() as own:
                yield own

    def lock(self, conn: Connection, key: str) -> None:
        """Hold an exclusive lock named ``key`` until ``conn``'s transaction ends.

        PostgreSQL: a transaction-level advisory lock on a stable hash of ``key``.
        SQLite: the database's write lock (SQLite has one writer at a time), taken
        by a write that changes nothing; later reads in the transaction see every
        commit made before it. Either way a second transaction asking for the same
        lock waits for the first to end (up to the store's busy/lock timeout).
        """
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id(f"{self.schema}:{key}")})
        else:
            t = self.table("job_runs")
            conn.execute(t.update().where(text("1 = 0")).values(status=t.c.status))

    def connect(self) -> Any:
        return self.engine.connect()

    def count(self, name: str, **where: Any) -> int:
        t = self.table(name)
        q = select(func.count()).select_from(t)
        for k, v in where.items():
            q = q.where(t.c[k] == v)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def insert(self, conn: Connection, name: str) -> Any:
        """The dialect's INSERT of table ``name`` (it has ON CONFLICT on PostgreSQL and SQLite alike)."""
        return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(self.table(name))

    def insert_ignoring(self, conn: Connection, name: str) -> Any:
        """The INSERT ... ON CONFLICT DO NOTHING of table ``name``, built once per table.

        A statement object is immutable and SQLAlchemy memoizes its cache key on it: reused, it
        skips building the statement and its key at every execution (Tier 1 runs it per request).
        """
        stmt = self._ignoring.get(name)
        if stmt is None:
            stmt = self._ignoring[name] = self.insert(conn, name).on_conflict_do_nothing()
        return stmt

    def insert_ignore(self, conn: Connection, name: str, rows: list[dict[str, Any]]) -> None:
        """INSERT ... ON CONFLICT DO NOTHING (idempotent writes), on both dialects."""
        if rows:
            conn.execute(self.insert_ignoring(conn, name), rows)

    def upsert(self, conn: Connection, name: str, key: Sequence[str], rows: list[dict[str, Any]]) -> None:
        """INSERT ... ON CONFLICT (key) DO UPDATE: rows replace the stored ones with the same key."""
        if not rows:
            return
        stmt = self.insert(conn, name)
        cols = [c for c in rows[0] if c not in key]
        conn.execute(
            stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in cols}), rows
        )

    # ------------------------------------------------------------------ WAL checkpoints (SQLite)
    def defer_checkpoints(self) -> bool:
        """SQLite: this process's commits stop checkpointing the WAL; :meth:`checkpoint` does it instead.

        A commit that crosses SQLite's auto-checkpoint size copies the WAL into
        the database and fsyncs it, inside the commit: a process that serves
        requests defers it and calls :meth:`checkpoint` off the request path.
        Returns False (nothing to do) on PostgreSQL and for an in-memory
        database (no WAL; reconnecting would lose it).
        """
        if self.dialect != "sqlite" or self.in_memory:
            return False
        event.listen(self.engine, "connect", _no_autocheckpoint)
        self.engine.dispose()  # connections opened so far reconnect with the setting
        return True

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database without waiting for readers or writers (PASSIVE)."""
        if self.dialect == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


KEEPALIVE_PROBES = 6  # unanswered keepalive probes before the server gives a silent client up


def session_options(statement_timeout_s: float, dead_client_s: float) -> str:
    """PostgreSQL session settings (libpq ``options``): the statement timeout, and the server's TCP keepalives
    and user timeout that end a silent client's session in about ``dead_client_s`` (half of it idle, the
    rest ``KEEPALIVE_PROBES`` probes): its advisory locks (a job's lease) go with it.

    Example:
        >>> session_options(600, 120)
        '-c statement_timeout=600000 -c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 \
-c tcp_keepalives_count=6 -c tcp_user_timeout=120000'
        >>> session_options(0, 0)
        ''
    """
    out = [f"-c statement_timeout={int(statement_timeout_s * 1000)}"] if statement_timeout_s else []
    if dead_client_s:
        idle = max(1, int(dead_client_s / 2))
        every = max(1, int((dead_client_s - idle) / KEEPALIVE_PROBES))
        out += [
            f"-c tcp_keepalives_idle={idle}",
            f"-c tcp_keepalives_interval={every}",
            f"-c tcp_keepalives_count={KEEPALIVE_PROBES}",
            f"-c tcp_user_timeout={int(dead_client_s * 1000)}",  # data sent and never acknowledged
        ]
    return " ".join(out)


def lock_id(key: str) -> int:
    """A stable signed 64-bit id of a lock name (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def _add_column(conn: Connection, table: Any, col: Any) -> None:
    """``ALTER TABLE ... ADD COLUMN`` of a column a newer version added to an existing table.

    Only a nullable column without a default: adding one is a change of the
    catalogue on both databases (no row is rewritten), and the rows stored
    before it read NULL, which the column's readers must take as "not known".
    Two processes opening an old store at once may both try: PostgreSQL's
    ``IF NOT EXISTS`` and SQLite's "duplicate column" make the second a no-op.
    """
    if not col.nullable or col.primary_key or col.server_default is not None or col.default is not None:
        raise RuntimeError(f"{table.name}.{col.name}: only a nullable column without a default is added to a store")
    prep = conn.dialect.identifier_preparer
    exists = "IF NOT EXISTS " if conn.dialect.name == "postgresql" else ""
    ddl = (
        f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {exists}"
        f"{prep.quote(col.name)} {col.type.compile(dialect=conn.dialect)}"
    )
    try:
        conn.execute(text(ddl))
    except OperationalError as exc:  # SQLite: another process added it since our catalogue read
        if "duplicate column" not in str(exc).lower():
            raise


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_S * 1000}")
    cur.close()
