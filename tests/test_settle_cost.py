"""benchmarks/settle_cost.py measures what it names: the same daily job without and with settling, on one seeded
store whose days past hot retention are read from the lake."""

from __future__ import annotations

from benchmarks.harness import ROOT
from benchmarks.settle_cost import build_parser, run


def test_the_daily_is_measured_without_then_with_settling_on_copies_of_one_store() -> None:
    # one hot day (refine.hot_retention_days=1): the voters' other two days are only in the lake
    argv = ["--volumes", "200", "--after", "1", "--topics", "3", "--set", "refine.hot_retention_days=1"]
    out = run(build_parser().parse_args([*argv, "--baseline-tree", str(ROOT), "--every-voter"]))  # its own baseline
    without, before, with_settling, _every = out["rows"][:4]
    jobs = ["daily", "daily + settle (before)", "daily + settle", "daily + settle (every voter)"]
    assert [r["job"] for r in out["rows"][:4]] == jobs
    against = {r["job"]: r["against_every_voter"] for r in out["rows"][4:]}
    assert set(against) == set(jobs[1:3])  # the window fits the cap: each run's moves are every voter's
    assert all(a["reference_moves_made"] == 1.0 and a["moves_not_the_reference"] == 0.0 for a in against.values())
    assert before["stats"] == with_settling["stats"]  # the same code on copies of one store: the same job
    # four days seeded, a day at a time: the three before the hot day whole in the lake
    assert without["lake_videos"] == 3 * 200 and with_settling["lake_videos"] == without["lake_videos"]
    assert all("settled" not in s for s in without["stats"].values())
    settled = [s["settled"] for s in with_settling["stats"].values() if "settled" in s]
    assert len(settled) == 3  # the seeded domains
    voters = sum(s["voters"] for s in settled)
    # about 3 days of 200 videos (publication times and 5 % misfits drawn at random) of the 4 seeded: more
    # than the hot day alone could give
    assert 2 * 200 < voters < 800
    assert all(r["wall_s"] > 0 and r["peak_rss_mb"] > 0 for r in out["rows"][:4])
