"""benchmarks/newborn_cost.py times the reads it names: the stretched window holds more, the echoed guest echoes."""

from __future__ import annotations

from pathlib import Path

from benchmarks.newborn_cost import build_parser, run
from benchmarks.serve_sustained import seed_history
from ray_topics.config import load_config

DAYS = 9  # past refine.hot_retention_days (7): the stretched window's first days come from the lake


def test_each_read_reads_and_moves_what_it_names(tmp_path: Path) -> None:
    seed_history(load_config(workdir=str(tmp_path)), DAYS, 400, seed=3)
    out = run(build_parser().parse_args(["--store", str(tmp_path), "--stretch-days", str(DAYS)]))
    assert {r["domain"] for r in out["domains"]} == {"gaming", "cooking", "tech"}
    for r in out["domains"]:
        assert r["stretched_videos"] > r["window_videos"] > 0
        assert r["rule_stretched"]["moved"] >= r["rule"]["moved"] > 0  # the turned newborn takes some videos
        assert (r["echo_none"]["echoes"], r["echo_none"]["moved"]) == (0, 0)
        # the copy of the domain's largest topic, that topic left out, takes its videos as an echo
        assert r["echo_echoed"]["echoes"] == 1
        assert r["echo_echoed"]["moved"] > r["rule"]["moved"]
    assert len(out["tables"]["A"]) == 5 * len(out["domains"])
