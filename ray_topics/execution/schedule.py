"""``ray-topics schedule``: submit each job at its boundary to a Ray cluster's Jobs API, once per window.

The store says what is due. A window is due once the clock has passed its end
(the boundaries of :mod:`ray_topics.core.schedule`), for ``schedule.catch_up_hours``,
until the store's ``job_runs`` record it finished; so a scheduler that was down,
or a job that failed or found the lake busy (exit 75), is caught up on the next
pass, and a window that finished is never submitted again, whoever ran it.

One pass submits the due windows oldest first, in the order replay runs them,
in two lanes (refine's, and the midnight jobs'): within a lane each job waits
for the previous one to end, so the day's jobs see what the previous one
committed and the archive job comes last, a midnight job waits for the
refines up to its midnight (replay's order), and a lane stops at the first job
that does not succeed: its later windows wait for it. The lanes run side by
side: a slow or hung monthly job does not hold the hourly refine. A job that
runs longer than ``schedule.job_timeout_hours`` for its kind is stopped and
counted failed (it backs off and is submitted again), so a job stuck pending
or hung holds its lane that long at most. A job of the same kind that is
already running on the cluster (another scheduler's, a KubeRay RayCronJob's,
or a person's ``ray job submit`` with the same metadata) is waited for, not
submitted again (for that long at most, then its lane waits for the next pass).

Everything but the submission is plain Python: :class:`Scheduler` takes any
object with the five methods of Ray's ``JobSubmissionClient`` it uses, and
builds the real one only when a pass has something to submit.
"""

from __future__ import annotations

import logging
import re
import shlex
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ray_topics.config import ENV_REF, Config, ConfigError, ScheduleConfig
from ray_topics.core.schedule import EXIT_BUSY, ScheduleRules, Window, windows_between
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.runs import ALL_DOMAINS, JobRuns

__all__ = [
    "META_AS_OF",
    "META_JOB",
    "Outcome",
    "Scheduler",
    "due_windows",
    "entrypoint",
    "finished",
    "job_arguments",
    "rules_of",
]

log = logging.getLogger(__name__)

_URL_PASSWORD = re.compile(r"://[^/@:]*:[^@]+@")  # scheme://user:password@host

# metadata every submitted job carries, so a scheduler recognises a job of the same kind still running
META_JOB, META_AS_OF = "ray_topics_job", "ray_topics_as_of"
_RUNNING = ("PENDING", "RUNNING")
RUNNING_ELSEWHERE = "running"  # a window's outcome when a job of its kind (another pass's) runs and --once holds it
_ENDED = ("SUCCEEDED", "FAILED", "STOPPED")
_LOG_TAIL_LINES = 20  # of a failed job's log, in the scheduler's report


def rules_of(cfg: ScheduleConfig) -> ScheduleRules:
    """The boundaries of a ``schedule`` config section."""
    return ScheduleRules(cfg.refine_every_hours, cfg.weekday, cfg.monthly_on_day)


def finished(runs: JobRuns, window: Window, domains: Sequence[str]) -> bool:
    """Whether the store records the window finished: as one run of every domain, or for each domain."""
    if runs.done(window.job, ALL_DOMAINS, window.as_of):
        return True
    return bool(domains) and all(runs.done(window.job, d, window.as_of) for d in domains)


def due_windows(cfg: Config, runs: JobRuns, now: datetime) -> list[Window]:
    """The windows that ended in the last ``schedule.catch_up_hours`` before ``now`` and never finished."""
    start = now - timedelta(hours=cfg.schedule.catch_up_hours)
    domains = cfg.domains.names
    return [w for w in windows_between(start, now, rules_of(cfg.schedule)) if not finished(runs, w, domains)]


