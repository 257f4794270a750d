"""Replay a stream over event time through every tier, starting from no model.

Videos are ingested hour by hour through Tier 1 (validated, routed,
classified, committed); when event time crosses a boundary of the schedule
(``schedule`` in config) the refine, daily, weekly and monthly jobs run with
``as_of`` = that boundary, and after them, every midnight, the stories job
places the last days in the story view and the archive job moves lake partitions to
their storage class. The first days bootstrap topics
through the same birth rules the daily tier always uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ray_topics.config import Config
from ray_topics.core.router import route_shares, unmapped_category
from ray_topics.core.text import video_text
from ray_topics.core.timeutil import floor_hour
from ray_topics.core.types import EventType
from ray_topics.core.validation import InvalidVideo, VideoIn, validate_vector
from ray_topics.execution.runtime import Runtime, refresh_exemplars
from ray_topics.storage.routing import ExemplarWindow
from ray_topics.streams.datasets import COLUMNS
from ray_topics.tiers.archive import run_archive
from ray_topics.tiers.daily import run_daily
from ray_topics.tiers.monthly import run_monthly
from ray_topics.tiers.realtime import DomainClassifier, RealtimeClassifier
from ray_topics.tiers.refine import run_refine
from ray_topics.tiers.stories import run_stories
from ray_topics.tiers.weekly import run_weekly

__all__ = ["Replay", "ReplayResult", "build_summary", "embed_frame", "needs_routing", "validated"]

log = logging.getLogger(__name__)

VIDEO_COLUMNS = (*COLUMNS, "domain")  # a video's fields, as the corpora and the loader give them


@dataclass
class ReplayResult:
    videos: int = 0  # stored by this run
    already_stored: int = 0  # valid, but stored before (the same stream replayed again): nothing written twice
    rejected: list[dict[str, str]] = field(default_factory=list)
    runs: list[tuple[str, str]] = field(default_factory=list)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    routed: dict[str, int] = field(default_factory=dict)  # videos by how their domain was chosen

    def add_time(self, tier: str, wall: float, cpu: float) -> None:
        t = self.timings.setdefault(tier, {"wall_s": 0.0, "cpu_s": 0.0, "runs": 0})
        t["wall_s"] += wall
        t["cpu_s"] += cpu
        t["runs"] += 1


def embed_frame(rt: Runtime, videos: pd.DataFrame, cache_name: str | None, progress: bool = False) -> np.ndarray:
    """Embeddings of a frame's texts (cached under the workdir when ``cache_name`` is given); ``progress``: a bar."""
    texts = [
        video_text(t, d, g, rt.cfg.embedding.max_chars)
        for t, d, g in zip(videos["title"], videos["description"], videos["tags"], strict=True)
    ]
    enc = rt.embedding_cache(cache_name) if cache_name else rt.embedder
    return enc.encode(texts, progress=progress)


def replay_span(published_at: pd.Series, until: datetime | None = None) -> tuple[datetime, datetime]:
    """The event time a replay walks: from the first video's hour to ``until``, or the midnight after the last video."""
    first = floor_hour(published_at.min().to_pydatetime())
    last = published_at.max().to_pydatetime()
    return first, until or (last.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1))


