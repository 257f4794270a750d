"""Jobs a scheduler starts at the same moment: the store ends as if they had run one after the other."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from ray_topics.execution.runtime import Runtime
from ray_topics.streams.planted import PlantedTopic, StreamSpec
from ray_topics.streams.replay import Replay
from ray_topics.streams.synthetic import generate
from ray_topics.tiers import job
from ray_topics.tiers.daily import plan_daily, run_daily
from ray_topics.tiers.refine import run_refine
from ray_topics.tiers.weekly import plan_weekly, run_weekly
from tests.conftest import at_once, make_config

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
MIDNIGHT = START + 7 * DAY  # the next Monday: daily and weekly are both due
PLANTED = [
    PlantedTopic("g/a", "gaming", rate=60),
    PlantedTopic("g/b", "gaming", rate=40, start_day=3),
    PlantedTopic("c/a", "cooking", rate=60),
]


def _store_at_midnight(workdir: Path, store: tuple[str, str | None]) -> Runtime:
    """A replayed week, stopped just before the jobs of MIDNIGHT run (refine of its last hour done)."""
    rt = Runtime(make_config(workdir, store=store))
    stream = generate(StreamSpec(topics=PLANTED, days=7, start=START, noise_rate=0.05, seed=5))
    Replay(rt).run(stream.videos, stream.embeddings, until=MIDNIGHT - timedelta(hours=1))
    run_refine(rt, MIDNIGHT)
    return rt


def _snapshot(rt: Runtime) -> tuple:
    tops = sorted(
        (t.topic_id, str(t.status), tuple(t.keywords[:5]), tuple(np.round(t.centroid[:8], 4)))
        for t in rt.store.topics.list()
    )
    events = sorted((e["topic_id"], e["type"], e["at"]) for e in rt.store.topics.events())
    answers = sorted(
        (r["video_id"], r["topic_id"], str(r["status"]))
        for d in rt.cfg.domains.names
        for r in rt.store.classifications.window(d, START - DAY, MIDNIGHT + DAY, with_text=False)
    )
    protos = {d: tuple(np.round(v[:8], 4)) for d, (v, _n) in rt.store.prototypes.all().items()}
    return tops, events, answers, rt.store.models.latest_versions(), protos


def test_daily_and_weekly_committing_at_one_midnight_end_as_in_sequence(
    tmp_path: Path, store_url: tuple[str, str | None]
) -> None:
    ref = _store_at_midnight(tmp_path / "ref", store_url)
    run_daily(ref, MIDNIGHT)
    run_weekly(ref, MIDNIGHT)
    expected = _snapshot(ref)
    ref.store.drop()
    ref.store.dispose()

    rt = _store_at_midnight(tmp_path / "race", store_url)
    planned: list[str] = []

    def weekly_while_the_daily_commits(r: Runtime, domain: str, as_of: datetime):
        plan = plan_weekly(r, domain, as_of)
        planned.append(domain)
        if len(planned) == 1:  # the daily job commits between this plan and its commit
            run_daily(Runtime(rt.cfg), MIDNIGHT)
        return plan

    out = job.run_tier(rt, "weekly", weekly_while_the_daily_commits, MIDNIGHT, rt.cfg.weekly.window_days)
    assert planned.count(planned[0]) == 2, "the stale plan was planned again"
    assert all(not s.get("skipped") for s in out.values())
    assert _snapshot(rt) == expected
    rt.store.dispose()


def test_two_dailies_started_at_once_commit_once(tmp_path: Path, store_url: tuple[str, str | None]) -> None:
    ref = _store_at_midnight(tmp_path / "ref", store_url)
    run_daily(ref, MIDNIGHT)
    expected = _snapshot(ref)
    ref.store.drop()
    ref.store.dispose()

    rt = _store_at_midnight(tmp_path / "race", store_url)
    rt.cfg.execution.commit_retries = 0  # a window the other run finished is skipped, spending no retry
    # both runs planned before either commits: the same plans, on the same model versions
    # (planned here, not in the threads: numba's threading layer must not run in two threads at once)
    plans = {d: job.planned(plan_daily, rt, d, MIDNIGHT) for d in rt.cfg.domains.names}
    both_started = threading.Barrier(2, timeout=120)
    first = rt.cfg.domains.names[0]

    def planned_before_the_other_committed(_r: Runtime, domain: str, _as_of: datetime):
        if domain == first:
            both_started.wait()  # both runs found every window to do before either commits
        return copy.deepcopy(plans[domain])

    def run() -> dict:
        r = Runtime(rt.cfg)
        return job.run_tier(r, "daily", planned_before_the_other_committed, MIDNIGHT, r.cfg.daily.pool_window_days)

    results = at_once(run, run)
    assert _snapshot(rt) == expected  # one daily's topics, events, answers and model versions
    for domain in rt.cfg.domains.names:  # each domain committed by one run, skipped as done by the other
        assert sorted(bool(results[k][domain].get("skipped")) for k in range(2)) == [False, True]
    rt.store.dispose()
