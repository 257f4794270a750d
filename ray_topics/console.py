"""How long work shows its progress: a bar on a terminal, plain log lines anywhere else.

Replay, the demo and embedding run for minutes to hours. On a terminal they
show a bar (tqdm: event time reached, videos, rate, ETA) with the job lines
printed above it; piped to a file, in CI, or with ``--quiet`` they write plain
log lines instead (one per job event, and one per simulated day), which a log
collector can read. The library itself only logs (``logging``); this module
is the command line's.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime, timedelta
from typing import IO

__all__ = ["CountProgress", "ReplayProgress", "say", "use_bar"]

log = logging.getLogger("ray_topics.progress")

HOUR = timedelta(hours=1)
LOG_EVERY = timedelta(days=1)  # without a bar: one progress line per simulated day


def say(line: str, *args: object) -> None:
    """A progress line the command line always shows (``ray_topics.progress`` logs at INFO)."""
    log.info(line, *args)


def use_bar(quiet: bool, stream: IO[str] | None = None) -> bool:
    """A bar only on a terminal, and not when asked to be quiet."""
    stream = stream or sys.stderr
    return not quiet and hasattr(stream, "isatty") and stream.isatty()


class CountProgress:
    """Progress over a known number of items (bootstrap's history pass): a bar, or one log line per step.

    Args:
        total: items to go through.
        desc: what they are, for the bar and the lines.
        bar: draw a bar on ``stream`` (see :func:`use_bar`), else log lines.
        stream: where the bar goes (stderr).
    """

    def __init__(self, total: int, desc: str, *, bar: bool, stream: IO[str] | None = None) -> None:
        self.total, self.desc = total, desc
        self._bar = None
        if bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="video", desc=desc, file=stream or sys.stderr, dynamic_ncols=True)

    def update(self, done: int, total: int | None = None) -> None:
        """``done`` of the items are through."""
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
        else:
            log.info("%s: %d/%d", self.desc, done, self.total if total is None else total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class ReplayProgress:
    """Progress of a replay over event time ``[start, end)``, hour by hour.

    Args:
        start, end: the event-time span the replay walks.
        total_videos: videos in the input (shown beside the count replayed).
        bar: draw a bar on ``stream`` (see :func:`use_bar`), else log lines.
        stream: where the bar goes (stderr).
    """

    def __init__(
        self, start: datetime, end: datetime, total_videos: int, *, bar: bool, stream: IO[str] | None = None
    ) -> None:
        self.start, self.total_videos = start, total_videos
        self._last_logged = start
        self._started = time.monotonic()
        self._bar = None
        self._stream = stream or sys.stderr
        if bar:
            from tqdm import tqdm

            hours = max(1, round((end - start) / HOUR))
            self._bar = tqdm(total=hours, unit="h", desc="replay", file=self._stream, dynamic_ncols=True)

    def reached(self, at: datetime, videos: int) -> None:
        """Event time ``at`` reached with ``videos`` replayed so far."""
        rate = videos / max(time.monotonic() - self._started, 1e-9)
        if self._bar is not None:
            self._bar.update(round((at - self.start) / HOUR) - self._bar.n)
            self._bar.set_postfix_str(f"{at:%Y-%m-%d %H:%M}, {videos:,}/{self.total_videos:,} videos, {rate:,.0f}/s")
        elif at - self._last_logged >= LOG_EVERY:
            self._last_logged = at
            log.info(
                "replay at %s: %d of %d videos, %.0f videos/s", f"{at:%Y-%m-%d %H:%M}", videos, self.total_videos, rate
            )

    def note(self, line: str) -> None:
        """A job's line (a birth, a death, a merge): above the bar, or as a log line."""
        if self._bar is not None:
            self._bar.write(line, file=self._stream)
        else:
            log.info(line)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
