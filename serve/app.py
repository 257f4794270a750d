"""Tier 1 as a Ray Serve application: thin adapters over the steps of :mod:`ray_topics.tiers.realtime`.

    Ingress (FastAPI: validation, auth, routing by domain)
      -> Embedder      (only for videos that carry no embedding)
      -> DomainModel   (multiplexed by domain; FAISS over the domain's
                        centroids; group commit of concurrent calls)

The domain router runs inside the ingress (a dictionary lookup or one dot
product per domain): a deployment of its own would add a network hop to
every request for microseconds of work. The ingress calls ``DomainModel``
through its handle with ``multiplexed_model_id=domain`` (never the HTTP
header, which Ray's HAProxy ingress drops).
"""

import asyncio
import base64
import binascii
import json
import logging
import os
import secrets
import threading
import time
from collections import Counter as CountOf
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from ray import serve
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.config import BackpressureConfig
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError
from ray.serve.handle import DeploymentHandle
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ray_topics.config import Config, from_env, load_config
from ray_topics.core.validation import InvalidVideo, VideoIn, validate_videos
from ray_topics.execution.embedder import Embedder as TextEmbedder
from ray_topics.execution.runtime import Runtime, domain_router, open_store
from ray_topics.storage.routing import ExemplarWindow
from ray_topics.tiers.realtime import (
    DomainClassifier,
    classify_rows,
    commit,
    in_request_order,
    result_view,
    route,
    texts_to_embed,
    topic_view,
)
from serve.cache import Aged, PeriodCache, SharedRead
from serve.ports import FALLBACK_PORT_ENV, own_ports

__all__ = ["DomainModel", "Embedder", "Ingress", "build_app", "handle_here", "run_local", "serve_env"]

log = logging.getLogger("ray_topics.serve")

TOKEN_ENV = "RAY_TOPICS_TOKEN"
JSON = "application/json"
CLASSIFY_EXAMPLE = {
    "video_id": "v1",
    "domain": "gaming",
    "topic_id": "gaming:3",
    "topic_label": "speedrun, glitch, any%",
    "confidence": 0.93,
    "status": "preliminary",
    "model_version": "gaming@v7",
}


# seconds: the classify latency and embedding time histograms' bucket bounds
LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]


class ServeMetrics:
    """Tier 1's metrics, recorded through Ray's metrics API (``ray.util.metrics``).

    Each replica records its own; Ray's metrics agent on every node exports them (names prefixed
    ``ray_``) on the node's metrics port, where Prometheus scrapes and sums them over replicas. An
    in-process registry served at ``/metrics`` would show one random replica's counts through the
    load balancer. ``/metrics`` keeps the topic-health gauges, which every replica reads alike from
    the store (docs/serving.md, Metrics).
    """

    def __init__(self) -> None:
        from ray.util.metrics import Counter, Gauge, Histogram

        self.requests = Counter(
            "topics_classify_requests", "POST /v1/classify requests by HTTP status", tag_keys=("status",)
        )
        self.videos = Counter(
            "topics_classified_videos",
            "videos answered by domain and outcome (topic, misfit: no topic fits, failed: not stored)",
            tag_keys=("domain", "outcome"),
        )
        self.routed = Counter(
            "topics_routed_videos",
            "videos by domain and how it was chosen (explicit, category, neighbours, prototype, fallback)",
            tag_keys=("domain", "route"),
        )
        self.rejected = Counter(
            "topics_rejected_inputs", "requests refused before anything was stored, by reason", tag_keys=("reason",)
        )
        self.latency = Histogram(
            "topics_classify_latency_seconds", "POST /v1/classify time in the Ingress", boundaries=LATENCY_BUCKETS_S
        )
        self.embed = Histogram(
            "topics_embed_seconds", "time to embed a request's texts (Embedder call)", boundaries=LATENCY_BUCKETS_S
        )
        self.cached_read_failures = Counter(
            "topics_cached_read_failures",
            "computations of a cached read (health, stories) that failed; readers kept the last value meanwhile",
            tag_keys=("read",),
        )
        self.model_version = Gauge(
            "topics_model_version", "model version each DomainModel replica serves", tag_keys=("domain",)
        )

    def routed_records(self, records: list[dict[str, Any]]) -> None:
        for (domain, how), n in CountOf((r["domain"], r["routed_by"]) for r in records).items():
            self.routed.inc(n, tags={"domain": domain, "route": how})

    def answered(self, results: list[dict[str, Any]]) -> None:
        """One increment per (domain, outcome) of a request, not one per video (each costs tens of µs)."""
        for (domain, outcome), n in CountOf((r.get("domain") or "unknown", _outcome(r)) for r in results).items():
            self.videos.inc(n, tags={"domain": domain, "outcome": outcome})


def _outcome(result: dict[str, Any]) -> str:
    """A video's answer for the metrics: failed (not stored), misfit (no topic fits) or topic."""
    if result.get("status") == "failed":
        return "failed"
    return "misfit" if result.get("topic_id") is None else "topic"


class ReplicaStopping(RuntimeError):
    """The DomainModel replica stopped before it stored a batch (nothing of it was written)."""


# failures a retry of the same request can get past; anything else is a 500 (a retry would fail alike)
TRANSIENT = (
    OperationalError,
    ReplicaStopping,
    RayActorError,
    ActorUnavailableError,
    BackPressureError,
    DeploymentUnavailableError,
    ReplicaUnavailableError,
    TimeoutError,
)