def job_arguments(config: str | None, overrides: Sequence[str], workdir: str | None) -> list[str]:
    """The arguments every job gets besides ``--as-of``: the scheduler's own config, overrides and workdir.

    A secret given as an override would sit in every job's entrypoint (which Ray shows) and in the
    scheduler's log: refused, unless it is an ``env:NAME`` reference each job resolves itself.
    """
    out = ["--config", config] if config else []
    for ov in overrides:
        key, _, value = ov.partition("=")
        if _is_secret(key.strip(), value.strip()):
            raise ConfigError(
                f"--set {key.strip()}=... would put a secret in every job's command line; "
                f"set it in the jobs' environment and pass {key.strip()}={ENV_REF}NAME instead"
            )
        out += ["--set", ov]
    return out + (["--workdir", workdir] if workdir else [])


def _is_secret(key: str, value: str) -> bool:
    """A token, or a URL with a password, given as a value rather than an ``env:`` reference."""
    if value.startswith(ENV_REF):
        return False
    return key == "serve.token" or (key == "store.url" and _has_password(value))


def _has_password(url: str) -> bool:
    """Whether a store URL carries a password: as SQLAlchemy reads it (a ``/`` in it, no user name) or in its
    query (``?password=``)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy reads: the job would fail on it; look at the text
        return _URL_PASSWORD.search(url) is not None or "password=" in url.lower()
    return bool(parsed.password) or any(k.lower() == "password" for k in parsed.query)


def entrypoint(cfg: ScheduleConfig, window: Window, job_args: Sequence[str]) -> str:
    """The shell command the cluster runs for a window: ``python {jobs_dir}/{job}.py --as-of ... [args]``.

    Example:
        >>> from datetime import datetime, UTC
        >>> from ray_topics.config import load_config
        >>> cfg = load_config(overrides=["schedule.jobs_dir=/app/jobs"]).schedule
        >>> entrypoint(cfg, Window.of("daily", datetime(2026, 6, 1, tzinfo=UTC)), ["--config", "my conf.yaml"])
        "python /app/jobs/daily.py --as-of 2026-06-01T00:00:00Z --config 'my conf.yaml'"
    """
    args = list(job_args)
    if cfg.job_config:  # the config path where the jobs run replaces the scheduler's own
        args = [*_without_config(args), "--config", cfg.job_config]
    as_of = window.as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    return shlex.join(["python", f"{cfg.jobs_dir.rstrip('/')}/{window.job}.py", "--as-of", as_of, *args])


def _without_config(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--config":
            skip = True
        else:
            out.append(a)
    return out


@dataclass
class Outcome:
    """What became of one due window in one pass.

    ``status``: ``succeeded``, ``busy`` (the job exited 75: run again later),
    ``failed``, ``done`` (another run finished it while this pass waited),
    ``due`` (a dry run: nothing was submitted), ``held`` (an earlier window of its
    lane did not succeed) or ``backoff`` (it failed lately: submitted again later).
    """

    window: Window
    status: str
    submission_id: str | None = None
    entrypoint: str = ""
    message: str = ""


class Scheduler:
    """Submits the due windows of one configuration to a Ray cluster's Jobs API.

    Args:
        rt: the runtime of the configuration (its ``schedule`` section, its domains, and the store whose
            job runs say what finished; the store is opened on the first pass, and again after a pass
            that could not reach it).
        job_args: what each job gets besides ``--as-of`` (:func:`job_arguments`).
        address: the Jobs API (default ``schedule.jobs_api``).
        client: a ``JobSubmissionClient`` or an object with its ``submit_job``, ``get_job_info``,
            ``list_jobs``, ``get_job_logs`` and ``stop_job``; None builds Ray's on the first submission (its token
            comes from Ray's own settings: ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``).
        report: called with one line per window submitted, skipped or failed.
        sleep: waits between status polls and passes (tests pass a fake).
        wait_for_others: a job of a window's kind that runs already (another pass's, a person's) is waited
            for (``schedule.job_timeout_hours`` at most); False: its lane is held at once, for the next pass
            to look again (``--once`` from cron, whose passes overlap while one waits for an hours-long job).
    """

    def __init__(
        self,
        rt: Runtime,
        job_args: Sequence[str] = (),
        *,
        address: str | None = None,
        client: Any | None = None,
        report: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wait_for_others: bool = True,
    ) -> None:
        self.rt = rt
        self.wait_for_others = wait_for_others
        self.cfg: Config = rt.cfg
        self.job_args = list(job_args)
        self.address = address or self.cfg.schedule.jobs_api
        self._client = client
        self.report = report or log.info
        self.sleep = sleep
        self._failures: dict[Window, tuple[int, datetime]] = {}  # failed windows: (failures, when the last was)

    @property
    def runs(self) -> JobRuns:
        return self.rt.store.runs

    @property
    def client(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.address)
        return self._client

    def pass_once(self, now: datetime, *, dry_run: bool = False) -> list[Outcome]:
        """Submit every due window at ``now``, oldest first, each after the previous one of its lane ended.

        Windows run in two lanes side by side: refine's, and the midnight jobs' (daily, weekly, monthly,
        stories, archive, which run in that order, each once the refines up to its boundary ended, as
        replay runs them). A window whose job does not succeed holds the later windows of its lane, not
        the other lane's: a broken or hung weekly does not stop the hourly refine.
        A window that failed waits before it is submitted again (``schedule.poll_seconds``, doubling per
        failure, up to ``schedule.max_backoff_seconds``). Returns an outcome per window looked at, in the
        windows' order.
        """
        due = due_windows(self.cfg, self.runs, now)
        if dry_run:
            listed = [Outcome(w, "due", entrypoint=entrypoint(self.cfg.schedule, w, self.job_args)) for w in due]
            for o in listed:
                self.report(f"due     {o.window.job:<8} {_iso(o.window.as_of)}  {o.entrypoint}")
            return listed
        done: dict[Window, Outcome] = {}
        running = self._lanes(due, now, done)
        while running:  # each lane one step (a status poll) per round; one sleep per round
            self._step(running)
            if running:
                self.sleep(self.cfg.schedule.job_poll_seconds)
        if not due:
            self.report(f"nothing due at {_iso(now)}")
        return [done[w] for w in due]

    def run_forever(self, clock: Callable[[], datetime]) -> None:
        """:meth:`pass_once`'s lanes, kept going at ``clock()``: a lane that ended takes the windows due since
        (looked for every ``schedule.poll_seconds``) while the other runs on, so an hours-long monthly does not
        hold the next hour's refine. A look or a lane that fails (the cluster or the store unreachable for now)
        is logged and tried again at the next look."""
        running: dict[str, Iterator[None]] = {}
        done: dict[Window, Outcome] = {}
        waited: float | None = None  # seconds slept since the last look (None: look now)
        poll = self.cfg.schedule.poll_seconds
        while True:
            if len(running) < len(_LANES) and (waited is None or waited >= poll):
                waited = 0.0
                if not running:
                    done = {}  # no lane reads it any more
                try:
                    now = clock()
                    due = due_windows(self.cfg, self.runs, now)
                    running.update(self._lanes(due, now, done, skip=set(running)))
                    if not due:
                        self.report(f"nothing due at {_iso(now)}")
                except Exception:
                    log.exception("schedule: the look for due windows failed; trying again in %ss", poll)
            self._step(running, survive=True)
            pause = self.cfg.schedule.job_poll_seconds if running else poll
            self.sleep(pause)
            waited = (waited or 0.0) + pause

    def _lanes(
        self, due: list[Window], now: datetime, done: dict[Window, Outcome], skip: set[str] = frozenset()
    ) -> dict[str, Iterator[None]]:
        """A lane per kind of the ``due`` windows (but those in ``skip``, still running theirs), sharing ``done``."""
        lanes: dict[str, list[Window]] = {}
        for w in due:
            lanes.setdefault(_lane(w.job), []).append(w)
        refines = lanes.get(_lane("refine"), [])  # a refine running in its lane counts: it ends in done too
        for ws in (ws for name, ws in lanes.items() if name not in skip):
            for w in ws:  # looked at again: an earlier lane's outcome (a failure) is no longer its end
                done.pop(w, None)
        domains = self.cfg.domains.names

        def ready(w: Window) -> bool | None:
            """A midnight job starts once the refines up to its boundary ended, as replay runs them (True);
            False: wait; None: hold, a refine up to it runs elsewhere (``--once``: the next pass looks again)."""
            if w.job == "refine":
                return True
            for r in (r for r in refines if r.as_of <= w.as_of):
                o = done.get(r)
                if o is not None and o.status == RUNNING_ELSEWHERE:
                    return None
                if o is None and not finished(self.runs, r, domains):  # its lane may have died: the store knows
                    return False
            return True

        return {name: self._lane(ws, now, done, ready) for name, ws in lanes.items() if name not in skip}

    @staticmethod
    def _step(running: dict[str, Iterator[None]], *, survive: bool = False) -> None:
        """Each lane one step; a lane that ended leaves ``running`` (with ``survive``, one that failed too)."""
        for name, lane in list(running.items()):
            try:
                next(lane)
            except StopIteration:
                del running[name]
            except Exception:
                if not survive:
                    raise
                log.exception("schedule: the %s lane failed; its windows are looked at again", name)
                del running[name]

    def _lane(
        self,
        windows: list[Window],
        now: datetime,
        done: dict[Window, Outcome],
        ready: Callable[[Window], bool | None],
    ) -> Iterator[None]:
        """One lane's windows in order, each after the previous one ended and once ``ready`` (yields while it
        waits; ``ready`` None holds the lane)."""
        held = False
        for w in windows:
            cmd = entrypoint(self.cfg.schedule, w, self.job_args)
            while not held and not (go := ready(w)):
                if go is None:
                    held = True
                    break
                yield
            if held:
                done[w] = Outcome(w, "held", entrypoint=cmd)
                continue
            wait = self._backoff(w, now)
            if wait > 0:
                self.report(f"backoff {w.job:<8} {_iso(w.as_of)}  failed lately; again in {wait:.0f} s")
                done[w] = Outcome(w, "backoff", entrypoint=cmd)
                held = True
                continue
            outcome = done[w] = yield from self._run(w, cmd)
            if outcome.status == "failed":
                count = self._failures.get(w, (0, now))[0]
                self._failures[w] = (count + 1, now)
            if outcome.status not in ("succeeded", "done"):
                held = True
            else:
                self._failures.pop(w, None)

    def _backoff(self, w: Window, now: datetime) -> float:
        """Seconds the window still waits after its last failure (0: submit it now)."""
        if w not in self._failures:
            return 0.0
        count, last = self._failures[w]
        s = self.cfg.schedule
        delay = min(s.poll_seconds * 2 ** (count - 1), s.max_backoff_seconds)
        return max(0.0, delay - (now - last).total_seconds())

    @staticmethod
    def exit_status(outcomes: Sequence[Outcome]) -> int:
        """0 when every window looked at finished (or was only listed), 75 when one found its lease busy, else 1."""
        ends = {o.status for o in outcomes}
        if "failed" in ends:
            return 1
        return EXIT_BUSY if "busy" in ends else 0

    # ------------------------------------------------------------ one window

    def _run(self, w: Window, cmd: str) -> Generator[None, None, Outcome]:
        limit = self._timeout(w.job)
        for other in self._running(w.job):  # a job of this kind still runs: its window may be this one
            if not self.wait_for_others:
                self.report(f"held    {w.job:<8} {_iso(w.as_of)}  {other} already runs; the next pass looks again")
                return Outcome(w, RUNNING_ELSEWHERE, entrypoint=cmd)
            self.report(f"waiting {w.job:<8} {_iso(w.as_of)}  for {other}, already running")
            if (yield from self._wait(other, limit)) is None:
                self.report(f"held    {w.job:<8} {_iso(w.as_of)}  {other} still runs after {limit:.0f} s; next pass")
                return Outcome(w, "held", entrypoint=cmd)
        if finished(self.runs, w, self.cfg.domains.names):
            self.report(f"done    {w.job:<8} {_iso(w.as_of)}  (finished by another run)")
            return Outcome(w, "done", entrypoint=cmd)
        sid = f"ray-topics-{w.job}-{w.as_of:%Y%m%dT%H%M}-{uuid.uuid4().hex[:8]}"
        self.client.submit_job(
            entrypoint=cmd,
            submission_id=sid,
            metadata={META_JOB: w.job, META_AS_OF: _iso(w.as_of)},
            entrypoint_num_cpus=self.cfg.schedule.entrypoint_num_cpus,
        )
        self.report(f"submit  {w.job:<8} {_iso(w.as_of)}  {sid}: {cmd}")
        info = yield from self._wait(sid, limit)
        if info is None:  # pending with nowhere to run, or hung: stopped, failed, submitted again after a backoff
            try:
                self.client.stop_job(sid)
            except Exception:  # it ended meanwhile, or the cluster is unreachable: failed all the same
                log.warning("schedule: could not stop %s", sid, exc_info=True)
            msg = f"still running after {limit:.0f} s (schedule.job_timeout_hours): stopped"
            self.report(f"FAILED  {w.job:<8} {_iso(w.as_of)}  {sid}: {msg}")
            return Outcome(w, "failed", sid, cmd, msg)
        status, code = str(_status(info)), getattr(info, "driver_exit_code", None)
        if status == "SUCCEEDED":
            self.report(f"ok      {w.job:<8} {_iso(w.as_of)}  {sid}")
            return Outcome(w, "succeeded", sid, cmd)
        if code == EXIT_BUSY:
            self.report(f"busy    {w.job:<8} {_iso(w.as_of)}  {sid}: another run holds the lake; next pass")
            return Outcome(w, "busy", sid, cmd, "exit 75")
        tail = "\n".join(self._logs(sid).splitlines()[-_LOG_TAIL_LINES:])
        msg = f"{status}, exit code {code}: {getattr(info, 'message', '') or ''}".strip()
        self.report(f"FAILED  {w.job:<8} {_iso(w.as_of)}  {sid}: {msg}\n{tail}")
        return Outcome(w, "failed", sid, cmd, msg)

    def _timeout(self, job: str) -> float:
        """Seconds a job of this kind may run (``schedule.job_timeout_hours``: its kind's, else ``default``)."""
        hours = self.cfg.schedule.job_timeout_hours
        return 3600.0 * hours.get(job, hours["default"])

    def _running(self, job: str) -> list[str]:
        return [
            j.submission_id
            for j in self.client.list_jobs()
            if (j.metadata or {}).get(META_JOB) == job and str(_status(j)) in _RUNNING and j.submission_id
        ]

    def _wait(self, submission_id: str, limit: float) -> Generator[None, None, Any]:
        """The job's info once it ended (yields between status polls), or None after ``limit`` seconds of polls."""
        waited = 0.0
        while True:
            info = self.client.get_job_info(submission_id)
            if str(_status(info)) in _ENDED:
                return info
            if waited >= limit:
                return None
            yield
            waited += self.cfg.schedule.job_poll_seconds

    def _logs(self, submission_id: str) -> str:
        try:
            return self.client.get_job_logs(submission_id)
        except Exception:  # the logs are a courtesy; the status is what counts
            return ""


_LANES = ("refine", "midnight")


def _lane(job: str) -> str:
    """Refine's windows are independent of the midnight jobs': a failure holds only its own lane."""
    return _LANES[0] if job == "refine" else _LANES[1]


def _status(info: Any) -> str:
    s = info.status
    return getattr(s, "value", s)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