class Replay:
    """Drive the tiers over a frame of videos in event-time order.

    Args:
        rt: the runtime (store, lake, config).
        progress: called with one line per job event worth a person's eye (a birth, a death, a merge).
        after_boundary: called with the event time after every hour boundary's jobs have run
            (a progress bar, a benchmark's probe; its cost is not in the tiers' timings).
    """

    def __init__(
        self,
        rt: Runtime,
        progress: Callable[[str], None] | None = None,
        after_boundary: Callable[[datetime], None] | None = None,
    ) -> None:
        self.rt = rt
        self.progress = progress or (lambda _s: None)
        self.after_boundary = after_boundary
        self.result = ReplayResult()

    def _timed(self, tier: str, as_of: datetime, fn: Callable[[], Any]) -> Any:
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        self.result.add_time(tier, time.perf_counter() - w0, time.process_time() - c0)
        self.result.runs.append((tier, as_of.isoformat()))
        for d, why in ((out or {}).get("failed") or {}).items() if isinstance(out, dict) else ():
            self.progress(f"{as_of.date()} {tier:<7} {d}: FAILED ({why}); the other domains went on")
        return out

    def run(
        self,
        videos: pd.DataFrame,
        embeddings: np.ndarray,
        until: datetime | None = None,
        *,
        embedded_from_text: bool = False,
    ) -> ReplayResult:
        """Replay ``videos`` (columns of :data:`VIDEO_COLUMNS`, ``published_at`` tz-aware) with their embeddings.

        ``embedded_from_text``: the embeddings were computed here from the videos' text, so a video without
        text is refused (as Tier 1 refuses it), not kept with the embedding of an empty string.
        """
        rt, cfg = self.rt, self.rt.cfg
        if len(videos) != len(embeddings):
            raise ValueError(f"{len(videos)} videos but {len(embeddings)} embeddings")
        if not len(videos):
            raise ValueError("nothing to replay: the input holds no videos")
        order = np.argsort(videos["published_at"].to_numpy(), kind="stable")
        videos = videos.iloc[order].reset_index(drop=True)
        embeddings = np.asarray(embeddings, dtype=np.float32)[order]
        times = videos["published_at"]
        first, end = replay_span(times, until)
        by_prototype = needs_routing(videos, cfg.domains.category_map())
        exemplars = ExemplarWindow(rt.store.exemplars)
        router = rt.router(at=first, embed_missing=by_prototype, exemplars=exemplars)
        models = DomainClassifier(rt.registry, rt.confidence)
        tier1 = RealtimeClassifier(router, models, store=rt.store, max_chars=cfg.embedding.max_chars)
        ts_ns = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
        h = first
        while h < end:
            h_end = h + timedelta(hours=1)
            lo = np.searchsorted(ts_ns, np.datetime64(h.replace(tzinfo=None), "ns"), "left")
            hi = np.searchsorted(ts_ns, np.datetime64(h_end.replace(tzinfo=None), "ns"), "left")
            if hi > lo:
                models.refresh()
                self._timed(
                    "tier1",
                    h_end,
                    lambda lo=lo, hi=hi, h_end=h_end: self._ingest(
                        tier1, videos.iloc[lo:hi], embeddings[lo:hi], h_end, not embedded_from_text
                    ),
                )
            self._boundary(h_end)
            # route by what the jobs just wrote, as a Serve replica does once it polls it
            # (serve.prototype_poll_seconds): the day's prototypes and floors, the hour's exemplars
            if h_end.hour == 0:
                tier1.router = rt.router(at=h_end, embed_missing=False, exemplars=exemplars)
            else:
                refresh_exemplars(cfg, tier1.router, exemplars, h_end)
            if self.after_boundary is not None:
                self.after_boundary(h_end)
            h = h_end
        self.result.routed = dict(tier1.routed)
        return self.result

    def _ingest(
        self, tier1: RealtimeClassifier, frame: pd.DataFrame, vecs: np.ndarray, now: datetime, given: bool
    ) -> None:
        good, rows, rejected = validated(self.rt.cfg, frame, vecs, now, embedding_given=given)
        self.result.rejected += rejected
        if not good:
            return
        v = vecs[rows]
        known = len(self.rt.store.videos.existing_ids([x.video_id for x in good]))  # a replay run again
        tier1.classify_and_store(good, v, at=now)
        self.result.videos += len(good) - known
        self.result.already_stored += known

    def _boundary(self, at: datetime) -> None:
        s = self.rt.cfg.schedule
        if at.hour % s.refine_every_hours == 0:
            self._timed("refine", at, lambda: run_refine(self.rt, at))
        if at.hour != 0:
            return
        daily = self._timed("daily", at, lambda: run_daily(self.rt, at))
        for d, st in daily.items():
            if st.get("births"):
                self.progress(f"{at.date()} daily   {d}: {st['births']} topic(s) born (pool {st['pool']})")
            if st.get("returned"):
                self.progress(f"{at.date()} daily   {d}: {st['returned']} dead topic(s) returned")
            for tid, ev in (st.get("lifecycle") or {}).items():
                if ev != EventType.REVIVAL:  # revivals are in the events; the console shows what changes the model
                    self.progress(f"{at.date()} daily   {d}: {tid} {ev}")
        if at.weekday() == s.weekday:
            weekly = self._timed("weekly", at, lambda: run_weekly(self.rt, at))
            mine = {d: st for d, st in weekly.items() if d in self.rt.cfg.domains.names}  # not "failed"
            n = sum(st.get("drift_events", 0) for st in mine.values())
            self.progress(f"{at.date()} weekly  updated topics in {len(mine)} domain(s), {n} drift event(s)")
        if at.day == s.monthly_on_day:
            monthly = self._timed("monthly", at, lambda: run_monthly(self.rt, at))
            for d, st in monthly.items():
                if st.get("sample"):
                    self.progress(
                        f"{at.date()} monthly {d}: sample {st['sample']}, {st.get('matched', 0)} aligned, "
                        f"{st.get('births', 0)} born, {st.get('merges', 0)} merged, {st.get('splits', 0)} split"
                    )
        placed = self._timed("stories", at, lambda: run_stories(self.rt, at))
        if placed.get("to_other_domains"):
            days = placed.get("days", 1)  # a run stored before placements took a window placed its own day
            self.progress(
                f"{at.date()} stories {placed['to_other_domains']} video(s) of the last {days} days told "
                "under another domain's topic"
            )
        # last: the day's jobs have read (and counted their reads of) the partitions it may move
        moved = self._timed("archive", at, lambda: run_archive(self.rt, at))
        if moved.get("warm") or moved.get("cold"):
            self.progress(f"{at.date()} archive {moved['warm']} partition(s) made warm, {moved['cold']} archived cold")


