"""Tier 1 Serve benchmark: serve/app.py over HTTP, each figure beside its baseline from the same run.

What one run measures (see ``--help`` for the knobs):

* baselines, measured first while nothing else of ours runs: BERTopic ``transform`` of one
  document with its embedding given (fitted on ~2,000 synthetic documents), a FAISS search
  over 100 centroids, and the Tier 1 steps of :mod:`ray_topics.tiers.realtime` called
  in-process (no Ray, no HTTP);
* the text path: videos/s of the CPU ``Embedder`` and of ONNX Runtime / int8 variants of the
  same model, with their agreement on the nearest of 100 centroids;
* for each Serve mode (default proxy, ``RAY_SERVE_ENABLE_HA_PROXY=1``), in a fresh process with
  its own local Ray: a store seeded with 5 domains x 100 topics, the app started with
  ``serve.run(build_app(...))`` on a free loopback port, then a load generator in a separate
  process (asyncio + aiohttp) runs: sequential single requests, an open loop at a steady rate
  (latency from each request's scheduled send time), closed-loop clients, and 1,000-video
  batches (committed rows checked in the store); then the same load on PERF.md's floor app
  (FastAPI ingress + one multiplexed, batched FAISS deployment: what Serve alone costs).

The app runs as shipped: nothing in it, in FastAPI or in Serve is wrapped or patched. (Where
the time goes inside the replicas is for a profiler, e.g. py-spy, or Serve's own metrics.)

Run from the repository root::

    .venv/bin/python -m benchmarks.serve_bench                # everything, both Serve modes
    .venv/bin/python -m benchmarks.serve_bench --smoke        # tiny loads, to check it works
    .venv/bin/python -m benchmarks.serve_bench --proxy haproxy --skip-text
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import (
    ROOT,
    Figures,
    describe,
    event_loop_runner,
    finish,
    frame_texts,
    machine,
    parser,
    run_info,
    scratch,
    start,
)

# serve.app (and with it Ray Serve) is imported only where a Serve mode's environment is already set:
# Ray Serve reads its mode variables once, when it is first imported

DOMAINS = ("gaming", "cooking", "tech", "sports", "news")
N_TOPICS = 100
DIM = 384
TOKEN = "bench-token"
PUBLISHED = "2026-01-02T10:00:00Z"
# a query's expected cosine to its topic centroid (a topic's members sit at ~0.6 in the store)
QUERY_COSINE = 0.7
NEWS_MAX_CHARS = 1000  # embedding.max_chars of the default config
MODULE = "benchmarks.serve_bench"  # how this script runs itself in a fresh interpreter (from the repository root)

GOALS = {"p50_ms": 10.0, "p99_ms": 30.0, "batch_videos_s": 5000.0, "agreement": 0.99}
MODES = {
    "default": {},
    "haproxy": {"RAY_SERVE_ENABLE_HA_PROXY": "1"},
    "throughput": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
    # Ray's documented high-throughput setting: HAProxy ingress + gRPC between replicas, user code on
    # the replica's own loop, buffered request logs (docs: "Enable High Throughput on Ray Serve")
    "haproxy+throughput": {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
}


# --------------------------------------------------------------------------- small helpers
def pct(xs: Sequence[float], q: float) -> float:
    """The q-th percentile of ``xs`` (nan when empty)."""
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q)) if len(xs) else float("nan")


def fmt_ms(x: float) -> str:
    if x != x:  # nan
        return "n/a"
    return f"{x * 1000:.0f} µs" if x < 0.1 else f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms"


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def near(centroids: np.ndarray, rng: np.random.Generator, cosine: float = QUERY_COSINE) -> np.ndarray:
    """A unit vector whose expected cosine to each given (unit) centroid is ``cosine``."""
    sigma = np.sqrt((1 / cosine**2 - 1) / centroids.shape[-1])
    return unit(centroids + sigma * rng.standard_normal(centroids.shape).astype(np.float32))


def timeit_calls(fn: Callable[[], Any], n: int, warmup: int = 3) -> list[float]:
    """Wall time in ms of ``n`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- request bodies
def embedding_json(vec: np.ndarray) -> str:
    """An embedding as clients send it: 6 decimals (a 1,000-video batch stays under 8 MB)."""
    return json.dumps(np.round(vec.astype(np.float64), 6).tolist(), separators=(",", ":"))


def video_json(video_id: str, domain: str, emb: str, published: str = PUBLISHED) -> str:
    return (
        f'{{"video_id":"{video_id}","channel_id":"bench","published_at":"{published}",'
        f'"title":"benchmark video","domain":"{domain}","embedding":{emb}}}'
    )


def body_of(videos: list[str]) -> bytes:
    return ('{"videos":[' + ",".join(videos) + "]}").encode()


# --------------------------------------------------------------------------- load generator
async def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """One phase of load over loopback; runs in its own process (``--_loadgen``)."""
    import aiohttp

    z = np.load(spec["queries"])
    embs = [embedding_json(v) for v in z["vectors"]]
    doms = [DOMAINS[int(d)] for d in z["domains"]]
    m = len(embs)
    prefix = spec["prefix"]
    counter = 0

    def next_video() -> str:
        nonlocal counter
        i = counter
        counter += 1
        return video_json(f"{prefix}-{i}", doms[i % m], embs[(i * 7919) % m])

    url = spec["url"]
    headers = {"Authorization": f"Bearer {spec['token']}", "Content-Type": "application/json"}
    lat: list[float] = []  # ms
    lag: list[float] = []  # ms the send started after its schedule (open loop)
    errors: list[str] = []
    videos_ok = 0
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds, too coarse for a 10 ms goal
    clock = time.perf_counter
    phase = spec["phase"]
    timeout = aiohttp.ClientTimeout(total=spec.get("request_timeout", 30))
    connector = aiohttp.TCPConnector(limit=0, force_close=False, ttl_dns_cache=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

        async def post(body: bytes, n_videos: int) -> bool:
            nonlocal videos_ok
            try:
                async with session.post(url, data=body) as r:
                    data = await r.read()
                    if r.status != 200:
                        errors.append(f"HTTP {r.status}: {data[:200]!r}")
                        return False
                    if n_videos > 1 and len(json.loads(data)["results"]) != n_videos:
                        errors.append("wrong number of results")
                        return False
                    videos_ok += n_videos
                    return True
            except Exception as exc:  # a timeout or a refused connection counts as an error
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                return False

        wall0 = time.time()
        t_start = clock()
        if phase == "seq":
            for _ in range(spec["n"]):
                body = body_of([next_video()])
                t = clock()
                if await post(body, 1):
                    lat.append((clock() - t) * 1000)
        elif phase == "open":
            rate, seconds = spec["rate"], spec["seconds"]
            n = int(rate * seconds)
            bodies = [body_of([next_video()]) for _ in range(n)]  # built before the clock starts
            t0 = clock() + 0.05

            async def one(body: bytes, sched: float) -> None:
                lag.append((clock() - sched) * 1000)
                if await post(body, 1):
                    lat.append((clock() - sched) * 1000)  # from the scheduled send time

            tasks = []
            for i, body in enumerate(bodies):
                sched = t0 + i / rate
                delay = sched - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(body, sched)))
            _done, pending = await asyncio.wait(tasks, timeout=spec.get("request_timeout", 30))
            for t in pending:
                t.cancel()
                errors.append("unfinished at the deadline")
        elif phase in ("closed", "batch"):
            deadline = clock() + spec["seconds"]
            size = spec.get("batch_size", 1)

            async def client() -> None:
                while clock() < deadline:
                    body = body_of([next_video() for _ in range(size)])
                    t = clock()
                    if await post(body, size):
                        lat.append((clock() - t) * 1000)

            await asyncio.gather(*(client() for _ in range(spec["clients"])))
        else:
            raise ValueError(f"unknown phase {phase!r}")
        elapsed = clock() - t_start
    return {
        "phase": phase,
        "lat_ms": lat,
        "lag_ms": lag,
        "errors": len(errors),
        "error_samples": errors[:5],
        "sent": counter,
        "videos_ok": videos_ok,
        "elapsed_s": elapsed,
        "wall": [wall0, time.time()],
    }


def loadgen_main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    with event_loop_runner() as runner:
        res = runner.run(_loadgen(spec))
    Path(out_path).write_text(json.dumps(res))


def run_load(spec: dict[str, Any], workdir: Path, limit_s: float) -> dict[str, Any]:
    """Run one phase in a separate process, so the client never shares the server's event loop."""
    spec_path = workdir / f"spec-{spec['prefix']}.json"
    out_path = workdir / f"out-{spec['prefix']}.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", MODULE, "--_loadgen", str(spec_path), str(out_path)]
    subprocess.run(cmd, check=True, timeout=limit_s, cwd=ROOT)
    return json.loads(out_path.read_text())


# --------------------------------------------------------------------------- baselines (no Ray)
def synthetic_corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """~n synthetic documents (title, tags, description) with their 384-d embeddings."""
    from dataclasses import replace

    from ray_topics.streams.planted import default_scenario
    from ray_topics.streams.synthetic import generate

    days = 10
    spec = replace(default_scenario(days=days, daily_volume=max(1, n // days), seed=seed), dim=DIM)
    s = generate(spec)
    docs = frame_texts(s.videos, 1000)
    return docs[:n], s.embeddings[:n]


def bench_baselines(args: argparse.Namespace) -> dict[str, Any]:
    """BERTopic transform of one document, a FAISS search over 100 centroids, in-process stages."""
    out: dict[str, Any] = {}
    rng = np.random.default_rng(1 + args.seed)
    # FAISS alone: the exact inner-product index CentroidIndex builds over the centroids
    import faiss

    from ray_topics.core.index import CentroidIndex

    cents = unit(rng.standard_normal((N_TOPICS, DIM)))
    idx = CentroidIndex().fit([f"d:{i}" for i in range(N_TOPICS)], cents, [0.6] * N_TOPICS, [0.05] * N_TOPICS)
    faiss_index = faiss.IndexFlatIP(DIM)
    faiss_index.add(cents)
    q = near(cents[3], rng)[None]
    raw = timeit_calls(lambda: faiss_index.search(q, 1), 2000, warmup=50)
    full = timeit_calls(lambda: idx.search(q), 2000, warmup=50)
    out["faiss_p50_ms"] = pct(raw, 50)
    out["centroid_index_p50_ms"] = pct(full, 50)
    log(f"baseline  FAISS IndexFlatIP search, 1 query x 100 centroids: p50 {fmt_ms(out['faiss_p50_ms'])}")
    log(f"baseline  CentroidIndex.search (FAISS + confidence), 1 query: p50 {fmt_ms(out['centroid_index_p50_ms'])}")

    # BERTopic
    t = time.perf_counter()
    docs, emb = synthetic_corpus(args.bertopic_docs, seed=args.seed)
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
    topic_model = BERTopic(embedding_model=None, umap_model=umap_model, calculate_probabilities=False)
    topic_model.fit(docs, embeddings=emb)
    fit_s = time.perf_counter() - t
    n_topics = len(set(topic_model.topics_)) - (1 if -1 in topic_model.topics_ else 0)
    k = [0]

    def transform_one() -> None:
        i = k[0] % len(docs)
        k[0] += 1
        topic_model.transform([docs[i]], embeddings=emb[i][None])

    bt = timeit_calls(transform_one, args.bertopic_calls, warmup=3)
    out.update(bertopic_p50_ms=pct(bt, 50), bertopic_p99_ms=pct(bt, 99), bertopic_docs=len(docs))
    out["bertopic_topics"] = n_topics
    log(
        f"baseline  BERTopic.transform([doc], embeddings=...) on {len(docs)} docs ({n_topics} topics, "
        f"fit {fit_s:.0f} s): p50 {fmt_ms(out['bertopic_p50_ms'])} over {len(bt)} calls"
    )

    # the Tier 1 stages in-process: what a single request costs without Serve
    out["inproc"] = bench_inprocess(rng, args.set)
    return out


def bench_inprocess(rng: np.random.Generator, overrides: Sequence[str]) -> dict[str, float]:
    """The app's per-request work for one video: the Tier 1 steps called directly (SQLite store in a temp dir)."""
    from ray_topics.config import load_config
    from ray_topics.core.router import DomainRouter
    from ray_topics.core.validation import validate_videos
    from ray_topics.execution.runtime import Runtime
    from ray_topics.tiers.realtime import DomainClassifier, classify_rows, commit, route

    with tempfile.TemporaryDirectory(prefix="rtb-inproc-") as tmp:
        cfg = load_config(overrides=[f"serve.token={TOKEN}", *overrides], workdir=tmp)
        rt = Runtime(cfg)
        cents = seed_store(rt, rng)
        d = cfg.domains
        router = DomainRouter(d.names, d.category_map(), {}, d.unknown_category)
        models = DomainClassifier(rt.registry, rt.confidence)
        models.refresh()
        vecs = [near(cents[i % 5][i % N_TOPICS], rng) for i in range(2000)]
        bodies = [body_of([video_json(f"ip-{i}", DOMAINS[i % 5], embedding_json(v))]) for i, v in enumerate(vecs)]
        now = datetime.now(UTC)
        res: dict[str, list[float]] = {}
        for i, body in enumerate(bodies):
            marks = [time.perf_counter()]
            payload = json.loads(body)
            marks.append(time.perf_counter())
            videos, vectors = validate_videos(
                payload["videos"], dim=DIM, now=now, max_future_seconds=300, domains=d.names, max_batch=1000
            )
            marks.append(time.perf_counter())
            records, by_domain = route(router, videos, vectors)
            marks.append(time.perf_counter())
            ((domain, _idx),) = by_domain.items()
            rows = classify_rows(models, domain, records, vectors, now)
            marks.append(time.perf_counter())
            views = commit(rt.store, records, vectors, rows, models.label_of)
            marks.append(time.perf_counter())
            json.dumps({"results": views})
            marks.append(time.perf_counter())
            if i < 50:
                continue  # warm-up
            names = ["json.loads", "validate_videos", "route + records", "classify_rows (FAISS)", "commit", "dumps"]
            for name, a, b in zip(names, marks, marks[1:], strict=False):
                res.setdefault(name, []).append((b - a) * 1000)
            res.setdefault("total", []).append((marks[-1] - marks[0]) * 1000)
        rt.store.dispose()
    p50 = {k: pct(v, 50) for k, v in res.items()}
    log("baseline  Tier 1 work for one video in-process (no Ray, no HTTP), p50 per stage:")
    for k, v in p50.items():
        log(f"            {k:28s} {fmt_ms(v)}")
    return p50


# --------------------------------------------------------------------------- text path
def bench_text(args: argparse.Namespace) -> dict[str, Any]:
    """Videos/s of the CPU embedder and faster variants, and their nearest-centroid agreement."""
    import torch
    from sklearn.cluster import KMeans

    from ray_topics.execution.embedder import Embedder, default_model_path

    if args.text_corpus == "news":  # real text: the demo's news articles (title + text, cut at max_chars)
        from ray_topics.core.text import video_text
        from ray_topics.streams.datasets import load_news_articles

        news = load_news_articles().sample(n=args.text_n, random_state=3)
        pairs = zip(news["title"], news["description"], strict=True)
        texts = [video_text(t, d, None, NEWS_MAX_CHARS) for t, d in pairs]
    else:
        docs, _ = synthetic_corpus(max(args.text_n, 200), seed=3 + args.seed)
        texts = docs[: args.text_n]
    path = default_model_path()
    base = Embedder(batch_size=64)
    base.encode(texts[:64])  # load + warm up
    lens = [len(ids) for ids in base.model.tokenizer(texts, truncation=True, max_length=256)["input_ids"]]
    out: dict[str, Any] = {
        "n_texts": len(texts),
        "tokens_mean": float(np.mean(lens)),
        "torch_threads": torch.get_num_threads(),
        "variants": {},
    }
    what = "news articles (title, text)" if args.text_corpus == "news" else "synthetic video texts (title, tags, text)"
    out["corpus"] = args.text_corpus
    log(f"text      {len(texts)} {what}, {np.mean(lens):.0f} tokens on avg")

    def measure(name: str, encode: Callable[[list[str]], np.ndarray], ref: np.ndarray | None) -> np.ndarray:
        encode(texts[:32])
        best = float("inf")
        for _ in range(args.text_repeats):
            t = time.perf_counter()
            vecs = encode(texts)
            best = min(best, time.perf_counter() - t)
        row: dict[str, Any] = {"videos_s": len(texts) / best}
        if ref is not None:
            cos = np.sum(unit(vecs) * ref, axis=1)
            row.update(agreement=float(np.mean(nearest(vecs) == nearest(ref))), min_cos=float(cos.min()))
        out["variants"][name] = row
        extra = (
            f", agreement {row['agreement']:.2%} (min cosine to fp32 {row['min_cos']:.4f})" if ref is not None else ""
        )
        log(f"text      {name:44s} {row['videos_s']:7.0f} videos/s{extra}")
        return vecs

    ref = unit(base.encode(texts))
    km = KMeans(n_clusters=min(N_TOPICS, len(texts) // 2), n_init=1, random_state=0).fit(ref)
    cents = unit(km.cluster_centers_)

    def nearest(v: np.ndarray) -> np.ndarray:
        return np.argmax(unit(v) @ cents.T, axis=1)

    measure("sentence-transformers fp32 (Embedder, torch)", base.encode, None)

    # torch dynamic int8 quantisation of the Linear layers: the library's embedding.quantize=int8
    try:
        qmodel = Embedder(batch_size=64, quantize="int8")
        measure("torch quantize_dynamic int8 (embedding.quantize=int8)", qmodel.encode, ref)
    except Exception as exc:
        out["variants"]["torch quantize_dynamic int8"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        log(f"text      torch quantize_dynamic: failed: {exc}")

    # sentence-transformers' own ONNX backend (needs optimum)
    try:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(path, backend="onnx", local_files_only=True, device="cpu")
        measure(
            "sentence-transformers backend='onnx'",
            lambda ts: st.encode(ts, batch_size=64, normalize_embeddings=True, show_progress_bar=False),
            ref,
        )
    except Exception as exc:
        msg = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        out["variants"]["sentence-transformers backend='onnx'"] = {"error": msg}
        log(f"text      sentence-transformers backend='onnx': unavailable: {msg}")

    # ONNX Runtime directly: export the transformer locally, tokenise + mean-pool around it
    try:
        with tempfile.TemporaryDirectory(prefix="rtb-onnx-") as tmp:
            fp32_path, int8_path = export_onnx(base.model, Path(tmp))
            for name, p in (
                ("onnxruntime fp32 (local torch.onnx export)", fp32_path),
                ("onnxruntime int8 (quantize_dynamic)", int8_path),
            ):
                measure(name, onnx_encoder(base.model, p), ref)
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}"[:300]
        out["variants"]["onnxruntime"] = {"error": msg}
        log(f"text      onnxruntime: failed: {msg}")
    return out


def export_onnx(st_model: Any, tmp: Path) -> tuple[Path, Path]:
    """Export the model's transformer to ONNX (offline, from the local folder), and an int8 copy."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tr = st_model[0].auto_model.eval()
    tok = st_model.tokenizer
    enc = tok(["a sample text", "another one here"], padding=True, return_tensors="pt")
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    fp32 = tmp / "model.onnx"

    class Wrapped(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            return self.m(**dict(zip(names, xs, strict=True))).last_hidden_state

    axes = {k: {0: "batch", 1: "seq"} for k in names} | {"last_hidden_state": {0: "batch", 1: "seq"}}
    with torch.no_grad():
        torch.onnx.export(
            Wrapped(tr),
            tuple(enc[k] for k in names),
            str(fp32),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    int8 = tmp / "model.int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return fp32, int8


def onnx_encoder(st_model: Any, onnx_path: Path) -> Callable[[list[str]], np.ndarray]:
    """Tokeniser + ONNX Runtime session + mean pooling + L2 norm, as sentence-transformers does."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    tok = st_model.tokenizer
    max_len = st_model.max_seq_length
    # tokenizer.json is in the packaged folder: the fast tokenizer's own batch path
    backend = getattr(tok, "backend_tokenizer", None) or getattr(tok, "_tokenizer", None)

    def encode(texts: list[str], batch_size: int = 64) -> np.ndarray:
        outs = []
        for s in range(0, len(texts), batch_size):
            chunk = texts[s : s + batch_size]
            if backend is not None:
                backend.enable_truncation(max_len)
                backend.enable_padding()
                encs = backend.encode_batch(chunk)
                feeds = {
                    "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
                }
            else:
                feeds = dict(tok(chunk, padding=True, truncation=True, max_length=max_len, return_tensors="np"))
                feeds = {k: np.asarray(v, dtype=np.int64) for k, v in feeds.items()}
            feeds = {k: v for k, v in feeds.items() if k in names}
            hidden = sess.run(None, feeds)[0]
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            outs.append((hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9))
        return unit(np.concatenate(outs))

    return encode


# --------------------------------------------------------------------------- the Serve run (one mode)
def seed_store(rt: Any, rng: np.random.Generator) -> dict[int, np.ndarray]:
    """5 domains x 100 topics with unit 384-d centroids; publishes version 1 of each domain."""
    from ray_topics.core.types import Topic

    at = datetime(2026, 1, 1, tzinfo=UTC)
    cents = {}
    for k, d in enumerate(DOMAINS):
        c = unit(rng.standard_normal((N_TOPICS, DIM)))
        cents[k] = c
        topics = [
            Topic(
                topic_id=f"{d}:{i}",
                domain=d,
                number=i,
                label=f"{d} topic {i}",
                keywords=[d, f"t{i}"],
                centroid=c[i],
                sim_mean=0.6,
                sim_std=0.05,
                size=100,
                status="active",
                born_at=at,
                last_seen_at=at,
            )
            for i in range(N_TOPICS)
        ]
        with rt.store.begin() as conn:
            rt.store.topics.upsert(topics, conn)
            rt.registry.publish(d, at, "bench", conn)
    return cents


def floor_app(centroids: dict[int, np.ndarray]) -> Any:
    """../shared/PERF.md's floor app: what Serve alone costs on this machine, in the same Serve mode.

    A FastAPI ingress calling one downstream deployment multiplexed by domain through the handle,
    ``@serve.batch`` (wait 0), doing only a FAISS search over the domain's 100 centroids: no
    validation, no store, no routing, the same CPU shares as ours, one call per request (PERF.md's
    shape: ours gathers a domain's concurrent requests into one call instead). The classes are made
    here, in the ``--_child`` process, so Ray pickles them by value.
    """
    import faiss
    import orjson
    from fastapi import FastAPI, Request, Response
    from ray import serve

    floor_api = FastAPI()
    cents = {DOMAINS[d]: c.astype(np.float32) for d, c in centroids.items()}

    @serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=256)
    class FloorModel:
        def __init__(self, cents: dict[str, np.ndarray]) -> None:
            self.cents = cents

        @serve.multiplexed(max_num_models_per_replica=256)
        async def get_model(self, domain: str) -> Any:
            index = faiss.IndexFlatIP(self.cents[domain].shape[1])
            index.add(self.cents[domain])
            return index

        @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.0, max_concurrent_batches=32)
        async def search(self, vecs: list[np.ndarray]) -> list[int]:
            index = await self.get_model(serve.get_multiplexed_model_id())
            _sims, ids = index.search(np.stack(vecs), 1)
            return [int(i) for i in ids[:, 0]]

    @serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=256)
    @serve.ingress(floor_api)
    class FloorIngress:
        def __init__(self, model: Any) -> None:
            from serve.app import handle_here  # as our Ingress: calls the way the replicas' Serve mode does

            self.model = handle_here(model)

        async def classify(self, request):  # annotated below
            v = orjson.loads(await request.body())["videos"][0]
            vec = np.asarray(v["embedding"], np.float32)
            top = await self.model.options(multiplexed_model_id=v["domain"]).search.remote(vec)
            body = orjson.dumps({"results": [{"video_id": v["video_id"], "topic": top}]})
            return Response(body, media_type="application/json")

        # real classes, not this module's postponed (string) annotations: the replica that
        # rebuilds the route from a by-value pickle cannot resolve names of this module
        classify.__annotations__ = {"request": Request, "return": Response}  # noqa: RUF012 - not a class attribute
        classify = floor_api.post("/v1/classify")(classify)

    return FloorIngress.bind(FloorModel.bind(cents))


def serve_mode_main(args: argparse.Namespace) -> None:
    """One Serve mode in this (fresh) process: start Ray + the app, run the load phases, write JSON."""
    mode = args._child
    os.environ.update(MODES[mode])  # before Ray starts: the raylet and every worker inherit it
    with scratch(args, f"rtb-{mode}-") as workdir:
        result = serve_mode(args, mode, workdir)
    Path(args.json_out).write_text(json.dumps(result))


def serve_mode(args: argparse.Namespace, mode: str, workdir: Path) -> dict[str, Any]:
    import ray
    from ray import serve

    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime
    from serve.app import build_app
    from serve.ports import free_port

    rng = np.random.default_rng(11 + args.seed)
    overrides = [f"serve.token={TOKEN}", *args.set]
    rt = Runtime(load_config(overrides=overrides, workdir=str(workdir)))
    cents = seed_store(rt, rng)
    m = 4000
    dom = rng.integers(0, len(DOMAINS), m)
    top = rng.integers(0, N_TOPICS, m)
    vecs = np.stack([near(cents[int(d)][int(t)], rng) for d, t in zip(dom, top, strict=True)])
    np.savez(workdir / "queries.npz", vectors=vecs, domains=dom)

    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"overrides": overrides, "workdir": str(workdir)}), name="ray-topics", route_prefix="/")
    url = f"http://127.0.0.1:{port}/v1/classify"
    log(f"[{mode}] Ray {ray.__version__} + app up in {time.perf_counter() - t:.0f} s on :{port} ({workdir})")
    base = {"url": url, "token": TOKEN, "queries": str(workdir / "queries.npz")}
    result: dict[str, Any] = {"mode": mode, "env": MODES[mode], "phases": {}}
    limit = 300.0

    def phase(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        time.sleep(args.settle)
        res = run_load({**base, **spec, "prefix": f"{mode}-{name}"}, workdir, limit)
        result["phases"][name] = res
        return res

    # warm-up: every domain's model loaded, connections open, code paths hot
    w = phase("warmup", {"phase": "seq", "n": args.warmup})
    if w["errors"]:
        raise RuntimeError(f"warm-up failed: {w['error_samples']}")
    r = phase("sequential", {"phase": "seq", "n": args.seq_n})
    log(f"[{mode}] sequential 1 client x {args.seq_n}: p50 {fmt_ms(pct(r['lat_ms'], 50))}")
    r = phase("open", {"phase": "open", "rate": args.rate, "seconds": args.open_seconds})
    log(
        f"[{mode}] open loop {args.rate:g} req/s x {args.open_seconds:g} s: p50 {fmt_ms(pct(r['lat_ms'], 50))}, "
        f"p99 {fmt_ms(pct(r['lat_ms'], 99))}, errors {r['errors']}, send lag p99 {fmt_ms(pct(r['lag_ms'], 99))}"
    )
    r = phase("closed", {"phase": "closed", "clients": args.clients, "seconds": args.closed_seconds})
    log(
        f"[{mode}] closed loop {args.clients} clients x {args.closed_seconds:g} s: "
        f"{len(r['lat_ms']) / r['elapsed_s']:.0f} req/s, p50 {fmt_ms(pct(r['lat_ms'], 50))}, "
        f"p99 {fmt_ms(pct(r['lat_ms'], 99))}, errors {r['errors']}"
    )
    if args.batch_seconds > 0:
        before = rt.store.count("classifications")
        r = phase(
            "batch",
            {
                "phase": "batch",
                "clients": args.batch_clients,
                "seconds": args.batch_seconds,
                "batch_size": args.batch_size,
                "request_timeout": 120,
            },
        )
        time.sleep(0.5)
        r["committed"] = rt.store.count("classifications") - before
        log(
            f"[{mode}] batches of {args.batch_size} x {args.batch_clients} clients x {args.batch_seconds:g} s: "
            f"{r['videos_ok'] / r['elapsed_s']:.0f} videos/s, {r['videos_ok']} answered, "
            f"{r['committed']} committed, errors {r['errors']}"
        )
    rt.store.dispose()
    if not args.skip_floor:
        serve.delete("ray-topics")
        serve.run(floor_app(cents), name="floor", route_prefix="/")
        for _try in range(60):  # the proxy picks up the new app's route a little after serve.run returns
            w = phase("floor-warmup", {"phase": "seq", "n": args.warmup})
            if not w["errors"]:
                break
            time.sleep(1.0)
        else:
            raise RuntimeError(f"floor app warm-up failed: {w['error_samples']}")
        r = phase("floor-sequential", {"phase": "seq", "n": args.seq_n})
        log(f"[{mode}] floor app, sequential: p50 {fmt_ms(pct(r['lat_ms'], 50))}")
        r = phase("floor-open", {"phase": "open", "rate": args.rate, "seconds": args.open_seconds})
        log(f"[{mode}] floor app, open loop: p50 {fmt_ms(pct(r['lat_ms'], 50))}, p99 {fmt_ms(pct(r['lat_ms'], 99))}")
        r = phase("floor-closed", {"phase": "closed", "clients": args.clients, "seconds": args.closed_seconds})
        log(f"[{mode}] floor app, closed loop: {len(r['lat_ms']) / r['elapsed_s']:.0f} req/s")
    serve.shutdown()
    ray.shutdown()
    return result


# --------------------------------------------------------------------------- report
def label(run: dict[str, Any]) -> str:
    wait = run.get("batch_wait_s")  # runs recorded before the DomainModel stopped batching
    return run["mode"] + ("" if wait is None else f", batch wait {wait:g} s")


def serve_figures(base: dict[str, Any], runs: list[dict[str, Any]], args: argparse.Namespace) -> Figures:
    """figure | goal | measured | baseline of every Serve mode run."""
    bt = base.get("bertopic_p50_ms", float("nan"))
    faiss_p50 = base.get("faiss_p50_ms", float("nan"))
    t = Figures(ours="measured", baseline="baseline")
    for r in runs:
        mode, ph = label(r), r["phases"]
        s, o, c, b = ph.get("sequential"), ph.get("open"), ph.get("closed"), ph.get("batch")
        if s:
            p = pct(s["lat_ms"], 50)
            t.add(
                f"[{mode}] single request, 1 sequential client, p50",
                "-",
                f"{p:.2f} ms",
                f"BERTopic {bt:.1f} ms ({p / bt:.2f}x); FAISS alone {faiss_p50 * 1000:.0f} µs",
            )
        fs, fo, fc = ph.get("floor-sequential"), ph.get("floor-open"), ph.get("floor-closed")
        if fs and fo and fc:
            t.add(
                f"[{mode}] Serve floor app (PERF.md: FAISS only, same mode and load)",
                "-",
                f"1 client p50 {pct(fs['lat_ms'], 50):.2f} ms; open loop p50 {pct(fo['lat_ms'], 50):.2f} / p99 "
                f"{pct(fo['lat_ms'], 99):.2f} ms, errors {fo['errors']}; {args.clients} clients "
                f"{len(fc['lat_ms']) / fc['elapsed_s']:.0f} req/s",
                "the floor under every figure of this mode",
            )
        if o:
            p50, p99 = pct(o["lat_ms"], 50), pct(o["lat_ms"], 99)
            t.add(
                f"[{mode}] open loop {args.rate:g} req/s x {args.open_seconds:g} s, p50",
                f"<= {GOALS['p50_ms']:g} ms",
                f"{p50:.2f} ms",
                f"BERTopic {bt:.1f} ms; ours/BERTopic = {p50 / bt:.3f}",
                p50 <= GOALS["p50_ms"],
            )
            t.add(
                f"[{mode}] open loop, p99",
                f"<= {GOALS['p99_ms']:g} ms",
                f"{p99:.2f} ms",
                f"BERTopic p99 {base.get('bertopic_p99_ms', float('nan')):.1f} ms",
                p99 <= GOALS["p99_ms"],
            )
            t.add(f"[{mode}] open loop, errors", "0", f"{o['errors']} of {o['sent']}", None, o["errors"] == 0)
        if c:
            t.add(
                f"[{mode}] {args.clients} closed-loop clients",
                "-",
                f"{len(c['lat_ms']) / c['elapsed_s']:.0f} req/s, p50 {pct(c['lat_ms'], 50):.1f} ms, "
                f"p99 {pct(c['lat_ms'], 99):.1f} ms, errors {c['errors']}",
                f"BERTopic 1 core ~{1000 / bt:.0f} docs/s",
            )
        if b:
            vps = b["videos_ok"] / b["elapsed_s"]
            t.add(
                f"[{mode}] batch {args.batch_size} videos x {args.batch_clients} clients",
                f">= {GOALS['batch_videos_s']:,.0f} videos/s",
                f"{vps:,.0f} videos/s; {b['committed']:,} committed of {b['videos_ok']:,} answered; errors "
                f"{b['errors']}; p50 {pct(b['lat_ms'], 50):.0f} ms/batch",
                f"BERTopic ~{1000 / bt:.0f} docs/s",
                vps >= GOALS["batch_videos_s"],
            )
    return t


def summarise(base: dict[str, Any], text: dict[str, Any] | None, figures: Figures) -> None:
    log("\n" + "=" * 100)
    log("RESULTS (same run)")
    log("=" * 100)
    log(f"machine: {describe(machine())}")
    log(
        f"baseline BERTopic transform 1 doc p50: {fmt_ms(base.get('bertopic_p50_ms', float('nan')))}; "
        f"FAISS search 1 query x 100 centroids p50: {fmt_ms(base.get('faiss_p50_ms', float('nan')))}"
    )
    if figures.rows:
        log("\n" + figures.markdown())
    if text:
        log(
            f"\n| text path (CPU, {text['n_texts']} video texts of ~{text.get('tokens_mean', 0):.0f} tokens, "
            f"torch threads {text['torch_threads']}) | videos/s "
            "| agreement on nearest of 100 centroids (goal >= 99%) |"
        )
        log("|---|---|---|")
        for name, row in text["variants"].items():
            if "error" in row:
                log(f"| {name} | n/a | {row['error']} |")
                continue
            agr = row.get("agreement")
            a = "reference" if agr is None else f"{agr:.2%} ({'met' if agr >= GOALS['agreement'] else 'MISSED'})"
            log(f"| {name} | {row['videos_s']:.0f} | {a} |")
    inproc = base.get("inproc")
    if inproc:
        log("\n### The same work in-process (no Ray, no HTTP), p50 ms\n")
        log("| stage | p50 |")
        log("|---|---|")
        for k, v in inproc.items():
            log(f"| {k} | {v:.3f} |")


# --------------------------------------------------------------------------- entry point
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser(__doc__)
    p.add_argument("--proxy", default="both", help="default | haproxy | throughput | both (default, haproxy)")
    p.add_argument("--smoke", action="store_true", help="tiny loads, to check the script works")
    p.add_argument("--rate", type=float, default=100.0, help="open-loop requests/s")
    p.add_argument("--open-seconds", type=float, default=20.0)
    p.add_argument("--clients", type=int, default=16, help="closed-loop clients")
    p.add_argument("--closed-seconds", type=float, default=10.0)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--batch-clients", type=int, default=3)
    p.add_argument("--batch-seconds", type=float, default=20.0)
    p.add_argument("--seq-n", type=int, default=300, help="sequential single requests")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--settle", type=float, default=2.0, help="seconds of quiet before each phase")
    p.add_argument("--bertopic-docs", type=int, default=2000)
    p.add_argument("--bertopic-calls", type=int, default=50)
    p.add_argument("--text-n", type=int, default=500)
    p.add_argument("--text-repeats", type=int, default=2)
    p.add_argument("--skip-baselines", action="store_true")
    p.add_argument("--skip-text", action="store_true")
    p.add_argument("--skip-floor", action="store_true", help="do not measure PERF.md's floor app after ours")
    p.add_argument(
        "--text-corpus", choices=("synthetic", "news"), default="synthetic", help="texts of the text-path stage"
    )
    p.add_argument("--skip-serve", action="store_true")
    p.add_argument("--_child", help=argparse.SUPPRESS)
    p.add_argument("--json-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.rate, args.open_seconds, args.clients, args.closed_seconds = 20.0, 3.0, 4, 3.0
        args.batch_size, args.batch_clients, args.batch_seconds = 200, 1, 3.0
        args.seq_n, args.warmup, args.settle = 30, 20, 0.5
        args.bertopic_docs, args.bertopic_calls, args.text_n, args.text_repeats = 600, 5, 64, 1
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_loadgen"]:
        loadgen_main(argv[1], argv[2])
        return 0
    args = parse_args(argv)
    if args._child == "text":
        Path(args.json_out).write_text(json.dumps(bench_text(args)))
        return 0
    if args._child:
        serve_mode_main(args)
        return 0
    start(args)
    log(f"serve_bench: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    modes = ["default", "haproxy"] if args.proxy == "both" else args.proxy.split(",")
    for mode in modes:
        if mode not in MODES:
            raise SystemExit(f"unknown --proxy {mode!r}; use {', '.join(MODES)} or both")
    base = {} if args.skip_baselines else bench_baselines(args)

    def child(part: str) -> Any:
        """One part in a fresh interpreter: its own Ray, its own thread pools."""
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            out = f.name
        try:
            cmd = [sys.executable, "-m", MODULE, *argv, "--_child", part, "--json-out", out]
            subprocess.run(cmd, check=True, timeout=560, cwd=ROOT)
            return json.loads(Path(out).read_text())
        finally:
            os.unlink(out)

    text = None if args.skip_text else child("text")
    runs = [] if args.skip_serve else [child(mode) for mode in modes]
    figures = serve_figures(base, runs, args)
    summarise(base, text, figures)
    out = {
        **run_info(args),
        "baselines": base,
        "text": text,
        "runs": runs,
        "tables": {"serve": figures.rows},
        "markdown": {"serve": figures.markdown()},
    }
    return finish(args, out)


if __name__ == "__main__":
    sys.exit(main())
