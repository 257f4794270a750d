"""The shape every per-domain tier job shares: plan each domain (locally or on Ray), commit each plan once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection

from ray_topics.config import Config
from ray_topics.core.plan import Plan
from ray_topics.core.snapshot import version_name
from ray_topics.execution.engine import cluster_has_gpus, lake_dataset, map_domains, map_lake_groups, worker_node
from ray_topics.execution.runtime import Runtime, calibrated_floor, yield_cpu
from ray_topics.storage.leases import LeaseBusy
from ray_topics.storage.runs import once
from ray_topics.storage.store import Store

__all__ = ["PlanFailed", "StalePlan", "commit_lock", "commit_plan", "has_floor", "planned", "run_tier", "what_failed"]

log = logging.getLogger(__name__)

PlanFn = Callable[[Runtime, str, datetime], Plan]


FAILURE_CHARS = 300  # of a failed domain's error kept in the run's summary (the log has the traceback)


class StalePlan(RuntimeError):
    """Another job published a model version of the domain after this plan began: plan again."""


@dataclass
class PlanFailed:
    """What a domain's planning raised, returned in place of its plan so the other domains' plans survive it
    (on Ray, one task's exception would fail the whole dataset). ``busy``: it found a lease held."""

    domain: str
    error: str
    busy: bool = False


def what_failed(exc: BaseException) -> str:
    """A failed domain's error for the run's summary: a database error's first line only (never its SQL
    and parameters, which can carry video text); the log has the whole traceback."""
    from sqlalchemy.exc import DBAPIError

    text = str(exc.orig).splitlines()[0] if isinstance(exc, DBAPIError) and exc.orig else str(exc)
    return f"{type(exc).__name__}: {text}"[:FAILURE_CHARS]


def _guarded(domain: str, plan: Callable[[], Plan]) -> Plan | PlanFailed:
    """``plan()``, or what it raised as a :class:`PlanFailed` (logged with its traceback where it ran)."""
    try:
        return plan()
    except LeaseBusy as exc:
        return PlanFailed(domain, str(exc), busy=True)
    except Exception as exc:
        log.exception("planning %s failed", domain)
        return PlanFailed(domain, what_failed(exc))


def commit_lock(domain: str) -> str:
    """The lock every job's commit of the domain's topics holds: one such commit at a time."""
    return f"domain-commit:{domain}"


def planned(plan_fn: PlanFn, rt: Runtime, domain: str, as_of: datetime) -> Plan:
    """``plan_fn``'s plan, with the model version it was computed from."""
    base = rt.store.models.latest_versions().get(domain, 0)
    plan = plan_fn(rt, domain, as_of)
    plan.base_version = base
    return plan


def _plan_local(plan_fn: PlanFn, rt: Runtime, as_of: datetime, domain: str) -> Plan | PlanFailed:
    return _guarded(domain, lambda: planned(plan_fn, rt, domain, as_of))


def _plan_remote(plan_fn: PlanFn, cfg: Any, as_of: datetime, domain: str) -> Plan | PlanFailed:
    """Runs in a Ray worker: opens its own store and lake connections (only the config travels)."""

    def plan() -> Plan:
        yield_cpu(cfg.execution.job_niceness)
        rt = Runtime(cfg)
        try:
            out = planned(plan_fn, rt, domain, as_of)
        finally:  # Ray reuses its worker processes: a pool left open per task would pile up connections
            rt.close()
        out.stats["node"] = worker_node()
        return out

    return _guarded(domain, plan)


def _plan_preloaded(
    plan_fn: Callable[[Runtime, str, datetime], Plan], cfg: Any, as_of: datetime, domain: str, rows: Any
) -> Plan | PlanFailed:
    """Runs in a Ray Data task on one domain's group of lake rows: they are the plan's embeddings."""

    def plan() -> Plan:
        yield_cpu(cfg.execution.job_niceness)
        rt = Runtime(cfg)
        try:
            n = rt.preload(rows, as_of)
            out = planned(plan_fn, rt, domain, as_of)
        finally:
            rt.close()
        out.stats["read_by_ray_data"] = n
        out.stats["node"] = worker_node()
        return out

    return _guarded(domain, plan)


def _lake_dataset(rt: Runtime, wanted: dict[str, list[str]]) -> Any | None:
    """Ray Data's read of the lake rows ``wanted`` names: pruned to their days and domains, filtered by id.

    Tiers name bounded samples, so the id filter shipped to every read task is bounded too.
    """
    ids = sorted({v for vs in wanted.values() for v in vs})
    if not ids:
        return None
    (lo, hi), domains, days = rt.store.videos.published_range(ids), sorted(wanted), rt.store.videos.published_days(ids)
    if not rt.lake.files(lo, hi, domains, days):
        return None
    ds = lake_dataset(rt.lake, lo, hi, domains, days=days, video_ids=ids)
    return ds.select_columns(["video_id", "domain", "published_at", "embedding"])


def commit_plan(rt: Runtime, plan: Plan, job: str, at: datetime, run_id: int, conn: Connection) -> int | None:
    """Write a plan inside ``conn``: topics, events, a new model version if topics changed, reassignments,
    and the topics whose history goes back to the refinement queue (the requeue backlog).

    When topics changed, the global topics are relinked in the same transaction
    (:meth:`ray_topics.storage.global_topics.GlobalTopics.relink`, which takes its
    own lock after the domain's): a newborn duplicate of another domain's topic is
    linked at birth, a death, drift, merge or split forms and breaks links.

    Called inside the domain's commit lock (:func:`commit_lock`; :func:`run_tier` has
    :func:`ray_topics.storage.runs.once` take it), it first checks that the domain's newest
    version is still the plan's ``base_version`` and raises :class:`StalePlan` (nothing
    written) when another job published since. Returns the published version (None when
    nothing changed).
    """
    store = rt.store
    if plan.base_version is not None and (plan.topics or plan.reassign):
        now = store.models.latest_version(plan.domain, conn)
        if now != plan.base_version:
            raise StalePlan(f"{job} {plan.domain}: planned on version {plan.base_version}, the domain is at {now}")
    version = None
    if plan.topics:
        store.topics.upsert(plan.topics, conn)
    if plan.events:
        store.topics.add_events(plan.events, conn, job_run_id=run_id)
    if plan.changed:
        version = rt.registry.publish(plan.domain, at, job, conn)
    if plan.reassign:
        tag = version_name(plan.domain, version) if version is not None else plan.reassign[0]["model_version"]
        store.classifications.update([{**r, "model_version": tag} for r in plan.reassign], conn)
    if plan.requeue:  # their history goes back to the queue after the commit, a chunk per transaction
        store.backlog.add(plan.domain, plan.requeue, at, conn)
    if plan.prototype is not None:
        store.prototypes.save(plan.domain, plan.prototype, at, conn=conn)
    if plan.routing is not None and not (plan.routing_first and has_floor(rt.cfg, store, plan.domain, conn)):
        store.prototypes.calibrate(plan.domain, *plan.routing, at=at, conn=conn)
    if plan.changed:  # births, deaths, drift, merges and splits move the links between domains
        linked = store.global_topics.relink(rt.cfg.global_topics.link_threshold, at, conn, job=job, job_run_id=run_id)
        if linked.events:
            plan.stats["global_topics"] = linked.summary()
    return version


def has_floor(cfg: Config, store: Store, domain: str, conn: Connection | None = None) -> bool:
    """Whether the domain's stored calibration gives it a routing floor (enough labelled videos measured)."""
    cal = store.prototypes.calibration(domain, conn)
    return cal is not None and calibrated_floor(cfg, cal) is not None


def run_tier(
    rt: Runtime,
    job: str,
    plan_fn: PlanFn,
    as_of: datetime,
    window_days: int,
    *,
    force: bool = False,
    needs_fn: Callable[[Runtime, str, datetime], list[str]] | None = None,
) -> dict[str, Any]:
    """Run ``plan_fn`` for every domain whose window ending ``as_of`` is not done yet, then commit.

    With ``execution.engine: ray`` each domain is planned in a Ray Data task
    that opens its own store connection; plans come back to this process,
    which commits each domain atomically with its job-run record. When the
    tier names the videos whose embeddings it will read (``needs_fn``), Ray
    Data reads them from the lake first (Parquet read tasks over the days
    and domains they lie in, filtered by id in the scan), groups them by
    domain and plans each domain on its group; embeddings still in the hot
    table, and domains without lake rows, are read as in the local engine.

    A plan whose domain moved on before its commit (:class:`StalePlan`: a
    daily and a weekly committing at the same midnight) is planned again in
    this process, up to ``execution.commit_retries`` times; a window another
    run finished meanwhile is then skipped as done.

    One domain's failure holds back no other: a plan or commit that raises is
    logged and its domain named under ``failed`` (its error's first line) beside
    the others' stats; when every domain left undone found a lease held, the run
    raises :class:`~ray_topics.storage.leases.LeaseBusy` after the others committed.
    """
    cfg = rt.cfg
    yield_cpu(cfg.execution.job_niceness)  # batch work: Tier 1's replicas on this node go first
    start = as_of - timedelta(days=window_days)
    todo = [d for d in cfg.domains.names if force or not rt.store.runs.done(job, d, as_of)]
    remote = cfg.execution.engine == "ray"
    gpus = 0.0
    if remote and cfg.cluster.backend != "cpu" and todo:
        # a job of gpu_jobs asks even with no GPU up: the ask is what makes the autoscaler start a GPU worker
        if job in cfg.execution.gpu_jobs or cluster_has_gpus(cfg.execution.ray_address):
            gpus = cfg.execution.gpus_per_domain_task  # the task resolves `auto` to cuml where cuML imports
    work = partial(_plan_remote, plan_fn, cfg, as_of) if remote else partial(_plan_local, plan_fn, rt, as_of)
    plans: dict[str, Plan | PlanFailed] = {}
    if remote and needs_fn is not None and todo:
        try:  # a plan's own error comes back as a PlanFailed: what is caught here is Ray Data's read
            ds = _lake_dataset(rt, {d: needs_fn(rt, d, as_of) for d in todo})
            if ds is not None:
                plans = map_lake_groups(partial(_plan_preloaded, plan_fn, cfg, as_of), ds, num_gpus=gpus)
        except Exception:  # e.g. a listed file compacted or archived before Ray read it
            log.warning("%s: Ray Data's lake read failed; each domain reads its own", job, exc_info=True)
            plans = {}
    rest = [d for d in todo if d not in plans]
    plans.update(map_domains(work, rest, cfg.execution.engine, cfg.execution.ray_address, num_gpus=gpus))
    out: dict[str, Any] = {}
    failed: dict[str, PlanFailed] = {}
    for d, p in plans.items():  # one domain's failure holds back no other's commit
        if isinstance(p, PlanFailed):
            failed[d] = p
            continue
        try:
            out[d] = _commit(rt, job, plan_fn, p, (start, as_of), force)
        except LeaseBusy as exc:
            failed[d] = PlanFailed(d, str(exc), busy=True)
        except Exception as exc:
            log.exception("%s: committing %s failed", job, d)
            failed[d] = PlanFailed(d, what_failed(exc))
    if failed and all(f.busy for f in failed.values()):  # the rest committed; the scheduler tries again later
        raise LeaseBusy("; ".join(f"{d}: {f.error}" for d, f in sorted(failed.items())))
    if failed:
        out["failed"] = {d: f.error for d, f in sorted(failed.items())}
    return out


def _commit(
    rt: Runtime, job: str, plan_fn: PlanFn, plan: Plan, window: tuple[datetime, datetime], force: bool
) -> dict[str, Any]:
    """Commit one domain's plan with its job run; plan again while another job's commit made it stale."""
    as_of = window[1]
    replanned = 0
    while True:
        try:
            return once(
                rt.store.runs,
                job,
                plan.domain,
                window,
                lambda run_id, p=plan: (p.stats, lambda conn: commit_plan(rt, p, job, as_of, run_id, conn)),
                force=force,
                lock=commit_lock(plan.domain),
            )
        except StalePlan as exc:
            if not force and rt.store.runs.done(job, plan.domain, as_of):
                log.info("%s; another run finished the window", exc)
                continue  # once() now answers it as done: no retry spent
            if replanned == rt.cfg.execution.commit_retries:
                raise
            replanned += 1
            log.info("%s; planning again", exc)
            plan = planned(plan_fn, rt, plan.domain, as_of)
