"""benchmarks/gpu_cluster.py: the CPU path finds the planted topics; the GPU columns only where cuML runs."""

from __future__ import annotations

from benchmarks.gpu_cluster import build_parser, planted, run
from ray_topics.core.clustering import gpu_available


def test_planted_rows_have_their_topics_and_a_background() -> None:
    x, y = planted(500, topics=5, background=0.1, seed=3)
    assert x.shape == (500, 384) and abs(float((x * x).sum(axis=1).mean()) - 1.0) < 1e-5
    assert (y == -1).sum() == 50 and set(y[y >= 0].tolist()) == set(range(5))
    own = [float((x[y == k] @ x[y == k].T).mean()) for k in range(5)]
    across = float((x[y == 0] @ x[y == 1].T).mean())
    assert min(own) > 2 * across  # members are nearer each other than to another topic


def test_cpu_rows_recover_the_planted_topics() -> None:
    out = run(build_parser().parse_args(["--sizes", "400", "--birth-size", "200", "--topics", "5"]))
    assert [(r["job"], r["rows"]) for r in out["rows"]] == [("birth", 200), ("monthly", 400)]
    for row in out["rows"]:
        assert row["cpu"]["nmi"] > 0.9 and row["cpu_s"] > 0, row
        assert ("gpu" in row) == gpu_available()
    assert out["params"]["gpu_min_rows"] == 0  # the GPU column is cuML's at every size
