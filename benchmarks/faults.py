"""Faults under load: the Tier 1 Serve app keeps every acknowledged video, once, through five faults.

A bounded load generator on loopback (``clients`` threads, each with one keep-alive
``httpx.Client``) sends batches of ``BATCH_VIDEOS`` videos with fresh ``video_id``s and
given 384-dim unit embeddings to ``POST /v1/classify``. A failed batch (a 5xx, a connection
error, a timeout) is sent again, same ids and same bytes, as a real client would, until it is
acknowledged or the run's deadline passes (then it is counted *unacknowledged*, not lost).
One client is impatient (``IMPATIENT_TIMEOUT_S``): it keeps asking while the others wait on
a replica that died, so whatever the service answers in a restart window is seen.
While the load runs, one fault is injected (``faults`` times, evenly spaced):

* ``kill-model``: SIGKILL of the DomainModel replica's process (Serve starts another);
* ``kill-ingress``: SIGKILL of the Ingress replica's process;
* ``publish``: a new model version of every domain (new topics upserted and published in one
  transaction, as a tier job does); answers then switch to it, never back;
* ``pg-restart``: ``pg_ctlcluster ... restart`` of PostgreSQL under an app on a PostgreSQL store;
* ``sqlite-lock``: a tier-like commit holding SQLite's write lock for ``LOCK_HOLD_S`` seconds.

After each run: every acknowledged ``video_id`` is in ``videos``, ``embeddings`` and
``classifications`` exactly once with the acknowledged topic and model version; every failed
attempt was retryable (a 503 with ``Retry-After``, or a connection error or timeout; and, where
the fault kills the Ingress, the proxy's own plain-text 500 for a request the dead replica held:
any 4xx, the app's 500 or other status is a failure); every client stopped by the deadline;
and a batch first sent after the fault was over was acknowledged (time to recover: from the
fault's start to the first acknowledgement of an attempt sent after it ended: a PostgreSQL
restart or a held lock lasts a while). ``tests/test_faults.py`` runs short versions of the same scenarios.

Run from the repository root (the soak: 8 clients, 60 s per scenario, two faults each)::

    .venv/bin/python -m benchmarks.faults
    .venv/bin/python -m benchmarks.faults --seconds 20 --clients 4 --scenarios kill-model,publish
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import PG_URL
from serve.ports import free_port

__all__ = [
    "APP_NAME",
    "DOMAINS",
    "PG_APP_NAME",
    "PG_ROUTE",
    "SCENARIOS",
    "App",
    "Load",
    "Outcome",
    "can_restart_postgres",
    "check_store",
    "drop_schema",
    "ensure_postgres",
    "publish_topics",
    "run_scenario",
    "start_app",
    "stop_app",
    "stop_serve",
]

# ----------------------------------------------------------------------------- what the app serves

APP_NAME = "ray-topics-faults"  # apart from tests/test_serve.py's "ray-topics"
# the app on PostgreSQL: a name and route of its own, so it can start while the SQLite one drains
PG_APP_NAME = "ray-topics-faults-pg"
PG_ROUTE = "/faults-pg"
TOKEN = "faults-token"
DOMAINS = ("gaming", "cooking", "tech")
N_TOPICS = 3  # topics per domain in the first model version
DIM = 384  # embedding.dim of the default config
FIRST_VERSION_AT = datetime(2026, 1, 1, tzinfo=UTC)
PUBLISHED_AT = "2026-01-02T10:00:00Z"  # every video's published_at: in the past, after the first version
QUERY_NOISE = 0.02  # std of the noise added to a centroid to make a video's embedding (cosine ~0.9 to it)
SEED = 7
# DomainModel replicas look for new versions this often (the default, 2 s, only slows the publish scenario)
MODEL_POLL_S = 0.5

# ----------------------------------------------------------------------------- the client

BATCH_VIDEOS = 10
# pause between a client's batches: keeps the load bounded (and leaves the 2-core machine some room)
CLIENT_PAUSE_S = 0.05
# one attempt's HTTP timeout: above the app's serve.request_timeout_s (30 s by default), so that the app's
# own 503 comes first, and above LOCK_HOLD_S_SOAK (a commit waiting out the lock answers within it)
REQUEST_TIMEOUT_S = 40.0
# a 503's Retry-After is honoured up to this (the app says 1 s)
RETRY_AFTER_MAX_S = 5.0
# connection errors and timeouts: exponential backoff from the first pause to the cap
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 2.0
# one of the clients is impatient: it gives up on an attempt after this (and backs off at most this long).
# While the others wait on an attempt a dead replica will never answer, it keeps asking, so what the
# service answers during a restart window (say, a proxy's 404) is always seen.
IMPATIENT_CLIENTS = 1
IMPATIENT_TIMEOUT_S = 0.5
# after the load stops, a batch still failing is retried this long before it counts as unacknowledged
GRACE_S = 90.0
# the app is ready when one probe batch is acknowledged; probes are retried this long
READY_TIMEOUT_S = 180.0
READY_PAUSE_S = 0.5
RETRY_AFTER_HEADER = "retry-after"
# the app answers errors in JSON; Serve's HAProxy answers a request its backend dropped (a killed
# replica: 502) with its own 500 "Internal Server Error" in text/plain (haproxy.py's error file)
APP_CONTENT_TYPE = "application/json"

# ----------------------------------------------------------------------------- the faults

LOCK_HOLD_S = 4.0  # tests: a tier commit holding SQLite's write lock this long
LOCK_HOLD_S_SOAK = 10.0  # the soak's hold; SQLite's busy timeout (30 s) is longer, Serve's health check too
LOCK_JOB = "faults-lock"  # the job name of the tier-like commit's job_runs row
# command that restarts PostgreSQL; default: pg_ctlcluster of the newest cluster in /etc/postgresql
PG_RESTART_ENV = "RAY_TOPICS_PG_RESTART"
PG_CONF_DIR = Path("/etc/postgresql")
PG_CLUSTER = "main"
PG_CTL_TIMEOUT_S = 120.0
PG_UP_TIMEOUT_S = 60.0
# the soak: per scenario
SOAK_CLIENTS = 8
SOAK_SECONDS = 60.0
SOAK_FAULTS = 2


def _log(msg: str) -> None:
    print(f"[faults {datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


# ----------------------------------------------------------------------------- the app


@dataclass
class App:
    """A running app: its URL, the driver's own Runtime over the same store, the topics' centroids."""

    name: str
    base_url: str
    rt: Any  # ray_topics.execution.runtime.Runtime (imported lazily: `--help` needs no Ray)
    centroids: dict[str, np.ndarray]
    store_kind: str  # "sqlite" | "postgresql"
    schema: str | None = None

    @property
    def store(self) -> Any:
        return self.rt.store


def publish_topics(rt: Any, domain: str, centroids: np.ndarray, at: datetime, tag: str) -> int:
    """Upsert ``len(centroids)`` active topics of ``domain`` and publish them as a new version, in one transaction.

    Returns the new version number. Topics are ``{domain}:{i}``; labels carry ``tag``.
    """
    from ray_topics.core.index import normalize
    from ray_topics.core.types import Topic

    topics = [
        Topic(
            topic_id=f"{domain}:{i}",
            domain=domain,
            number=i,
            label=f"{domain} {tag} {i}",
            keywords=[domain, tag, str(i)],
            centroid=normalize(c),
            sim_mean=0.6,
            sim_std=0.05,
            size=100,
            status="active",
            born_at=at,
            last_seen_at=at,
        )
        for i, c in enumerate(centroids)
    ]
    with rt.store.begin() as conn:
        rt.store.topics.upsert(topics, conn)
        return rt.registry.publish(domain, at, "faults", conn)


def start_app(
    workdir: Path,
    *,
    store: tuple[str, str | None] | None = None,
    name: str = APP_NAME,
    route: str = "/",
    overrides: Sequence[str] = (),
) -> App:
    """Seed a store (``store``: (url, schema), default SQLite in ``workdir``), start the app as ``name`` at ``route``.

    Needs Ray started (with ``serve.ray_env`` in the environment, as ``ray-topics serve`` does).
    Serve listens on a free port unless it runs already.
    """
    from ray import serve
    from ray.serve.context import _get_global_client

    from ray_topics.config import load_config
    from ray_topics.core.index import normalize
    from ray_topics.execution.runtime import Runtime
    from serve.app import build_app

    ov = [f"serve.token={TOKEN}", f"serve.model_poll_seconds={MODEL_POLL_S}", *overrides]
    if store is not None:
        ov.append(f"store.url={store[0]}")
        if store[1]:
            ov.append(f"store.schema_name={store[1]}")
    rt = Runtime(load_config(overrides=ov, workdir=str(workdir)))
    rng = np.random.default_rng(SEED)
    centroids = {d: normalize(rng.standard_normal((N_TOPICS, DIM))).astype(np.float32) for d in DOMAINS}
    for d in DOMAINS:
        publish_topics(rt, d, centroids[d], FIRST_VERSION_AT, "v1")
    serve.start(http_options={"host": "127.0.0.1", "port": free_port()})
    # a Serve already running keeps its own port: ask it
    port = _get_global_client().http_config.port
    base_url = f"http://127.0.0.1:{port}{route.rstrip('/')}"
    app = App(name, base_url, rt, centroids, rt.store.dialect, store[1] if store else None)
    try:
        serve.run(build_app({"overrides": ov, "workdir": str(workdir)}), name=name, route_prefix=route)
        wait_ready(app)
    except BaseException:  # leave no half-started app behind
        stop_app(app, wait=False)
        raise
    return app


def stop_app(app: App, wait: bool = True) -> None:
    """Delete the app (``wait``: until its replicas stopped; the Ingress drains for 30 s in Serve's HAProxy mode)."""
    from ray import serve

    serve.delete(app.name, _blocking=wait)
    app.store.dispose()


def stop_serve(ours: Sequence[str] = (APP_NAME, PG_APP_NAME)) -> None:
    """Shut Serve down unless an app not in ``ours`` runs: the next ``serve.start`` then gets the port it asks for."""
    from ray import serve

    if set(serve.status().applications) <= set(ours):
        serve.shutdown()


def wait_ready(app: App, timeout_s: float = READY_TIMEOUT_S) -> float:
    """Block until a probe batch is acknowledged (every domain's model loaded); returns the seconds waited."""
    import httpx

    t0 = time.monotonic()
    gen = np.random.default_rng()
    last = ""
    with httpx.Client(base_url=app.base_url, timeout=REQUEST_TIMEOUT_S) as client:
        body = _body([f"probe-{uuid.uuid4().hex}-{d}" for d in DOMAINS], list(DOMAINS), app.centroids, gen)
        while time.monotonic() - t0 < timeout_s:
            try:
                r = client.post("/v1/classify", content=body, headers=_headers())
                if r.status_code == 200:
                    return time.monotonic() - t0
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(READY_PAUSE_S)
    raise TimeoutError(f"the app answered no probe in {timeout_s:.0f} s; last: {last}")


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def _body(
    ids: Sequence[str], domains: Sequence[str], centroids: dict[str, np.ndarray], gen: np.random.Generator
) -> bytes:
    """One request's bytes: each video near a random topic centroid of its domain (sent again unchanged on a retry)."""
    import orjson

    videos = []
    for vid, d in zip(ids, domains, strict=True):
        c = centroids[d][gen.integers(len(centroids[d]))]
        v = c + QUERY_NOISE * gen.standard_normal(DIM)
        v = (v / np.linalg.norm(v)).astype(np.float32)
        videos.append(
            {
                "video_id": vid,
                "channel_id": "faults",
                "published_at": PUBLISHED_AT,
                "title": "fault test video",
                "domain": d,
                "embedding": v.tolist(),
            }
        )
    return orjson.dumps({"videos": videos})


# ----------------------------------------------------------------------------- the load generator


@dataclass
class Batch:
    """One request's videos and what became of it."""

    ids: list[str]
    domains: list[str]
    first_sent: float  # monotonic time its first attempt started
    acked_attempt_sent: float | None = None  # monotonic start of the acknowledged attempt
    acked_at: float | None = None
    answers: list[dict[str, Any]] | None = None


@dataclass
class ClientRecord:
    batches: list[Batch] = field(default_factory=list)
    requests: int = 0
    failures: Counter = field(default_factory=Counter)  # kind -> failed attempts
    non_retryable: list[str] = field(default_factory=list)


class Load:
    """``clients`` threads sending batches to ``POST /v1/classify`` until :meth:`stop`; failed batches retried.

    Args:
        app: the app under load.
        clients: client threads, each with its own keep-alive connection.
        prefix: starts every ``video_id`` of this run (ids are fresh per run).
        impatient: how many of the clients time out after ``IMPATIENT_TIMEOUT_S`` (the others ``REQUEST_TIMEOUT_S``).
        pause_s: pause between a client's batches (the load's bound).
        grace_s: after :meth:`stop`, how long a failing batch is still retried.
        proxy_errors: whether the proxy's own 5xx (not the app's) is retryable: only where the fault
            takes the Ingress down; anywhere else it means the Ingress failed, and counts as a failure.
    """

    def __init__(
        self,
        app: App,
        clients: int,
        prefix: str,
        impatient: int = IMPATIENT_CLIENTS,
        pause_s: float = CLIENT_PAUSE_S,
        grace_s: float = GRACE_S,
        proxy_errors: bool = False,
    ) -> None:
        self.app = app
        self.proxy_errors = proxy_errors
        self.timeouts = [IMPATIENT_TIMEOUT_S if k < impatient else REQUEST_TIMEOUT_S for k in range(clients)]
        self.prefix = prefix
        self.pause_s = pause_s
        self.grace_s = grace_s
        self.records = [ClientRecord() for _ in range(clients)]
        self._stop = threading.Event()
        self._give_up_at = float("inf")
        self._threads = [
            threading.Thread(target=self._client, args=(k,), name=f"faults-client-{k}", daemon=True)
            for k in range(clients)
        ]

    def start(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> bool:
        """Stop sending new batches; wait for every client to finish (retrying up to ``grace_s``).

        Returns True when every client thread ended in time.
        """
        self._give_up_at = time.monotonic() + self.grace_s
        self._stop.set()
        end = self._give_up_at + REQUEST_TIMEOUT_S + BACKOFF_MAX_S + RETRY_AFTER_MAX_S
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def _client(self, k: int) -> None:
        import httpx

        rec = self.records[k]
        gen = np.random.default_rng([SEED, k])
        n = 0
        with httpx.Client(base_url=self.app.base_url, timeout=self.timeouts[k]) as client:
            while not self._stop.is_set():
                ids = [f"{self.prefix}-c{k}-b{n}-{i}" for i in range(BATCH_VIDEOS)]
                domains = [DOMAINS[j] for j in gen.integers(len(DOMAINS), size=BATCH_VIDEOS)]
                batch = Batch(ids, domains, time.monotonic())
                rec.batches.append(batch)
                self._send(client, rec, batch, _body(ids, domains, self.app.centroids, gen), self.timeouts[k])
                n += 1
                self._stop.wait(self.pause_s)

    def _send(self, client: Any, rec: ClientRecord, batch: Batch, body: bytes, timeout_s: float) -> None:
        """Send ``body`` until acknowledged, rejected (4xx) or past the deadline."""
        import httpx

        backoff, backoff_max = BACKOFF_FIRST_S, min(BACKOFF_MAX_S, timeout_s)
        while time.monotonic() < self._give_up_at:
            sent = time.monotonic()
            rec.requests += 1
            try:
                r = client.post("/v1/classify", content=body, headers=_headers())
            except httpx.TransportError as exc:  # connection refused/reset, timeouts: the answer never came
                rec.failures[type(exc).__name__] += 1
                time.sleep(backoff + random.uniform(0, backoff))
                backoff = min(2 * backoff, backoff_max)
                continue
            if r.status_code == 200:
                answers = r.json()["results"]
                if [a["video_id"] for a in answers] != batch.ids:
                    rec.non_retryable.append(f"200 answering other videos: {r.text[:200]}")
                    return
                batch.acked_attempt_sent, batch.acked_at, batch.answers = sent, time.monotonic(), answers
                return
            retry_after = r.headers.get(RETRY_AFTER_HEADER)
            proxy = r.status_code >= 500 and not r.headers.get("content-type", "").startswith(APP_CONTENT_TYPE)
            kind = f"{r.status_code}" + (" Retry-After" if retry_after else "") + (" proxy" if proxy else "")
            rec.failures[kind] += 1
            if not ((r.status_code == 503 and retry_after) or (proxy and self.proxy_errors)):
                rec.non_retryable.append(f"{kind}: {r.text[:300]}")
            if 400 <= r.status_code < 500:  # not retried: a retry would be refused alike
                return
            pause = float(retry_after) if retry_after and retry_after.isdigit() else backoff
            time.sleep(min(pause, RETRY_AFTER_MAX_S))

    @property
    def batches(self) -> list[Batch]:
        return [b for r in self.records for b in r.batches]


# ----------------------------------------------------------------------------- checks


def check_store(store: Any, batches: Sequence[Batch]) -> dict[str, int]:
    """Every acknowledged video stored exactly once with its acknowledged answer; nothing stored twice.

    Returns counts: ``lost`` (an acknowledged video missing from videos, embeddings or
    classifications), ``overwritten`` (stored topic, domain or model version not the acknowledged
    one), ``duplicated`` (any id, acknowledged or not, in a table more than once) and
    ``unacked_stored`` (unacknowledged videos that were stored nevertheless: allowed).
    """
    from sqlalchemy import func, select

    from ray_topics.storage.db import chunks

    acked = {a["video_id"]: a for b in batches if b.answers for a in b.answers}
    unacked = [v for b in batches if not b.answers for v in b.ids]
    every = [*acked, *unacked]
    counts: dict[str, Counter] = {}
    with store.connect() as conn:
        for name in ("videos", "embeddings", "classifications"):
            t = store.table(name)
            c: Counter = Counter()
            for chunk in chunks(every):
                q = select(t.c.video_id, func.count()).where(t.c.video_id.in_(chunk)).group_by(t.c.video_id)
                c.update(dict(conn.execute(q).all()))
            counts[name] = c
    stored = store.classifications.get(list(acked))
    lost = sum(1 for v in acked if any(counts[n][v] == 0 for n in counts))
    duplicated = sum(1 for v in every if any(counts[n][v] > 1 for n in counts))
    overwritten = sum(
        1
        for v, a in acked.items()
        if v in stored
        and (stored[v]["topic_id"], stored[v]["domain"], stored[v]["model_version"])
        != (a["topic_id"], a["domain"], a["model_version"])
    )
    return {
        "lost": lost,
        "overwritten": overwritten,
        "duplicated": duplicated,
        "unacked_stored": sum(1 for v in unacked if counts["videos"][v]),
    }


def _version(name: str) -> int:
    """``gaming@v7`` -> 7."""
    return int(name.rsplit("@v", 1)[1])


def check_versions(batches: Sequence[Batch], published: Sequence[dict[str, int]]) -> list[str]:
    """Answers switch to each published version and never go back: problems found (none: empty).

    For each domain and published version v: some answer names v or newer, and every video of
    that domain in a batch first sent after the first such answer was received names v or newer
    (one DomainModel replica: once it answered with v, it classifies with v).
    """
    problems = []
    videos = [(b, a) for b in batches if b.answers for a in b.answers]
    for versions in published:
        for d, v in versions.items():
            newer = [b.acked_at for b, a in videos if a["domain"] == d and _version(a["model_version"]) >= v]
            if not newer:
                problems.append(f"no answer of {d} names {d}@v{v} or newer")
                continue
            switched = min(t for t in newer if t is not None)
            stale = [
                a["video_id"]
                for b, a in videos
                if a["domain"] == d and b.first_sent > switched and _version(a["model_version"]) < v
            ]
            if stale:
                problems.append(f"{len(stale)} {d} answers older than {d}@v{v} after the switch: {stale[:3]}")
    return problems


# ----------------------------------------------------------------------------- faults


def replica_pid(app_name: str, deployment: str) -> int:
    """Process id of the ALIVE replica of ``deployment`` in app ``app_name``.

    Ray's state API (``ray.util.state.list_actors``) needs the dashboard, which the tests'
    Ray runs without; then the GCS actor table answers (``ray._private.state.actors``).
    """
    suffix = f":{app_name}:{deployment}"
    try:
        from ray.util.state import list_actors

        pids = [
            a.pid
            for a in list_actors(filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
            if a.class_name.endswith(suffix)
        ]
    except Exception:  # no dashboard: ServerUnavailable
        from ray._private import state

        pids = [
            a["Pid"]
            for a in state.actors().values()
            if a["State"] == "ALIVE" and str(a["ActorClassName"]).endswith(suffix)
        ]
    if len(pids) != 1:
        raise RuntimeError(f"expected one ALIVE {deployment} replica of {app_name}, found pids {pids}")
    return int(pids[0])


def kill_replica(deployment: str) -> Callable[[App], str]:
    def inject(app: App) -> str:
        pid = replica_pid(app.name, deployment)
        os.kill(pid, signal.SIGKILL)
        return f"SIGKILL {deployment} pid {pid}"

    return inject


def publish_new_version(app: App) -> dict[str, int]:
    """Every domain: its topics moved a little plus one new topic, published as the next version."""
    from ray_topics.core.index import normalize

    gen = np.random.default_rng()
    at = FIRST_VERSION_AT + timedelta(hours=1)
    out = {}
    for d in DOMAINS:
        moved = normalize(app.centroids[d] + QUERY_NOISE * gen.standard_normal(app.centroids[d].shape))
        extra = normalize(gen.standard_normal((1, DIM)))
        version = publish_topics(app.rt, d, np.concatenate([moved, extra]).astype(np.float32), at, "new")
        out[d] = version
    return out


def pg_restart_command() -> list[str] | None:
    """The command that restarts PostgreSQL: ``$RAY_TOPICS_PG_RESTART``, else pg_ctlcluster's (None: neither)."""
    if os.environ.get(PG_RESTART_ENV):
        return shlex.split(os.environ[PG_RESTART_ENV])
    if shutil.which("pg_ctlcluster") is None or not PG_CONF_DIR.is_dir():
        return None
    versions = sorted((p.name for p in PG_CONF_DIR.iterdir() if p.name.isdigit()), key=int)
    if not versions:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], PG_CLUSTER, "restart"]


def can_restart_postgres() -> str | None:
    """Why this machine cannot restart PostgreSQL (None: it can)."""
    cmd = pg_restart_command()
    if cmd is None:
        return f"no pg_ctlcluster and no {PG_RESTART_ENV}: cannot restart PostgreSQL"
    if cmd[0] == "pg_ctlcluster" and os.geteuid() != 0:
        return "pg_ctlcluster needs root"
    return None


def _pg_up(url: str = PG_URL) -> bool:
    import sqlalchemy

    eng = sqlalchemy.create_engine(url)
    try:
        with eng.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        return True
    except Exception:
        return False
    finally:
        eng.dispose()


def ensure_postgres(timeout_s: float = PG_UP_TIMEOUT_S) -> None:
    """Make sure PostgreSQL answers again (start the cluster if a restart left it down)."""
    deadline = time.monotonic() + timeout_s
    started = False
    while not _pg_up():
        cmd = pg_restart_command()
        if not started and cmd is not None and cmd[0] == "pg_ctlcluster":
            subprocess.run([*cmd[:-1], "start"], timeout=PG_CTL_TIMEOUT_S, capture_output=True, check=False)
            started = True
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not come back")
        time.sleep(1.0)


def drop_schema(schema: str | None) -> None:
    """Drop a PostgreSQL app's schema (PostgreSQL brought back first if a restart left it down)."""
    from ray_topics.storage.store import Store

    ensure_postgres()
    Store(PG_URL, schema=schema, create=False).drop()


def restart_postgres(_app: App) -> str:
    cmd = pg_restart_command()
    if cmd is None:
        raise RuntimeError(can_restart_postgres())
    t = time.monotonic()
    subprocess.run(cmd, check=True, timeout=PG_CTL_TIMEOUT_S, capture_output=True)
    return f"{' '.join(cmd)} took {time.monotonic() - t:.1f} s"


def hold_sqlite_lock(hold_s: float) -> Callable[[App], str]:
    """A tier job's commit: its run row written, then SQLite's write lock held ``hold_s`` before it commits."""

    def inject(app: App) -> str:
        store = app.store
        at = datetime.now(UTC)
        run_id = store.runs.start(LOCK_JOB, DOMAINS[0], at - timedelta(hours=1), at, at)
        with store.begin() as conn:
            store.lock(conn, f"commit:{DOMAINS[0]}")  # the per-domain commit lock: SQLite's write lock
            store.runs.finish(run_id, {"held_s": hold_s}, datetime.now(UTC), conn)
            time.sleep(hold_s)
        return f"write lock held {hold_s:g} s"

    return inject


# ----------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    """A fault and the store it needs; ``inject`` runs (on the caller's thread) while the load runs."""

    name: str
    store: str  # "sqlite" | "postgresql"
    inject: Callable[[App], Any]
    doc: str
    # the fault takes the Ingress down: a request in flight may get the proxy's own 500 (retryable)
    proxy_errors: bool = False


def scenarios(lock_hold_s: float = LOCK_HOLD_S) -> dict[str, Scenario]:
    return {
        s.name: s
        for s in (
            Scenario("kill-model", "sqlite", kill_replica("DomainModel"), "SIGKILL the DomainModel replica"),
            Scenario(
                "kill-ingress", "sqlite", kill_replica("Ingress"), "SIGKILL the Ingress replica", proxy_errors=True
            ),
            Scenario("publish", "sqlite", publish_new_version, "publish a new model version of every domain"),
            Scenario("sqlite-lock", "sqlite", hold_sqlite_lock(lock_hold_s), "a tier commit holds SQLite's lock"),
            Scenario("pg-restart", "postgresql", restart_postgres, "restart PostgreSQL (PostgreSQL store)"),
        )
    }


SCENARIOS = tuple(scenarios())


@dataclass
class Outcome:
    """What one scenario's run saw (see the module docstring for what each check means)."""

    scenario: str
    store: str
    clients: int
    load_s: float
    faults: list[str]
    requests: int
    batches: int
    acked_videos: int
    unacked_videos: int
    failures: dict[str, int]
    non_retryable: list[str]
    lost: int
    overwritten: int
    duplicated: int
    unacked_stored: int  # unacknowledged videos the store holds nevertheless (allowed: a retry would answer them)
    ended: bool
    recover_s: float | None  # the longest over the faults; None: some fault was never recovered from
    problems: list[str] = field(default_factory=list)

    @property
    def failed_attempts(self) -> int:
        return sum(self.failures.values())

    @property
    def ok(self) -> bool:
        return not self.violations()

    def violations(self) -> list[str]:
        """Each broken promise, in words (empty: the scenario passed)."""
        out = []
        if self.lost or self.overwritten or self.duplicated:
            out.append(f"lost {self.lost}, overwritten {self.overwritten}, duplicated {self.duplicated}")
        if self.non_retryable:
            out.append(f"{len(self.non_retryable)} non-retryable failures, e.g. {self.non_retryable[:3]}")
        if not self.ended:
            out.append("a client was still running after the deadline")
        if self.recover_s is None:
            out.append("no batch sent after a fault was acknowledged")
        if self.unacked_videos:
            out.append(f"{self.unacked_videos} videos never acknowledged")
        return out + self.problems

    def summary(self) -> str:
        rec = "-" if self.recover_s is None else f"{self.recover_s:.1f} s"
        return (
            f"{self.scenario}: {self.requests} requests, {self.acked_videos} videos acknowledged, "
            f"{self.failed_attempts} failed attempts {dict(self.failures)}, "
            f"{self.unacked_videos} unacknowledged ({self.unacked_stored} of them stored), "
            f"lost {self.lost}, overwritten {self.overwritten}, duplicated {self.duplicated}, recover {rec}; "
            f"faults {self.faults}" + (f"; VIOLATIONS: {self.violations()}" if self.violations() else "")
        )


def run_scenario(
    app: App,
    scenario: Scenario,
    *,
    clients: int,
    seconds: float,
    faults: int = 1,
    grace_s: float = GRACE_S,
) -> Outcome:
    """Load the app ``seconds`` with ``clients`` clients, inject the fault ``faults`` times evenly spaced, check.

    The app is probed ready first (a previous scenario's fault must not count against this one).
    """
    wait_ready(app)
    prefix = f"{scenario.name}-{uuid.uuid4().hex[:8]}"
    load = Load(app, clients, prefix, grace_s=grace_s, proxy_errors=scenario.proxy_errors).start()
    t0 = time.monotonic()
    fault_at: list[tuple[float, float]] = []  # (injection started, injection ended)
    notes: list[str] = []
    published: list[dict[str, int]] = []
    problems: list[str] = []
    try:
        for k in range(1, faults + 1):
            time.sleep(max(0.0, t0 + seconds * k / (faults + 1) - time.monotonic()))
            _log(f"{scenario.name}: fault {k} of {faults}")
            began = time.monotonic()
            try:
                res = scenario.inject(app)
            except Exception as exc:  # a fault that could not be injected is a failed run, not a crash
                problems.append(f"fault {k} not injected: {exc!r}")
                continue
            fault_at.append((began, time.monotonic()))
            if isinstance(res, dict):
                published.append(res)
                notes.append(f"published {res}")
            else:
                notes.append(str(res))
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))
    finally:
        ended = load.stop()
    load_s = time.monotonic() - t0
    batches = load.batches
    # time to recover: from a fault's start to the first acknowledgement of an attempt sent after it ended
    # (a restart or a held lock lasts a while; an attempt sent before it ended may have been served before it bit)
    recover = []
    for began, ended_at in fault_at:
        acks = [b.acked_at for b in batches if b.acked_attempt_sent is not None and b.acked_attempt_sent >= ended_at]
        recover.append(min(acks) - began if acks else None)
    checked = check_store(app.store, batches)
    problems += check_versions(batches, published)
    failures: Counter = Counter()
    for r in load.records:
        failures.update(r.failures)
    out = Outcome(
        scenario=scenario.name,
        store=app.store_kind,
        clients=clients,
        load_s=load_s,
        faults=notes,
        requests=sum(r.requests for r in load.records),
        batches=len(batches),
        acked_videos=sum(len(b.ids) for b in batches if b.answers),
        unacked_videos=sum(len(b.ids) for b in batches if not b.answers),
        failures=dict(failures),
        non_retryable=[x for r in load.records for x in r.non_retryable],
        lost=checked["lost"],
        overwritten=checked["overwritten"],
        duplicated=checked["duplicated"],
        unacked_stored=checked["unacked_stored"],
        ended=ended,
        recover_s=None if not recover or None in recover else max(r for r in recover if r is not None),
        problems=problems,
    )
    _log(out.summary())
    return out


