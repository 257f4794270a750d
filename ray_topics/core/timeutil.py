"""Event-time helpers: every time inside the library is an aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

__all__ = ["as_utc", "floor_day", "floor_hour", "utc_days"]


def as_utc(ts: datetime) -> datetime:
    """``ts`` as an aware UTC datetime; a naive one is taken as UTC.

    Example:
        >>> as_utc(datetime(2026, 1, 1, 12)).isoformat()
        '2026-01-01T12:00:00+00:00'
    """
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def floor_hour(ts: datetime) -> datetime:
    """Start of the UTC hour holding ``ts``."""
    return as_utc(ts).replace(minute=0, second=0, microsecond=0)


def floor_day(ts: datetime) -> datetime:
    """UTC midnight starting the day that holds ``ts``."""
    return as_utc(ts).replace(hour=0, minute=0, second=0, microsecond=0)


def utc_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days that ``[start, end)`` touches (none when it is empty).

    Example:
        >>> [str(d) for d in utc_days(datetime(2026, 1, 1, 23), datetime(2026, 1, 3))]
        ['2026-01-01', '2026-01-02']
    """
    d = as_utc(start).date()
    last = (as_utc(end) - timedelta(microseconds=1)).date()
    out = []
    while d <= last:
        out.append(d)
        d += timedelta(days=1)
    return out
