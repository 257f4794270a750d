"""Run one function per domain: in this process, or as a Ray Data job sharded by domain.

The function receives a domain name and returns a picklable plan; each
worker loads its own inputs from the store and the lake (nothing is shipped
through the driver), and the driver commits the plans. Domains are the unit
of parallelism.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from ray_topics.storage.lake import Lake
from ray_topics.storage.lake_format import WARM_FILE, from_warm

__all__ = ["cluster_has_gpus", "ensure_ray", "lake_dataset", "map_domains", "map_lake_groups", "worker_node"]

T = TypeVar("T")


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to Ray (``address``) or start a local one, once per process."""
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        elif num_cpus:
            kwargs["num_cpus"] = num_cpus
        ray.init(**kwargs)


def map_domains(
    fn: Callable[[str], T],
    domains: Sequence[str],
    engine: str = "local",
    ray_address: str | None = None,
    num_gpus: float = 0,
) -> dict[str, T]:
    """``{domain: fn(domain)}``, computed locally or by a Ray Data ``map`` over the domains.

    ``num_gpus`` > 0 places each domain's task on a GPU worker (cuML clustering).
    """
    if engine == "local":
        return {d: fn(d) for d in domains}
    if engine != "ray":
        raise ValueError(f"unknown engine {engine!r}; use local or ray")
    import ray.data

    ensure_ray(ray_address)

    def _row(row: dict[str, Any]) -> dict[str, Any]:
        return {"domain": row["domain"], "plan": pickle.dumps(fn(row["domain"]))}

    ds = ray.data.from_items([{"domain": d} for d in domains]).repartition(max(len(domains), 1))
    ds = ds.map(_row, num_gpus=num_gpus) if num_gpus else ds.map(_row)
    return {r["domain"]: pickle.loads(r["plan"]) for r in ds.take_all()}


def map_lake_groups(
    fn: Callable[[str, Any], T],
    dataset: Any,
    num_gpus: float = 0,
) -> dict[str, T]:
    """``{domain: fn(domain, rows)}`` over a Ray Dataset of lake rows, grouped by domain.

    ``dataset`` holds lake rows (:func:`lake_dataset`: Ray's Parquet read
    tasks, partition-pruned, filtered in the scan); Ray Data shuffles them
    into one group per domain and calls ``fn`` once per group in a task, with
    the group as a ``pyarrow.Table``. Domains without rows are absent.
    """

    def _group(rows: Any) -> dict[str, Any]:
        domain = rows.column("domain")[0].as_py()
        return {"domain": [domain], "plan": [pickle.dumps(fn(domain, rows))]}

    kwargs: dict[str, Any] = {"batch_format": "pyarrow"}
    if num_gpus:
        kwargs["num_gpus"] = num_gpus
    out = dataset.groupby("domain").map_groups(_group, **kwargs)
    return {r["domain"]: pickle.loads(r["plan"]) for r in out.take_all()}


def lake_dataset(
    lake: Lake,
    start: datetime,
    end: datetime,
    domains: Iterable[str] | None = None,
    *,
    days: Iterable[date] | None = None,
    video_ids: Sequence[str] | None = None,
) -> Any:
    """A lake window as a Ray Dataset (partition-pruned file list), only of ``days`` and ``video_ids`` if given.

    Ray reads the files later, in its tasks: a day compaction of the
    window in between makes that read fail (file not found); call again.
    Warm files are read apart and dequantised by :func:`from_warm` in Ray's
    tasks, so every block has the lake's embedding schema. The id filter is
    applied to each read first (pushed into the Parquet scan), so only the
    wanted warm rows are dequantised.
    """
    import ray.data

    files = lake.files(start, end, domains, days)
    if not files:
        return ray.data.from_items([])
    warm = [f for f in files if f.endswith("/" + WARM_FILE)]
    hot = [f for f in files if not f.endswith("/" + WARM_FILE)]

    def read(paths: list[str]) -> Any:
        ds = ray.data.read_parquet(paths, filesystem=lake.fs)
        if video_ids is None:
            return ds
        from ray.data.expressions import col

        return ds.filter(expr=col("video_id").is_in(list(video_ids)))

    parts = [read(hot)] if hot else []
    if warm:
        parts.append(read(warm).map_batches(from_warm, batch_format="pyarrow"))
    return parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])


def cluster_has_gpus(address: str | None = None) -> bool:
    """Whether the Ray cluster has GPUs now (GPU workers at ``min_workers: 0`` have none until asked)."""
    import ray

    ensure_ray(address)
    return ray.cluster_resources().get("GPU", 0) > 0


def worker_node() -> str | None:
    """The Ray node this code runs on (hex id), or None outside Ray: where a domain's plan was computed."""
    import ray

    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_node_id()
