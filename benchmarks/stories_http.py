"""The story view's reads over HTTP, each beside a baseline from the same run: /v1/stories and /v1/videos/{id}.

What one run measures (``--help`` for the knobs):

* a store with history: a planted stream of three domains replayed through every tier
  (:func:`benchmarks.serve_sustained.prepare_store`), or a copy of ``--store``, a workdir seeded by
  ``benchmarks.serve_sustained --seed-to``; then the last ``serve.story_days`` placed days get
  planted moves, ``--moved-share`` of their fitting videos told under another domain's topic
  (:func:`benchmarks.stories_cost.plant_moves`), so that ``GET /v1/stories`` sums real stories;
* three apps in one local Ray, started as ``ray-topics serve`` starts it (``serve.ray_env``): ours
  with ``serve.health_cache_seconds`` = ``--cached-seconds`` under ``/`` (cached reads), ours again
  with it 0 under ``/cold`` (every read computed), and PERF.md's floor app under ``/floor``
  (:func:`benchmarks.serve_bench.floor_app`: FastAPI ingress + one FAISS deployment, Serve alone);
* four pairs, each read beside its baseline:
  ``GET /v1/stories?days=7`` beside ``GET /v1/health``, both cold (``/cold``) and both cached (``/``);
  ``GET /v1/videos/{id}`` (the video's answer and its story: ``story_id``, ``story_label``; half of
  the videos moved, half not) beside ``GET /v1/topics/{id}`` of the same videos' topics (the app's
  cheapest read by id), and beside the floor app's single-video ``POST /v1/classify``;
* three kinds of client, from a load generator in its own process (asyncio + aiohttp): one client
  sending one request at a time; ``--clients`` closed-loop clients; an open loop at a constant rate
  (``--rate``; the cold pair at ``--cold-rate``, by default half the rate the slower cold read
  sustains one at a time; latency from each request's scheduled send time);
* in turns: ``--rounds`` rounds, in each every client kind runs ``--seconds`` of each read of a
  pair one after the other, the order rotating from round to round, so that drift in the
  machine's load falls on a read and its baseline alike. Percentiles pool the rounds.

The app runs as shipped (nothing patched); the cached app's long cache only keeps the once-a-period
recomputation out of the cached figures (the cold app measures that computation).

Run from the repository root::

    .venv/bin/python -m benchmarks.serve_sustained --seed-to /tmp/stories8 --days 8 --daily-volume 5000
    .venv/bin/python -m benchmarks.stories_http --store /tmp/stories8 --out /tmp/stories_http.json
    .venv/bin/python -m benchmarks.stories_http --smoke     # seeds a tiny store itself, tiny loads
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from benchmarks.harness import ROOT, Table, event_loop_runner, main_of, parser, run_info, scratch
from benchmarks.serve_bench import DOMAINS, TOKEN, body_of, embedding_json, floor_app, pct, video_json
from benchmarks.serve_sustained import prepare_store, queries
from benchmarks.stories_cost import plant_moves

MODULE = "benchmarks.stories_http"
COLD, FLOOR = "/cold", "/floor"
KINDS = ("sequential", "closed", "open")
# reads measured in turns with each other; the first of a group is the read under test
GROUPS = (("stories cold", "health cold"), ("stories cached", "health cached"), ("video", "topic", "floor"))
PAIRS = (("stories cold", "health cold"), ("stories cached", "health cached"), ("video", "topic"), ("video", "floor"))
COLD_READS = GROUPS[0]
# a key every good answer of the read holds
EXPECT = {
    "stories cold": "stories",
    "health cold": "summary",
    "stories cached": "stories",
    "health cached": "summary",
    "video": "story_id",
    "topic": "topic_id",
    "floor": "results",
}
ROUTE_WAIT_S = 60.0  # a new app's route reaches the proxy a little after serve.run returns


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- load generator (own process)
async def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    # (method, URL, body bytes) of each read, made before any clock starts
    reqs = {t: [(m, spec["base"] + p, b and b.encode()) for m, p, b in rs] for t, rs in spec["requests"].items()}
    clock = time.perf_counter
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=spec["request_timeout"])
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

        async def fetch(req: tuple[str, str, bytes | None]) -> tuple[str | None, bytes]:
            """(None, the answer) or (what went wrong, b"")."""
            method, url, body = req
            try:
                async with session.request(method, url, data=body) as r:
                    data = await r.read()
                    return (None, data) if r.status == 200 else (f"HTTP {r.status}: {data[:150]!r}", b"")
            except Exception as exc:  # a timeout or a refused connection counts as an error
                return f"{type(exc).__name__}: {exc}"[:200], b""

        async def closed(target: str, seconds: float, clients: int) -> dict[str, Any]:
            rs, lat, errors = reqs[target], [], []
            deadline = clock() + seconds

            async def client(i: int) -> None:
                while clock() < deadline:
                    t = clock()
                    err, _data = await fetch(rs[i % len(rs)])
                    i += clients
                    if err is None:
                        lat.append((clock() - t) * 1000)
                    else:
                        errors.append(err)

            t0 = clock()
            await asyncio.gather(*(client(c) for c in range(clients)))
            return {"lat_ms": lat, "errors": errors, "elapsed_s": clock() - t0}

        async def open_loop(target: str, seconds: float, rate: float) -> dict[str, Any]:
            rs, lat, errors = reqs[target], [], []

            async def one(i: int, sched: float) -> None:
                err, _data = await fetch(rs[i % len(rs)])
                if err is None:
                    lat.append((clock() - sched) * 1000)  # from the scheduled send time
                else:
                    errors.append(err)

            tasks = []
            t0 = clock() + 0.05
            for i in range(max(1, int(rate * seconds))):
                sched = t0 + i / rate
                if (delay := sched - clock()) > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i, sched)))
            _done, late = await asyncio.wait(tasks, timeout=spec["request_timeout"])
            for t in late:
                t.cancel()
                errors.append("unfinished at the deadline")
            return {"lat_ms": lat, "errors": errors, "elapsed_s": clock() - t0, "rate": rate}

        # every read answers, with its shape, before anything is measured
        answers: dict[str, int] = {}
        for target, rs in reqs.items():
            deadline = clock() + ROUTE_WAIT_S
            while (got := await fetch(rs[0]))[0] is not None and clock() < deadline:
                await asyncio.sleep(1.0)
            err, data = got
            if err is not None or EXPECT[target] not in json.loads(data):
                raise RuntimeError(f"{target}: no good answer from {rs[0][1]}: {err or data[:200]!r}")
            answers[target] = len(data)
            await closed(target, spec["warmup_seconds"], 1)
        log(f"every read answers; answer bytes {answers}")

        cold_rate = spec["cold_rate"]
        probe: dict[str, float] = {}
        if cold_rate <= 0:  # half the rate the slower cold read sustains one request at a time
            for target in COLD_READS:
                probe[target] = float(np.mean((await closed(target, spec["probe_seconds"], 1))["lat_ms"]))
            cold_rate = min(spec["rate"], 0.5 * 1000 / max(probe.values()))
            log(f"cold reads one at a time, mean ms {probe}: their open loop at {cold_rate:.2f} req/s")

        phases = []
        for rnd, kind, target in spec["schedule"]:
            await asyncio.sleep(spec["settle"])
            if kind == "sequential":
                res = await closed(target, spec["seconds"], 1)
            elif kind == "closed":
                res = await closed(target, spec["seconds"], spec["clients"])
            else:
                res = await open_loop(target, spec["seconds"], cold_rate if target in COLD_READS else spec["rate"])
            res.update(round=rnd, kind=kind, target=target, error_samples=res["errors"][:5])
            res["errors"] = len(res["errors"])
            lat = res["lat_ms"]
            log(
                f"round {rnd} {kind:10s} {target:15s} n {len(lat):6d}  p50 {pct(lat, 50):8.2f}  "
                f"p99 {pct(lat, 99):8.2f} ms  errors {res['errors']}"
            )
            phases.append(res)
    return {"answer_bytes": answers, "cold_probe_ms": probe, "cold_rate": cold_rate, "phases": phases}


def loadgen_main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    with event_loop_runner() as runner:
        res = runner.run(_loadgen(spec))
    Path(out_path).write_text(json.dumps(res))


def schedule(rounds: int) -> list[tuple[int, str, str]]:
    """(round, client kind, read) in order: each group's reads back to back, their order rotating by round."""
    out = []
    for r in range(rounds):
        for kind in KINDS:
            for group in GROUPS:
                k = r % len(group)
                out += [(r, kind, target) for target in group[k:] + group[:k]]
    return out


