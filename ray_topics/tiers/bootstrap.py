"""Bootstrap: a domain's first model from the monthly sample of a historical dump.

The domain's sample (:func:`ray_topics.tiers.sample.dump_sample`, capped at
``monthly.max_sample``) is clustered and judged by the birth rule exactly as
the daily tier's pool is (:func:`ray_topics.core.birth.find_candidates`: HDBSCAN at the
monthly recluster's size, near-duplicates united, splits, the birth size
``daily.min_cluster_size`` and coherence), and every candidate that passes
is born. The plan commits like every job's (:func:`ray_topics.tiers.job.commit_plan`
inside :func:`ray_topics.storage.runs.once`, job ``bootstrap``): topics, birth
events and the domain's first model version in one transaction, once per
window, so a bootstrap killed after it goes on from the history pass.
Never a fit on the whole dump: only the sample's embeddings are read. A
domain that has topics already (an imported BERTopic model) keeps them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ray_topics.core.birth import find_candidates
from ray_topics.core.lifecycle import make_topic
from ray_topics.core.plan import Plan
from ray_topics.core.types import EventType, TopicEvent
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.runs import once
from ray_topics.tiers.job import StalePlan, commit_lock, commit_plan
from ray_topics.tiers.sample import lookback_days

__all__ = ["JOB", "commit_bootstrap", "needs_model", "plan_bootstrap"]

JOB = "bootstrap"

log = logging.getLogger(__name__)


def plan_bootstrap(
    rt: Runtime, domain: str, vectors: np.ndarray, docs: Sequence[str], published: Sequence[datetime], as_of: datetime
) -> Plan:
    """The first topics of ``domain`` from its sample (embeddings, texts and publication times, aligned)."""
    cfg, dcfg = rt.cfg, rt.cfg.daily
    plan = Plan(domain, base_version=0)
    plan.stats = {"sample": len(vectors), "candidates": 0, "births": 0}
    if len(vectors) < 2 * dcfg.min_cluster_floor:
        return plan
    resolution = max(dcfg.min_cluster_floor, int(cfg.monthly.recluster_min_fraction * len(vectors)))
    cands = find_candidates(
        vectors,
        list(docs),
        np.zeros((0, vectors.shape[1]), np.float32),
        backend=rt.backend,
        min_cluster_size=dcfg.min_cluster_size,
        min_coherence=dcfg.min_coherence,
        max_similarity_to_existing=dcfg.max_similarity_to_existing,
        split_min_fraction=cfg.monthly.split_min_fraction,
        top_n=cfg.weekly.top_keywords,
        min_relative_cohesion=dcfg.min_relative_cohesion,
        typical_cohesion=None,
        reference=None,
        edge_sigmas=cfg.confidence.edge_sigmas,
        resolution=min(dcfg.min_cluster_size, resolution),
        keywords_fn=rt.keywords,
    )
    plan.stats["candidates"] = len(cands)
    for c in (c for c in cands if c.born):
        when = [published[i] for i in c.members]
        t = make_topic(
            domain,
            len(plan.topics),
            vectors[c.members],
            c.keywords,
            as_of,
            upper_quantile=cfg.weekly.calibration_upper_quantile,
            coherence=c.coherence,
            born_at=min(when),
            last_seen_at=max(when),
        )
        plan.topics.append(t)
        plan.events.append(
            TopicEvent.of(t, EventType.BIRTH, as_of, size=len(c.members), coherence=round(c.coherence, 4), by=JOB)
        )
    plan.stats["births"] = len(plan.topics)
    return plan


def commit_bootstrap(rt: Runtime, plan: Plan, as_of: datetime) -> dict[str, Any]:
    """Commit ``plan`` once for the window ending ``as_of`` (a window already done is skipped).

    When another writer gave the domain its model since the plan was made (an
    ``import-bertopic``, a bootstrap of another ``as_of``: :class:`StalePlan`),
    the domain keeps that model, as a domain that had one before the bootstrap
    does: nothing of the plan is written and the window is done (``kept``).
    """
    window = (as_of - timedelta(days=lookback_days(rt.cfg.monthly, rt.cfg.bootstrap.extra_log_spaced_days)), as_of)
    lock = commit_lock(plan.domain)
    try:
        return once(
            rt.store.runs,
            JOB,
            plan.domain,
            window,
            lambda run_id: (plan.stats, lambda conn: commit_plan(rt, plan, JOB, as_of, run_id, conn)),
            lock=lock,
        )
    except StalePlan as exc:
        if not rt.store.topics.list(plan.domain):
            raise
        log.info("%s: the domain has a model of its own now; kept", exc)
        return once(rt.store.runs, JOB, plan.domain, window, lambda _run_id: ({"kept": True}, None), lock=lock)


def needs_model(rt: Runtime, domain: str, as_of: datetime) -> bool:
    """Whether the domain's first model is still to be fitted: it has no topic and no bootstrap for ``as_of``.

    A domain that has topics (an imported model, an earlier bootstrap, a stream) keeps its model:
    a bootstrap then only stores the dump's history, classified by that model.
    """
    return not rt.store.runs.done(JOB, domain, as_of) and not rt.store.topics.list(domain)
