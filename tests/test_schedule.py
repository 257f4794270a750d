"""The tiers' schedule and ``ray-topics schedule``, without Ray: boundaries, due windows, the submission policy.

The Jobs API is a fake that runs nothing; each submitted job "finishes" its window in the store
(or fails, or exits 75) as a real one would. tests/test_ray_jobs.py submits through a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ray_topics.cli import main
from ray_topics.core.schedule import EXIT_BUSY, JOB_ORDER, ScheduleRules, Window, jobs_at, windows_between
from ray_topics.execution.runtime import Runtime
from ray_topics.execution.schedule import (
    META_JOB,
    Scheduler,
    due_windows,
    entrypoint,
    job_arguments,
    rules_of,
)
from ray_topics.storage.runs import ALL_DOMAINS, JobRuns
from ray_topics.streams.planted import PlantedTopic, StreamSpec
from ray_topics.streams.replay import Replay
from ray_topics.streams.synthetic import generate
from tests.conftest import make_config

MONDAY_FIRST = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday and the 1st: every job's window ends here
HOUR = timedelta(hours=1)


def test_every_job_is_due_at_a_midnight_that_is_a_monday_and_the_first() -> None:
    rules = ScheduleRules(refine_every_hours=1, weekday=0, monthly_on_day=1)
    assert jobs_at(MONDAY_FIRST, rules) == list(JOB_ORDER)
    assert jobs_at(MONDAY_FIRST + timedelta(days=1), rules) == ["refine", "daily", "stories", "archive"]
    assert jobs_at(MONDAY_FIRST + 5 * HOUR, rules) == ["refine"]
    assert jobs_at(MONDAY_FIRST + 5 * HOUR + timedelta(minutes=1), rules) == []  # not a boundary


def test_refine_every_n_hours_and_other_weekdays_and_days() -> None:
    rules = ScheduleRules(refine_every_hours=6, weekday=2, monthly_on_day=15)
    day = [w for w in windows_between(MONDAY_FIRST - HOUR, MONDAY_FIRST + timedelta(days=1), rules)]
    assert [(w.job, w.as_of.hour) for w in day if w.job == "refine"] == [("refine", h) for h in (0, 6, 12, 18, 0)]
    weeks = windows_between(MONDAY_FIRST, MONDAY_FIRST + timedelta(days=20), rules)
    assert {w.as_of.weekday() for w in weeks if w.job == "weekly"} == {2}
    assert [w.as_of.day for w in weeks if w.job == "monthly"] == [15]


def test_windows_are_half_open_oldest_first_and_in_run_order() -> None:
    rules = ScheduleRules(refine_every_hours=1, weekday=0, monthly_on_day=1)
    ws = windows_between(MONDAY_FIRST, MONDAY_FIRST + 2 * HOUR, rules)  # (start, end]: start's own windows are out
    assert [(w.job, w.as_of) for w in ws] == [("refine", MONDAY_FIRST + HOUR), ("refine", MONDAY_FIRST + 2 * HOUR)]
    ws = windows_between(MONDAY_FIRST - HOUR, MONDAY_FIRST + HOUR, rules)
    assert [w.job for w in ws] == [*JOB_ORDER, "refine"]
    assert ws == sorted(ws)


def test_the_scheduler_runs_the_windows_replay_runs(sqlite_runtime: Runtime) -> None:
    """Same boundaries, same order: replay's jobs are the windows of the schedule, and the store records them."""
    rt = sqlite_runtime
    start = datetime(2026, 5, 29, tzinfo=UTC)
    stream = generate(
        StreamSpec(topics=[PlantedTopic("g/a", "gaming", rate=8)], days=3, start=start, seed=1, with_text=False)
    )
    result = Replay(rt).run(stream.videos, stream.embeddings, until=MONDAY_FIRST)
    first_hour = stream.videos.published_at.min().floor("h").to_pydatetime()
    ran = [(job, at) for job, at in result.runs if job != "tier1"]
    expected = windows_between(first_hour, MONDAY_FIRST, rules_of(rt.cfg.schedule))
    assert ran == [(w.job, w.as_of.isoformat()) for w in expected]
    assert due_windows(rt.cfg, rt.store.runs, MONDAY_FIRST + 30 * timedelta(minutes=1)) == []
    assert due_windows(rt.cfg, rt.store.runs, MONDAY_FIRST + HOUR) == [Window.of("refine", MONDAY_FIRST + HOUR)]


# ---------------------------------------------------------------- the submission policy, on a fake Jobs API