# --------------------------------------------------------------------------- the store and the requests
def prepare(args: argparse.Namespace, cfg: Any, workdir: Path) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Seed (or copy) the store, plant the moves; every read's requests, and what the store holds."""
    from ray_topics.execution.runtime import Runtime
    from ray_topics.ops.stories import placed_stories, placed_until

    if args.store:
        shutil.copytree(args.store, workdir, dirs_exist_ok=True)  # plant_moves writes: never into --store
    else:
        prepare_store(args, cfg, workdir)
    rng = np.random.default_rng(args.seed)
    rt = Runtime(cfg)
    fit, days = cfg.daily.misfit_confidence, cfg.serve.story_days
    end = placed_until(rt.store)
    if end is None:
        raise SystemExit(f"no placed day in {args.store or workdir}: seed it with benchmarks.serve_sustained")
    start = end - timedelta(days=days)
    planted = plant_moves(rt, start, end, args.moved_share, rng) if args.moved_share > 0 else None
    t = time.perf_counter()
    _end, stories = placed_stories(rt.store, fit, days)
    stories_ms = (time.perf_counter() - t) * 1000

    # videos of the placed days: half of them moved (their story is another topic: one more topic read)
    rows = [
        r
        for d in cfg.domains.names
        for r in rt.store.classifications.window(d, start, end, with_text=False)
        if r["topic_id"] is not None
    ]
    moved = rt.store.stories.stories_of([r["video_id"] for r in rows], fit)
    half = args.videos // 2
    pick: list[dict[str, Any]] = []
    for group in ([r for r in rows if r["video_id"] in moved], [r for r in rows if r["video_id"] not in moved]):
        pick += [group[i] for i in rng.permutation(len(group))[:half]]
    pick = [pick[i] for i in rng.permutation(len(pick))]
    info = {
        "videos": rt.store.count("videos"),
        "placed_until": end.isoformat(),
        "story_days": days,
        "planted_moves": planted,
        "moves": rt.store.count("story_moves"),
        "stories": len(stories),
        "stories_in_process_ms": stories_ms,
        "videos_read": len(pick),
        "videos_read_moved": sum(r["video_id"] in moved for r in pick),
    }
    rt.store.dispose()

    vecs, dom, cents = queries(cfg, rng)
    floor = [
        body_of([video_json(f"floor-{i}", DOMAINS[int(dom[i])], embedding_json(vecs[i]))])
        for i in range(min(len(vecs), args.videos))
    ]
    stories_path = f"/v1/stories?days={days}"
    requests: dict[str, list[Any]] = {
        "stories cold": [["GET", COLD + stories_path, None]],
        "health cold": [["GET", COLD + "/v1/health", None]],
        "stories cached": [["GET", stories_path, None]],
        "health cached": [["GET", "/v1/health", None]],
        "video": [["GET", "/v1/videos/" + quote(r["video_id"], safe=""), None] for r in pick],
        "topic": [["GET", "/v1/topics/" + quote(r["topic_id"], safe=""), None] for r in pick],
        "floor": [["POST", FLOOR + "/v1/classify", b.decode()] for b in floor],
    }
    info["floor_centroids"] = {DOMAINS[k]: len(c) for k, c in cents.items()}
    return requests, {"info": info, "centroids": cents}


