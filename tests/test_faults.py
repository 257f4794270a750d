"""Faults under the real server's load: nothing acknowledged is lost or overwritten, no 4xx or app 500, the run ends.

Short versions of ``benchmarks/faults.py``'s soak (issue 12): a few clients on loopback send
batches of fresh videos and retry a failed batch with the same ids, while one fault is
injected: SIGKILL of the DomainModel replica, SIGKILL of the Ingress replica, a new model
version published, a tier commit holding SQLite's write lock, a PostgreSQL restart under an
app on PostgreSQL. The SQLite scenarios share one app, the PostgreSQL one has its own. The
assertions are behavioural only (what was stored, what was answered, whether the run
ended), never timings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from benchmarks.faults import (
    PG_APP_NAME,
    PG_ROUTE,
    PG_URL,
    App,
    Outcome,
    can_restart_postgres,
    drop_schema,
    run_scenario,
    scenarios,
    start_app,
    stop_app,
    stop_serve,
)
from tests.conftest import IN_CI, require_postgres

pytestmark = [pytest.mark.ray, pytest.mark.model]

CLIENTS = 3
LOAD_S = 10.0  # the fault comes at half of it
# a batch still failing this long after the load stopped counts as unacknowledged (and fails the test)
GRACE_S = 60.0
SCENARIOS = scenarios()


def _run(app: App, name: str) -> Outcome:
    return run_scenario(app, SCENARIOS[name], clients=CLIENTS, seconds=LOAD_S, grace_s=GRACE_S)


def _assert_nothing_lost(out: Outcome) -> None:
    why = out.summary()
    assert out.acked_videos > 0, why
    assert out.lost == 0 and out.overwritten == 0 and out.duplicated == 0, why
    assert out.ended, why
    assert out.recover_s is not None, why
    assert out.problems == [], why


def _assert_only_retryable_failures(out: Outcome) -> None:
    why = out.summary()
    assert out.non_retryable == [], why
    assert out.unacked_videos == 0, why


@pytest.fixture(scope="module")
def serve_running(ray_local: None) -> Iterator[None]:
    """Serve stays up between this module's two apps; shut down after them so later modules pick their port."""
    yield
    stop_serve()


@pytest.fixture(scope="class")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory, serve_running: None) -> Iterator[App]:
    app = start_app(tmp_path_factory.mktemp("faults-sqlite"))
    yield app
    stop_app(app, wait=False)  # drains while the next app starts; stop_serve ends it


@pytest.fixture(scope="class")
def pg_app(tmp_path_factory: pytest.TempPathFactory, serve_running: None) -> Iterator[App]:
    require_postgres()
    why = can_restart_postgres()
    if why:
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    schema = f"faults_{uuid.uuid4().hex[:12]}"
    try:
        app = start_app(tmp_path_factory.mktemp("faults-pg"), store=(PG_URL, schema), name=PG_APP_NAME, route=PG_ROUTE)
        yield app
        stop_app(app, wait=False)
    finally:
        drop_schema(schema)


class TestSqliteStore:
    @pytest.fixture(scope="class")
    def kill_ingress(self, sqlite_app: App) -> Outcome:
        return _run(sqlite_app, "kill-ingress")

    @pytest.mark.parametrize("name", ["kill-model", "publish", "sqlite-lock"])
    def test_fault_under_load(self, sqlite_app: App, name: str) -> None:
        out = _run(sqlite_app, name)
        _assert_nothing_lost(out)  # for publish: answers switched to the new versions, never back
        _assert_only_retryable_failures(out)

    def test_kill_ingress_keeps_every_acknowledged_video(self, kill_ingress: Outcome) -> None:
        _assert_nothing_lost(kill_ingress)

    def test_kill_ingress_answers_only_retryable_errors(self, kill_ingress: Outcome) -> None:
        _assert_only_retryable_failures(kill_ingress)


@pytest.mark.postgres
class TestPostgresStore:
    def test_postgres_restart_under_load(self, pg_app: App) -> None:
        out = _run(pg_app, "pg-restart")
        _assert_nothing_lost(out)
        _assert_only_retryable_failures(out)