@dataclass
class FakeJob:
    submission_id: str
    entrypoint: str
    metadata: dict[str, str]
    status: str = "PENDING"
    driver_exit_code: int | None = None
    message: str = ""
    polls: int = 0


@dataclass
class FakeJobsApi:
    """The five calls the scheduler makes; a job ends on its second status poll, as ``outcome`` says, unless
    its kind ``hangs`` (it runs until stopped)."""

    runs: JobRuns
    domains: list[str]
    outcome: dict[str, int] = field(default_factory=dict)  # job -> exit code (default 0)
    hangs: set[str] = field(default_factory=set)  # jobs that never end on their own
    jobs: list[FakeJob] = field(default_factory=list)
    kwargs: list[dict[str, Any]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def submit_job(self, *, entrypoint: str, submission_id: str, metadata: dict[str, str], **kw: Any) -> str:
        self.jobs.append(FakeJob(submission_id, entrypoint, metadata))
        self.kwargs.append(kw)
        return submission_id

    def get_job_info(self, submission_id: str) -> FakeJob:
        j = next(j for j in self.jobs if j.submission_id == submission_id)
        j.polls += 1
        if j.metadata.get(META_JOB) in self.hangs and j.status in ("PENDING", "RUNNING"):
            j.status = "RUNNING"
        elif j.status in ("PENDING", "RUNNING") and j.polls >= 2:
            self._end(j)
        elif j.status == "PENDING":
            j.status = "RUNNING"
        return j

    def list_jobs(self) -> list[FakeJob]:
        return list(self.jobs)

    def get_job_logs(self, submission_id: str) -> str:
        return "line 1\nTraceback: boom\n"

    def stop_job(self, submission_id: str) -> bool:
        j = next(j for j in self.jobs if j.submission_id == submission_id)
        j.status = "STOPPED"
        self.stopped.append(submission_id)
        return True

    def _end(self, j: FakeJob) -> None:
        job = j.metadata[META_JOB]
        as_of = datetime.fromisoformat(j.entrypoint.split("--as-of ")[1].split()[0].replace("Z", "+00:00"))
        code = self.outcome.get(job, 0)
        j.driver_exit_code = code
        if code:
            j.status, j.message = "FAILED", f"Job entrypoint command failed with exit code {code}"
            return
        j.status = "SUCCEEDED"
        # what the real job records
        for d in [ALL_DOMAINS] if job in ("refine", "stories", "archive") else self.domains:
            run_id = self.runs.start(job, d, as_of - HOUR, as_of, at=as_of)
            self.runs.finish(run_id, {}, at=as_of)


def _scheduler(rt: Runtime, api: FakeJobsApi, lines: list[str]) -> Scheduler:
    args = job_arguments("conf.yaml", ["daily.min_cluster_size=20"], "/data/wd")
    return Scheduler(rt, args, client=api, report=lines.append, sleep=lambda _s: None)


@pytest.fixture
def quiet_runtime(tmp_path: Path) -> Runtime:
    """A runtime whose scheduler looks back 3 hours: from 02:30 on June 1, six midnight windows and two refines."""
    rt = Runtime(make_config(tmp_path, "schedule.catch_up_hours=3", "schedule.jobs_dir=/app/jobs"))
    yield rt
    rt.store.dispose()


def test_a_pass_submits_each_due_window_once_in_order_and_a_second_pass_nothing(quiet_runtime: Runtime) -> None:
    rt, lines = quiet_runtime, []
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names)
    now = MONDAY_FIRST + 2 * HOUR + timedelta(minutes=30)
    outcomes = _scheduler(rt, api, lines).pass_once(now)
    assert [(o.window.job, o.window.as_of, o.status) for o in outcomes] == [
        *((j, MONDAY_FIRST, "succeeded") for j in JOB_ORDER),
        ("refine", MONDAY_FIRST + HOUR, "succeeded"),
        ("refine", MONDAY_FIRST + 2 * HOUR, "succeeded"),
    ]
    assert Scheduler.exit_status(outcomes) == 0
    first = next(j for j in api.jobs if j.metadata[META_JOB] == "daily")
    ok_refine = lines.index(next(line for line in lines if line.startswith("ok      refine   2026-06-01T00:00")))
    assert lines.index(next(line for line in lines if line.startswith("submit  daily"))) > ok_refine  # as replay
    assert first.entrypoint == (
        "python /app/jobs/daily.py --as-of 2026-06-01T00:00:00Z "
        "--config conf.yaml --set daily.min_cluster_size=20 --workdir /data/wd"
    )
    assert first.metadata == {"ray_topics_job": "daily", "ray_topics_as_of": "2026-06-01T00:00:00Z"}
    assert {kw["entrypoint_num_cpus"] for kw in api.kwargs} == {rt.cfg.schedule.entrypoint_num_cpus}
    assert len({j.submission_id for j in api.jobs}) == 8
    again = _scheduler(rt, api, lines).pass_once(now)  # every window is finished in the store: nothing to submit
    assert again == [] and len(api.jobs) == 8 and lines[-1].startswith("nothing due")