# --------------------------------------------------------------------------- the run
def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from ray_topics.config import load_config
    from serve.app import build_app, serve_env  # as ray-topics serve: first
    from serve.ports import HAPROXY_PORT_ENV, free_port, own_ports

    overrides = [f"serve.token={TOKEN}", *args.set]
    cfg = load_config(overrides=overrides, workdir=str(workdir))
    requests, store = prepare(args, cfg, workdir)
    log(f"store: {store['info']}")

    serve_env(cfg)  # as run_local does, after Ray Serve was imported
    own_ports(HAPROXY_PORT_ENV)  # never the fixed ports another Serve on this machine may hold
    import ray
    from ray import serve

    t = time.perf_counter()
    # logical CPUs: two apps of ours (1 each: Ingress, DomainModel, Embedder) and the floor (0.5) on 2 cores
    ray.init(num_cpus=max(4, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        for name, prefix, cache_s in (("ray-topics", "/", args.cached_seconds), ("ray-topics-cold", COLD, 0)):
            app_overrides = [*overrides, f"serve.health_cache_seconds={cache_s}"]
            serve.run(build_app({"overrides": app_overrides, "workdir": str(workdir)}), name=name, route_prefix=prefix)
        serve.run(floor_app(store["centroids"]), name="floor", route_prefix=FLOOR)
        log(f"Ray {ray.__version__}, the two apps and the floor app up in {time.perf_counter() - t:.0f} s on :{port}")
        spec = {
            "base": f"http://127.0.0.1:{port}",
            "requests": requests,
            "schedule": schedule(args.rounds),
            **{k: getattr(args, k) for k in ("seconds", "clients", "rate", "cold_rate", "settle")},
            **{k: getattr(args, k) for k in ("request_timeout", "warmup_seconds", "probe_seconds")},
        }
        spec_path, out_path = workdir / "loadgen-spec.json", workdir / "loadgen-out.json"
        spec_path.write_text(json.dumps(spec))
        limit = len(spec["schedule"]) * (args.seconds + args.settle + args.request_timeout) + 600
        cmd = [sys.executable, "-m", MODULE, "--_loadgen", str(spec_path), str(out_path)]
        subprocess.run(cmd, check=True, timeout=limit, cwd=ROOT)
        load = json.loads(out_path.read_text())
    finally:
        serve.shutdown()
        ray.shutdown()
    return {"store": store["info"], **load}


# --------------------------------------------------------------------------- report
def pooled(phases: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, read) -> latencies of every round, errors, requests/s (closed: achieved; open: offered)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for p in phases:
        o = out.setdefault((p["kind"], p["target"]), {"lat_ms": [], "errors": 0, "elapsed_s": 0.0})
        o["lat_ms"] += p["lat_ms"]
        o["errors"] += p["errors"]
        o["elapsed_s"] += p["elapsed_s"]
        o["rate"] = p.get("rate")
    for o in out.values():
        o["req_s"] = o["rate"] if o["rate"] is not None else len(o["lat_ms"]) / o["elapsed_s"]
    return out


def latency_table(load: dict[str, Any], clients: int) -> Table:
    t = Table(
        ("read", "client", "n", "req_s", "p50", "p95", "p99", "baseline", "base", "ratio", "errors"),
        (
            "read",
            "client",
            "n",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "baseline",
            "baseline p50 / p95 / p99 ms",
            "ratio p50 / p95 / p99",
            "errors (read / baseline)",
        ),
        nd=2,
    )
    got = pooled(load["phases"])
    qs = (50, 95, 99)
    names = {"sequential": "1 sequential", "closed": f"{clients} closed-loop", "open": "open loop"}
    for target, baseline in PAIRS:
        for kind in KINDS:
            a, b = got.get((kind, target)), got.get((kind, baseline))
            if a is None or b is None:
                continue
            pa = [pct(a["lat_ms"], q) for q in qs]
            pb = [pct(b["lat_ms"], q) for q in qs]
            t.add_row(
                target,
                names[kind],
                len(a["lat_ms"]),
                a["req_s"],
                *pa,
                baseline,
                " / ".join(f"{x:.2f}" for x in pb),
                " / ".join(f"{x / y:.2f}" for x, y in zip(pa, pb, strict=True)),
                f"{a['errors']} / {b['errors']}",
            )
    return t


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.smoke:
        args.daily_volume, args.videos, args.seconds, args.rounds = 300, 20, 1.5, 1
        args.clients, args.rate, args.settle, args.warmup_seconds, args.probe_seconds = 2, 20.0, 0.2, 0.5, 1.0
    with scratch(args, "rtsh-") as workdir:
        out = measure(args, workdir)
    table = latency_table(out, args.clients)
    table.print("the story view's reads over HTTP, each beside its baseline (same run, in turns)")
    print("\n" + table.markdown())
    return {
        "benchmark": "stories_http",
        **run_info(args),
        **out,
        "tables": {"latency": table.rows},
        "markdown": {"latency": table.markdown()},
    }


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--store", help="a workdir seeded by benchmarks.serve_sustained --seed-to (copied, not changed)")
    p.add_argument("--days", type=int, default=8, help="without --store: days of history seeded (default 8)")
    p.add_argument("--daily-volume", type=int, default=5000, help="without --store: videos a day (default 5000)")
    p.add_argument("--seed-cache", help="without --store: folder keeping seeded stores (serve_sustained's)")
    p.add_argument("--moved-share", type=float, default=0.2, help="share of the placed days' fitting videos moved")
    p.add_argument("--videos", type=int, default=500, help="videos read by GET /v1/videos/{id} (half moved)")
    p.add_argument("--cached-seconds", type=float, default=3600.0, help="serve.health_cache_seconds of the cached app")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of each phase (default 10)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of every phase, in turns (default 2)")
    p.add_argument("--clients", type=int, default=8, help="closed-loop clients (default 8)")
    p.add_argument("--rate", type=float, default=100.0, help="open-loop requests/s (default 100)")
    p.add_argument("--cold-rate", type=float, default=0.0, help="open-loop rate of the cold reads (0: half their max)")
    p.add_argument("--settle", type=float, default=1.0, help="seconds of quiet before each phase")
    p.add_argument("--warmup-seconds", type=float, default=3.0, help="seconds of one client on each read first")
    p.add_argument("--probe-seconds", type=float, default=3.0, help="seconds of each cold read timed for --cold-rate")
    p.add_argument("--request-timeout", type=float, default=30.0)
    p.add_argument("--smoke", action="store_true", help="a tiny store and tiny loads, to check the script works")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_loadgen"]:
        loadgen_main(argv[1], argv[2])
        return 0
    return main_of(build_parser, run)(argv)


if __name__ == "__main__":
    sys.exit(main())
