"""benchmarks/stories_cost.py measures what it names: the split story's moves, then the planted ones, read back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from benchmarks.stories_cost import build_parser, run
from ray_topics.execution.runtime import Runtime
from tests.test_stories import _split_story


def test_the_jobs_and_reads_are_measured_on_the_moves_placed_then_planted(
    sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    day = datetime(2026, 3, 1, tzinfo=UTC)
    _split_story(sqlite_runtime, day)
    argv = ["--store", str(tmp_path), "--as-of", "2026-03-02", "--repeats", "1", "--videos", "10"]
    out = run(build_parser().parse_args([*argv, "--moved-share", "0.5"]))
    assert out["stories_summary"]["moved"] == {"news": 6} and out["stored_day_is_computed_day"]
    placed, planted = out["reads"]["as placed"], out["reads"]["50% planted"]
    assert (placed["moves"], placed["stories"]) == (6, 1)
    # about half of the week's 56 fitting videos now told under another domain's topic
    assert 10 < planted["moves"] < 46 and planted["stories"] >= 1
    assert all(v > 0 for m in (placed, planted) for k, v in m.items() if k.endswith("_ms"))
    assert sum(out["videos_of_the_day"].values()) == 56 and len(out["tables"]["jobs"]) == 2