@pytest.mark.parametrize(("code", "status", "exit_status"), [(EXIT_BUSY, "busy", EXIT_BUSY), (1, "failed", 1)])
def test_a_job_that_does_not_succeed_holds_its_lane_not_refine(
    quiet_runtime: Runtime, code: int, status: str, exit_status: int
) -> None:
    """The day's later jobs wait for the one that failed or found the lake busy; refine goes on; the next pass
    submits them again."""
    rt, lines = quiet_runtime, []
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names, outcome={"daily": code})
    now = MONDAY_FIRST + 2 * HOUR
    outcomes = _scheduler(rt, api, lines).pass_once(now)
    assert [(o.window.job, o.status) for o in outcomes] == [
        ("refine", "succeeded"),
        ("daily", status),
        ("weekly", "held"),
        ("monthly", "held"),
        ("stories", "held"),
        ("archive", "held"),
        ("refine", "succeeded"),
        ("refine", "succeeded"),
    ]
    assert Scheduler.exit_status(outcomes) == exit_status
    if status == "failed":
        assert any("Traceback: boom" in line for line in lines)  # the job's log tail is in the report
    api.outcome.clear()
    retry = _scheduler(rt, api, lines).pass_once(now)
    assert [o.window.job for o in retry] == ["daily", "weekly", "monthly", "stories", "archive"]
    assert Scheduler.exit_status(retry) == 0


def test_a_hung_job_is_stopped_after_its_timeout_and_holds_only_its_own_lane(quiet_runtime: Runtime) -> None:
    """The weekly job hangs (stuck pending, or a hung driver): refine's windows are submitted and finished
    while it runs, and after ``job_timeout_hours`` of polls it is stopped and failed (backed off, then
    submitted again), the midnight jobs after it held. Before, one pass waited on it for ever and no refine
    was ever submitted again."""
    rt, lines = quiet_runtime, []
    rt.cfg.schedule.job_timeout_hours = {"default": 6.0, "weekly": 0.5}
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names, hangs={"weekly"})
    polls = []
    sched = Scheduler(rt, [], client=api, report=lines.append, sleep=polls.append)
    outcomes = sched.pass_once(MONDAY_FIRST + 2 * HOUR)
    assert [(o.window.job, o.status) for o in outcomes] == [
        ("refine", "succeeded"),
        ("daily", "succeeded"),
        ("weekly", "failed"),
        ("monthly", "held"),
        ("stories", "held"),
        ("archive", "held"),
        ("refine", "succeeded"),
        ("refine", "succeeded"),
    ]
    (weekly,) = [j for j in api.jobs if j.metadata[META_JOB] == "weekly"]
    assert api.stopped == [weekly.submission_id] and weekly.status == "STOPPED"
    assert sum(polls) >= 1800 and "stopped" in next(o.message for o in outcomes if o.window.job == "weekly")
    ok = [k for k, line in enumerate(lines) if line.startswith("ok      refine")]
    stop = next(k for k, line in enumerate(lines) if line.startswith("FAILED  weekly"))
    assert len(ok) == 3 and max(ok) < stop  # every refine finished while the weekly ran
    assert Scheduler.exit_status(outcomes) == 1


