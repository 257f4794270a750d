"""benchmarks/pool_stretch_cost.py seeds what it says, so its timings are of the reads it names."""

from __future__ import annotations

import pytest

from benchmarks.pool_stretch_cost import build_parser, run


@pytest.mark.parametrize(
    ("misfits_per_day", "found", "walked", "pool_days", "pool_misfits"),
    [
        # 2 a day: 56 in 28 days, fewer than the 101 a pool of 100 needs: the walk goes back all 28 days for nothing
        (2, False, 28.0, 7, 14),
        # 5 a day, at 0, 0.2, ..., 0.8 of each day: the 101st newest is 20.2 days back, the pool spans 21 days
        (5, True, 20.2, 21, 105),
    ],
)
def test_the_seeded_store_stretches_the_pool_as_the_rule_says(
    misfits_per_day: int, found: bool, walked: float, pool_days: int, pool_misfits: int
) -> None:
    args = build_parser().parse_args(
        ["--daily-volume", "100", "--misfits-per-day", str(misfits_per_day), "--repeat", "1"]
    )
    out = run(args)
    assert out["videos"] == 28 * 100
    assert out["pool"] == {"seconds": out["pool"]["seconds"], "days": 7, "misfits": 7 * misfits_per_day}
    assert out["walk"]["found"] is found
    assert out["walk"]["days_walked"] == pytest.approx(walked)
    assert (out["misfit_pool"]["days"], out["misfit_pool"]["misfits"]) == (pool_days, pool_misfits)