# ----------------------------------------------------------------------------- the soak


def _table(outcomes: Sequence[Outcome]) -> Any:
    from benchmarks.harness import Table

    t = Table(
        (
            "scenario",
            "store",
            "clients",
            "load_s",
            "faults",
            "requests",
            "acked",
            "failed",
            "kinds",
            "unacked",
            "lost",
            "recover_s",
            "ok",
        ),
        (
            "scenario",
            "store",
            "clients",
            "load s",
            "faults",
            "requests sent",
            "videos acknowledged",
            "failed attempts",
            "failed attempts by kind",
            "unacknowledged",
            "lost",
            "time to recover (s, worst)",
            "promises kept",
        ),
        nd=1,
    )
    for o in outcomes:
        kinds = ", ".join(f"{k} ×{n}" for k, n in sorted(o.failures.items())) or "none"
        t.add_row(
            o.scenario,
            o.store,
            o.clients,
            o.load_s,
            len(o.faults),
            o.requests,
            o.acked_videos,
            o.failed_attempts,
            kinds,
            o.unacked_videos,
            o.lost + o.overwritten + o.duplicated,
            o.recover_s,
            "yes" if o.ok else "NO",
        )
    return t


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    from benchmarks.harness import parser

    p = parser(__doc__)
    p.add_argument("--clients", type=int, default=SOAK_CLIENTS, help=f"client threads (default {SOAK_CLIENTS})")
    p.add_argument(
        "--seconds", type=float, default=SOAK_SECONDS, help=f"load per scenario, seconds (default {SOAK_SECONDS:g})"
    )
    p.add_argument(
        "--faults", type=int, default=SOAK_FAULTS, help=f"faults per scenario, evenly spaced (default {SOAK_FAULTS})"
    )
    p.add_argument(
        "--lock-hold", type=float, default=LOCK_HOLD_S_SOAK, help=f"sqlite-lock hold, s (default {LOCK_HOLD_S_SOAK:g})"
    )
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated (default {','.join(SCENARIOS)})")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.harness import finish, run_info, scratch, start

    args = _parse(argv)
    chosen = scenarios(args.lock_hold)
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [n for n in names if n not in chosen]
    if unknown:
        raise SystemExit(f"--scenarios: unknown {unknown}; known: {', '.join(chosen)}")
    start(args)
    import ray

    from ray_topics.config import load_config

    # before Ray starts: its processes inherit them (the Serve mode `ray-topics serve` runs in)
    for key, value in load_config().serve.ray_env.items():
        os.environ.setdefault(key, value)
    from serve.ports import FALLBACK_PORT_ENV, HAPROXY_PORT_ENV, own_ports

    own_ports(FALLBACK_PORT_ENV + HAPROXY_PORT_ENV)  # apart from any other Serve on this machine
    outcomes: list[Outcome] = []
    errors: list[str] = []
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with scratch(args, "rtf-") as workdir:
            for kind in ("sqlite", "postgresql"):
                todo = [chosen[n] for n in names if chosen[n].store == kind]
                if not todo:
                    continue
                try:
                    outcomes += _soak_store(kind, todo, workdir / kind, args)
                except Exception as exc:  # an app that did not start: the other store's figures still count
                    errors.append(f"{kind}: {exc!r}"[:500])
                    _log(f"{kind} scenarios not run: {errors[-1]}")
    finally:
        ray.shutdown()
    table = _table(outcomes)
    table.print(f"faults under load: {args.clients} clients, {args.seconds:g} s and {args.faults} fault(s) each")
    print("\n" + table.markdown())
    for o in outcomes:
        for v in o.violations():
            print(f"VIOLATION {o.scenario}: {v}")
    for e in errors:
        print(f"NOT RUN {e}")
    out = {
        **run_info(args),
        "errors": errors,
        "outcomes": [{**vars(o), "ok": o.ok} for o in outcomes],
        "tables": {"faults": table.rows},
        "markdown": {"faults": table.markdown()},
    }
    finish(args, out)
    return 0 if all(o.ok for o in outcomes) and not errors else 1


def _soak_store(kind: str, todo: Sequence[Scenario], workdir: Path, args: argparse.Namespace) -> list[Outcome]:
    store: tuple[str, str | None] | None = None
    if kind == "postgresql":
        why = can_restart_postgres() or (None if _pg_up() else f"PostgreSQL at {PG_URL} is unreachable")
        if why:
            raise RuntimeError(why)
        store = (PG_URL, f"faults_{uuid.uuid4().hex[:12]}")
    t = time.monotonic()
    name, route = (PG_APP_NAME, PG_ROUTE) if store else (APP_NAME, "/")
    try:
        app = start_app(workdir, store=store, name=name, route=route, overrides=args.set)
        _log(f"{kind} app up in {time.monotonic() - t:.0f} s at {app.base_url}")
        try:
            return [run_scenario(app, s, clients=args.clients, seconds=args.seconds, faults=args.faults) for s in todo]
        finally:
            stop_app(app, wait=False)  # ray.shutdown at the end stops what still drains
    finally:
        if store is not None:
            drop_schema(store[1])


if __name__ == "__main__":
    sys.exit(main())