def test_a_hung_job_of_someone_else_holds_its_lane_for_the_timeout_then_the_next_pass(quiet_runtime: Runtime) -> None:
    """Another scheduler's daily for the window hangs: this one waits for it ``job_timeout_hours`` at most, then
    holds the midnight lane until its next pass (it never stops a job it did not submit); refine goes on."""
    rt, lines = quiet_runtime, []
    rt.cfg.schedule.job_timeout_hours = {"default": 0.25}
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names, hangs={"daily"})
    window = Window.of("daily", MONDAY_FIRST)
    api.submit_job(entrypoint=entrypoint(rt.cfg.schedule, window, []), submission_id="theirs",
                   metadata={META_JOB: "daily"})  # fmt: skip
    outcomes = _scheduler(rt, api, lines).pass_once(MONDAY_FIRST + 2 * HOUR)
    by_job = [(o.window.job, o.status) for o in outcomes]
    assert by_job[1:6] == [("daily", "held"), *((j, "held") for j in ("weekly", "monthly", "stories", "archive"))]
    assert [st for j, st in by_job if j == "refine"] == ["succeeded"] * 3
    assert api.stopped == [] and [j.submission_id for j in api.jobs if j.metadata[META_JOB] == "daily"] == ["theirs"]
    assert any("still runs after 900 s" in line for line in lines)


class _Stop(Exception):
    pass


def test_the_loop_submits_the_next_hours_refine_while_an_hours_long_monthly_runs(quiet_runtime: Runtime) -> None:
    """Found by review: the loop's lanes ran side by side within one pass only, and the next pass waited for
    the slowest job of this one: a monthly of 3 hours held the refines of 01:00, 02:00 and 03:00 until 03:01.
    Each lane now takes the windows due since as soon as it ended, while the other runs on."""
    rt = quiet_runtime
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names, hangs={"monthly"})
    clock = {"now": MONDAY_FIRST + timedelta(minutes=1)}
    submitted: dict[tuple[str, str], datetime] = {}
    submit = api.submit_job

    def timed_submit(**kw: Any) -> str:  # when, on the scheduler's clock, each window was submitted
        submitted[(kw["metadata"][META_JOB], kw["entrypoint"].split("--as-of ")[1].split()[0])] = clock["now"]
        return submit(**kw)

    def sleep(seconds: float) -> None:
        clock["now"] += timedelta(seconds=seconds)
        if clock["now"] >= MONDAY_FIRST + 3 * HOUR:
            api.hangs.discard("monthly")  # the monthly ends after 3 hours
        if clock["now"] >= MONDAY_FIRST + 4 * HOUR:
            raise _Stop

    api.submit_job = timed_submit  # type: ignore[method-assign]
    sched = Scheduler(rt, [], client=api, report=lambda _line: None, sleep=sleep)
    with pytest.raises(_Stop):
        sched.run_forever(lambda: clock["now"])
    late = timedelta(seconds=2 * rt.cfg.schedule.poll_seconds)
    for h in (1, 2, 3):
        at = submitted[("refine", f"2026-06-01T0{h}:00:00Z")]
        assert MONDAY_FIRST + h * HOUR <= at <= MONDAY_FIRST + h * HOUR + late, (h, at)
    assert submitted[("stories", "2026-06-01T00:00:00Z")] >= MONDAY_FIRST + 3 * HOUR  # after the monthly, in order
    assert due_windows(rt.cfg, rt.store.runs, MONDAY_FIRST + 3 * HOUR) == []  # every window ran once
    assert len(api.jobs) == len({(j.metadata[META_JOB], j.entrypoint) for j in api.jobs})


def test_a_cron_pass_holds_a_lane_whose_job_runs_already_and_ends(quiet_runtime: Runtime) -> None:
    """``--once`` (cron, whose passes overlap while one waits for an hours-long job): a job of a window's kind
    that runs already holds its lane at once, for the next pass, instead of holding this pass for hours."""
    rt, lines = quiet_runtime, []
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names, hangs={"monthly"})
    window = Window.of("monthly", MONDAY_FIRST)
    api.submit_job(entrypoint=entrypoint(rt.cfg.schedule, window, []), submission_id="earlier-pass",
                   metadata={META_JOB: "monthly"})  # fmt: skip
    polls: list[float] = []
    sched = Scheduler(rt, [], client=api, report=lines.append, sleep=polls.append, wait_for_others=False)
    outcomes = sched.pass_once(MONDAY_FIRST + 2 * HOUR)
    by_job = {(o.window.job, o.window.as_of.hour): o.status for o in outcomes}
    assert by_job[("monthly", 0)] == "running" and by_job[("stories", 0)] == by_job[("archive", 0)] == "held"
    assert by_job[("daily", 0)] == by_job[("weekly", 0)] == "succeeded"
    assert [by_job[("refine", h)] for h in (0, 1, 2)] == ["succeeded"] * 3
    assert sum(polls) < 60 and api.stopped == []  # a few status polls, not the monthly's hours
    assert any("earlier-pass already runs" in line for line in lines)
    assert Scheduler.exit_status(outcomes) == 0


