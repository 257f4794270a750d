"""Shared fixtures: stores on SQLite and PostgreSQL, one local Ray per session, configs in tmp dirs."""

from __future__ import annotations

import os
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from benchmarks.harness import PG_URL  # RAY_TOPICS_TEST_PG, else the machine's server
from ray_topics.config import Config, load_config
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.store import Store
from serve.ports import free_port

__all__ = ["IN_CI", "PG_URL", "at_once", "free_port", "make_config", "require_postgres"]

IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_reachable() -> str | None:
    try:
        import sqlalchemy

        eng = sqlalchemy.create_engine(PG_URL)
        with eng.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return str(exc).splitlines()[0]


def require_postgres() -> None:
    """Skip without PostgreSQL locally; fail in CI, where the store must be tested on it."""
    err = _pg_reachable()
    if err is None:
        return
    msg = f"PostgreSQL at {PG_URL} is unreachable: {err}"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """(url, schema) of an empty store; PostgreSQL runs get their own schema, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}", None
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield PG_URL, schema
    Store(PG_URL, schema=schema, create=False).drop()


@pytest.fixture
def store(store_url: tuple[str, str | None]) -> Iterator[Store]:
    s = Store(store_url[0], schema=store_url[1])
    yield s
    s.dispose()


def at_once(*calls: Callable[[], object], timeout: float = 300) -> list[object]:
    """Run ``calls`` in threads started together (what a scheduler starting jobs at one moment does); their
    results in order. Fails on any call's error, or on a call still running after ``timeout`` seconds."""
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(k: int, call: Callable[[], object]) -> None:
        try:
            results[k] = call()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k, call)) for k, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not errors, "\n".join("".join(traceback.format_exception(e)) for e in errors)  # with what each handled
    assert not any(t.is_alive() for t in threads), f"still running after {timeout} s"
    return results


def query_plans(
    store: Store, call: Callable[[], Any], kinds: tuple[str, ...] = ("SELECT", "DELETE"), *, run: bool = False
) -> str:
    """The query plans of the statements of ``kinds`` that ``call`` runs, as the store sends them.

    ``run``: on PostgreSQL, the plans as run (``EXPLAIN ANALYZE``, for reads only): a plain ``EXPLAIN`` leaves
    out what a recursive query's step runs.
    """
    sent: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(kinds):
            sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", grab)
    try:
        call()
    finally:
        event.remove(store.engine, "before_cursor_execute", grab)
    assert sent
    sqlite = store.engine.dialect.name == "sqlite"
    out = []
    with store.engine.connect() as conn:
        for statement, parameters in sent:
            how = (
                "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " if run else "EXPLAIN "
            )
            rows = conn.exec_driver_sql(how + statement, parameters)
            out += [str(r[-1] if sqlite else r[0]) for r in rows]
    return "\n".join(out)


def make_config(workdir: Path, *overrides: str, store: tuple[str, str | None] | None = None) -> Config:
    ov = list(overrides)
    if store is not None:
        ov.append(f"store.url={store[0]}")
        if store[1]:
            ov.append(f"store.schema_name={store[1]}")
    return load_config(overrides=ov, workdir=str(workdir))


@pytest.fixture
def runtime(tmp_path: Path, store_url: tuple[str, str | None]) -> Iterator[Runtime]:
    """A runtime on an empty store (both backends) with a lake under tmp_path."""
    rt = Runtime(make_config(tmp_path, store=store_url))
    yield rt
    rt.store.dispose()


@pytest.fixture
def sqlite_runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(make_config(tmp_path))
    yield rt
    rt.store.dispose()


@pytest.fixture(scope="session")
def ray_local() -> Iterator[int]:
    """One local Ray for the whole session (2 CPUs, small object store, no dashboard); yields its metrics port."""
    import ray

    # the Serve mode `ray-topics serve` runs in (serve.ray_env), so the contract tests cover it
    for key, value in load_config().serve.ray_env.items():
        os.environ.setdefault(key, value)
    # Serve's machine-wide listeners on free ports, not Ray's fixed defaults: a second Ray on the
    # machine (another test run, a `ray-topics serve`) must neither make ours fail nor answer our
    # requests (serve/ports.py)
    from serve.ports import FALLBACK_PORT_ENV, HAPROXY_PORT_ENV, own_ports

    own_ports(FALLBACK_PORT_ENV + HAPROXY_PORT_ENV)
    # application metrics reach the node's metrics endpoint within a second (Ray's default: 10 s)
    os.environ.setdefault("RAY_metrics_report_interval_ms", "1000")
    metrics_port = free_port()
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=200 * 1024 * 1024,
            log_to_driver=False,
            configure_logging=False,
            _metrics_export_port=metrics_port,
        )
    yield metrics_port
    ray.shutdown()


# Tests that run a Ray of their own or the shared one: one xdist worker runs them all, one after the
# other (`make test` runs `pytest -n 2 --dist loadgroup`), while the other worker runs the plain-Python
# tests beside them. Two Rays at once on a 2-core machine would starve each other's Serve replicas.
RAY_GROUP = "ray"
_RAY_MARKS = {"ray", "slow"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marked = _RAY_MARKS & {m.name for m in item.iter_markers()}
        if marked or "ray_local" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(RAY_GROUP))
