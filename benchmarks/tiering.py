"""Bytes per video and nearest-topic agreement of the lake's storage tiers, side by side, in one run.

For each domain of a planted stream (:func:`ray_topics.streams.planted.default_scenario`,
384-d unit vectors clustered around planted topics, near-duplicate topic pairs
and 5 % noise included), one day partition of ``--per-day`` videos is written
exactly as the product writes it, and every tier's file is measured:

* **hot**: the hour files refine writes, compacted into ``day.parquet`` (float32, zstd);
* **warm**: :meth:`Lake.warm_day` (int8, one float32 scale per vector, zstd);
* **cold**: :meth:`ColdArchive.write`, product-quantised with a codebook of
  each ``--subquantizers`` size, and the int8 cold fallback. The codebook is
  trained (:class:`ray_topics.storage.codecs.ProductQuantizer`, up to
  ``archive.pq_train_rows`` vectors) on the domain's partition of day 0 and
  used for the measured day, ``--days - 1`` days later (drifting topics have
  moved), as a domain's codebook is reused for the days archived after it.

Quality is measured on what the tier's reader returns (:meth:`Lake.read` for
warm, :meth:`ColdArchive.read` for cold) against the float32 vectors: cosine
to the original, and *nearest-topic agreement*: the share of vectors whose
nearest topic centroid (inner product; centroids = the planted topics' means
on the measured day) is the same as the float32 vector's. Two codecs that are
not used are shown for reference: float16, and int8 with one fixed scale of 127
for every vector. Timings (CPU seconds, one BLAS/OpenMP thread as the jobs run)
of the warm rewrite, codebook training, cold write and restore are per domain.

With ``--news WORKDIR`` (a workdir where ``make demo`` ran: its embedding
cache and its store) the same quality figures are computed on the real news
corpus too: the all-MiniLM-L6-v2 embeddings of every article, nearest topic
among the live topics the demo grew in the article's domain, codebook trained
on the domain's own articles.

Usage, from the repository root (timing runs hold the benchmark lock so they do not overlap)::

    flock /tmp/ray-topics-bench.lock .venv/bin/python -m benchmarks.tiering
    flock /tmp/ray-topics-bench.lock .venv/bin/python -m benchmarks.tiering --news .demo
    .venv/bin/python -m benchmarks.tiering --per-day 2000 --subquantizers 48   # a quick look
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from benchmarks.harness import ROOT, finish, frame_texts, parser, run_info, scratch, start, timed_call
from ray_topics.config import load_config
from ray_topics.execution.runtime import limit_threads
from ray_topics.storage.aging import ColdArchive
from ray_topics.storage.codecs import ProductQuantizer, int8_decode, int8_encode
from ray_topics.storage.lake import Lake
from ray_topics.storage.lake_format import DICTIONARY_COLUMNS, to_warm
from ray_topics.streams.planted import default_scenario
from ray_topics.streams.synthetic import generate

H = timedelta(hours=1)
ZSTD_LEVELS = (1, 3, 9, 19)  # zstd levels tried on the warm file's rows (pyarrow writes level 1 by default)


def _quality(x: np.ndarray, y: np.ndarray, cents: np.ndarray) -> dict[str, float]:
    """Cosine of ``y`` to ``x`` (rows) and nearest-centroid agreement."""
    cos = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.maximum(np.linalg.norm(y, axis=1), 1e-12)
    agree = np.argmax(x @ cents.T, 1) == np.argmax(y @ cents.T, 1)
    return {
        "agreement": float(agree.mean()),
        "cos_median": float(np.median(cos)),
        "cos_p1": float(np.percentile(cos, 1)),
        "cos_min": float(cos.min()),
    }


def _rows(ids: list[str], times: list[datetime], vecs: np.ndarray) -> list[dict[str, Any]]:
    return [
        {"video_id": v, "published_at": t, "channel_id": "c", "views": 1, "vector": x}
        for v, t, x in zip(ids, times, vecs, strict=True)
    ]


def _size(path: str) -> int:
    return Path(path).stat().st_size


def _parquet_bytes(table: Any, level: int) -> int:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", compression_level=level, use_dictionary=DICTIONARY_COLUMNS)
    return len(buf.getvalue())


def measure_domain(
    work: Path, domain: str, train: np.ndarray, ids: list[str], times: list[datetime], x: np.ndarray, cents: np.ndarray,
    subquantizers: list[int], train_rows: int,
) -> dict[str, Any]:  # fmt: skip
    """Every tier's bytes per video, quality and timings for one domain's day partition."""
    dim = x.shape[1]
    lake = Lake(str(work / "lake"), dim)
    day = times[0].date()
    hour0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
    by_id = dict(zip(ids, x, strict=True))
    rows = _rows(ids, times, x)
    for h in range(24):  # refine: one file per closed hour, then one day file
        lake.write_hour(
            domain, hour0 + h * H, [r for r in rows if hour0 + h * H <= r["published_at"] < hour0 + (h + 1) * H]
        )
    day_path = lake.compact_day(domain, day)
    out: dict[str, Any] = {"videos": len(ids), "tiers": {}, "timings_cpu_s": {}}
    f32 = _size(day_path)
    out["tiers"]["hot float32 (day.parquet)"] = {"bytes_per_video": f32 / len(ids), **_quality(x, x, cents)}

    warm_path, t_warm = timed_call(lambda: lake.warm_day(domain, day))
    got_ids, got = lake.read(hour0, hour0 + 24 * H, [domain])
    want = np.stack([by_id[v] for v in got_ids])
    out["tiers"]["warm int8 + scale (warm.parquet)"] = {
        "bytes_per_video": _size(warm_path) / len(ids),
        **_quality(want, got, cents),
    }
    out["timings_cpu_s"]["warm rewrite"] = t_warm.cpu_s
    codes, scales = int8_encode(x)
    fixed = np.clip(np.rint(x * 127), -127, 127) / 127
    out["reference"] = {
        "int8 per-vector scale (in memory)": _quality(x, int8_decode(codes, scales), cents),
        "int8 fixed scale 127 (not used)": _quality(x, fixed.astype(np.float32), cents),
        "float16 (not used)": _quality(x, x.astype(np.float16).astype(np.float32), cents),
    }
    table = lake.partition_table(domain, day)  # the warm partition, as the archive job reads it
    out["warm_zstd_levels"] = {  # would a higher zstd level pay for int8 codes? (the files use the default)
        level: _parquet_bytes(to_warm(table), level) / len(ids) for level in ZSTD_LEVELS
    }
    for m in subquantizers:
        archive = ColdArchive(str(work / f"archive-pq{m}"), dim)
        pq, t_train = timed_call(lambda m=m: ProductQuantizer(m).fit(train[:train_rows]))
        name = archive.save_codebook(domain, day, pq)
        path, t_write = timed_call(lambda a=archive, n=name: a.write(day, domain, table, n))
        dec, t_read = timed_call(lambda a=archive: a.read(day, domain))
        dec_ids = dec.column("video_id").to_pylist()
        y = dec.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, dim)
        out["tiers"][f"cold PQ {m} B (cold.parquet)"] = {
            "bytes_per_video": _size(path) / len(ids),
            "codebook_bytes": _size(f"{archive.base}/{name}"),
            **_quality(np.stack([by_id[v] for v in dec_ids]), y, cents),
        }
        out["train_vectors"] = min(train_rows, len(train))
        out["timings_cpu_s"][f"PQ {m}: train codebook"] = t_train.cpu_s
        out["timings_cpu_s"][f"PQ {m}: cold write"] = t_write.cpu_s
        out["timings_cpu_s"][f"PQ {m}: decode (restore read)"] = t_read.cpu_s
    archive = ColdArchive(str(work / "archive-int8"), dim)
    path = archive.write(day, domain, table, None)
    dec = archive.read(day, domain)
    y = dec.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, dim)
    out["tiers"]["cold int8 fallback (cold.parquet)"] = {
        "bytes_per_video": _size(path) / len(ids),
        **_quality(np.stack([by_id[v] for v in dec.column("video_id").to_pylist()]), y, cents),
    }
    return out


def synthetic(args: argparse.Namespace, work: Path, train_rows: int) -> dict[str, Any]:
    domains = tuple(args.domains.split(","))
    spec = default_scenario(days=args.days, daily_volume=args.per_day * len(domains), domains=domains, seed=args.seed)
    stream = generate(replace(spec, with_text=False))
    v = stream.videos
    day_of = ((v["published_at"] - v["published_at"].min().normalize()).dt.days).to_numpy()
    out: dict[str, Any] = {}
    for dom in domains:
        is_dom = (v["domain"] == dom).to_numpy()
        train = stream.embeddings[is_dom & (day_of == 0)]
        sel = is_dom & (day_of == args.days - 1)
        x = stream.embeddings[sel]
        truth = v["true_topic"].to_numpy()[sel]
        names = sorted({t for t in truth if t})
        cents = np.stack([x[truth == n].mean(0) for n in names])
        cents /= np.linalg.norm(cents, axis=1, keepdims=True)
        times = [t.to_pydatetime() for t in v["published_at"][sel]]
        ids = v["video_id"][sel].tolist()
        print(
            f"  {dom}: {len(ids)} videos on day {args.days - 1}, {len(names)} topics, codebook from day 0", flush=True
        )
        out[dom] = measure_domain(
            work / dom, dom, train, ids, times, x, cents.astype(np.float32), args.subquantizers, train_rows
        )
    return out


def news(args: argparse.Namespace, work: Path, train_rows: int) -> dict[str, Any]:
    """The same figures on the demo's real embeddings (cache) and topics (store)."""
    from ray_topics.execution.embedder import EmbeddingCache
    from ray_topics.execution.runtime import Runtime, embedding_cache_path
    from ray_topics.streams.datasets import load_news_articles

    cfg = load_config(ROOT / "configs" / "demo.yaml", overrides=args.set, workdir=args.news)
    rt = Runtime(cfg)
    frame = load_news_articles()
    texts = frame_texts(frame, cfg.embedding.max_chars)
    path = embedding_cache_path(cfg, "news_articles")
    with np.load(path) as z:
        known = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))
    keys = [EmbeddingCache.key(t) for t in texts]
    domain_of: dict[str, str] = {}
    for d in cfg.domains.names:
        rows = rt.store.classifications.window(d, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        domain_of.update((r["video_id"], d) for r in rows)
    out: dict[str, Any] = {}
    for dom in cfg.domains.names:
        live = [t for t in rt.store.topics.list(dom) if t.status in ("active", "dying")]
        idx = [i for i, vid in enumerate(frame["video_id"]) if domain_of.get(vid) == dom and keys[i] in known]
        if len(live) < 2 or len(idx) < 256:
            continue
        x = np.stack([known[keys[i]] for i in idx]).astype(np.float32)
        cents = np.stack([t.centroid for t in live]).astype(np.float32)
        base = datetime(2017, 3, 1, tzinfo=UTC)
        times = [base + timedelta(seconds=int(i * 86_000 / len(idx))) for i in range(len(idx))]
        ids = [str(frame["video_id"].iloc[i]) for i in idx]
        print(f"  news/{dom}: {len(ids)} articles, {len(live)} live topics", flush=True)
        out[dom] = measure_domain(work / f"news-{dom}", dom, x, ids, times, x, cents, args.subquantizers, train_rows)
    return out


def _print(title: str, results: dict[str, Any]) -> None:
    """One table: every tier and reference codec, pooled over domains (video-weighted)."""
    print(f"\n{title}")
    total = sum(r["videos"] for r in results.values())
    first = next(iter(results.values()))
    f32 = (
        sum(r["tiers"]["hot float32 (day.parquet)"]["bytes_per_video"] * r["videos"] for r in results.values()) / total
    )
    head = ["B/video", "x smaller", "same topic", "cos med", "cos p1", "cos min"]
    print(f"{'tier / codec':<38} " + " ".join(f"{h:>{max(7, len(h))}}" for h in head))
    rows = [(k, True) for k in first["tiers"]] + [(k, False) for k in first["reference"]]
    for key, is_tier in rows:

        def pooled(field: str, key: str = key, is_tier: bool = is_tier) -> float:
            part = "tiers" if is_tier else "reference"
            return sum(r[part][key][field] * r["videos"] for r in results.values()) / total

        worst = min(r["tiers" if is_tier else "reference"][key]["cos_min"] for r in results.values())
        size = (
            f"{pooled('bytes_per_video'):8.1f} {f32 / pooled('bytes_per_video'):9.1f}" if is_tier else f"{'':8} {'':9}"
        )
        print(
            f"{key:<38} {size} {100 * pooled('agreement'):9.2f}% {pooled('cos_median'):8.4f} "
            f"{pooled('cos_p1'):7.4f} {worst:7.4f}"
        )
    levels = {lv: sum(r["warm_zstd_levels"][lv] * r["videos"] for r in results.values()) / total for lv in ZSTD_LEVELS}
    print("warm rows at zstd level " + ", ".join(f"{lv}: {b:.1f}" for lv, b in levels.items()) + " B/video")
    books = {k: v["codebook_bytes"] for k, v in first["tiers"].items() if "codebook_bytes" in v}
    if books:
        print(
            "codebook per domain (bytes, stored once): "
            + ", ".join(f"{k.split(' (')[0]}: {v:,}" for k, v in books.items())
        )
    trained = sorted({r.get("train_vectors", 0) for r in results.values()})
    print(f"CPU s per domain (median over domains; codebooks trained on {trained[0]:,}-{trained[-1]:,} vectors):")
    for k in first["timings_cpu_s"]:
        print(f"  {k:<44} {np.median([r['timings_cpu_s'][k] for r in results.values()]):7.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--per-day", type=int, default=10_000, help="videos per domain per day")
    p.add_argument("--domains", default="gaming,cooking,tech")
    p.add_argument("--days", type=int, default=8, help="the measured day is the last; the codebook comes from day 0")
    p.add_argument("--subquantizers", type=lambda s: [int(x) for x in s.split(",")], default=[24, 48, 96])
    p.add_argument("--news", metavar="WORKDIR", help="also measure the demo's real embeddings (run `make demo` first)")
    args = p.parse_args(argv)
    start(args)
    cfg = load_config(overrides=args.set)
    limit_threads(cfg.execution.blas_threads)
    train_rows = cfg.archive.pq_train_rows
    print(f"archive config: {cfg.archive.model_dump()}")
    results: dict[str, Any] = {}
    with scratch(args, "ray-topics-tiering-") as tmp:
        print("synthetic planted stream:", flush=True)
        results["synthetic"] = synthetic(args, tmp, train_rows)
        _print(f"synthetic: {len(results['synthetic'])} domains x 1 day partition", results["synthetic"])
        if args.news:
            print("\nnews corpus (demo):", flush=True)
            results["news"] = news(args, tmp, train_rows)
            _print(f"news corpus: {len(results['news'])} domains (all articles of each)", results["news"])
    return finish(args, {**run_info(args), "archive": cfg.archive.model_dump(), **results})


if __name__ == "__main__":
    sys.exit(main())
