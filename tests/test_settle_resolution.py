"""benchmarks/settle_resolution.py plants what it says: a small story that a uniform sample of a busy window loses
and a sample stratified by answer keeps, against the vote of every voter."""

from __future__ import annotations

from benchmarks.settle_resolution import build_parser, run


def test_a_small_story_is_gathered_by_every_voter_and_the_stratified_sample_not_the_uniform_one() -> None:
    # 3,000 videos in the window, a story of 5 a day (40 in it): a tenth of the window holds about 4 of its
    # videos, too few to be each other's nearest; stratified, the story's topic votes whole
    out = run(build_parser().parse_args(["--window", "3000", "--story-per-day", "5", "--shares", "1,0.1"]))
    every, tenth = out["rows"]
    assert every["share"] == 1 and every["uniform"] == every["stratified"] == every["every_voter"]
    assert every["every_voter"]["story_gathered"] >= 0.8
    assert tenth["uniform"]["voters"] < 0.11 * every["every_voter"]["voters"]
    assert tenth["uniform"]["story_gathered"] == 0.0
    assert tenth["stratified"]["story_gathered"] >= every["every_voter"]["story_gathered"]
    # no broad video of the two topics around the story moves: the vote and the fit both decide a move
    assert all(tenth[how]["broad_moved"] == 0.0 for how in ("uniform", "stratified", "every_voter"))