class ApiError(Exception):
    """An error answered as JSON: ``{"error": {"code", "field", "message"}}``."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.retry_after = retry_after

    def response(self, **extra: Any) -> JSONResponse:
        """The error as JSON; ``extra`` adds top-level fields beside ``error`` (a partly failed batch's results)."""
        body = {"error": {"code": self.code, "field": self.field, "message": self.message}, **extra}
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return JSONResponse(body, status_code=self.status, headers=headers or None)


def _reason(exc: ApiError) -> str:
    """A refused request's reason as a metric tag: the video field at fault, else the error code.

    Only the request model's own field names: a tag taken from the client's input (an unknown
    field's name) would let a client create series without bound.
    """
    last = (exc.field or "").rsplit(".", 1)[-1]
    return last if last in VideoIn.model_fields else exc.code


def _raise_if_dead(*tasks: tuple[str, asyncio.Task | None]) -> None:
    """Raise (for Serve's ``check_health``) if one of a replica's background tasks has ended."""
    for name, task in tasks:
        if task is not None and task.done():
            reason = "cancelled" if task.cancelled() else repr(task.exception())
            raise RuntimeError(f"the replica's {name} task stopped ({reason}); restart the replica")


def handle_here(handle: DeploymentHandle) -> DeploymentHandle:
    """``handle``'s deployment, called the way this process's Ray Serve is set up (call it in a replica).

    A handle bound into an app keeps the call options of the process that built the app, and Ray
    Serve fixes those when it is first imported: a driver that imported it before ``serve.ray_env``
    was set (``ray-topics serve``, the tests) builds handles that call through Ray actor tasks even
    though the replicas run Ray's high-throughput mode, whose handles call over gRPC for less CPU a
    request (benchmarks/RESULTS.md, Sustained load). Made again in the replica, the handle takes the
    replica's own settings, wherever the app was built.
    """
    return serve.get_deployment_handle(handle.deployment_name, handle.app_name)


class PartFailed(Exception):
    """A part of a DomainModel call (one request's videos of a domain) that was not stored.

    Carried back as a value, not raised: the other parts of the call were stored. Only whether a
    retry can succeed travels (the error's text can carry SQL and parameters; the replica logs it).
    """

    def __init__(self, retryable: bool, kind: str) -> None:
        super().__init__(f"{kind}: not stored ({'retryable' if retryable else 'not retryable'})")
        self.retryable, self.kind = retryable, kind

    def __reduce__(self) -> tuple[Any, ...]:
        return (PartFailed, (self.retryable, self.kind))

    @classmethod
    def of(cls, exc: BaseException) -> "PartFailed":
        if not isinstance(exc, TRANSIENT):
            log.error("storing a request's videos failed", exc_info=exc)
        return cls(_retryable(exc), type(exc).__name__)


def _retryable(exc: BaseException) -> bool:
    """Whether a retry of what failed with ``exc`` can succeed (overload, restart, the store away or locked)."""
    return isinstance(exc, TRANSIENT) or (isinstance(exc, PartFailed) and exc.retryable)


def _failed_view(video_id: str, domain: str, exc: BaseException) -> dict[str, Any]:
    """A video's entry in a partly failed answer: what failed and whether retrying it can succeed."""
    retryable = _retryable(exc)
    return {
        "video_id": video_id,
        "domain": domain,
        "status": "failed",
        "error": {
            "code": "unavailable" if retryable else "internal",
            # never the exception's text: it can carry SQL and parameters
            "message": "not stored now; retry it" if retryable else "failed inside the service",
            "retryable": retryable,
        },
    }


def _token_file(cfg: Config) -> Path:
    return Path(cfg.workdir) / "serve-token"


def _token(cfg: Config) -> str | None:
    """The write token: RAY_TOPICS_TOKEN, else serve.token (``env:NAME`` allowed), else the generated one's file."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    if cfg.serve.token:
        return from_env(cfg.serve.token)
    path = _token_file(cfg)
    return path.read_text().strip() if path.exists() else None


def _encode_cursor(domain: str, number: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([domain, number])).decode()


def _decode_cursor(cursor: str | None, storable: Callable[[str], bool]) -> tuple[str, int] | None:
    """The (domain, number) a page follows, from the opaque ``next`` of the previous page.

    Only a domain name the store could hold (``storable``) and a topic number a BIGINT holds: anything
    else (a forged cursor) would reach the database as a value it refuses. Any such domain, configured or
    not: the list holds the topics of a domain since removed from the config, and a page may end on one.
    """
    if cursor is None:
        return None
    try:
        domain, number = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if (
            isinstance(domain, str)
            and storable(domain)
            and isinstance(number, int)
            and not isinstance(number, bool)
            and 0 <= number < 2**63
        ):
            return domain, number
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        pass
    raise ApiError(422, "invalid_input", "cursor is not one this service gave (use the previous page's next)", "cursor")


# global topic ids are the store's INTEGER column: a larger ?global= cannot name one
GLOBAL_ID_MAX = 2**31 - 1


def _storable_key(store: Any, table: str, column: str, key: str) -> bool:
    """Whether ``key`` could be a stored row's: no NUL character (PostgreSQL refuses it in text: a 500, not
    the 404 it is) and no longer than the column holds."""
    return "\x00" not in key and len(key) <= (store.table(table).c[column].type.length or len(key))


def _global_id(value: int | None) -> int | None:
    """A ``?global=`` filter as the store reads it (None: no filter); out of range is a 422."""
    if value is not None and not 1 <= value <= GLOBAL_ID_MAX:
        raise ApiError(422, "invalid_input", "global must be a global topic id, an integer from 1", "global")
    return value


def _topics_page(
    store: Any, domain: str | None, after: tuple[str, int] | None, limit: int, global_id: int | None
) -> tuple[list[Any], dict[str, int]]:
    """Up to ``limit`` topics after the cursor (of one global topic if given), and the global topic of each."""
    ids = None if global_id is None else store.global_topics.members(global_id)
    if ids == []:
        return [], {}
    page = store.topics.list(domain, after=after, limit=limit, ids=ids)
    return page, store.global_topics.of_topics([t.topic_id for t in page])


api = FastAPI(
    title="ray-topics",
    version="1",
    description="Real-time topic classification of videos (Tier 1). See README, HTTP contract.",
    redirect_slashes=False,  # "/v1/topics/" is an unknown route (404), not a redirect
)


@api.exception_handler(StarletteHTTPException)
async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Unknown routes and methods answer in the API's error shape too."""
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return ApiError(exc.status_code, code, str(exc.detail)).response()