def test_a_cron_pass_submits_no_midnight_job_while_a_refine_up_to_it_runs_elsewhere(quiet_runtime: Runtime) -> None:
    """Found by review: pass 1 submitted the refine of 00:00 and waits for it; pass 2 (``--once``, overlapping)
    held the refine lane and took that for the refine's end: the daily of 00:00 went without its last hour."""
    rt, lines = quiet_runtime, []
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names, hangs={"refine"})
    window = Window.of("refine", MONDAY_FIRST)
    api.submit_job(entrypoint=entrypoint(rt.cfg.schedule, window, []), submission_id="pass-1-refine",
                   metadata={META_JOB: "refine"})  # fmt: skip
    sched = Scheduler(rt, [], client=api, report=lines.append, sleep=lambda _s: None, wait_for_others=False)
    outcomes = sched.pass_once(MONDAY_FIRST + timedelta(minutes=10))
    assert [j.submission_id for j in api.jobs] == ["pass-1-refine"]  # nothing submitted: the next pass looks again
    assert {o.status for o in outcomes if o.window.job != "refine"} == {"held"}
    assert Scheduler.exit_status(outcomes) == 0


def test_the_loops_midnight_lane_goes_on_when_its_refine_ended_out_of_sight(quiet_runtime: Runtime) -> None:
    """Found by review: the refine lane died on a status poll that failed (the dashboard away a moment) while
    its job went on and finished. No later lane ran that window (no longer due), so the midnight lane waited
    for it for ever and no midnight job was ever submitted again. It now asks the store too."""
    rt = quiet_runtime
    rt.cfg.schedule.catch_up_hours = 1  # the windows ending at 00:00 only
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names)
    clock = {"now": MONDAY_FIRST + timedelta(minutes=1)}
    info = api.get_job_info

    def flaky_info(sid: str) -> Any:
        j = next(j for j in api.jobs if j.submission_id == sid)
        if j.metadata[META_JOB] == "refine" and j.status == "PENDING":
            api._end(j)  # it goes on and finishes (the store records it) while the dashboard cannot be reached
            raise ConnectionError("dashboard unreachable for a moment")
        return info(sid)

    def sleep(seconds: float) -> None:
        clock["now"] += timedelta(seconds=seconds)
        if clock["now"] >= MONDAY_FIRST + timedelta(minutes=50):
            raise _Stop

    api.get_job_info = flaky_info  # type: ignore[method-assign]
    with pytest.raises(_Stop):
        Scheduler(rt, [], client=api, report=lambda _line: None, sleep=sleep).run_forever(lambda: clock["now"])
    assert [j.metadata[META_JOB] for j in api.jobs] == ["refine", *JOB_ORDER[1:]]  # each once, in order
    assert due_windows(rt.cfg, rt.store.runs, clock["now"]) == []


def test_a_failing_window_backs_off_doubling_up_to_the_cap(quiet_runtime: Runtime) -> None:
    """poll_seconds (60) after the first failure, 120 after the second; meanwhile the lane waits."""
    rt, lines = quiet_runtime, []
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names, outcome={"weekly": 1})
    sched = _scheduler(rt, api, lines)
    now = MONDAY_FIRST + 2 * HOUR
    first = sched.pass_once(now)
    assert [(o.window.job, o.status) for o in first if o.window.job != "refine"] == [
        ("daily", "succeeded"),
        ("weekly", "failed"),
        ("monthly", "held"),
        ("stories", "held"),
        ("archive", "held"),
    ]
    submitted = len(api.jobs)

    def weekly_at(t: datetime) -> str:
        return next(o.status for o in sched.pass_once(t) if o.window.job == "weekly")

    assert weekly_at(now + timedelta(seconds=30)) == "backoff" and len(api.jobs) == submitted
    assert weekly_at(now + timedelta(seconds=61)) == "failed"  # a second failure: 120 s now
    assert weekly_at(now + timedelta(seconds=61 + 100)) == "backoff"
    api.outcome.clear()
    assert weekly_at(now + timedelta(seconds=61 + 121)) == "succeeded"
    assert sched.pass_once(now + timedelta(seconds=61 + 122)) == []  # monthly and archive ran after it


