"""benchmarks/ivf_cost.py times the inverted file of ivf_lists beside other list counts, on the same vectors."""

from __future__ import annotations

from benchmarks.ivf_cost import balanced_lists, build_parser, run
from ray_topics.config import load_config
from ray_topics.core.neighbours import ivf_lists


def test_each_query_count_is_timed_with_faiss_rule_first_then_session_28s_lists_and_more() -> None:
    out = run(build_parser().parse_args(["--voters", "4000", "--queries", "100,20000", "--lists", "7"]))
    nprobe = load_config().global_topics.place_nprobe
    assert balanced_lists(4000, 100, nprobe) == 8 and ivf_lists(4000) == 102
    for q in (100, 20_000):
        rows = [r for r in out["rows"] if r["queries"] == q]
        assert {r["lists"] for r in rows} == {ivf_lists(4000), balanced_lists(4000, q, nprobe), 7}
        assert rows[0]["lists"] == ivf_lists(4000) and rows[0]["chosen_by"].startswith("ivf_lists")
        assert all(r["total_s"] >= r["search_s"] > 0 for r in rows)