@api.exception_handler(ApiError)
async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return exc.response()


@api.exception_handler(Exception)
async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    """Whatever else failed answers in the API's JSON shape, never as plain text."""
    log.exception("request failed", exc_info=exc)
    return ApiError(
        500, "internal", "the request failed inside the service; retrying the same videos is safe"
    ).response()


@api.exception_handler(RequestValidationError)
async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
    return ApiError(422, "invalid_input", err.get("msg", "invalid request"), field or None).response()


# CPU shares are small defaults so the whole app fits a laptop; serve/config.yaml sets production values.
@serve.deployment(ray_actor_options={"num_cpus": 0.5})
class Embedder:
    """Sentence-transformers encoder (packaged all-MiniLM-L6-v2 by default)."""

    def __init__(self, model_path: str | None, batch_size: int, device: str, quantize: str = "none") -> None:
        self.model = TextEmbedder(model_path, batch_size=batch_size, device=device, quantize=quantize)
        self.model.encode(["warm up"])

    async def embed(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self.model.encode, texts)


@serve.deployment(ray_actor_options={"num_cpus": 0.25})  # its queue limits: build_app, from the config
class DomainModel:
    """Per-domain nearest-centroid classification with group commit, multiplexed by domain.

    A background task polls the registry and swaps in new model versions
    without a restart; every answer names the version that produced it.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        cfg = Config.model_validate(config)
        self.rt = Runtime(cfg)
        self.models = DomainClassifier(self.rt.registry, self.rt.confidence)
        self.metrics = ServeMetrics()
        self._versions_in_use(self.models.refresh())
        self.poll_s = cfg.serve.model_poll_seconds
        self._poller = asyncio.get_event_loop().create_task(self._poll())
        self._commit_on_loop = self.rt.store.dialect == "sqlite"
        self._checkpointer: asyncio.Task | None = None
        if self.rt.store.defer_checkpoints():  # SQLite: no WAL checkpoint (fsync) inside a request's commit
            self._checkpointer = asyncio.get_event_loop().create_task(self._checkpoints(cfg.serve.checkpoint_seconds))
        # group commit: sub-batches waiting to be stored, and the task storing them
        self._pending: list[tuple[list[dict], np.ndarray, list[dict], asyncio.Future]] = []
        self._committer: asyncio.Task | None = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                versions = await asyncio.to_thread(self.rt.store.models.latest_versions)
                self._versions_in_use(self.models.refresh(versions))
            except Exception:  # keep serving the loaded versions; log and retry next tick
                log.exception("model registry poll failed")

    async def _checkpoints(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:  # in a thread: SQLite releases the GIL while it copies and fsyncs
                await asyncio.to_thread(self.rt.store.checkpoint)
            except Exception:  # the next tick (or another process) checkpoints; the WAL only grows meanwhile
                log.exception("WAL checkpoint failed")

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """``serve deploy`` with a new user_config forces a reload of the newest versions."""
        self._versions_in_use(self.models.refresh())

    def _versions_in_use(self, versions: dict[str, int]) -> None:
        for domain, v in versions.items():
            self.metrics.model_version.set(v, tags={"domain": domain})

    def check_health(self) -> None:
        """Serve restarts a replica whose background work died (see :func:`_dead_task`).

        An unreachable store fails nothing here: every replica would fail alike and
        restarting them would only drop the requests in flight (they get 503 meanwhile).
        """
        _raise_if_dead(("model registry poll", self._poller), ("WAL checkpoint", self._checkpointer))

    @serve.multiplexed(max_num_models_per_replica=256)
    async def get_model(self, domain: str) -> str:
        await asyncio.to_thread(self.models.model, domain)
        return domain

    # No @serve.batch: the Ingress gathers a domain's requests into one call (Ingress._to_domain) and
    # the commit groups concurrent calls (_group_commit); a batch queue here would only add its
    # bookkeeping to every call.
    async def classify(self, parts: list[tuple[list[dict[str, Any]], np.ndarray, datetime]]) -> list[Any]:
        """One call: one domain's videos of one or more requests (the multiplexed model id names the domain).

        Each part (one request's videos) is answered on its own: its stored answers, or a
        :class:`PartFailed` saying why it was not stored, so one bad part never fails the others.
        """
        domain = serve.get_multiplexed_model_id()
        await self.get_model(domain)
        answers = await asyncio.gather(*(self._store_part(domain, *part) for part in parts), return_exceptions=True)
        return [PartFailed.of(a) if isinstance(a, BaseException) else a for a in answers]

    async def _store_part(self, domain: str, records: list[dict], vectors: np.ndarray, at: datetime) -> list[dict]:
        rows = classify_rows(self.models, domain, records, vectors, at)
        return await self._group_commit(records, vectors, rows)

    async def _group_commit(self, records: list[dict], vectors: np.ndarray, rows: list[dict]) -> list[dict]:
        """Store one call's videos; the calls that arrive while a commit runs share the next transaction.

        One writer at a time: concurrent transactions from this replica's threads would wait for
        SQLite's write lock in busy-sleeps of milliseconds, one commit per request under load.
        On SQLite the commit runs on the replica's event loop, not in a worker thread: a thread running
        SQLAlchemy's Python code and the loop trade the GIL in 5 ms switch intervals, which set
        the tail (figures in benchmarks/RESULTS.md),
        and with one writer a thread buys no parallelism. Requests that arrive meanwhile wait
        in Serve's queue and join the next group. The price: while a tier job's commit holds
        SQLite's write lock, the replica waits with it (up to the store's busy timeout). SQLite is
        the single-machine default; on PostgreSQL commits run in a thread.
        """
        done = asyncio.get_running_loop().create_future()
        self._pending.append((records, vectors, rows, done))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_pending())
        return await done

    async def _commit_pending(self) -> None:
        group: list[tuple[list[dict], np.ndarray, list[dict], asyncio.Future]] = []
        try:
            while self._pending:
                await asyncio.sleep(0)  # batches already handed to this loop join the group first
                group, self._pending = self._pending, []
                await self._commit_group(group)
        except BaseException as exc:  # cancelled (shutdown): no caller may wait forever
            for *_rest, done in group + self._pending:
                if not done.done():
                    done.set_exception(ReplicaStopping(f"replica stopping before the commit: {exc!r}"))
            self._pending = []
            raise
        finally:
            self._committer = None

    async def _commit_group(self, group: list[tuple[list[dict], np.ndarray, list[dict], asyncio.Future]]) -> None:
        args = (
            self.rt.store,
            [r for recs, _v, _r, _d in group for r in recs],
            np.concatenate([v for _r, v, _w, _d in group]),
            [w for _r, _v, rows, _d in group for w in rows],
            self.models.label_of,
        )
        try:
            # SQLite (a local file): on the loop, see _group_commit. PostgreSQL: in a thread, since
            # psycopg releases the GIL while it waits on the network or on another transaction's lock.
            views = commit(*args) if self._commit_on_loop else await asyncio.to_thread(commit, *args)
        except OperationalError as exc:  # the database is unreachable or locked: every batch would fail alike
            for *_rest, done in group:
                if not done.done():
                    done.set_exception(exc)
            return
        except Exception as exc:
            if len(group) > 1:  # a failing batch must not fail the others: each on its own
                for g in group:
                    await self._commit_group([g])
            elif not group[0][3].done():
                group[0][3].set_exception(exc)
            return
        k = 0
        for recs, _v, _r, done in group:
            if not done.done():
                done.set_result(views[k : k + len(recs)])
            k += len(recs)


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=256)
@serve.ingress(api)
class Ingress:
    """HTTP edge: validation, auth, routing; reads straight from the store."""

    def __init__(self, model: DeploymentHandle, embedder: DeploymentHandle, config: dict[str, Any]) -> None:
        self.cfg = Config.model_validate(config)
        self.model, self.embedder = handle_here(model), handle_here(embedder)
        self._classify_handles: dict[str, DeploymentHandle] = {}  # by domain (_classify_in)
        # per domain: requests' videos waiting for a call, and the calls out (_to_domain)
        self._waiting: dict[str, list[tuple[list[dict], np.ndarray, datetime, asyncio.Future]]] = {}
        self._in_flight: dict[str, int] = {}
        self.store = open_store(self.cfg)
        self.token = _token(self.cfg)
        self.metrics = ServeMetrics()
        self._exemplars = ExemplarWindow(self.store.exemplars)  # read incrementally by each reload
        self._reload_lock = threading.Lock()  # the poll and /healthz reload in worker threads: one at a time
        self._load_prototypes()
        self._prototype_poller = asyncio.get_event_loop().create_task(self._poll_prototypes())
        s = self.cfg.serve
        # health per domain (shared by /v1/health and /metrics) and stories, by key
        self._cache = PeriodCache(
            s.health_cache_seconds,
            s.health_stale_seconds,
            on_error=lambda key, _error: self.metrics.cached_read_failures.inc(1, tags={"read": key[0]}),
        )
        # health and stories computed by one replica per period for all of them (serve.share_reads)
        self._shared = SharedRead(self.store.shared_reads.waiting(s.shared_read_wait_s),
                                  s.health_cache_seconds if s.share_reads else 0.0, s.health_stale_seconds)  # fmt: skip

    def _load_prototypes(self) -> None:
        """The router over the stored prototypes and floors (re-derived weekly) and exemplars (hourly)."""
        with self._reload_lock:  # the exemplar window is shared state; a reload never installs an older router
            protos = {k: v for k, (v, _n) in self.store.prototypes.all().items()}
            self.router = domain_router(self.cfg, self.store, protos, exemplars=self._exemplars)

    async def _poll_prototypes(self) -> None:
        """Prototypes a job re-derived reach the router without a restart."""
        while True:
            await asyncio.sleep(self.cfg.serve.prototype_poll_seconds)
            try:
                await asyncio.to_thread(self._load_prototypes)
            except Exception:  # keep routing with the loaded prototypes; retry next tick
                log.exception("prototype reload failed")

    def check_health(self) -> None:
        """Serve restarts the replica if its prototype reloads stopped (store outages fail nothing here)."""
        _raise_if_dead(("prototype reload", self._prototype_poller))

    def _unavailable(self, message: str) -> ApiError:
        return ApiError(503, "unavailable", message, retry_after=self.cfg.serve.retry_after_s)

    def _auth(self, request: Request, write: bool) -> None:
        if not write and self.cfg.serve.open_reads:
            return
        if not self.token:
            raise ApiError(401, "unauthorized", f"no API token is configured: set {TOKEN_ENV} or serve.token")
        header = request.headers.get("authorization", "")
        if not secrets.compare_digest(header.encode(), f"Bearer {self.token}".encode()):
            raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>' with a valid token")

    async def _json_body(self, request: Request) -> Any:
        limit = self.cfg.serve.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, "payload_too_large", f"request body over {limit} bytes; send fewer videos per call")
        parts, size = [], 0
        try:
            async for chunk in request.stream():  # counted while it arrives: an oversized body is never held whole
                size += len(chunk)
                if size > limit:
                    raise ApiError(
                        413, "payload_too_large", f"request body over {limit} bytes; send fewer videos per call"
                    )
                parts.append(chunk)
        except ClientDisconnect:  # nobody is left to answer; nothing was stored
            raise ApiError(400, "client_disconnected", "the client left before its request arrived whole") from None
        body = b"".join(parts)
        try:
            return orjson.loads(body)  # ~3x faster than json on a batch of embeddings
        except orjson.JSONDecodeError:
            pass
        try:  # json accepts the NaN / Infinity literals some clients send: the error then names the field
            return json.loads(body)
        except RecursionError:
            raise ApiError(422, "invalid_json", "body is nested too deeply to be a request", None) from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer over Python's 4,300 digits
            raise ApiError(422, "invalid_json", f"body is not valid JSON: {exc}", None) from None

    @api.post(
        "/v1/classify",
        response_class=Response,
        responses={
            200: {
                "description": "one result per video, in request order (docs/serving.md, HTTP contract)",
                "content": {JSON: {"example": {"results": [CLASSIFY_EXAMPLE]}}},
            },
            503: {"description": "overloaded, or some videos could not be stored now: retry (docs/serving.md)"},
        },
    )
    async def classify(self, request: Request) -> Response:
        """Classify and store 1..max_batch videos; a retried video_id gets its stored answer."""
        started = time.perf_counter()
        status = 500
        try:
            resp = await self._classify(request)
            status = resp.status_code
            return resp
        except ApiError as exc:
            status = exc.status
            if exc.status < 500:
                self.metrics.rejected.inc(1, tags={"reason": _reason(exc)})
            raise
        finally:
            self.metrics.requests.inc(1, tags={"status": str(status)})
            self.metrics.latency.observe(time.perf_counter() - started)

    async def _classify(self, request: Request) -> Response:
        self._auth(request, write=True)
        body = await self._json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("videos"), list):
            raise ApiError(422, "invalid_input", 'body must be {"videos": [ ... ]}', "videos")
        now = datetime.now(UTC)  # the edge's clock decides what "in the future" means
        try:
            videos, vectors = validate_videos(
                body["videos"],
                dim=self.cfg.embedding.dim,
                now=now,
                max_future_seconds=self.cfg.serve.max_future_seconds,
                domains=self.cfg.domains.names,
                max_batch=self.cfg.serve.max_batch,
            )
            if vectors is None or np.isnan(vectors[:, 0]).any():
                vectors = await self._embed(videos, vectors)
            records, by_domain = route(self.router, videos, vectors)
            self.metrics.routed_records(records)
        except InvalidVideo as exc:
            raise ApiError(422, "invalid_input", exc.message, exc.field) from None
        except TRANSIENT as exc:  # the embedder is overloaded or restarting
            log.warning("embedding failed for a while: %r", exc)
            raise self._unavailable("the videos could not be embedded now; retry the same request") from None
        answers = await self._store(records, vectors, by_domain, now)
        results = in_request_order(
            len(videos),
            by_domain,
            [
                [_failed_view(records[i]["video_id"], d, a) for i in idx] if isinstance(a, BaseException) else a
                for (d, idx), a in zip(by_domain.items(), answers, strict=True)
            ],
        )
        self.metrics.answered(results)
        failures = [a for a in answers if isinstance(a, BaseException)]
        if not failures:
            return Response(orjson.dumps({"results": results}, option=orjson.OPT_SERIALIZE_NUMPY), media_type=JSON)
        # Some domains' videos were stored, others not (each domain commits on its own): the answer says
        # which, per video. Retrying the whole request is safe (stored videos get their stored answers).
        for exc in failures:
            log.warning("classify failed for a domain: %r", exc)
        retryable = all(_retryable(e) for e in failures)
        err = (
            self._unavailable("some videos could not be stored now; retry them (retries are safe)")
            if retryable
            else ApiError(500, "internal", "some videos failed inside the service; see results[].error")
        )
        return err.response(results=results)

    async def _store(
        self, records: list[dict], vectors: np.ndarray, by_domain: dict[str, list[int]], now: datetime
    ) -> list[list[dict] | BaseException]:
        """Each domain's videos to its DomainModel; per domain, its answers or why they are missing.

        Waits at most ``serve.request_timeout_s``: a domain still unanswered then counts as failed
        (its commit may still land; a retry then gets the stored answers).
        """
        calls = [
            asyncio.ensure_future(self._to_domain(d, [records[i] for i in idx], vectors[idx], now))
            for d, idx in by_domain.items()
        ]
        try:
            _done, late = await asyncio.wait(calls, timeout=self.cfg.serve.request_timeout_s)
        finally:  # a call still running (timed out, or the client left) finishes alone: a retry reads its outcome
            for call in calls:
                if not call.done():
                    call.add_done_callback(lambda c: c.cancelled() or c.exception())
        return [
            TimeoutError(f"not stored within {self.cfg.serve.request_timeout_s} s")
            if c in late
            else (c.exception() or c.result())
            for c in calls
        ]

    async def _to_domain(self, domain: str, records: list[dict], vectors: np.ndarray, at: datetime) -> list[dict]:
        """One request's videos of a domain, stored by its DomainModel; their answers.

        A domain has at most ``serve.domain_calls_in_flight`` calls out at once from this replica;
        the requests that arrive meanwhile wait here and go together in the next call, each as a
        part of it (answered, or failed, on its own). A lone request goes at once; under load one call
        carries many requests, and each call costs Serve's request path on both sides (a few ms of
        CPU, benchmarks/RESULTS.md, Sustained load), which would otherwise be paid per request.
        """
        done = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(domain, []).append((records, vectors, at, done))
        self._send(domain)
        return await done

    def _send(self, domain: str) -> None:
        """Send what waits for ``domain`` in one call, if the domain has a call to spare."""
        waiting = self._waiting.get(domain)
        if not waiting or self._in_flight.get(domain, 0) >= self.cfg.serve.domain_calls_in_flight:
            return
        parts, videos = [], 0
        while waiting and (not parts or videos + len(waiting[0][0]) <= self.cfg.serve.max_batch):
            parts.append(waiting.pop(0))
            videos += len(parts[-1][0])
        self._in_flight[domain] = self._in_flight.get(domain, 0) + 1
        try:
            call = asyncio.ensure_future(self._classify_in(domain).remote([p[:3] for p in parts]))
        except Exception as exc:  # refused before it left: every part fails alike, the domain's slot is free
            call = asyncio.get_running_loop().create_future()
            call.set_exception(exc)
        call.add_done_callback(lambda c: self._landed(domain, parts, c))

    def _landed(self, domain: str, parts: list[tuple[Any, ...]], call: asyncio.Future) -> None:
        """A call's answers to the requests waiting on them; then the next call of the domain goes."""
        self._in_flight[domain] -= 1
        failed = ReplicaStopping("the call was cancelled") if call.cancelled() else call.exception()
        if failed is None and len(call.result()) != len(parts):  # a replica of another version answered
            failed = RuntimeError(f"{len(call.result())} answers to a call of {len(parts)} parts")
        answers = [failed] * len(parts) if failed is not None else call.result()
        for (*_part, done), answer in zip(parts, answers, strict=True):
            if done.done():  # its request left (timed out, or the client went away)
                continue
            if isinstance(answer, BaseException):
                done.set_exception(answer)
            else:
                done.set_result(answer)
        self._send(domain)

    def _classify_in(self, domain: str) -> DeploymentHandle:
        """The handle of DomainModel.classify for a domain's model, made once per domain (a new one costs a copy)."""
        handle = self._classify_handles.get(domain)
        if handle is None:
            handle = self._classify_handles[domain] = self.model.options(
                method_name="classify", multiplexed_model_id=domain
            )
        return handle

    async def _embed(self, videos: list, vectors: np.ndarray | None) -> np.ndarray:
        vectors, todo, texts = texts_to_embed(videos, vectors, self.cfg.embedding.dim, self.cfg.embedding.max_chars)
        started = time.perf_counter()
        vectors[todo] = await self.embedder.embed.remote(texts)
        self.metrics.embed.observe(time.perf_counter() - started)
        return vectors

    @api.get("/v1/videos/{video_id:path}")  # an id may hold "/" (sent as %2F, which the server decodes)
    async def video(self, video_id: str, request: Request) -> dict[str, Any]:
        self._auth(request, write=False)
        return await asyncio.to_thread(self._video, video_id)

    def _video(self, video_id: str) -> dict[str, Any]:
        """A stored answer, with the topic its story is told under (``story_id``; ops.stories)."""
        from ray_topics.ops.stories import story_of_video

        held = _storable_key(self.store, "classifications", "video_id", video_id)
        row = self.store.classifications.get([video_id]).get(video_id) if held else None
        if row is None:
            raise ApiError(404, "not_found", f"no video {video_id!r} is stored", "video_id")
        story = story_of_video(self.store, row, self.cfg.daily.misfit_confidence)
        topics = {t: self.store.topics.get(t) for t in {row["topic_id"], story} if t}
        labels = {t: topic.label if topic else None for t, topic in topics.items()}
        return {**result_view(row, labels), "story_id": story, "story_label": labels.get(story)}

    @api.get("/v1/topics")
    async def topics(
        self,
        request: Request,
        domain: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        global_topic: int | None = Query(None, alias="global", description="only the topics of this global topic"),
    ) -> dict[str, Any]:
        """One page of topics in (domain, number) order; ``next`` is the cursor of the following page."""
        self._auth(request, write=False)
        self._known_domain(domain)
        gid = _global_id(global_topic)
        size = self._page_size(limit)
        after = _decode_cursor(cursor, lambda d: _storable_key(self.store, "topics", "domain", d))
        page, linked = await asyncio.to_thread(_topics_page, self.store, domain, after, size + 1, gid)
        more = len(page) > size
        page = page[:size]
        return {
            "topics": [topic_view(t, linked.get(t.topic_id)) for t in page],
            "next": _encode_cursor(page[-1].domain, page[-1].number) if more else None,
        }

    @api.get("/v1/topics/{topic_id}")
    async def topic(self, topic_id: str, request: Request) -> dict[str, Any]:
        self._auth(request, write=False)
        held = _storable_key(self.store, "topics", "topic_id", topic_id)
        t = await asyncio.to_thread(self.store.topics.get, topic_id) if held else None
        if t is None:
            raise ApiError(404, "not_found", f"no topic {topic_id!r}", "topic_id")
        linked = await asyncio.to_thread(self.store.global_topics.of_topics, [topic_id])
        return topic_view(t, linked.get(topic_id))

    @api.get("/v1/stories")
    async def stories(
        self, request: Request, days: int | None = None, domain: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """Stories holding videos of another domain than their topic's, over ``days`` days, largest first.

        The story view as the stories job placed it (once a day): each topic with the videos of every
        domain whose nearest topic it is, over the ``days`` days that end with the newest placed day
        (``as_of``; null: none placed yet).
        """
        self._auth(request, write=False)
        self._known_domain(domain)
        s = self.cfg.serve
        days = s.story_days if days is None else days
        if not 1 <= days <= s.max_story_days:
            raise ApiError(422, "invalid_input", f"days must be between 1 and {s.max_story_days}", "days")
        size = self._page_size(limit)
        as_of, found = await self._cached(("stories", days, domain), self._placed_stories, days, domain)
        return {"as_of": as_of.isoformat() if as_of else None, "days": days, "stories": found[:size]}

    def _placed_stories(self, days: int, domain: str | None) -> Aged[tuple[datetime | None, list[dict[str, Any]]]]:
        """The story list as another replica stored it within the period, or computed here (and stored); aged
        from when it was computed (:class:`serve.cache.Aged`)."""
        from ray_topics.ops.stories import placed_stories, stories_from_payload, stories_payload

        def compute() -> tuple[datetime | None, list[dict[str, Any]]]:
            return placed_stories(self.store, self.cfg.daily.misfit_confidence, days, domain)

        key = f"stories:{days}:{domain or ''}"
        return self._shared.aged(key, compute, lambda v: stories_payload(*v), stories_from_payload)

    def _page_size(self, limit: int | None) -> int:
        s = self.cfg.serve
        size = s.page_size if limit is None else limit
        if not 1 <= size <= s.max_page_size:
            raise ApiError(422, "invalid_input", f"limit must be between 1 and {s.max_page_size}", "limit")
        return size

    async def _cached(self, key: Any, compute: Any, *args: Any) -> Any:
        """``compute(*args)`` in a worker thread, at most once per ``serve.health_cache_seconds`` per ``key``;
        concurrent callers share one computation, and within ``serve.health_stale_seconds`` more a caller takes
        the value at once while it is recomputed (:class:`serve.cache.PeriodCache`)."""
        return await self._cache.get(key, compute, *args)

    def _known_domain(self, domain: str | None) -> None:
        if domain is not None and domain not in self.cfg.domains.names:
            raise ApiError(
                422, "invalid_input", f"unknown domain {domain!r}; known: {', '.join(self.cfg.domains.names)}", "domain"
            )

    async def _topic_health(self, domain: str | None) -> tuple[datetime, list, dict[str, Any]]:
        """Health and routing shares as of at most ``serve.health_cache_seconds`` ago (computed here or by
        another replica, :class:`SharedRead`: this replica's cache ages it from when it was computed), or
        ``serve.health_stale_seconds`` more while a fresh one is computed.

        A week of activity is read once per period for all replicas, whichever of ``/v1/health`` and
        ``/metrics`` asks.
        """
        return await self._cached(("health", domain), self._health_now, domain)

    def _health_now(self, domain: str | None) -> Aged[tuple[datetime, list, dict[str, Any]]]:
        """Health as another replica stored it within the period, or computed here (and stored for the others)."""
        from ray_topics.ops.health import health_and_routing, health_from_payload, health_payload

        def compute() -> tuple[datetime, list, dict[str, Any]]:
            at = datetime.now(UTC)
            return at, *health_and_routing(self.store, at, self.cfg, domain)

        return self._shared.aged(f"health:{domain or ''}", compute, lambda v: health_payload(*v), health_from_payload)

    @api.get("/v1/health")
    async def health(self, request: Request, domain: str | None = None) -> dict[str, Any]:
        """Topic health and alerts, computed at ``as_of`` (at most ``serve.health_cache_seconds`` ago, or
        within ``serve.health_stale_seconds`` more while a fresh one is computed)."""
        from ray_topics.ops.health import health_summary

        self._auth(request, write=False)
        self._known_domain(domain)
        at, items, routing = await self._topic_health(domain)
        return {
            "as_of": at.isoformat(),
            "summary": health_summary(items),
            "routing": routing,
            "topics": [vars(h) for h in items],
        }

    @api.get("/metrics", response_class=PlainTextResponse)
    async def metrics(self) -> str:
        """Topic health and the week's routing shares as Prometheus metrics."""
        from ray_topics.ops.health import to_prometheus

        at, items, routing = await self._topic_health(None)
        return to_prometheus(items, at, routing)

    @api.get("/healthz")
    async def healthz(self) -> dict[str, Any]:
        versions = await asyncio.to_thread(self.store.models.latest_versions)
        await asyncio.to_thread(self._load_prototypes)
        return {"status": "ok", "model_versions": versions}


def serve_env(cfg: Config) -> None:
    """Before Ray starts: ``serve.ray_env`` (a variable already set wins) and free ports for the fallback proxy."""
    for key, value in cfg.serve.ray_env.items():  # Ray's processes inherit them
        os.environ.setdefault(key, value)
    own_ports(FALLBACK_PORT_ENV)  # internal to this Ray: never shared with another Serve on the machine


def build_app(args: dict[str, Any]) -> Any:
    """Application builder for ``serve run serve/config.yaml`` (args: config, overrides, workdir)."""
    cfg = load_config(args.get("config"), args.get("overrides") or [], workdir=args.get("workdir"))
    rt = Runtime(cfg)
    # zero-shot domain prototypes are computed once here and stored; the ingress reads them
    rt.router(at=datetime.now(UTC), embed_missing=True)
    if not (os.environ.get(TOKEN_ENV) or cfg.serve.token or _token(cfg)):
        # never printed, logged or handed to the replicas in their arguments (Ray shows those):
        # written for the operator, and read back by every Ingress replica on this machine. Made once:
        # a redeploy or a new replica reads the same token as the replicas already running.
        path = _token_file(cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(secrets.token_urlsafe(24) + "\n")
    if not (os.environ.get(TOKEN_ENV) or cfg.serve.token):
        print(f"ray-topics: no API token configured; the write token is in {_token_file(cfg)} (mode 600)", flush=True)
    conf = cfg.model_dump()  # secrets configured as env:NAME stay references (ray_topics.config.from_env)
    e, s = cfg.embedding, cfg.serve
    # back-pressure (serve/config.yaml's deployments override these under `serve deploy`): calls
    # beyond the queue are refused at once, 503 with Retry-After, instead of waiting without bound
    full = BackpressureConfig(status_code=503, retry_after_s=s.retry_after_s)
    logs = {"enable_access_log": s.access_log}  # Serve's access line per request, in every replica
    model = DomainModel.options(
        max_ongoing_requests=s.model_max_ongoing_requests,
        max_queued_requests=s.model_max_queued_requests,
        backpressure_config=full,
        logging_config=logs,
    ).bind(conf)
    embedder = Embedder.options(
        max_queued_requests=s.model_max_queued_requests, backpressure_config=full, logging_config=logs
    ).bind(e.model_path, e.batch_size, e.device, e.quantize)
    return Ingress.options(
        max_queued_requests=s.ingress_max_queued_requests, backpressure_config=full, logging_config=logs
    ).bind(model, embedder, conf)


def run_local(config: str | None, overrides: list[str], workdir: str | None, port: int | None) -> None:
    """Start Ray and the app on this machine and block until SIGTERM or SIGINT (``make serve``).

    A stop first deletes the app (Serve drains its replicas: requests in flight, and the
    DomainModel's pending group commit, finish), then shuts down the Ray this call started,
    HAProxy and every replica with it, and returns.
    """
    import signal
    import threading

    import ray

    cfg = load_config(config, overrides, workdir=workdir)
    serve_env(cfg)
    stop = threading.Event()
    ray.init(include_dashboard=False, ignore_reinit_error=True)
    # after ray.init, which installs its own (aborting) handlers: a stop asked while the app starts
    # takes effect once it has started
    for sig in (signal.SIGTERM, signal.SIGINT):  # a platform stops services with SIGTERM
        signal.signal(sig, lambda _signo, _frame: stop.set())
    try:
        serve.start(http_options={"host": cfg.serve.host, "port": port or cfg.serve.port})
        serve.run(
            build_app({"config": config, "overrides": overrides, "workdir": workdir}),
            name="ray-topics",
            route_prefix="/",
        )
        print(
            f"ray-topics serving on http://{cfg.serve.host}:{port or cfg.serve.port} (docs at /docs); "
            "Ctrl-C or SIGTERM stops it",
            flush=True,
        )
        while not stop.wait(1.0):
            pass
        print("ray-topics: stopping (finishing requests in flight)", flush=True)
        serve.delete("ray-topics")
        serve.shutdown()
    finally:
        ray.shutdown()
