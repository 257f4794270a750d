"""The tiers' metrics: what one job run did, for Prometheus (through a Pushgateway or node_exporter's textfiles).

A job is a short-lived process: nothing would be there to scrape. So each run
writes its figures once it ends, as gauges of its *last run*: to a Pushgateway
when ``metrics.pushgateway`` is set (each job replaces its own group), and as a
``ray_topics_{job}.prom`` file in ``metrics.textfile_dir`` (node_exporter's
textfile collector reads that folder) when that is set. Tier 1's request
metrics are not here: the Serve replicas record them through Ray's metrics
(``serve/app.py``, ``ServeMetrics``).

Gauges, all labelled ``tier`` (the job's name; see :data:`TIER_LABEL`):

* ``ray_topics_job_duration_seconds``: wall time of the last run;
* ``ray_topics_job_success``: 1 if it ended without error and no domain failed, else 0;
* ``ray_topics_job_last_success_timestamp_seconds``: wall clock of the last good run (absent after a
  failed run: each write replaces the job's last gauges);
* ``ray_topics_job_last_success_window_end_timestamp_seconds``: the end of the newest window the job
  finished, read from the store, so a failing run keeps it: alert on its age;
* ``ray_topics_job_window_end_timestamp_seconds``: the event-time window the run was for;
* ``ray_topics_job_failed_domains``: domains the run named under ``failed``;
* ``ray_topics_job_rows{kind}``: the run summary's counts (refined, set_aside, compacted,
  evicted, warm, cold, births, settled_moved, ...: every number in it, summed over domains;
  a step's own counts under ``{step}_{count}``, :func:`summary_counts`);
* ``ray_topics_job_lineage_events{domain,type}``: lineage events the run recorded (birth,
  merge, split, death, revival, drift, ...).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

from ray_topics.storage.store import Store

__all__ = ["JobMetrics", "summary_counts"]

log = logging.getLogger(__name__)

PREFIX = "ray_topics_job"
# the label naming the tier: not ``job``, which Prometheus sets on every target (node_exporter's for the
# textfile, the Pushgateway's group) and which would overwrite or be renamed to exported_job
TIER_LABEL = "tier"
PUSH_TIMEOUT_S = 10  # a Pushgateway that does not answer must not hold the job's exit


def summary_counts(summary: Mapping[str, Any], domains: Collection[str]) -> dict[str, float]:
    """Every count in a job summary, by key, summed over domains.

    Summaries nest counts two ways: a count per domain (``{"refined": {"a": 2}}``) and a
    domain's own stats (``{"a": {"births": 1}}``); ``domains`` tells the two apart. A
    domain's stats may group counts of one step (``{"a": {"settled": {"moved": 4}}}``):
    those are kinds ``{step}_{count}`` (``settled_moved``).

    Example:
        >>> summary_counts({"refined": {"a": 2, "b": 3}, "compacted": 5, "a": {"births": 1}, "b": {"births": 2}},
        ...                ["a", "b"])
        {'refined': 5.0, 'compacted': 5.0, 'births': 3.0}
        >>> summary_counts({"a": {"settled": {"day": "2026-03-03", "moved": 4}}, "b": {"settled": {"moved": 1}}},
        ...                ["a", "b"])
        {'settled_moved': 5.0}
    """
    out: Counter[str] = Counter()

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    for k, v in summary.items():
        if number(v):
            out[str(k)] += float(v)
        elif isinstance(v, Mapping) and k in domains:  # a domain's own stats
            out.update({str(s): float(x) for s, x in v.items() if number(x)})
            for step, counts in v.items():
                if isinstance(counts, Mapping):
                    out.update({f"{step}_{c}": float(x) for c, x in counts.items() if number(x)})
        elif isinstance(v, Mapping):  # a count per domain (an empty one: 0); errors or examples by key: no count
            counts = [x for x in v.values() if number(x)]
            if counts or not v:
                out[str(k)] += float(sum(counts))
    return dict(out)


class JobMetrics:
    """Writes one job run's figures where the config says (nothing when neither place is set).

    Args:
        pushgateway: ``host:port`` or URL of a Prometheus Pushgateway, or None.
        textfile_dir: folder for node_exporter's textfile collector, or None.
        domains: the configured domains (to read the run's summary, :func:`summary_counts`).
    """

    def __init__(self, pushgateway: str | None, textfile_dir: str | None, domains: Collection[str] = ()) -> None:
        self.pushgateway = pushgateway
        self.textfile_dir = textfile_dir
        self.domains = set(domains)

    def registry(
        self, store: Store, job: str, as_of: datetime, summary: Mapping[str, Any] | None, seconds: float
    ) -> CollectorRegistry:
        """The run's gauges; ``summary`` None: the run raised."""
        reg = CollectorRegistry()

        def gauge(name: str, help_text: str, *labels: str) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", help_text, [TIER_LABEL, *labels], registry=reg)

        failed = len((summary or {}).get("failed") or {})
        ok = summary is not None and not failed
        gauge("duration_seconds", "Wall time of the job's last run.").labels(job).set(seconds)
        gauge("success", "1 if the last run ended without error and no domain failed.").labels(job).set(int(ok))
        if ok:
            gauge("last_success_timestamp_seconds", "Wall clock when the job last succeeded.").labels(job).set(
                time.time()
            )
        gauge("window_end_timestamp_seconds", "Event time the last run's window ended.").labels(job).set(
            as_of.timestamp()
        )
        newest_gauge = gauge("last_success_window_end_timestamp_seconds", "End of the newest window the job finished.")
        newest = store.runs.newest_success(job)  # from the store: a failed run does not erase it
        if newest is not None:
            newest_gauge.labels(job).set(newest.timestamp())
        gauge("failed_domains", "Domains the last run named as failed.").labels(job).set(failed)
        rows = gauge("rows", "Counts from the last run's summary (rows refined, partitions archived, ...).", "kind")
        for kind, value in summary_counts(summary or {}, self.domains).items():
            rows.labels(job, kind).set(value)
        events = gauge("lineage_events", "Lineage events the last run recorded.", "domain", "type")
        run_ids = store.runs.ids(job, as_of)
        for (domain, kind), n in Counter(
            (e["domain"], e["type"]) for e in store.topics.events(job_run_ids=run_ids)
        ).items():
            events.labels(job, domain, kind).set(n)
        return reg

    def write(self, store: Store, job: str, as_of: datetime, summary: Mapping[str, Any] | None, seconds: float) -> None:
        """Push and/or write the run's gauges; a metrics failure is logged, never fails the job."""
        if not (self.pushgateway or self.textfile_dir):
            return
        try:
            reg = self.registry(store, job, as_of, summary, seconds)
            if self.textfile_dir:
                folder = Path(self.textfile_dir)
                folder.mkdir(parents=True, exist_ok=True)
                write_to_textfile(str(folder / f"ray_topics_{job}.prom"), reg)  # temp file, then rename
            if self.pushgateway:
                push_to_gateway(self.pushgateway, job=f"ray_topics_{job}", registry=reg, timeout=PUSH_TIMEOUT_S)
        except Exception:
            log.exception("could not write the %s job's metrics", job)
