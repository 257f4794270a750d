"""Runtime: the objects an entry point builds once from a validated :class:`Config`."""

from __future__ import annotations

import os
from collections.abc import Container, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ray_topics.config import Config
from ray_topics.core.clustering import ClusterBackend, make_backend
from ray_topics.core.router import DomainRouter, routing_floor
from ray_topics.core.tokens import stop_words
from ray_topics.core.validation import InvalidVideo, validate_vector
from ray_topics.execution.embedder import Embedder, EmbeddingCache
from ray_topics.execution.representation import KeywordModel
from ray_topics.storage.aging import AgingLake, ColdArchive, partition_keys
from ray_topics.storage.lake import Lake
from ray_topics.storage.lake_format import column_vectors
from ray_topics.storage.registry import ModelRegistry
from ray_topics.storage.routing import ExemplarWindow
from ray_topics.storage.store import Store

__all__ = ["Runtime", "calibrated_floor", "embedding_cache_path", "limit_threads", "open_store", "yield_cpu"]


def limit_threads(n: int | None) -> None:
    """Cap BLAS/OpenMP threads of this process (entry points call it; None leaves the defaults)."""
    if n is None:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    try:  # FAISS keeps its own OpenMP setting
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:  # pragma: no cover - faiss is a dependency
        pass


def yield_cpu(niceness: int) -> None:
    """Run this process at ``niceness`` or below in priority (never above where it runs now).

    Tier jobs call it (``execution.job_niceness``): on a node that also runs Tier 1's replicas, a
    job's planning waits for the cores while a request needs them, instead of the request waiting
    behind the job. 0 leaves the priority as it is.
    """
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    if os.getpriority(os.PRIO_PROCESS, 0) < niceness:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)


def calibrated_floor(cfg: Config, calibration: tuple[float, float, int]) -> float | None:
    """The routing floor a stored ``(mean, std, n)`` gives under the config's ``floor_z`` and ``floor_min_videos``."""
    d = cfg.domains
    return routing_floor(*calibration, z=d.floor_z, min_videos=d.floor_min_videos)


def domain_router(
    cfg: Config,
    store: Store,
    prototypes: dict[str, np.ndarray],
    at: datetime | None = None,
    exemplars: ExemplarWindow | None = None,
) -> DomainRouter:
    """The router of a configuration over ``prototypes``, with the floors and the routing exemplars in the store.

    ``exemplars``: the caller's window, brought up to the store's (the ``domains.vote_window_days`` before
    ``at``, default now) by reading only what changed since its last refresh (:func:`refresh_exemplars`);
    None reads the window afresh.
    """
    d = cfg.domains
    floors = {
        domain: floor
        for domain, cal in store.prototypes.calibrations().items()
        if (floor := calibrated_floor(cfg, cal)) is not None
    }
    router = DomainRouter(
        d.names,
        d.category_map(),
        prototypes,
        d.unknown_category,
        fallback=d.fallback,
        floors=floors,
        neighbours=d.vote_neighbours,
    )
    window = exemplars if exemplars is not None else ExemplarWindow(store.exemplars)
    refresh_exemplars(cfg, router, window, at, force=True)
    return router


def refresh_exemplars(
    cfg: Config, router: DomainRouter, window: ExemplarWindow, at: datetime | None = None, *, force: bool = False
) -> bool:
    """Bring ``window`` to the store's exemplars of the ``domains.vote_window_days`` before ``at`` (default
    now) and give the router the new ones; whether they changed (always set when ``force``)."""
    d = cfg.domains
    if not d.vote_neighbours:
        return False
    changed = window.refresh((at or datetime.now(UTC)) - timedelta(days=d.vote_window_days))
    if changed or force:
        router.set_exemplars(*window.matrix())
    return changed


def open_store(cfg: Config) -> Store:
    """The operational store of a configuration: its URL, schema, pool, timeouts and lease waits."""
    s, x = cfg.store, cfg.execution
    return Store(
        cfg.store_url,
        schema=s.schema_name,
        lease_wait_seconds=x.lease_wait_seconds,
        lease_poll_seconds=x.lease_poll_seconds,
        pool_size=s.pool_size,
        max_overflow=s.max_overflow,
        pool_timeout_s=s.pool_timeout_s,
        statement_timeout_s=s.statement_timeout_s,
        dead_client_s=s.dead_client_s,
    )


