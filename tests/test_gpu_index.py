"""benchmarks/gpu_index.py: every path finds the planted topics and agrees with numpy, before and after pickling."""

from __future__ import annotations

import pytest

from benchmarks.gpu_index import build_parser, run


def test_every_path_finds_the_planted_topics() -> None:
    pytest.importorskip("faiss")
    argv = ["--topics", "30", "200", "--queries", "600", "--batches", "16", "--calls", "3", "--repeats", "1"]
    out = run(build_parser().parse_args(argv))
    assert [s["topics"] for s in out["sizes"]] == [30, 200]
    for size in out["sizes"]:
        assert set(size["checks"]) == {"numpy", "faiss-cpu", "faiss-gpu"}
        for path, c in size["checks"].items():
            assert c["planted_hits"] == 1.0 and c["agrees_with_numpy"] == 1.0, path
            assert c["max_sim_diff"] < 1e-5 and c["threads_agree"], path
            assert c["device_after_pickle"] == c["device"], path
        assert size["checks"]["faiss-cpu"]["device"] == "cpu"
        assert [r["batch"] for r in size["rows"]] == [1, 16]
        assert all(us > 0 for r in size["rows"] for us in r["us_per_call"].values())
