"""The season benchmark, small: a week of a planted stream through every tier; quality, not timings; resume.

``benchmarks.season`` at a few thousand videos a day over 8 days (2 domains),
starting on Monday 2026-01-26 so that the monthly run (Feb 1) and a weekly
run (Monday Feb 2) fall inside, with the planted death's dying threshold and
the storage classes' ages shortened so that a week sees them happen. It
asserts the planted-truth figures and that every tier ran when due, never a
timing; and that a season cut short in the middle of a day and resumed ends
in the same state as one run straight through.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from benchmarks import season
from benchmarks.planted_truth import BIRTH_DELAY_GOAL_DAYS, DYING_GOAL_DAYS, FALSE_BIRTH_GOAL
from ray_topics.storage.store import Store

DAYS = 8
START = datetime(2026, 1, 26, tzinfo=UTC)  # a Monday
ARGS = [
    "--videos-per-day",
    "1500",
    "--days",
    str(DAYS),
    "--domains",
    "2",
    "--tail-topics",
    "2",
    "--start",
    START.date().isoformat(),
    # a topic with no video for 3 days is dying: the planted death (last video on day 2) is judged in a week
    "--set",
    "daily.dying_after_days=3",
    "--set",
    "daily.dead_after_days=5",
    # partitions warm after 2 days and cold after 4, so a week holds every storage class; cold as int8 (a PQ
    # codebook's training would cost more than the rest of the test)
    "--set",
    "archive.warm_after_days=2",
    "--set",
    "archive.archive_after_days=4",
    "--set",
    "archive.pq_min_train_rows=1000000",
    "--set",
    "archive.pq_train_rows=1000000",
]
MONTHLY_DAY = 6  # day 6 (Jan 31) ends at the midnight of Feb 1
WEEKLY_DAY = 7  # day 7 (Sunday Feb 1) ends at the midnight of Monday Feb 2
# NMI of the final assignments against the planted topics: 0.920 measured on this test's stream (1,500 videos
# a day; 0.921 at 2,000), quality.py's goal is 0.9; the floor leaves room for another machine's floating
# point (UMAP, HDBSCAN), not for a real loss
NMI_FLOOR = 0.85
INTERRUPT_DAY = 4  # the resumed season is cut in the middle of this day (from 1) ...
INTERRUPT_HOUR = 13  # ... as refine's run of this hour starts


class Cut(Exception):
    """The season's process dies here."""


def _run(workdir: Path, out: Path) -> dict[str, Any]:
    assert season.main([*ARGS, "--workdir", str(workdir), "--json", str(out)]) == 0
    return json.loads(out.read_text())


def _end_state(workdir: Path) -> dict[str, Any]:
    """Everything the tiers leave behind: topics, events, answers, lake and archive files."""
    store = Store(f"sqlite:///{workdir / 'ray_topics.db'}", create=False)
    try:
        topics = store.topics.list()
        c = store.table("classifications")
        with store.engine.connect() as conn:
            answers = sorted(
                tuple(r) for r in conn.execute(select(c.c.video_id, c.c.topic_id, c.c.status, c.c.model_version))
            )
        return {
            "topics": sorted((t.topic_id, str(t.status), tuple(t.keywords), t.born_at, t.died_at) for t in topics),
            "centroids": {t.topic_id: np.asarray(t.centroid) for t in topics},
            "events": sorted((e["type"], e["topic_id"], e["at"]) for e in store.topics.events()),
            "answers": answers,
            "files": sorted(
                str(p.relative_to(workdir)) for root in ("lake", "archive") for p in (workdir / root).rglob("*.parquet")
            ),
        }
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One season run straight through: its figures and its workdir."""
    tmp = tmp_path_factory.mktemp("season-straight")
    return _run(tmp / "work", tmp / "season.json"), tmp / "work"


def test_the_season_finds_the_planted_truth_and_runs_every_tier_when_due(
    straight: tuple[dict[str, Any], Path],
) -> None:
    out, _workdir = straight
    assert out["complete"] and [r["day"] for r in out["days"]] == list(range(1, DAYS + 1))
    for r in out["days"]:
        due = {"tier1", "refine", "daily", "stories", "archive"}
        due |= {"monthly"} if r["day"] == MONTHLY_DAY else set()
        due |= {"weekly"} if r["day"] == WEEKLY_DAY else set()
        assert set(r["tiers"]) == due, r["day"]
        assert r["tiers"]["refine"]["runs"] == 24  # every hour
        assert r["videos"] > 0 and r["bytes"]["store"] > 0 and r["bytes"]["lake_hot"] > 0
    last = out["days"][-1]
    assert last["rows"]["videos"] == last["rows"]["classifications"] == sum(r["videos"] for r in out["days"])
    assert last["bytes"]["lake_warm"] > 0 and last["bytes"]["cold"] > 0  # every storage class reached
    assert out["projection"]["by_class_total_bytes"] > last["bytes"]["total"]

    q = out["quality"]
    births = q["planted_births"]
    assert len(births) == 4  # birth and slow-birth in each domain
    for b in births:  # every planted birth found, at most 2 days after it crossed the birth threshold
        assert b["delay_from_crossing_days"] is not None, b
        assert b["delay_from_crossing_days"] <= BIRTH_DELAY_GOAL_DAYS, b
    assert q["false_births"]["raw"]["share"] <= FALSE_BIRTH_GOAL, q["false_births"]
    for d in q["planted_deaths"]:  # each planted death marked dying once its topic went quiet
        assert d["delay_days"] is not None and d["delay_days"] <= DYING_GOAL_DAYS, d
    assert q["agreement"]["stream_vs_raw"]["nmi"] >= NMI_FLOOR, q["agreement"]


def test_a_season_cut_short_mid_day_resumes_to_the_same_end_state(
    straight: tuple[dict[str, Any], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray_topics.streams.replay as replay_module

    real_refine = replay_module.run_refine

    def crash(rt: Any, at: Any, **kw: Any) -> Any:
        if at == START + timedelta(days=INTERRUPT_DAY - 1, hours=INTERRUPT_HOUR):
            raise Cut(at)
        return real_refine(rt, at, **kw)

    work, out = tmp_path / "work", tmp_path / "season.json"
    monkeypatch.setattr(replay_module, "run_refine", crash)
    with pytest.raises(Cut):
        season.main([*ARGS, "--workdir", str(work), "--json", str(out)])
    monkeypatch.undo()
    state = json.loads((work / "season" / "state.json").read_text())
    assert [r["day"] for r in state["days"]] == list(range(1, INTERRUPT_DAY))  # the cut day is not recorded
    resumed = _run(work, out)

    reference, ref_work = straight
    assert [r["day"] for r in resumed["days"]] == list(range(1, DAYS + 1))
    assert [r["videos"] for r in resumed["days"]] == [r["videos"] for r in reference["days"]]
    a, b = _end_state(ref_work), _end_state(work)
    assert set(a["centroids"]) == set(b["centroids"])
    for tid, c in a["centroids"].items():
        np.testing.assert_allclose(c, b["centroids"][tid], atol=1e-5)
    for key in ("topics", "events", "answers", "files"):
        assert a[key] == b[key], key
    assert resumed["tables"]["quality"] == reference["tables"]["quality"]