def test_a_job_of_the_same_kind_still_running_is_waited_for_not_submitted_again(quiet_runtime: Runtime) -> None:
    """Another scheduler's (or a RayCronJob's) refine for the window runs: wait, then find the window finished."""
    rt, lines = quiet_runtime, []
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names)
    window = Window.of("refine", MONDAY_FIRST + HOUR)
    api.submit_job(
        entrypoint=entrypoint(rt.cfg.schedule, window, []), submission_id="theirs", metadata={META_JOB: "refine"}
    )
    outcomes = _scheduler(rt, api, lines).pass_once(MONDAY_FIRST + HOUR + timedelta(minutes=5))
    assert [(o.window.job, o.window.as_of, o.status) for o in outcomes][-1] == ("refine", window.as_of, "done")
    ours = [j for j in api.jobs if j.submission_id != "theirs"]
    assert "--as-of 2026-06-01T01:00:00Z" not in " ".join(j.entrypoint for j in ours)  # theirs finished it
    assert any("already running" in line for line in lines)


def test_a_dry_run_lists_the_due_windows_and_submits_nothing(quiet_runtime: Runtime) -> None:
    rt, lines = quiet_runtime, []
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names)
    outcomes = _scheduler(rt, api, lines).pass_once(MONDAY_FIRST + HOUR, dry_run=True)
    assert [o.status for o in outcomes] == ["due"] * 8 and api.jobs == []  # refine at 23:00, midnight's six, 01:00
    assert lines[0].startswith("due     refine   2026-05-31T23:00:00Z  python /app/jobs/refine.py")


def test_the_job_config_replaces_the_schedulers_own_config(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "schedule.job_config=/app/configs/cluster.yaml").schedule
    cmd = entrypoint(cfg, Window.of("weekly", MONDAY_FIRST), job_arguments("configs/cluster.yaml", [], None))
    assert cmd == "python jobs/weekly.py --as-of 2026-06-01T00:00:00Z --config /app/configs/cluster.yaml"


def test_the_cli_dry_run_names_every_due_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--workdir", str(tmp_path), "--now", "2026-06-01T00:10:00Z", "--set", "schedule.catch_up_hours=1"]
    rc = main(["schedule", "--dry-run", *args])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert [line.split()[1] for line in out] == list(JOB_ORDER)
    assert all(f"--workdir {tmp_path}" in line for line in out)


def test_the_loop_outlives_a_pass_that_cannot_reach_the_cluster(quiet_runtime: Runtime) -> None:
    """A head whose Jobs API is not up yet (or a store that is down) costs one pass, not the scheduler."""
    rt, lines = quiet_runtime, []
    api = FakeJobsApi(rt.store.runs, rt.cfg.domains.names)
    calls = {"submit": 0, "sleep": 0}
    submit = api.submit_job

    def flaky_submit(**kw: Any) -> str:
        calls["submit"] += 1
        if calls["submit"] == 1:
            raise ConnectionError("the dashboard is not up yet")
        return submit(**kw)

    def sleep(seconds: float) -> None:
        if seconds == rt.cfg.schedule.poll_seconds:
            calls["sleep"] += 1
            if calls["sleep"] == 2:
                raise _Stop

    api.submit_job = flaky_submit  # type: ignore[method-assign]
    sched = Scheduler(rt, [], client=api, report=lines.append, sleep=sleep)
    with pytest.raises(_Stop):
        sched.run_forever(lambda: MONDAY_FIRST + HOUR)
    assert calls["sleep"] == 2  # the failed pass, then one that ran everything
    assert due_windows(rt.cfg, rt.store.runs, MONDAY_FIRST + HOUR) == []


def test_a_secret_override_is_refused_not_put_on_every_jobs_command_line() -> None:
    from ray_topics.config import ConfigError
    from ray_topics.execution.schedule import job_arguments

    for url in (
        "postgresql+psycopg://u:hunter2@db:5432/x",
        "postgresql+psycopg://u:s3cr/et@db:5432/x",  # found by review: a '/' in the password, as SQLAlchemy reads it
        "postgresql+psycopg://:hunter2@db:5432/x",  # no user name
        "postgresql+psycopg://u@db:5432/x?password=hunter2",  # in the query
    ):
        with pytest.raises(ConfigError, match="secret in every job's command line"):
            job_arguments(None, [f"store.url={url}"], None)
    with pytest.raises(ConfigError, match=r"serve\.token=env:NAME"):
        job_arguments(None, ["serve.token=abc"], None)
    ok = ["store.url=env:RAY_TOPICS_STORE_URL", "store.url=postgresql+psycopg://u@db/x", "daily.min_cluster_size=5"]
    assert job_arguments(None, ok, None) == [a for ov in ok for a in ("--set", ov)]
