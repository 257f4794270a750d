"""The tiers as Ray jobs, as a user submits them: a ``ray start --head`` cluster of its own and the Jobs API.

The cluster runs with Ray's token authentication on and its dashboard (the Jobs API) on loopback, as
cluster.yaml starts it; it has its own temp dir and ports, so it never meets the session's shared local
Ray (``ray_local``), and it is stopped by ending the processes it started, never by ``ray stop``. Jobs
run ``jobs/*.py`` against a SQLite store and a lake the test owns (``--workdir``): two days of a small
planted stream before Monday, June 1, 2026, when every tier's window ends.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest

from ray_topics.core.schedule import EXIT_BUSY, JOB_ORDER
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.aging import LAKE_LEASE
from ray_topics.storage.runs import ALL_DOMAINS
from ray_topics.tiers.archive import run_archive
from ray_topics.tiers.daily import run_daily
from ray_topics.tiers.monthly import run_monthly
from ray_topics.tiers.refine import run_refine
from ray_topics.tiers.stories import run_stories
from ray_topics.tiers.weekly import run_weekly
from tests.conftest import free_port, make_config
from tests.rayproc import (
    BIN,
    REPO,
    copy_workdir,
    job_args,
    job_stats,
    planted_store,
    ray_env,
    stop_cluster,
    topics_of,
)

pytestmark = pytest.mark.slow

MIDNIGHT = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday and the 1st: refine, daily, weekly, monthly, archive
START_TIMEOUT_S = 120
START_ATTEMPTS = 2  # a head whose raylet did not register in time is started once more
RAY_STARTED = "Ray runtime started."  # what ray start --block prints once its node is up
JOB_TIMEOUT_S = 180
LOG_TAIL_LINES = 30  # of each of the head's logs, when it died under the tests
# the monthly recluster is skipped (its sample stays under 2 x this floor): UMAP compiles for minutes in
# every new process, and what the tiers compute is tested in test_tiers.py and test_e2e.py; here, how
# they run as Ray jobs. A busy lease fails at once.
OVERRIDES = ("daily.min_cluster_floor=1000", "execution.lease_wait_seconds=0")
DOMAINS = ("gaming", "cooking")
RUNNERS = {
    "refine": run_refine,
    "daily": run_daily,
    "weekly": run_weekly,
    "monthly": run_monthly,
    "stories": run_stories,
    "archive": run_archive,
}


@dataclass
class Head:
    """A running ``ray start --head`` of this module: its Jobs API and the environment that reaches it."""

    dashboard: str
    token: str
    env: dict[str, str]
    temp_dir: str

    def client(self, token: str | None = None):  # a user's JobSubmissionClient; the token as Ray sends it
        from ray.job_submission import JobSubmissionClient

        headers = {"Authorization": f"Bearer {token or self.token}"}
        return JobSubmissionClient(self.dashboard, headers=headers)


class _StartFailed(RuntimeError):
    """``ray start`` gave up before its node was up (Ray waits 30 s for its raylet to register: on a loaded
    2-core machine it can take longer)."""


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    for attempt in range(START_ATTEMPTS):
        h, proc, log = _start_head()
        try:
            _wait_ready(h, proc)
            break
        except _StartFailed:
            _stop_head(h, proc, log)
            if attempt == START_ATTEMPTS - 1:
                raise
    try:
        yield h
        down = _why_down(h, proc)  # a cluster that died under the tests says why, before its logs are removed
        if down:
            raise RuntimeError(down)
    finally:
        _stop_head(h, proc, log)


def _start_head() -> tuple[Head, subprocess.Popen, IO[str]]:
    token = secrets.token_hex(16)
    temp_dir = tempfile.mkdtemp(prefix="rt-head-", dir="/tmp")  # short: Ray's socket paths live under it
    dash = free_port()
    ports = {
        "--port": free_port(),
        "--dashboard-port": dash,
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--metrics-export-port": free_port(),
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
        "--ray-client-server-port": free_port(),
    }
    cmd = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--block",
        f"--temp-dir={temp_dir}",
        "--num-cpus=2",
        "--include-dashboard=true",  # the Jobs API is the dashboard's (and each node's dashboard agent's)
        "--dashboard-host=127.0.0.1",
        f"--object-store-memory={200 * 1024 * 1024}",
        "--disable-usage-stats",
        *(f"{k}={v}" for k, v in ports.items()),
    ]
    env = ray_env(token, temp_dir)
    log = open(Path(temp_dir) / "ray-start.log", "w")  # closed by _stop_head
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
    return Head(f"http://127.0.0.1:{dash}", token, env, temp_dir), proc, log


def _stop_head(h: Head, proc: subprocess.Popen, log: IO[str]) -> None:
    stop_cluster(proc, h.temp_dir)
    log.close()
    shutil.rmtree(h.temp_dir, ignore_errors=True)


def _wait_ready(h: Head, proc: subprocess.Popen) -> None:
    """Until ``ray start`` says its node is up and the Jobs API answers (the dashboard answers before the
    raylet has registered; a node that never registers ends ``ray start``: :class:`_StartFailed`)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    started = Path(h.temp_dir) / "ray-start.log"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _StartFailed(f"ray start exited {proc.returncode}: {started.read_text()}")
        if RAY_STARTED in started.read_text(errors="replace") and _answers(h, timeout_s=2):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the Jobs API at {h.dashboard} did not answer in {START_TIMEOUT_S}s")


