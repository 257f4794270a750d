"""Progress of long work: a bar on a terminal, log lines anywhere else."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta

import pytest

from ray_topics.console import ReplayProgress, use_bar

START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _walk(progress: ReplayProgress, days: int) -> None:
    for h in range(1, days * 24 + 1):
        progress.reached(START + timedelta(hours=h), videos=h * 10)
        if h == 30:
            progress.note("2026-01-02 daily   gaming: 1 topic(s) born (pool 80)")
    progress.close()


def test_a_terminal_gets_a_bar_with_event_time_videos_and_the_job_lines(caplog: pytest.LogCaptureFixture) -> None:
    term = FakeTerminal()
    assert use_bar(quiet=False, stream=term) and not use_bar(quiet=True, stream=term)
    with caplog.at_level(logging.INFO, logger="ray_topics.progress"):
        _walk(ReplayProgress(START, START + timedelta(days=3), 720, bar=use_bar(False, term), stream=term), days=3)
    out = term.getvalue()
    assert "replay:" in out and "72/72" in out and "100%" in out  # hours walked of the span
    assert "2026-01-04 00:00, 720/720 videos" in out
    assert "1 topic(s) born" in out
    assert not [r for r in caplog.records if r.name == "ray_topics.progress"]  # the bar replaces the log lines


def test_a_pipe_gets_log_lines_only(caplog: pytest.LogCaptureFixture) -> None:
    pipe = io.StringIO()  # not a terminal
    assert not use_bar(quiet=False, stream=pipe)
    with caplog.at_level(logging.INFO, logger="ray_topics.progress"):
        _walk(ReplayProgress(START, START + timedelta(days=3), 720, bar=use_bar(False, pipe), stream=pipe), days=3)
    assert pipe.getvalue() == ""
    lines = [r.getMessage() for r in caplog.records if r.name == "ray_topics.progress"]
    assert lines == [
        "replay at 2026-01-02 00:00: 240 of 720 videos, " + lines[0].rsplit(", ", 1)[1],
        "2026-01-02 daily   gaming: 1 topic(s) born (pool 80)",
        "replay at 2026-01-03 00:00: 480 of 720 videos, " + lines[2].rsplit(", ", 1)[1],
        "replay at 2026-01-04 00:00: 720 of 720 videos, " + lines[3].rsplit(", ", 1)[1],
    ]


def test_a_count_shows_a_bar_on_a_terminal_and_lines_in_a_pipe(caplog: pytest.LogCaptureFixture) -> None:
    from ray_topics.console import CountProgress

    term = FakeTerminal()
    p = CountProgress(10_000, "bootstrap: history", bar=True, stream=term)
    for done in (5000, 10_000):
        p.update(done)
    p.close()
    assert "bootstrap: history" in term.getvalue() and "10000/10000" in term.getvalue()
    with caplog.at_level(logging.INFO, logger="ray_topics.progress"):
        p = CountProgress(10_000, "bootstrap: history", bar=False)
        p.update(5000)
        p.close()
    assert [r.getMessage() for r in caplog.records] == ["bootstrap: history: 5000/10000"]
