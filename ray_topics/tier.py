"""The shape every per-domain tier job shares: plan each domain (locally or on Ray), commit each plan once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from ray_topics.engine import cluster_has_gpus, map_domains
from ray_topics.lifecycle import Plan, commit_plan
from ray_topics.runs import done, once
from ray_topics.runtime import Runtime

__all__ = ["run_tier"]


def _plan_local(plan_fn: Callable[[Runtime, str, datetime], Plan], rt: Runtime, as_of: datetime, domain: str) -> Plan:
    return plan_fn(rt, domain, as_of)


def _plan_remote(plan_fn: Callable[[Runtime, str, datetime], Plan], cfg: Any, as_of: datetime, domain: str) -> Plan:
    """Runs in a Ray worker: opens its own store and lake connections (only the config travels)."""
    return plan_fn(Runtime(cfg), domain, as_of)


def run_tier(
    rt: Runtime,
    job: str,
    plan_fn: Callable[[Runtime, str, datetime], Plan],
    as_of: datetime,
    window_days: int,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Run ``plan_fn`` for every domain whose window ending ``as_of`` is not done yet, then commit.

    With ``execution.engine: ray`` each domain is planned in a Ray Data task
    that opens its own store and lake connections; plans come back to this
    process, which commits each domain atomically with its job-run record.
    """
    cfg = rt.cfg
    start = as_of - timedelta(days=window_days)
    todo = [d for d in cfg.domains.names if force or not done(rt.store, job, d, as_of)]
    remote = cfg.execution.engine == "ray"
    gpus = 0.0
    if remote and cfg.cluster.backend in ("auto", "cuml") and cluster_has_gpus(cfg.execution.ray_address):
        gpus = cfg.execution.gpus_per_domain_task  # cuML on a GPU worker; the task resolves `auto` to cuml
    work = partial(_plan_remote, plan_fn, cfg, as_of) if remote else partial(_plan_local, plan_fn, rt, as_of)
    plans = map_domains(
        work,
        todo,
        cfg.execution.engine,
        cfg.execution.ray_address,
        num_gpus=gpus,
    )
    return {
        d: once(
            rt.store,
            job,
            d,
            (start, as_of),
            lambda run_id, p=p: (p.stats, lambda conn: commit_plan(rt, p, job, as_of, run_id, conn)),
            force=force,
        )
        for d, p in plans.items()
    }
