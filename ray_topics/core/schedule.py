"""When each job's window ends: the boundaries of the schedule, and the order the jobs run at one boundary.

Every job runs for a window that ends on a boundary of event time (``--as-of``):
refine every ``refine_every_hours`` hours, daily at every midnight UTC, weekly
on one weekday, monthly on one day of the month, the stories job at every
midnight after the jobs that change topics (it places the last days' videos among
them), and the archive job at every midnight after the day's other jobs,
because it moves the partitions they read (and counts their reads). A scheduler that submits the jobs of a deployment
follows these rules, so its windows are the windows replay runs.

Example:
    >>> from datetime import datetime, UTC
    >>> rules = ScheduleRules(refine_every_hours=1, weekday=0, monthly_on_day=1)
    >>> jobs_at(datetime(2026, 6, 1, tzinfo=UTC), rules)  # a Monday, the 1st
    ['refine', 'daily', 'weekly', 'monthly', 'stories', 'archive']
    >>> jobs_at(datetime(2026, 6, 2, 13, tzinfo=UTC), rules)
    ['refine']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ray_topics.core.timeutil import as_utc, floor_hour

__all__ = ["EXIT_BUSY", "JOB_ORDER", "ScheduleRules", "Window", "jobs_at", "windows_between"]

# the exit status of a job that found another run holding what it writes (EX_TEMPFAIL): the window is
# not done, and a scheduler submits it again later
EXIT_BUSY = 75

# the order of the jobs whose windows end at one boundary: refine first (it refines the hour the
# others read), stories after the jobs that change topics (it places the days among them), archive
# last (it moves the partitions the others read)
JOB_ORDER = ("refine", "daily", "weekly", "monthly", "stories", "archive")
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class ScheduleRules:
    """The schedule's boundaries (the ``schedule`` section of the config, as plain values).

    Attributes:
        refine_every_hours: refine's window ends on every hour divisible by this (UTC).
        weekday: the weekly window ends at midnight UTC of this weekday (Monday = 0).
        monthly_on_day: the monthly window ends at midnight UTC of this day of the month.
    """

    refine_every_hours: int
    weekday: int
    monthly_on_day: int


@dataclass(frozen=True, order=True)
class Window:
    """One job's window, named by its end (the job's ``--as-of``)."""

    as_of: datetime
    rank: int  # position in JOB_ORDER: windows sort by boundary, then by the order the jobs run
    job: str

    @classmethod
    def of(cls, job: str, as_of: datetime) -> Window:
        return cls(as_utc(as_of), JOB_ORDER.index(job), job)


def jobs_at(at: datetime, rules: ScheduleRules) -> list[str]:
    """The jobs whose window ends at ``at``, in the order they run (none off an hour boundary)."""
    at = as_utc(at)
    if at != floor_hour(at):
        return []
    due = ["refine"] if at.hour % rules.refine_every_hours == 0 else []
    if at.hour == 0:
        due.append("daily")
        if at.weekday() == rules.weekday:
            due.append("weekly")
        if at.day == rules.monthly_on_day:
            due.append("monthly")
        due.extend(["stories", "archive"])
    return due


def windows_between(start: datetime, end: datetime, rules: ScheduleRules) -> list[Window]:
    """Every window that ends in ``(start, end]``, oldest boundary first, in run order within one boundary.

    Example:
        >>> from datetime import datetime, UTC
        >>> rules = ScheduleRules(refine_every_hours=6, weekday=0, monthly_on_day=1)
        >>> [(w.job, w.as_of.hour) for w in windows_between(
        ...     datetime(2026, 6, 2, 5, 30, tzinfo=UTC), datetime(2026, 6, 2, 12, tzinfo=UTC), rules)]
        [('refine', 6), ('refine', 12)]
    """
    at = floor_hour(start) + _HOUR
    end = as_utc(end)
    out: list[Window] = []
    while at <= end:
        out.extend(Window.of(job, at) for job in jobs_at(at, rules))
        at += _HOUR
    return out