def _answers(h: Head, timeout_s: float) -> bool:
    """Whether the head's Jobs API answers ``/api/version`` within ``timeout_s``."""
    import urllib.request

    req = urllib.request.Request(h.dashboard + "/api/version", headers={"Authorization": f"Bearer {h.token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s):
            return True
    except OSError:  # URLError is one
        return False


def _why_down(h: Head, proc: subprocess.Popen) -> str | None:
    """None while the head runs and its Jobs API answers; else what its logs end with."""
    if proc.poll() is None and _answers(h, timeout_s=10):
        return None
    logs = Path(h.temp_dir) / "session_latest" / "logs"
    files = [Path(h.temp_dir) / "ray-start.log", *sorted(logs.glob("dashboard*")), *sorted(logs.glob("gcs_server*"))]
    tails = [
        f"--- {f.name}:\n" + "\n".join(f.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        for f in files
        if f.is_file()
    ]
    state = "running" if proc.poll() is None else f"exited {proc.returncode}"
    return f"the head's Jobs API at {h.dashboard} stopped answering (ray start {state}):\n" + "\n".join(tails)


# ---------------------------------------------------------------- stores


def _runtime(workdir: Path) -> Runtime:
    return Runtime(make_config(workdir, *OVERRIDES))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of a planted stream stored by Tier 1 against two seeded topics per domain; no job has run yet."""
    wd = tmp_path_factory.mktemp("template")
    planted_store(wd, OVERRIDES, DOMAINS, MIDNIGHT)
    return wd


@pytest.fixture(scope="module")
def reference(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template after midnight's jobs ran in this process: what the submitted jobs must give."""
    wd = tmp_path_factory.mktemp("reference")
    shutil.copytree(template, wd, dirs_exist_ok=True)
    rt = _runtime(wd)
    for job in JOB_ORDER:
        RUNNERS[job](rt, MIDNIGHT)
    rt.store.dispose()
    return wd


def _job_command(job: str, as_of: datetime, workdir: Path, *extra: str) -> str:
    return " ".join(job_args(job, as_of, workdir, OVERRIDES, *extra))


def _submit(client, **kw) -> str:
    """``client.submit_job(**kw)``, again while the head's job agent is not up yet: the Jobs API answers before
    its agent registers, and on a loaded machine the first submission can find none (Ray answers 500, "No
    available agent to submit job, please try again later")."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            return client.submit_job(**kw)
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(1)


def _finish(client, submission_id: str):
    from ray.job_submission import JobStatus

    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        info = client.get_job_info(submission_id)
        if info.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
            return info
        time.sleep(0.5)
    raise TimeoutError(f"job {submission_id} did not end in {JOB_TIMEOUT_S}s")


# ---------------------------------------------------------------- tests


def test_the_jobs_api_refuses_a_client_without_the_clusters_token(head: Head) -> None:
    from ray.exceptions import AuthenticationError

    with pytest.raises(AuthenticationError):
        head.client(token="not-the-token").list_jobs()


def test_each_tier_runs_as_a_submitted_job_and_gives_the_in_process_topics(
    head: Head, template: Path, reference: Path, tmp_path: Path
) -> None:
    """refine, daily (on the cluster's Ray Data), weekly, monthly, archive: submitted in order, each succeeds."""
    wd = copy_workdir(template, tmp_path / "wd")
    client = head.client()
    for job in JOB_ORDER:
        extra = ("--engine", "ray") if job == "daily" else ()  # its domains planned by Ray Data tasks of the cluster
        sid = _submit(client, entrypoint=_job_command(job, MIDNIGHT, wd, *extra), entrypoint_num_cpus=1)
        info = _finish(client, sid)
        logs = client.get_job_logs(sid)
        assert info.status == "SUCCEEDED", f"{job}: {info.message}\n{logs}"
        assert info.driver_exit_code == 0
        stats = job_stats(logs)
        if job == "refine":  # the two days' closed hours written to the lake
            assert stats["hours"] > 0 and "refined" in stats
        elif job == "archive":
            assert set(stats) >= {"warm", "cold"}
        elif job == "stories":  # every fitting video of the day placed
            assert set(stats["placed"]) == set(DOMAINS) and not stats.get("skipped")
        else:
            assert set(stats) >= set(DOMAINS) and not any(s.get("skipped") for s in stats.values())
        if job == "weekly":  # the seeded topics moved to their week's videos
            assert all(stats[d]["updated"] == 2 for d in DOMAINS)
    # the same topics as the same jobs run in this process
    assert topics_of(wd, OVERRIDES) == topics_of(reference, OVERRIDES)
    rt = _runtime(wd)
    assert all(rt.store.runs.done(j, ALL_DOMAINS, MIDNIGHT) for j in ("refine", "stories", "archive"))
    assert all(rt.store.runs.done(j, d, MIDNIGHT) for j in ("daily", "weekly", "monthly") for d in DOMAINS)
    rt.store.dispose()


def test_the_scheduler_submits_a_due_window_until_it_finishes_and_never_again(
    head: Head, reference: Path, tmp_path: Path
) -> None:
    """At 01:30 only refine's 01:00 window is due: its job finds the lake busy (exit 75), runs on the next pass,
    and is never submitted again."""
    wd = copy_workdir(reference, tmp_path / "wd")
    rt = _runtime(wd)
    client = head.client()
    before = len(client.list_jobs())
    cmd = [str(BIN / "ray-topics"), "schedule", "--once", "--now", "2026-06-01T01:30:00Z", "--workdir", str(wd)]
    cmd += [a for ov in (*OVERRIDES, f"schedule.jobs_dir={REPO / 'jobs'}") for a in ("--set", ov)]
    cmd += ["--address", head.dashboard, "--set", "schedule.job_poll_seconds=0.5", "--set", "schedule.catch_up_hours=1"]

    def schedule() -> subprocess.CompletedProcess:  # as a cron line runs it: Ray's token from the environment
        return subprocess.run(cmd, env=head.env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S, cwd=REPO)

    with rt.store.leases.hold(LAKE_LEASE, "this test, as another job"):
        busy = schedule()
    assert busy.returncode == EXIT_BUSY, busy.stdout + busy.stderr
    assert "busy    refine   2026-06-01T01:00:00Z" in busy.stdout
    (job,) = [j for j in client.list_jobs() if j.metadata.get("ray_topics_job")]
    assert job.driver_exit_code == EXIT_BUSY  # the job found the lake's lease held: exit 75, nothing written
    assert "already running" in client.get_job_logs(job.submission_id)
    assert not rt.store.runs.done("refine", ALL_DOMAINS, MIDNIGHT + timedelta(hours=1))
    ok = schedule()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok      refine   2026-06-01T01:00:00Z" in ok.stdout
    assert rt.store.runs.done("refine", ALL_DOMAINS, MIDNIGHT + timedelta(hours=1))
    again = schedule()
    assert again.returncode == 0 and "nothing due" in again.stdout
    ours = [j for j in client.list_jobs() if j.metadata.get("ray_topics_job")]
    assert len(client.list_jobs()) == before + 2  # the busy one and the one that ran: nothing more
    assert [j.metadata for j in ours] == [{"ray_topics_job": "refine", "ray_topics_as_of": "2026-06-01T01:00:00Z"}] * 2
    rt.store.dispose()
