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


def test_a_story_begun_before_the_settled_day_keeps_more_of_it_on_the_broad_topics() -> None:
    """A story that straddles the settled day: its videos of the days before it still hold the broad answers
    around it (nothing moved them: here no birth took them from the misfit pool), and a settled video whose
    own answer 3 of its 10 nearest hold stays (``daily.settle_keep_share``). Every voter gathers less of the
    day than of the same story begun on it; the stratified sample at least as much; no broad video moves."""

    def rows(start: str) -> list:
        args = ["--window", "3000", "--story-per-day", "25", "--shares", "1,0.1", "--story-start", start]
        return run(build_parser().parse_args(args))["rows"]

    (on_day, _), (every, tenth) = rows("0"), rows("-3")
    assert every["every_voter"]["story_gathered"] < on_day["every_voter"]["story_gathered"]
    assert tenth["stratified"]["story_gathered"] >= every["every_voter"]["story_gathered"] > 0
    assert all(r[how]["broad_moved"] == 0.0 for r in (every, tenth) for how in ("uniform", "stratified"))