def validated(
    cfg: Config, frame: pd.DataFrame, vecs: np.ndarray, now: datetime, *, embedding_given: bool = True
) -> tuple[list[VideoIn], list[int], list[dict[str, str]]]:
    """The frame's valid videos, their row numbers, and ``{video_id, error}`` of the others, as Tier 1 takes them.

    ``embedding_given``: the embeddings came with the videos (else from their text: one without text is
    refused). With ``domains.unknown_category: reject``, a video whose category maps to no domain (and that
    names none) is refused here, on its own, not with its hour's batch by the router.
    """
    good: list[VideoIn] = []
    rows: list[int] = []
    rejected: list[dict[str, str]] = []
    ctx = {
        "dim": cfg.embedding.dim,
        "now": now,
        "max_future_seconds": cfg.serve.max_future_seconds,
        "domains": set(cfg.domains.names),
    }
    cols = [c for c in VIDEO_COLUMNS if c in frame.columns]
    categories = cfg.domains.category_map() if cfg.domains.unknown_category == "reject" else None
    for i, rec in enumerate(frame[cols].to_dict("records")):
        rec = {k: _clean(v) for k, v in rec.items()}
        try:
            validate_vector(vecs[i], cfg.embedding.dim)
            v = VideoIn.model_validate(rec, context={**ctx, "embedding_given": embedding_given})
            refused = None if categories is None else unmapped_category(v.record(), categories)
            if refused is not None:
                raise InvalidVideo("category", refused)
            good.append(v)
            rows.append(i)
        except (InvalidVideo, ValueError) as exc:
            rejected.append({"video_id": str(rec.get("video_id")), "error": str(exc)[:300]})
    return good, rows, rejected


def needs_routing(videos: pd.DataFrame, category_map: dict[str, str]) -> bool:
    """Whether some video names neither a domain nor a mapped category (the router then needs prototypes)."""
    has_domain = videos["domain"].notna() if "domain" in videos else pd.Series(False, index=videos.index)
    cats = videos["category"] if "category" in videos else pd.Series(None, index=videos.index)
    mapped = cats.map(lambda c: isinstance(c, str) and c.lower() in category_map)
    return bool((~(has_domain | mapped)).any())


def _clean(v: Any) -> Any:
    """pandas missing values -> None; numpy scalars -> Python; timestamps -> datetime."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return [str(x) for x in v]
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, np.generic):
        return v.item()
    return v


def build_summary(rt: Runtime, result: ReplayResult) -> dict[str, Any]:
    """The replay summary (schema in docs/operations.md: videos, domains, topics, events, timings)."""
    store = rt.store
    sizes: dict[str, int] = {}
    for d in rt.cfg.domains.names:
        sizes.update(store.classifications.topic_sizes(d))
    topics = [
        {
            "topic_id": t.topic_id,
            "domain": t.domain,
            "label": t.label,
            "keywords": t.keywords,
            "size": sizes.get(t.topic_id, 0),
            "status": t.status,
            "born_at": t.born_at.isoformat(),
            "died_at": t.died_at.isoformat() if t.died_at else None,
        }
        for t in store.topics.list()
    ]
    events = [
        {
            "type": e["type"],
            "topic_id": e["topic_id"],
            "at": e["at"].isoformat(),
            "details": {**(e["details"] or {}), **({"related": e["related"]} if e["related"] else {})},
        }
        for e in store.topics.events()
    ]
    return {
        "videos": result.videos,
        "already_stored": result.already_stored,
        "rejected": len(result.rejected),
        "domains": rt.cfg.domains.names,
        "topics": topics,
        "events": events,
        "routing": routing_shares(result.routed),
        "timings": result.timings,
    }


def routing_shares(routed: dict[str, int]) -> dict[str, Any]:
    """Videos by how their domain was chosen (explicit, category, prototype, fallback), and their shares.

    Every route is present, 0 when no video took it (:func:`ray_topics.core.router.route_shares`).

    Example:
        >>> routing_shares({"category": 3, "fallback": 1})["share"]
        {'explicit': 0.0, 'category': 0.75, 'neighbours': 0.0, 'prototype': 0.0, 'fallback': 0.25}
    """
    return route_shares(routed)