def embedding_cache_path(cfg: Config, name: str) -> Path:
    """Where a corpus' embeddings are cached: one file per quantisation (their vectors differ slightly)."""
    suffix = "" if cfg.embedding.quantize == "none" else f"-{cfg.embedding.quantize}"
    return Path(cfg.workdir) / "cache" / f"{name}{suffix}.npz"


class Runtime:
    """Store, lake, registry, embedder and cluster backend for one configuration.

    Everything is built lazily, so a job that never embeds never loads the model.
    """

    def __init__(self, cfg: Config, embedder: Embedder | None = None) -> None:
        self.cfg = cfg
        self._preloaded: dict[str, np.ndarray] = {}  # lake rows a Ray Data read handed in (preload)
        limit_threads(cfg.execution.blas_threads)
        if embedder is not None:
            self.__dict__["embedder"] = embedder

    def close(self) -> None:
        """Close the store's connections, if it was opened (a Ray task's runtime: the worker process lives on)."""
        if "store" in self.__dict__:
            self.store.dispose()

    @cached_property
    def store(self) -> Store:
        url = self.cfg.store_url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return open_store(self.cfg)

    @cached_property
    def lake(self) -> Lake:
        return Lake(self.cfg.lake_root, self.cfg.embedding.dim)

    @cached_property
    def aging(self) -> AgingLake:
        """The lake with its cold archive and access statistics (``archive`` in config)."""
        a = self.cfg.archive
        return AgingLake(
            self.lake,
            self.store,
            ColdArchive(self.cfg.archive_root, self.cfg.embedding.dim),
            **a.model_dump(exclude={"root"}),
        )

    @cached_property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.store, self.cfg.embedding.dim)

    @cached_property
    def embedder(self) -> Embedder:
        e = self.cfg.embedding
        return Embedder(e.model_path, batch_size=e.batch_size, device=e.device, quantize=e.quantize)

    @cached_property
    def keywords(self) -> KeywordModel:
        """The keyword step (``keywords`` in config); it loads the embedder only when keybert or mmr needs it."""
        k = self.cfg.keywords
        return KeywordModel(
            k.representation,
            lambda texts: self.embedder.encode(texts),
            candidates=k.candidates,
            mmr_diversity=k.mmr_diversity,
            keybert_docs=k.keybert_docs,
            keybert_samples=k.keybert_samples,
            stops=stop_words(k.languages, k.stop_words),
        )

    def embedding_cache(self, name: str) -> EmbeddingCache:
        return EmbeddingCache(embedding_cache_path(self.cfg, name), self.embedder)

    @cached_property
    def backend(self) -> ClusterBackend:
        c = self.cfg.cluster
        return make_backend(
            c.backend,
            umap_n_neighbors=c.umap_n_neighbors,
            umap_n_components=c.umap_n_components,
            umap_min_dist=c.umap_min_dist,
            umap_n_epochs=c.umap_n_epochs,
            hdbscan_min_samples=c.hdbscan_min_samples,
            random_state=c.random_state,
            gpu_min_rows=c.gpu_min_rows,
        )

    @property
    def confidence(self) -> dict[str, float]:
        return self.cfg.confidence.model_dump()

    def preload(self, rows: Any, at: datetime) -> int:
        """Keep lake rows already read (a ``pyarrow.Table``: video_id, domain, published_at, embedding).

        :meth:`vectors` takes them before reading the lake, so a Ray Data job
        that read them in its Parquet tasks does not read them again; the
        partitions they came from count one access at ``at``. Returns the rows.
        """
        if rows.num_rows == 0:
            return 0
        vecs = column_vectors(rows.column("embedding"), self.cfg.embedding.dim)
        self._preloaded = dict(zip(rows.column("video_id").to_pylist(), vecs, strict=True))
        self.store.access.record(partition_keys(rows), at)
        return rows.num_rows

    def vectors(self, domain: str, video_ids: list[str], window: tuple[datetime, datetime] | None = None) -> np.ndarray:
        """Embeddings of ``video_ids`` in their order: hot table first, the lake for the rest.

        ``window`` (the ids' publication range) bounds the lake partitions read.
        The lake is read through :meth:`AgingLake.read`: warm days come back
        dequantised, archived days holding some of the ids are restored first,
        and each partition read counts one access.
        """
        found = self._lookup(domain, video_ids, window)
        missing = [v for v in video_ids if v not in found]
        if missing:
            raise LookupError(f"{len(missing)} embeddings missing from store and lake (e.g. {missing[0]})")
        if not video_ids:
            return np.zeros((0, self.cfg.embedding.dim), np.float32)
        return np.stack([found[v] for v in video_ids]).astype(np.float32, copy=False)

    def usable_vectors(
        self, domain: str, video_ids: list[str], window: tuple[datetime, datetime] | None = None
    ) -> tuple[list[str], np.ndarray, dict[str, str]]:
        """Like :meth:`vectors`, but a video whose embedding is missing or unusable is left out, not fatal.

        Returns (the usable ids in order, their embeddings, {left-out id: why}). The jobs read their samples
        and pools so: refine sets such a video aside (it keeps its answer, :mod:`ray_topics.tiers.refine`),
        and it must not stop every domain's daily, weekly or monthly commit while it stays in their windows.
        """
        found = self._lookup(domain, video_ids, window, strict=False)
        bad: dict[str, str] = {}
        for v in video_ids:
            vec = found.get(v)
            if vec is None:
                bad[v] = "embedding missing from store and lake"
                continue
            try:
                validate_vector(vec, self.cfg.embedding.dim)
            except InvalidVideo as exc:
                bad[v] = exc.message
        ok = [v for v in video_ids if v not in bad]
        vecs = np.stack([found[v] for v in ok]) if ok else np.zeros((0, self.cfg.embedding.dim))
        return ok, vecs.astype(np.float32, copy=False), bad

    def window_vectors(
        self, domain: str, window: tuple[datetime, datetime], skip: Container[str] = ()
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """(ids, embeddings) of a domain's videos published in ``window``, ``monthly.reassign_chunk`` at a time.

        The ids are streamed from the store and only one chunk's embeddings is held, so a busy domain's
        week is read in bounded memory; ids in ``skip`` and videos whose embedding is unusable are left out.
        """
        step = self.cfg.monthly.reassign_chunk
        batch: list[str] = []
        with closing(self.store.classifications.iter_window_ids(domain, *window)) as rows:
            for vid, _topic in rows:
                if vid in skip:
                    continue
                batch.append(vid)
                if len(batch) == step:
                    yield from self._usable(domain, batch)
                    batch = []
        yield from self._usable(domain, batch)

    def _usable(self, domain: str, batch: list[str]) -> Iterator[tuple[list[str], np.ndarray]]:
        """:meth:`usable_vectors` of a non-empty batch, yielded when any is usable."""
        if batch:
            ids, vecs, _bad = self.usable_vectors(domain, batch)
            if ids:
                yield ids, vecs

    def _lookup(
        self, domain: str, video_ids: list[str], window: tuple[datetime, datetime] | None, strict: bool = True
    ) -> dict[str, np.ndarray]:
        """The embeddings found of ``video_ids`` (hot, preloaded, then the lake); ``strict``: a lake id must exist."""
        found = self.store.videos.hot_vectors(video_ids)
        found.update({v: self._preloaded[v] for v in video_ids if v not in found and v in self._preloaded})
        rest = [v for v in video_ids if v not in found]
        if rest:
            if window is None:
                try:
                    window = self.store.videos.published_range(rest)
                except LookupError:
                    if strict:
                        raise
                    return found
            ids, vecs = self.aging.read(window[0], window[1], [domain], video_ids=rest)
            found.update(zip(ids, vecs, strict=True))
        return found

    def router(
        self, at: datetime | None = None, embed_missing: bool = True, exemplars: ExemplarWindow | None = None
    ) -> DomainRouter:
        """Router over the stored prototypes, floors and exemplars (:func:`domain_router`); domains without a
        prototype get a zero-shot one."""
        d = self.cfg.domains
        protos = {k: v for k, (v, _n) in self.store.prototypes.all().items()}
        missing = [s for s in d.items if s.name not in protos]
        if missing and embed_missing:
            vecs = self.embedder.encode([s.description for s in missing])
            for s, v in zip(missing, vecs, strict=True):
                if at is not None:
                    self.store.prototypes.save(s.name, v, at)
                protos[s.name] = v
        return domain_router(self.cfg, self.store, protos, at, exemplars)
