"""A tier job over many domains, on the local engine and on Ray: one domain's failure holds back no other.

Found by review (session 37), each case failing before: one domain's plan or commit raising lost every
domain's work; a busy lease inside a Ray task exited 1, not 75; a plan's error in Ray Data's lake path was
taken for a failed lake read and every domain planned twice; a lake file compacted between its listing and
Ray Data's read crashed the job instead of falling back; a relative workdir gave Ray workers another store.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ray_topics.cli import main
from ray_topics.config import load_config
from ray_topics.core.plan import Plan
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.leases import LeaseBusy
from ray_topics.tiers import job

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


def _rt(workdir: Path | str, engine: str = "ray") -> Runtime:
    return Runtime(load_config(overrides=[f"execution.engine={engine}"], workdir=str(workdir)))


def _two_domains(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names = rt.cfg.domains.names[:2]
    monkeypatch.setattr(rt.cfg.domains, "items", [s for s in rt.cfg.domains.items if s.name in names])
    return names


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_one_domains_failing_plan_or_commit_holds_back_no_other(
    ray_local: int, tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _rt(tmp_path, engine)
    names = rt.cfg.domains.names
    bad_plan, bad_commit = names[-1], names[0]

    def plan_fn(r: Runtime, domain: str, as_of: datetime) -> Plan:
        if domain == bad_plan:
            raise ValueError(f"planted failure in {domain}")
        return Plan(domain, stats={"ok": True})

    commit_plan = job.commit_plan

    def failing_commit(rt_, plan, *a, **k):
        if plan.domain == bad_commit:
            raise RuntimeError("planted commit failure")
        return commit_plan(rt_, plan, *a, **k)

    monkeypatch.setattr(job, "commit_plan", failing_commit)
    out = job.run_tier(rt, "daily", plan_fn, AS_OF, 1)
    assert out["failed"] == {
        bad_commit: "RuntimeError: planted commit failure",
        bad_plan: f"ValueError: planted failure in {bad_plan}",
    }
    good = [d for d in names if d not in (bad_plan, bad_commit)]
    assert all(out[d]["ok"] is True for d in good)
    assert {d: rt.store.runs.done("daily", d, AS_OF) for d in names} == {d: d in good for d in names}


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_busy_lease_in_a_plan_exits_75_after_the_others_commit(
    ray_local: int, tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan's read of archived days found the lake's lease held: the job exits 75 (the scheduler tries it
    again later), the other domains' windows done; a failure besides it makes the exit 1."""
    import ray_topics.tiers.daily as daily

    names = load_config().domains.names

    def plan_fn(r: Runtime, domain: str, as_of: datetime) -> Plan:
        if domain == names[0]:
            raise LeaseBusy("a read of archived days: the 'lake' lease is held by another job (already running)")
        return Plan(domain)

    monkeypatch.setattr(daily, "plan_daily", plan_fn)
    args = ["daily", "--as-of", "2026-06-01", "--workdir", str(tmp_path), "--engine", engine]
    assert main(args) == 75
    rt = _rt(tmp_path, engine)
    assert [d for d in names if not rt.store.runs.done("daily", d, AS_OF)] == [names[0]]


def test_a_plan_error_in_ray_datas_lake_path_plans_no_domain_twice(
    ray_local: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray.data

    rt = _rt(tmp_path)
    names = _two_domains(rt, monkeypatch)
    dim = rt.cfg.embedding.dim

    def lake_rows(_rt: Runtime, wanted: dict[str, list[str]]):
        return ray.data.from_arrow(
            pa.table({
                "video_id": [f"v-{d}" for d in wanted],
                "domain": list(wanted),
                "published_at": pa.array([AS_OF.replace(hour=1)] * len(wanted), pa.timestamp("us", tz="UTC")),
                "embedding": pa.array([[0.1] * dim] * len(wanted), pa.list_(pa.float32(), dim)),
            })
        )  # fmt: skip

    monkeypatch.setattr(job, "_lake_dataset", lake_rows)
    planned = tmp_path / "planned.log"

    def plan_fn(r: Runtime, domain: str, as_of: datetime) -> Plan:
        with open(planned, "a") as f:
            f.write(domain + "\n")
        if domain == names[0]:
            raise ValueError("planted failure")
        return Plan(domain)

    out = job.run_tier(rt, "weekly", plan_fn, AS_OF, 7, needs_fn=lambda r, d, a: [f"v-{d}"])
    assert sorted(planned.read_text().split()) == sorted(names)  # each once: no fall back on a plan's error
    assert set(out["failed"]) == {names[0]} and names[1] in out


def test_a_lake_file_gone_between_its_listing_and_ray_datas_read_falls_back(
    ray_local: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray Data resolves its files when the dataset is built: a file compacted or archived right after the
    listing must send each domain to its own read, as promised, not fail the job."""
    rt = _rt(tmp_path)
    names = _two_domains(rt, monkeypatch)
    kept = tmp_path / "day.parquet"
    pq.write_table(pa.table({"video_id": ["v"]}), kept)
    monkeypatch.setattr(rt.store.videos, "published_range", lambda ids: (AS_OF.replace(day=1), AS_OF))
    monkeypatch.setattr(rt.store.videos, "published_days", lambda ids: {AS_OF.date()})
    monkeypatch.setattr(rt.lake, "files", lambda *a, **k: [str(kept), str(tmp_path / "hour=01.parquet")])
    out = job.run_tier(rt, "weekly", lambda r, d, a: Plan(d), AS_OF, 7, needs_fn=lambda r, d, a: [f"v-{d}"])
    assert set(out) == set(names)


def test_ray_workers_plan_on_the_drivers_store_with_a_relative_workdir(
    ray_local: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default workdir (``.ray_topics``) and ``--workdir wd`` are relative; a Ray worker's directory is
    not the driver's, and it rebuilt the runtime from the config: another, empty store."""
    monkeypatch.chdir(tmp_path)
    rt = _rt("wd")
    driver_db = os.path.abspath(rt.store.engine.url.database)

    def plan_fn(r: Runtime, domain: str, as_of: datetime) -> Plan:
        return Plan(domain, stats={"db": os.path.abspath(r.store.engine.url.database)})

    out = job.run_tier(rt, "daily", plan_fn, AS_OF, 1)
    assert {s["db"] for s in out.values()} == {driver_db} and driver_db.startswith(str(tmp_path))


def test_a_ray_tasks_plan_closes_its_store_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray reuses its worker processes: a store each task opened and left open kept a pool of PostgreSQL
    connections per task until the garbage collector found it, towards the server's max_connections."""
    from ray_topics.storage.store import Store

    closed: list[Store] = []
    dispose = Store.dispose
    monkeypatch.setattr(Store, "dispose", lambda self: closed.append(self) or dispose(self))
    cfg = load_config(workdir=str(tmp_path))
    opened: list[Store] = []

    def plan_fn(r: Runtime, domain: str, as_of: datetime) -> Plan:
        opened.append(r.store)
        return Plan(domain)

    assert isinstance(job._plan_remote(plan_fn, cfg, AS_OF, "gaming"), Plan)
    assert opened and closed == opened
    failed = job._plan_remote(lambda r, d, a: opened.append(r.store) or 1 / 0, cfg, AS_OF, "gaming")
    assert isinstance(failed, job.PlanFailed) and closed == opened  # closed when the plan raised too
