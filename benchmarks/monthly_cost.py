"""Cost of the monthly tier (Tier 4) on a 1M-video history against a full BERTopic fit (issue 4).

One run prints, side by side, the wall time, CPU seconds and peak memory (RSS) of

* the monthly tier (:mod:`ray_topics.tiers.monthly`) run exactly as
  ``ray-topics monthly --as-of ...`` (and ``jobs/monthly.py``) runs it: the CLI
  entry point, default config, per-domain plan then commit with its job run and
  new model versions; measured on the ``--videos`` history and on histories
  of each ``--fit-sizes`` size, to show how its cost grows with the history
  (the monthly sample is bounded by its strata and ``monthly.max_sample``;
  the reassignment after a merge or split, and the lake reads, are not);
* a full BERTopic fit (:func:`benchmarks.full_fit.fit_series`: precomputed
  embeddings, UMAP and HDBSCAN with the config's settings,
  ``CountVectorizer(stop_words="english")``, one BLAS thread) on histories of
  each ``--fit-sizes`` size. A fit of the whole ``--videos`` history does not
  fit this machine's time, so its cost there is **extrapolated**: a power law
  ``y = c * n**k`` fitted by least squares on log-log axes to the measured
  fits (wall, CPU, and the growth of peak RSS above the process's RSS before
  the fit, which is added back).

Every measured side runs in a fresh spawned process, so its CPU and peak RSS
are its own (peak RSS is the process image's ``VmHWM``, see
:func:`benchmarks.harness.peak_rss_mb`; the numba JIT warm-up runs first in each process and is
reported apart, as in ``benchmarks.quality``). On the largest history the
monthly job runs a second time at the same as-of with ``--force``, on the
topics the first run consolidated: the cost of a month with nothing to merge
or split.

The history (set-up, not timed): ``ray_topics.streams.planted.default_scenario``
over ``--days`` days (90 by default: the monthly lookback, so the whole history
lies in the window the monthly job reads), generated once and subsampled to
each size (nested random subsets, in time order). Each size gets its own
workdir (default embedded store: SQLite and a Parquet lake) holding what the
product holds when a monthly run comes due:

* topics: one per planted topic with more than ``daily.min_cluster_size``
  videos, made by :func:`ray_topics.core.lifecycle.make_topic` from its members of
  its last ``weekly.window_days`` window (what the weekly tier tracks), with
  c-TF-IDF keywords, born at its first video, dying or dead by
  :func:`ray_topics.core.lifecycle.lifecycle_changes`; the near-duplicate pair and
  the two-part topic are left for the monthly tier to merge and split;
  published through the registry (one model version per domain);
* classifications: every video ``refined``, classified by a
  :class:`ray_topics.core.index.CentroidIndex` over the topics as they stood in its
  week (centroids and calibration from that week's members);
* videos and classifications bulk-inserted into the store (SQLAlchemy Core
  executemany, the store's own tables); the last ``refine.hot_retention_days``
  of embeddings also in the hot table (compacted, not yet evicted);
* embeddings in the lake, one ``day.parquet`` per closed day and domain
  (what refine's day compaction leaves: :func:`ray_topics.storage.lake_format.embedding_schema`,
  zstd, rows sorted by time).

Usage, from the repository root (timing runs hold the benchmark lock so they do not overlap)::

    # 28 minutes on 2 cores (set-up 2.5 min, 6 monthly runs, 4 fits, ~80 s of JIT warm-up in each process)
    flock /tmp/ray-topics-bench.lock .venv/bin/python -m benchmarks.monthly_cost \\
        --videos 1000000 --domains 3 --fit-sizes 10000,25000,50000,100000 --seed 0 --out monthly.json
    # checks that it runs: 50k videos, fits of 5k and 10k, three fresh processes: about 6 minutes
    flock /tmp/ray-topics-bench.lock .venv/bin/python -m benchmarks.monthly_cost --quick
    # the smallest look: a few minutes
    .venv/bin/python -m benchmarks.monthly_cost --videos 4000 --fit-sizes 1500,3000 --days 30 --no-repeat
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.full_fit import cluster_params, fit_fresh, jit_warmup
from benchmarks.harness import (
    Figures,
    Table,
    domains_arg,
    frame_texts,
    in_fresh_process,
    main_of,
    parser,
    peak_rss_mb,
    reap_loky,
    run_info,
    scratch,
    timed,
)

DEFAULT_VIDEOS = 1_000_000
DEFAULT_FIT_SIZES = (10_000, 25_000, 50_000)
DEFAULT_DAYS = 90  # the monthly lookback (log-spaced days up to 89 back, + 1): all history in its window
QUICK_VIDEOS = 50_000
QUICK_FIT_SIZES = (5_000, 10_000)
OVERSAMPLE = 1.02  # generate a little more than needed (Poisson arrivals), then take an exact subset
INSERT_CHUNK = 50_000  # rows per executemany / transaction of the bulk load
KEYWORD_DOCS_PER_TOPIC = 500  # documents per topic for the bootstrap c-TF-IDF keywords
BOOTSTRAP_JOB = "bootstrap"  # job name recorded on the bootstrap model versions
REFINE_DELAY = timedelta(hours=1)  # refine classifies a video at the next hourly run
SEEDED_ROUTE = "category"  # every seeded video came by its category (the category is its domain)
NS_PER_DAY = 86_400 * 1_000_000_000


# ----------------------------------------------------------------------------- power law


def power_law(ns: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """``(c, k, r2)`` of ``y = c * n**k``, least squares on ``log y`` against ``log n``.

    ``r2`` is the coefficient of determination in log space (1.0 with two points).

    Example:
        >>> c, k, r2 = power_law([1e3, 1e4, 1e5], [2.0, 20.0, 200.0])
        >>> round(c, 6), round(k, 6), round(r2, 6)
        (0.002, 1.0, 1.0)
    """
    lx, ly = np.log(np.asarray(ns, dtype=np.float64)), np.log(np.asarray(ys, dtype=np.float64))
    k, log_c = np.polyfit(lx, ly, 1)
    resid = ly - (log_c + k * lx)
    total = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / total if total > 0 else 1.0
    return float(np.exp(log_c)), float(k), r2


def _extrapolate(ns: list[int], ys: list[float], at: int) -> dict[str, float]:
    c, k, r2 = power_law(ns, ys)
    return {"c": c, "k": k, "r2": r2, "at": at, "value": c * at**k}


# ----------------------------------------------------------------------------- the history (set-up)


def _subsets(n_total: int, sizes: Sequence[int], seed: int) -> dict[int, np.ndarray]:
    """Nested random subsets of ``range(n_total)`` (each size's rows, in time order)."""
    perm = np.random.default_rng(seed).permutation(n_total)
    return {n: np.sort(perm[:n]) for n in sizes}


def _week_states(
    members: np.ndarray, week: np.ndarray, emb: np.ndarray, min_members: int, upper_q: float
) -> dict[int, tuple[np.ndarray, float, float]]:
    """Per week with at least ``min_members`` of ``members``: (centroid, mu, sigma) of that week's members."""
    from ray_topics.core.coherence import cohesion
    from ray_topics.core.index import calibrate

    out: dict[int, tuple[np.ndarray, float, float]] = {}
    for w in np.unique(week[members]):
        m = members[week[members] == w]
        if len(m) >= min_members:
            c = cohesion(emb[m])[0]
            mu, sigma = calibrate(emb[m] @ c, upper_q)
            out[int(w)] = (c, mu, sigma)
    return out


def _state_at(states: dict[int, tuple[np.ndarray, float, float]], w: int) -> tuple[np.ndarray, float, float]:
    """The topic's state in week ``w``: that week's, else the latest before it, else the first after it."""
    before = [k for k in states if k <= w]
    return states[max(before)] if before else states[min(states)]


def _bootstrap(
    cfg: Any, videos: pd.DataFrame, emb: np.ndarray, docs: list[str], start: datetime, as_of: datetime
) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Topics as the tiers would hold them at ``as_of``, and every video's refined (topic id, confidence)."""
    from ray_topics.core.index import CentroidIndex
    from ray_topics.core.keywords import ctfidf_keywords
    from ray_topics.core.lifecycle import lifecycle_changes, make_topic

    n = len(videos)
    pub = videos["published_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    start_ns = int(pd.Timestamp(start).value)
    week = (pub - start_ns) // (cfg.weekly.window_days * NS_PER_DAY)
    truth = videos["true_topic"].to_numpy(dtype=object)
    domain_of = videos["domain"].to_numpy(dtype=object)
    topic_ids = np.full(n, None, dtype=object)
    conf = np.zeros(n, dtype=np.float32)
    upper_q = cfg.weekly.calibration_upper_quantile
    topics: list[Any] = []
    for domain in cfg.domains.names:
        rows = np.flatnonzero(domain_of == domain)
        if not len(rows):
            continue
        # planted topics of the domain that the birth rule would have seen, in order of their first video
        names = [t for t in pd.unique(truth[rows]) if t is not None]
        members = {t: rows[truth[rows] == t] for t in names}
        names = [t for t in names if len(members[t]) > cfg.daily.min_cluster_size]
        states = {t: _week_states(members[t], week, emb, cfg.weekly.min_members, upper_q) for t in names}
        names = [t for t in names if states[t]]
        tid = {t: f"{domain}:{i}" for i, t in enumerate(names)}
        first_week = {t: int(week[members[t][0]]) for t in names}
        for w in np.unique(week[rows]):
            live = [t for t in names if first_week[t] <= w]
            in_week = rows[week[rows] == w]
            if not live:
                continue
            st = [_state_at(states[t], int(w)) for t in live]
            index = CentroidIndex(**cfg.confidence.model_dump()).fit(
                [tid[t] for t in live], np.stack([s[0] for s in st]), [s[1] for s in st], [s[2] for s in st]
            )
            m = index.search(emb[in_week])
            topic_ids[in_week] = np.array(m.topic_ids, dtype=object)
            conf[in_week] = m.confidences
        # the final state: each topic's members of its last tracked week, keywords by c-TF-IDF against the others
        last = {t: members[t][week[members[t]] == max(states[t])] for t in names}
        kw_rows = {t: last[t][:KEYWORD_DOCS_PER_TOPIC] for t in names}
        keywords = ctfidf_keywords(
            [docs[i] for t in names for i in kw_rows[t]],
            [t for t in names for _ in kw_rows[t]],
            top_n=cfg.weekly.top_keywords,
        )
        fits = (conf >= cfg.daily.misfit_confidence) & (domain_of == domain)
        last_seen: dict[str, datetime] = {}
        mine: list[Any] = []
        for number, t in enumerate(names):
            seen = np.flatnonzero(fits & (topic_ids == tid[t]))
            first_at = videos["published_at"].iloc[members[t][0]].to_pydatetime()
            seen_at = videos["published_at"].iloc[seen[-1]].to_pydatetime() if len(seen) else first_at
            last_seen[tid[t]] = seen_at
            mine.append(
                make_topic(
                    domain,
                    number,
                    emb[last[t]],
                    keywords.get(t, []),
                    first_at,
                    upper_quantile=upper_q,
                    born_at=first_at,
                    last_seen_at=seen_at,
                )
            )
        changed, _events = lifecycle_changes(
            mine,
            last_seen,
            as_of,
            dying_after=cfg.daily.dying_after_days,
            dead_after=cfg.daily.dead_after_days,
        )
        now = {t.topic_id: t for t in changed}  # dying or dead by as_of (new values; the inputs are unchanged)
        topics += [now.get(t.topic_id, t) for t in mine]
    return topics, topic_ids, conf


def _insert(store: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """Bulk insert (SQLAlchemy Core executemany into the store's own table, one transaction)."""
    if rows:
        with store.begin() as conn:
            conn.execute(store.table(table).insert(), rows)


def _write_store(
    store: Any,
    videos: pd.DataFrame,
    emb: np.ndarray,
    topic_ids: np.ndarray,
    conf: np.ndarray,
    versions: dict[str, str],
    hot_since: datetime,
) -> int:
    """Videos, refined classifications and the hot embeddings of the last days; returns the hot rows."""
    from ray_topics.core.timeutil import floor_hour
    from ray_topics.core.types import ClassificationStatus
    from ray_topics.storage.schema import pack

    pub = pd.DatetimeIndex(videos["published_at"]).tz_convert("UTC").to_pydatetime()  # aware, as the store takes
    hot = 0
    for lo in range(0, len(videos), INSERT_CHUNK):
        part = videos.iloc[lo : lo + INSERT_CHUNK]
        idx = range(lo, lo + len(part))
        cols = {c: part[c].tolist() for c in ("video_id", "domain", "channel_id", "title", "description", "tags")}
        views = part["views"].tolist()
        _insert(
            store,
            "videos",
            [
                {
                    "video_id": cols["video_id"][j],
                    "domain": cols["domain"][j],
                    "channel_id": cols["channel_id"][j],
                    "published_at": pub[i],
                    "title": cols["title"][j],
                    "description": cols["description"][j],
                    "tags": list(cols["tags"][j]),
                    "category": cols["domain"][j],
                    "views": int(views[j]),
                    "route": SEEDED_ROUTE,
                }
                for j, i in enumerate(idx)
            ],
        )
        _insert(
            store,
            "classifications",
            [
                {
                    "video_id": cols["video_id"][j],
                    "domain": cols["domain"][j],
                    "published_at": pub[i],
                    "topic_id": topic_ids[i],
                    "confidence": float(conf[i]),
                    "status": ClassificationStatus.REFINED,
                    "model_version": versions[cols["domain"][j]],
                    "classified_at": pub[i] + REFINE_DELAY,
                    "channel_id": cols["channel_id"][j],  # the video's, as ingest copies them
                    "route": SEEDED_ROUTE,
                }
                for j, i in enumerate(idx)
            ],
        )
        hot_rows = [
            {
                "video_id": cols["video_id"][j],
                "domain": cols["domain"][j],
                "published_at": pub[i],
                "vector": pack(emb[i]),
                "compacted_at": floor_hour(pub[i]) + REFINE_DELAY,
            }
            for j, i in enumerate(idx)
            if pub[i] >= hot_since
        ]
        _insert(store, "embeddings", hot_rows)
        hot += len(hot_rows)
    return hot


def _write_lake(lake: Any, videos: pd.DataFrame, emb: np.ndarray) -> int:
    """One ``day.parquet`` per (day, domain) in the lake's layout, schema and writer; returns the files written.

    (What refine's day compaction leaves, written directly: ``Lake`` has no public writer of a whole day.)
    """
    import pyarrow as pa

    from ray_topics.storage.lake import DAY_FILE
    from ray_topics.storage.lake_format import embedding_schema, write_file

    schema = embedding_schema(lake.dim)
    day = videos["published_at"].dt.strftime("%Y-%m-%d").to_numpy()
    files = 0
    for (d, domain), idx in videos.groupby([day, videos["domain"].to_numpy()], sort=True).indices.items():
        idx = np.sort(idx)  # time order (the stream is sorted by published_at)
        part = videos.iloc[idx]
        table = pa.table(
            {
                "video_id": part["video_id"].tolist(),
                "domain": [domain] * len(idx),
                "published_at": part["published_at"].dt.as_unit("us"),
                "channel_id": part["channel_id"].tolist(),
                "views": part["views"].to_numpy(dtype=np.int64),
                "embedding": pa.FixedSizeListArray.from_arrays(
                    pa.array(np.ascontiguousarray(emb[idx]).reshape(-1), pa.float32()), lake.dim
                ),
            },
            schema=schema,
        )
        folder = f"{lake.base}/embeddings/day={d}/domain={domain}"
        lake.fs.create_dir(folder, recursive=True)
        write_file(lake.fs, f"{folder}/{DAY_FILE}", table)
        files += 1
    return files


def build_history(
    workdir: Path,
    overrides: list[str],
    videos: pd.DataFrame,
    emb: np.ndarray,
    docs: list[str],
    start: datetime,
    as_of: datetime,
) -> dict[str, Any]:
    """Write one history into a fresh workdir (store, lake, topics, model versions); returns its set-up figures."""
    from ray_topics.config import load_config
    from ray_topics.core.snapshot import version_name
    from ray_topics.execution.runtime import Runtime

    t0 = time.perf_counter()
    cfg = load_config(overrides=overrides, workdir=str(workdir))
    rt = Runtime(cfg)
    topics, topic_ids, conf = _bootstrap(cfg, videos, emb, docs, start, as_of)
    t_boot = time.perf_counter() - t0
    versions: dict[str, str] = {}
    with rt.store.begin() as conn:
        rt.store.topics.upsert(topics, conn)
        for domain in cfg.domains.names:
            if any(t.domain == domain for t in topics):
                versions[domain] = version_name(domain, rt.registry.publish(domain, as_of, BOOTSTRAP_JOB, conn))
    t1 = time.perf_counter()
    hot = _write_store(
        rt.store, videos, emb, topic_ids, conf, versions, as_of - timedelta(days=cfg.refine.hot_retention_days)
    )
    t_store = time.perf_counter() - t1
    t2 = time.perf_counter()
    files = _write_lake(rt.lake, videos, emb)
    t_lake = time.perf_counter() - t2
    rt.store.dispose()
    status: dict[str, int] = {}
    for t in topics:
        status[t.status] = status.get(t.status, 0) + 1
    misfit = float(np.mean((conf < cfg.daily.misfit_confidence) | np.equal(topic_ids, None)))
    return {
        "videos": len(videos),
        "topics": len(topics),
        "topic_status": status,
        "misfit_share": misfit,
        "hot_rows": hot,
        "lake_files": files,
        "bootstrap_s": t_boot,
        "store_s": t_store,
        "lake_s": t_lake,
        "wall_s": time.perf_counter() - t0,
    }


# ----------------------------------------------------------------------------- measured sides (child processes)


def _monthly_child(job: dict[str, Any]) -> dict[str, Any]:
    """``ray-topics monthly`` in a fresh (spawned) process: JIT warm-up first, then the job, timed."""
    warnings.filterwarnings("ignore", category=UserWarning)
    from ray_topics.cli import main as cli_main
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import limit_threads

    cfg = load_config(overrides=job["overrides"], workdir=job["workdir"])
    limit_threads(cfg.execution.blas_threads)  # what the job's Runtime sets, here before the warm-up too
    u, h = cluster_params(cfg)
    warm = jit_warmup(u, h, cfg.embedding.dim)
    argv = ["monthly", "--as-of", job["as_of"], "--workdir", job["workdir"], *(["--force"] if job["force"] else [])]
    for o in job["overrides"]:
        argv += ["--set", o]
    rss0 = peak_rss_mb()
    out = io.StringIO()
    with timed() as t, contextlib.redirect_stdout(out):
        rc = cli_main(argv)
        reap_loky()
    if rc != 0:
        raise RuntimeError(f"ray-topics {' '.join(argv)} exited with {rc}: {out.getvalue()[-2000:]}")
    return {
        "cpu_s": t.cpu_s,
        "wall_s": t.wall_s,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss0,
        "warmup": warm,
        "stats": json.loads(out.getvalue()),
    }


def _measure_monthly(job: dict[str, Any]) -> dict[str, Any]:
    m = in_fresh_process(_monthly_child, job)
    m["totals"] = _monthly_totals(m["stats"])
    print(
        f"    {m['wall_s']:7.1f}s wall, {m['cpu_s']:7.1f}s CPU, peak RSS {m['peak_rss_mb']:,.0f} MiB "
        f"({m['rss_before_mb']:,.0f} before the job); {json.dumps(m['totals'])}",
        flush=True,
    )
    return m


def _monthly_totals(stats: dict[str, Any]) -> dict[str, int]:
    keys = ("sample", "clusters", "matched", "births", "merges", "splits", "reassigned", "requeued")
    out = {k: int(sum(int(s.get(k, 0) or 0) for s in stats.values() if isinstance(s, dict))) for k in keys}
    # a merge's or split's history is requeued after the commit (since 2ad0cea), not reassigned in it
    out["reassigned"] += out.pop("requeued")
    return out


# ----------------------------------------------------------------------------- the run


def _sizes_arg(value: str) -> list[int]:
    try:
        sizes = sorted({int(v.replace("_", "")) for v in value.split(",") if v.strip()})
    except ValueError as exc:
        raise SystemExit(f"--fit-sizes {value!r}: comma-separated integers, e.g. 10000,25000,50000") from exc
    if len(sizes) < 2 or sizes[0] < 1:
        raise SystemExit(f"--fit-sizes {value!r}: at least two positive sizes (a power law needs two points)")
    return sizes


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ray_topics.config import load_config
    from ray_topics.streams.planted import default_scenario
    from ray_topics.streams.synthetic import generate

    videos_n = QUICK_VIDEOS if args.quick and args.videos is None else (args.videos or DEFAULT_VIDEOS)
    default_fits = ",".join(str(n) for n in (QUICK_FIT_SIZES if args.quick else DEFAULT_FIT_SIZES))
    fit_sizes = _sizes_arg(args.fit_sizes or default_fits)
    if fit_sizes[-1] > videos_n:
        raise SystemExit(f"--fit-sizes: {fit_sizes[-1]} is larger than the history (--videos {videos_n})")
    overrides = ["execution.engine=local", *args.set]
    with scratch(args, "ray-topics-monthly-cost-") as tmp:
        cfg = load_config(overrides=overrides, workdir=str(tmp / "probe"))
        domains = domains_arg(args.domains, cfg.domains.names)
        spec = default_scenario(
            days=args.days,
            daily_volume=max(1, round(OVERSAMPLE * videos_n / args.days)),
            domains=domains,
            seed=args.seed,
        )
        start = spec.start
        as_of = start + timedelta(days=args.days)
        t0 = time.perf_counter()
        stream = generate(spec)
        if len(stream.videos) < videos_n:
            raise SystemExit(f"generated {len(stream.videos)} videos, fewer than {videos_n}; raise OVERSAMPLE")
        print(
            f"synthetic history: {videos_n:,} of {len(stream.videos):,} generated videos, {args.days} days from "
            f"{start:%Y-%m-%d}, {len(domains)} domains ({', '.join(domains)}), {len(stream.topics)} planted topics, "
            f"seed {args.seed} (generated in {time.perf_counter() - t0:.1f}s); monthly run as of {as_of:%Y-%m-%d}",
            flush=True,
        )
        sizes = sorted({*fit_sizes, videos_n})
        monthly_sizes = [videos_n] if args.quick else sizes
        subsets = _subsets(len(stream.videos), sizes, args.seed)
        histories: dict[int, dict[str, Any]] = {}
        fit_inputs: dict[int, tuple[list[str], np.ndarray]] = {}
        for n in sizes:
            rows = subsets[n]
            videos = stream.videos.iloc[rows].reset_index(drop=True)
            emb = stream.embeddings[rows]
            docs = frame_texts(videos, cfg.embedding.max_chars)
            if n in fit_sizes:
                fit_inputs[n] = (docs, emb)
            if n in monthly_sizes:
                h = build_history(tmp / f"h{n}", overrides, videos, emb, docs, start, as_of)
                histories[n] = h
                print(
                    f"  history {n:>9,}: {h['topics']} topics {json.dumps(h['topic_status'])}, misfits "
                    f"{h['misfit_share']:.1%}, {h['hot_rows']:,} hot rows, {h['lake_files']} lake files; set-up "
                    f"{h['wall_s']:.1f}s (topics {h['bootstrap_s']:.1f}s, store {h['store_s']:.1f}s, "
                    f"lake {h['lake_s']:.1f}s)",
                    flush=True,
                )
            del videos, emb, docs
        del stream, subsets

        monthly: dict[int, dict[str, Any]] = {}
        repeat: dict[str, Any] | None = None
        for n in monthly_sizes:
            job = {"workdir": str(tmp / f"h{n}"), "overrides": overrides, "as_of": as_of.isoformat(), "force": False}
            print(f"  monthly tier on {n:,} videos (fresh process)...", flush=True)
            monthly[n] = _measure_monthly(job)
            if n == videos_n and not (args.quick or args.no_repeat):
                print(f"  monthly tier again on {n:,} videos, same as-of with --force (fresh process)...", flush=True)
                repeat = _measure_monthly({**job, "force": True})
            shutil.rmtree(tmp / f"h{n}", ignore_errors=True)

        fits: dict[int, dict[str, Any]] = {}
        for n in fit_sizes:
            print(f"  full BERTopic fit on {n:,} documents (fresh process)...", flush=True)
            docs, emb = fit_inputs.pop(n)
            res = fit_fresh(tmp, emb, docs, cfg, [n])
            f = fits[n] = {**res["fits"][0], "warmup": res["warmup"]}
            print(
                f"    {f['wall_s']:7.1f}s wall, {f['cpu_s']:7.1f}s CPU, peak RSS {f['peak_rss_mb']:,.0f} MiB "
                f"({f['rss_before_fit_mb']:,.0f} before the fit); {f['topics']} topics",
                flush=True,
            )
            del docs, emb
        return _report(args, videos_n, fit_sizes, domains, as_of, histories, monthly, repeat, fits)


_MATRIX_HEADER = (
    "history (videos)",
    "monthly wall s",
    "monthly CPU s",
    "monthly peak RSS MiB",
    "monthly sample",
    "reassigned",
    "full fit wall s",
    "full fit CPU s",
    "full fit peak RSS MiB",
)


def _report(
    args: argparse.Namespace,
    videos_n: int,
    fit_sizes: list[int],
    domains: tuple[str, ...],
    as_of: datetime,
    histories: dict[int, dict[str, Any]],
    monthly: dict[int, dict[str, Any]],
    repeat: dict[str, Any] | None,
    fits: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    ns = list(fit_sizes)
    growth = [max(fits[n]["peak_rss_mb"] - fits[n]["rss_before_fit_mb"], 1.0) for n in ns]
    base_rss = float(np.median([fits[n]["rss_before_fit_mb"] for n in ns]))
    ext = {
        "wall_s": _extrapolate(ns, [fits[n]["wall_s"] for n in ns], videos_n),
        "cpu_s": _extrapolate(ns, [fits[n]["cpu_s"] for n in ns], videos_n),
        "rss_growth_mb": _extrapolate(ns, growth, videos_n),
        "peak_rss_mb_whole": _extrapolate(ns, [fits[n]["peak_rss_mb"] for n in ns], videos_n),
    }
    ext["peak_rss_mb"] = {**ext["rss_growth_mb"], "value": base_rss + ext["rss_growth_mb"]["value"]}
    m = monthly[videos_n]
    measured = ", ".join(f"{n:,}" for n in ns)

    def law(key: str, unit: str = "s") -> str:
        e = ext[key]
        return f"{e['c']:.3g} n^{e['k']:.2f} {unit}, R² {e['r2']:.3f}"

    matrix = Table(_MATRIX_HEADER, nd=1, right=True)
    for n in sorted({*monthly, *fits}):
        mo, f = monthly.get(n), fits.get(n)
        t = mo["totals"] if mo else None
        if f is None and n == videos_n:
            f_cells: tuple[Any, ...] = tuple(f"~{ext[k]['value']:,.0f}" for k in ("wall_s", "cpu_s", "peak_rss_mb"))
        elif f is None:
            f_cells = (None, None, None)
        else:
            f_cells = (f["wall_s"], f["cpu_s"], f"{f['peak_rss_mb']:,.0f}")
        matrix.add_row(
            f"{n:,}" + (" (fit extrapolated)" if f is None and n == videos_n else ""),
            mo["wall_s"] if mo else None,
            mo["cpu_s"] if mo else None,
            f"{mo['peak_rss_mb']:,.0f}" if mo else None,
            f"{t['sample']:,}" if t else None,
            f"{t['reassigned']:,}" if t else None,
            *f_cells,
        )

    head = Figures(ours="monthly tier", baseline="full fit")
    head.add(
        f"wall s at {videos_n:,} videos (full fit EXTRAPOLATED: {law('wall_s')} over fits of {measured})",
        "(info)",
        f"{m['wall_s']:.1f}",
        f"~{ext['wall_s']['value']:,.0f}",
    )
    head.add(
        f"CPU s at {videos_n:,} videos (full fit EXTRAPOLATED: {law('cpu_s')})",
        "(info)",
        f"{m['cpu_s']:.1f}",
        f"~{ext['cpu_s']['value']:,.0f}",
    )
    head.add(
        f"peak RSS MiB at {videos_n:,} videos (full fit EXTRAPOLATED: {base_rss:,.0f} MiB before the fit + "
        f"growth {law('rss_growth_mb', 'MiB')})",
        "(info)",
        f"{m['peak_rss_mb']:,.0f}",
        f"~{ext['peak_rss_mb']['value']:,.0f}",
    )
    head.add(
        f"  the same, one power law on the whole peak RSS ({law('peak_rss_mb_whole', 'MiB')})",
        "(info)",
        None,
        f"~{ext['peak_rss_mb_whole']['value']:,.0f}",
    )
    for key, label in (("wall_s", "wall"), ("cpu_s", "CPU"), ("peak_rss_mb", "peak RSS")):
        head.add(
            f"ratio full fit (extrapolated) / monthly tier (measured), {label}",
            "(info)",
            f"{ext[key]['value'] / m[key]:.1f}x",
            None,
        )
    if repeat is not None:
        head.add(
            f"monthly tier again at {videos_n:,} (same as-of, --force: consolidated topics), wall / CPU s / "
            "peak RSS MiB",
            "(info)",
            f"{repeat['wall_s']:.1f} / {repeat['cpu_s']:.1f} / {repeat['peak_rss_mb']:,.0f}",
            None,
        )
    if len(monthly) > 1:
        lo_n, hi_n = min(monthly), max(monthly)
        lo, hi = monthly[lo_n], monthly[hi_n]
        head.add(
            f"monthly tier wall s, {lo_n:,} -> {hi_n:,} videos ({hi_n / lo_n:.0f}x the history)",
            "(info)",
            f"{lo['wall_s']:.1f} -> {hi['wall_s']:.1f} ({hi['wall_s'] / lo['wall_s']:.1f}x)",
            None,
        )
    head.add(
        "numba JIT warm-up, once per fresh process, CPU s (excluded from both sides)",
        "(info)",
        f"{m['warmup']['cpu_s']:.1f}",
        f"{fits[ns[-1]]['warmup']['cpu_s']:.1f}",
    )
    head.add(
        "RSS MiB before the work (imports, JIT warm-up)", "(info)", f"{m['rss_before_mb']:,.0f}", f"{base_rss:,.0f}"
    )
    out = {
        **run_info(args),
        "videos": videos_n,
        "days": args.days,
        "domains": list(domains),
        "as_of": as_of.isoformat(),
        "fit_sizes": ns,
        "histories": {str(n): h for n, h in histories.items()},
        "monthly": {str(n): v for n, v in monthly.items()},
        "monthly_repeat": repeat,
        "full_fits": {str(n): v for n, v in fits.items()},
        "extrapolation": ext,
        "tables": {"per_size": matrix.rows, "headline": head.rows},
        "markdown": {"per_size": matrix.markdown(), "headline": head.markdown()},
    }
    print(f"\nmonthly tier per domain at {videos_n:,} videos:")
    for d, st in m["stats"].items():
        print(f"  {d:<10} {json.dumps(st)}")
    matrix.print("A. per history size, measured (~: extrapolated): monthly tier vs full BERTopic fit")
    head.print(f"B. at {videos_n:,} videos: monthly tier MEASURED vs full fit EXTRAPOLATED (power law, log-log fit)")
    return out


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--videos", type=int, default=None, help=f"history size (default {DEFAULT_VIDEOS:,})")
    p.add_argument("--domains", default="3", help="a count (first N config domains) or comma-separated names")
    p.add_argument(
        "--fit-sizes",
        default=None,
        help=f"full-fit sizes, comma-separated (default {','.join(str(n) for n in DEFAULT_FIT_SIZES)})",
    )
    p.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"history length in days (default {DEFAULT_DAYS})")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_VIDEOS:,} videos, fits of {','.join(str(n) for n in QUICK_FIT_SIZES)}, monthly on the "
        "whole history only, no repeat (checks that it runs)",
    )
    p.add_argument(
        "--no-repeat", action="store_true", help="skip the second (--force) monthly run on the largest history"
    )
    return p


main = main_of(build_parser, run)


if __name__ == "__main__":
    sys.exit(main())
