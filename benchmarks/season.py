"""Season benchmark (issue 17): weeks of a planted stream through every tier, each day's cost and storage recorded.

A planted stream (:func:`season_scenario`: per domain the planted births,
a slow birth, a death, a drifting topic, a merge pair, a split, bursts, a
Zipf tail of smaller topics, noise and heavy-tailed views, rates scaled to
``--videos-per-day``) is generated one day at a time (:class:`SeasonStream`)
and replayed in event time through the real Tier 1 path, in batches of
``serve.max_batch`` videos as Serve's ``POST /v1/classify`` takes them, with
refine, daily, weekly, monthly and archive on their schedule
(:class:`ray_topics.streams.replay.Replay`). After each simulated day it
records, per tier, the wall and CPU seconds of that day's runs (CPU of this
process and of its reaped joblib workers, :func:`benchmarks.harness.cpu_now`;
with ``--engine ray`` the Ray workers' CPU is not in it), the peak RSS
during the tier's runs and the RSS they started from (the process's
``VmHWM``, reset before every run through ``/proc/self/clear_refs``), Tier 1's
videos per second, the rows (videos, classifications, topics) and the bytes
on disk of the store (the SQLite file with its WAL, or
``pg_total_relation_size`` of the schema's tables), of the lake's hot and
warm partitions and of the cold archive. At the end it adds the
planted-truth figures of :mod:`benchmarks.planted_truth` (NMI, birth delays,
false births, the split, deaths), the goals table and the projection of the
storage to a year.

Memory: the stream is never built whole; each day is generated, replayed and
dropped, and the planted labels go to ``{workdir}/season/truth/`` (read back
only when a birth, a split or a monthly run needs judging, and at the end).
The observer that judges births holds no data between those calls.

Resume: the workdir keeps the store, the lake, the archive and
``season/state.json`` (the day records and the observer's judgements,
rewritten after every day). Run again with the same ``--workdir`` and the
same options and it goes on after the last recorded day; a day cut short is
replayed from its start (Tier 1 answers stored videos with their stored
answers, the jobs skip the windows they finished).

Usage, from the repository root::

    # the issue's run: 50,000 videos a day for 35 days (one monthly run) on SQLite
    .venv/bin/python -m benchmarks.season --videos-per-day 50000 --days 35 --workdir benchmarks/out/season-sqlite \\
        --json benchmarks/out/season-sqlite.json --plot benchmarks/out/season-sqlite.png
    # a quick look (a few minutes)
    .venv/bin/python -m benchmarks.season --videos-per-day 2000 --days 8 --domains 2 --start 2026-01-26
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.harness import (
    DEFAULT_PG_URL,
    Figures,
    Table,
    cpu_now,
    domains_arg,
    finish,
    fmt,
    parser,
    reap_loky,
    run_info,
    scratch,
    start,
    status_mib,
)
from benchmarks.planted_truth import NONE_LABEL, PlantedObserver, Truth, assignments, planted_figures
from ray_topics.execution.runtime import Runtime
from ray_topics.streams.planted import PlantedTopic, StreamSpec, daily_rates, default_scenario, spec_domains, validate
from ray_topics.streams.replay import Replay
from ray_topics.streams.synthetic import (
    _GENERATION_STREAMS,
    _geometry,
    _noise_embeddings,
    _noise_rates,
    _object_array,
    _start_ns,
    _texts,
    _topic_embeddings,
    _vocabularies,
)
from ray_topics.streams.words import FILLER_WORDS, NOISE_WORDS

__all__ = ["SeasonStream", "build_parser", "main", "run_season", "season_scenario"]

TIERS = ("tier1", "refine", "daily", "weekly", "monthly", "stories", "archive")
STATE_VERSION = 1
DEFAULT_START = "2026-01-01"  # a Thursday: 35 days hold five weekly runs and the monthly run of Feb 1
PG_URL = DEFAULT_PG_URL  # --pg-url's default
PG_SCHEMA = "season"

# --- the planted stream ---------------------------------------------------------------
TAIL_TOPICS = 10  # per domain: smaller stable topics beside default_scenario's nine
TAIL_SHARE = 0.3  # of the topic volume that the tail holds
TAIL_ZIPF = 1.0  # tail topic k has rate ~ 1 / k**TAIL_ZIPF (a heavy tail of topic sizes)
BURST_EVERY_DAYS = 9  # each domain's stable-2 topic bursts once in this many days ...
BURST_MULTIPLIER = 4.0  # ... to this many times its rate
FIRST_BURST_DAY = 3  # (domain i's bursts start on this day + i)
DEATH_MARGIN_DAYS = 2  # the planted death ends this many days before the stream can still judge it
MIN_DEATH_DAY = 2  # ... but lives at least this many days, long enough to be born
DAY_SEED_TAG = 17  # mixed into each day's seed: the day streams differ from generate()'s whole-stream ones
DAY_STREAMS = 4  # per day: arrivals, embeddings, text, metadata
SECONDS_PER_DAY = 86_400
NS_PER_SECOND = 1_000_000_000
ID_DAY_DIGITS, ID_ROW_DIGITS = 4, 7  # video ids v{day}-{row}: up to 10,000 days of 10M videos

# --- goals (issue 17) --------------------------------------------------------------------
EARLY_DAYS = (8, 14)  # the reference week (day numbers from 1) ...
LATE_FROM_DAY = 25  # ... and the days from here on are compared with it
COST_GROWTH_GOAL = 1.25  # every tier's late cost per day within this factor of its early cost
MEMORY_SLACK_MIB = 64.0  # a tier's late peak growth may also exceed its early one by this much (noise floor)
CORE_DAY_SHARE_GOAL = 0.10  # all tiers together, of one core-day ...
PER_VIDEOS = 50_000  # ... per this many videos
TIER1_RATE_GOAL = 5_000.0  # videos/s of Tier 1 (validate, route, classify, commit), first and last day
YEAR_DAYS = 365
YEAR_BYTES_GOAL = 8e9  # 8 GB on disk for a year of store + lake + archive
BYTES_PER_GB = 1e9


# ----------------------------------------------------------------------------- the planted stream


def season_scenario(
    days: int,
    videos_per_day: int,
    domains: Sequence[str],
    seed: int = 0,
    *,
    tail_topics: int = TAIL_TOPICS,
    death_day: int | None = None,
) -> StreamSpec:
    """:func:`default_scenario` with bursts, a Zipf tail of topics and a death the stream can judge.

    Per domain: ``default_scenario``'s nine topics (births at ``days // 3`` and
    ``days // 6``, a death, a drift, a merge pair, a split at half the stream),
    its ``stable-2`` topic bursting to :data:`BURST_MULTIPLIER` times its rate
    every :data:`BURST_EVERY_DAYS` days, and ``tail_topics`` smaller stable
    topics whose rates fall as ``1 / k``; noise is 5 % of the volume. Rates
    are scaled so that the expected volume is ``videos_per_day`` a day on
    average (bursts, births and the death make single days vary), the tail
    holding :data:`TAIL_SHARE` of the topic volume. ``death_day`` (the first
    day without the planted death's videos) defaults to ``days // 4``.

    Example:
        >>> spec = season_scenario(14, 1000, ("gaming", "cooking"), tail_topics=3, death_day=2)
        >>> len(spec.topics), [t.end_day for t in spec.topics if t.name.endswith("/death")]
        (24, [2, 2])
        >>> from ray_topics.streams.planted import daily_rates
        >>> total = sum(daily_rates(t, 14).sum() for t in spec.topics) + sum(spec.noise_rate.values()) * 14
        >>> round(total / 14)
        1000
    """
    base = default_scenario(days=days, daily_volume=videos_per_day, domains=tuple(domains), seed=seed)
    noise_per_day = sum(base.noise_rate.values())  # type: ignore[union-attr]
    topic_volume = (videos_per_day - noise_per_day) * days
    main: list[PlantedTopic] = []
    for t in base.topics:
        domain_index = list(domains).index(t.domain)
        if t.name.endswith("/death") and death_day is not None:
            t.end_day = death_day
        if t.name.endswith("/stable-2"):
            t.bursts = {d: BURST_MULTIPLIER for d in range(FIRST_BURST_DAY + domain_index, days, BURST_EVERY_DAYS)}
        main.append(t)
    tail = [
        PlantedTopic(f"{d}/tail-{k:02d}", d, rate=1.0 / (k**TAIL_ZIPF))
        for d in domains
        for k in range(1, tail_topics + 1)
    ]
    share = TAIL_SHARE if tail else 0.0
    for group, volume in ((main, (1.0 - share) * topic_volume), (tail, share * topic_volume)):
        exposure = sum(daily_rates(t, days).sum() for t in group)
        for t in group:
            t.rate *= volume / exposure
    spec = StreamSpec(topics=main + tail, days=days, noise_rate=base.noise_rate, seed=seed)
    validate(spec)
    return spec


class SeasonStream:
    """A :class:`StreamSpec` generated one day at a time, so that memory holds one day.

    The geometry (domain, topic, part centres and drift directions) and the
    vocabularies are those :func:`ray_topics.streams.synthetic.generate` draws
    for the same spec; arrivals, embeddings, texts and metadata are drawn per
    day from the day's own seed, so a day is the same whenever it is
    generated (what a resumed run needs) and the whole stream never has to
    be held. Its rows are not :func:`generate`'s (which draws every day
    from one stream): the same planted process, other draws. Built from
    ``generate``'s own helpers, which ``ray_topics.streams.synthetic`` keeps private.
    """

    def __init__(self, spec: StreamSpec) -> None:
        validate(spec)
        rng_vocab, rng_geom, *_rest = (
            np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(_GENERATION_STREAMS)
        )
        self.spec = spec
        self.domains = spec_domains(spec)
        self.vocabularies = _vocabularies(rng_vocab, spec.topics, spec.words_per_topic)
        self.geometry = _geometry(rng_geom, spec, self.domains)
        noise = _noise_rates(spec, self.domains)
        self.rates = np.array(
            [daily_rates(t, spec.days) for t in spec.topics]
            + [np.full(spec.days, noise[d], dtype=np.float64) for d in self.domains],
            dtype=np.float64,
        ).reshape(len(spec.topics) + len(self.domains), spec.days)
        self.sigma = float(np.sqrt((1.0 / spec.cohesion**2 - 1.0) / spec.dim))

    def day(self, d: int) -> tuple[pd.DataFrame, np.ndarray]:
        """Day ``d`` (from 0): its videos (``generate``'s columns, truth included) in time order, and embeddings."""
        spec, topics = self.spec, self.spec.topics
        rng_arrivals, rng_emb, rng_text, rng_meta = (
            np.random.default_rng(s) for s in np.random.SeedSequence([spec.seed, DAY_SEED_TAG, d]).spawn(DAY_STREAMS)
        )
        counts = rng_arrivals.poisson(self.rates[:, d])
        n = int(counts.sum())
        offsets = np.concatenate([[0], np.cumsum(counts)])
        group = np.repeat(np.arange(len(counts)), counts)
        second = rng_arrivals.integers(0, SECONDS_PER_DAY, size=n)
        second = second[np.lexsort((second, group))]  # time order inside each group (group stays sorted)
        t_days = d + second / SECONDS_PER_DAY
        event_ns = _start_ns(spec.start) + (d * SECONDS_PER_DAY + second.astype(np.int64)) * NS_PER_SECOND
        order = np.argsort(event_ns, kind="stable")
        dest = np.empty(n, dtype=np.int64)
        dest[order] = np.arange(n)

        embeddings = np.empty((n, spec.dim), dtype=np.float32)
        true_part = np.full(n, -1, dtype=np.int8)
        for i, topic in enumerate(topics):
            rows = slice(offsets[i], offsets[i + 1])
            _topic_embeddings(
                rng_emb, spec, topic, self.geometry, self.sigma, t_days[rows], dest[rows], embeddings, true_part
            )
        for j, domain in enumerate(self.domains):
            rows = slice(offsets[len(topics) + j], offsets[len(topics) + j + 1])
            _noise_embeddings(rng_emb, spec, self.geometry.domain_centers[domain], dest[rows], embeddings)

        group_sorted = group[order]
        names = [t.name for t in topics] + [f"{dm}-noise" for dm in self.domains]
        domains = np.array([t.domain for t in topics] + list(self.domains), dtype=object)
        labels = np.array([t.name for t in topics] + [None] * len(self.domains), dtype=object)
        channels = np.array([f"{nm}-ch{k}" for nm in names for k in range(spec.channels_per_topic)], dtype=object)
        channel = group_sorted * spec.channels_per_topic + rng_meta.integers(0, spec.channels_per_topic, size=n)
        views = np.rint(rng_meta.lognormal(spec.views_log_mean, spec.views_log_sigma, size=n)).astype(np.int64)
        titles, descriptions, tags = (np.full(n, "", dtype=object) for _ in range(3))
        filler = np.array(FILLER_WORDS, dtype=object)
        vocab = [np.array(self.vocabularies[t.name], dtype=object) for t in topics]
        vocab += [np.array(NOISE_WORDS, dtype=object)] * len(self.domains)
        for g, words in enumerate(vocab):
            rows = dest[offsets[g] : offsets[g + 1]]
            if len(rows):
                titles[rows], descriptions[rows], tags[rows] = _texts(rng_text, spec, words, filler, len(rows))
        if not n:
            tags = _object_array([])
        domain_sorted = domains[group_sorted]
        videos = pd.DataFrame(
            {
                "video_id": [f"v{d:0{ID_DAY_DIGITS}d}-{i:0{ID_ROW_DIGITS}d}" for i in range(n)],
                "channel_id": channels[channel],
                "published_at": pd.DatetimeIndex(event_ns[order].view("M8[ns]")).tz_localize("UTC"),
                "title": titles,
                "description": descriptions,
                "tags": pd.Series(tags, dtype=object),
                "category": domain_sorted,
                "views": views,
                "domain": domain_sorted,
                "true_topic": pd.Series(labels[group_sorted], dtype=object),
                "true_part": true_part,
            }
        )
        return videos, embeddings

    def topics_frame(self, truth: pd.DataFrame) -> pd.DataFrame:
        """The planted topics as ``SyntheticStream.topics`` has them, first videos taken from ``truth``."""
        first = truth.dropna(subset=["true_topic"]).groupby("true_topic")["published_at"].min()
        ts = self.spec.topics
        return pd.DataFrame(
            {
                "name": [t.name for t in ts],
                "domain": [t.domain for t in ts],
                "start_day": np.array([t.start_day for t in ts], dtype=np.int64),
                "end_day": pd.array([t.end_day for t in ts], dtype="Int64"),
                "birth_at": pd.DatetimeIndex([first.get(t.name, pd.NaT) for t in ts]),
                "near": pd.Series([t.near for t in ts], dtype=object),
                "parts": np.array([t.parts for t in ts], dtype=np.int64),
                "split_day": pd.array([t.split_day for t in ts], dtype="Int64"),
            }
        )


# ----------------------------------------------------------------------------- measuring


def _reset_peak() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its RSS now (Linux ``clear_refs``); False where impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Meter:
    """Per tier and day: wall and CPU seconds, runs, peak RSS and the RSS each run started from (MiB).

    Peak RSS is the process's (``VmHWM``), reset to the RSS of the moment
    before every tier run, so each run's peak is its own on top of what the
    process already held; ``rss_start_mb`` is that base. Where the reset is
    not possible the peaks are the process's since it started.
    """

    def __init__(self) -> None:
        self.day: dict[str, dict[str, float]] = {}
        self.notes: dict[str, Any] = {}
        self.process_peak = 0.0

    def new_day(self) -> None:
        self.day, self.notes, self.process_peak = {}, {}, 0.0

    def sample(self) -> None:
        """Fold the process's peak so far into the day's (instrumentation and generation included)."""
        self.process_peak = max(self.process_peak, status_mib("VmHWM") or 0.0)

    @contextlib.contextmanager
    def tier(self, name: str) -> Iterator[None]:
        self.sample()
        _reset_peak()
        rss0 = status_mib("VmRSS") or 0.0
        c0, w0 = cpu_now(), time.perf_counter()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - w0, cpu_now() - c0
            peak = status_mib("VmHWM") or 0.0
            self.process_peak = max(self.process_peak, peak)
            t = self.day.setdefault(
                name,
                {"wall_s": 0.0, "cpu_s": 0.0, "runs": 0, "peak_rss_mb": 0.0, "rss_start_mb": 0.0, "growth_mb": 0.0},
            )
            t["wall_s"] += wall
            t["cpu_s"] += cpu
            t["runs"] += 1
            t["peak_rss_mb"] = max(t["peak_rss_mb"], peak)
            t["rss_start_mb"] = max(t["rss_start_mb"], rss0)
            t["growth_mb"] = max(t["growth_mb"], peak - rss0)


def _job_note(tier: str, out: Any, domains: Sequence[str]) -> Any:
    """What explains a job's cost: the daily pool, the weekly sample, the monthly sample (per domain of the run)."""
    if not isinstance(out, dict):
        return None
    keys = {"daily": ("pool", "births"), "weekly": ("videos", "sampled"), "monthly": ("sample", "merges", "splits")}
    if tier == "archive":
        return {k: out.get(k) for k in ("warm", "cold") if k in out}
    if tier not in keys:
        return None
    return {d: {k: st.get(k) for k in keys[tier] if k in st} for d, st in out.items() if d in domains}


class SeasonReplay(Replay):
    """:class:`Replay` whose Tier 1 takes each hour in batches of ``batch`` videos and whose runs ``meter`` measures.

    Serve's ``POST /v1/classify`` takes at most ``serve.max_batch`` videos; the
    replay would hand Tier 1 an hour at once. Both overrides wrap the base
    class's own step, so the Tier 1 path and the schedule are the replay's.
    """

    def __init__(self, rt: Runtime, batch: int, meter: Meter, domains: Sequence[str]) -> None:
        super().__init__(rt)
        self.batch = batch
        self.meter = meter
        self.domains = tuple(domains)

    def _timed(self, tier: str, as_of: datetime, fn: Any) -> Any:
        with self.meter.tier(tier):
            out = super()._timed(tier, as_of, fn)
        note = _job_note(tier, out, self.domains)
        if note:
            self.meter.notes[tier] = note
        return out

    def _ingest(self, tier1: Any, frame: pd.DataFrame, vecs: np.ndarray, now: datetime, given: bool) -> None:
        for lo in range(0, len(frame), self.batch):
            super()._ingest(tier1, frame.iloc[lo : lo + self.batch], vecs[lo : lo + self.batch], now, given)


def _tree_bytes(root: Path) -> Iterator[tuple[Path, int]]:
    if not root.exists():
        return
    for folder, _dirs, files in os.walk(root):
        for f in files:
            with contextlib.suppress(OSError):  # a file renamed away while we look
                p = Path(folder) / f
                yield p, p.stat().st_size


def _day_of(path: Path) -> str | None:
    return next((part.removeprefix("day=") for part in path.parts if part.startswith("day=")), None)


def storage(rt: Runtime) -> dict[str, Any]:
    """Bytes on disk: the store, the lake's hot and warm partitions, the cold archive (and its codebooks).

    Also the number of distinct days each class holds (for bytes per day).
    """
    from ray_topics.storage.aging import COLD_FILE
    from ray_topics.storage.lake_format import WARM_FILE

    out: dict[str, Any] = {"store": _store_bytes(rt), "lake_hot": 0, "lake_warm": 0, "cold": 0, "codebooks": 0}
    days: dict[str, set[str]] = {"hot": set(), "warm": set(), "cold": set()}
    for p, n in _tree_bytes(Path(rt.cfg.lake_root)):
        cls = "warm" if p.name == WARM_FILE else "hot"
        out[f"lake_{cls}"] += n
        if (d := _day_of(p)) is not None:
            days[cls].add(d)
    for p, n in _tree_bytes(Path(rt.cfg.archive_root)):
        if p.name == COLD_FILE:
            out["cold"] += n
            if (d := _day_of(p)) is not None:
                days["cold"].add(d)
        else:
            out["codebooks"] += n
    out["total"] = sum(out[k] for k in ("store", "lake_hot", "lake_warm", "cold", "codebooks"))
    out["days"] = {k: len(v) for k, v in days.items()}
    return out


def _store_bytes(rt: Runtime) -> int:
    url = rt.cfg.store_url
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists())
    from sqlalchemy import text

    schema = rt.cfg.store.schema_name or "public"
    q = text(
        "SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)), 0) "
        "FROM pg_tables WHERE schemaname = :s"
    )
    with rt.store.engine.connect() as conn:
        return int(conn.execute(q, {"s": schema}).scalar_one())


def rows(rt: Runtime) -> dict[str, int]:
    s = rt.store
    return {k: s.count(k) for k in ("videos", "classifications", "topics", "embeddings", "topic_events")}


# ----------------------------------------------------------------------------- state (resume)


@dataclass
class State:
    """What a resumed run needs: the options it started with, every day's record, the observer's judgements."""

    params: dict[str, Any]
    days: list[dict[str, Any]] = field(default_factory=list)
    observer: dict[str, Any] | None = None

    @staticmethod
    def load(path: Path, params: dict[str, Any]) -> State:
        if not path.exists():
            return State(params)
        raw = json.loads(path.read_text())
        if raw.get("version") != STATE_VERSION or raw["params"] != params:
            raise SystemExit(
                f"{path} holds a season started with other options:\n  {raw.get('params')}\nnot\n  {params}\n"
                "rerun with the same options to resume, or use another --workdir"
            )
        return State(raw["params"], raw["days"], raw.get("observer"))

    def save(self, path: Path) -> None:
        body = {"version": STATE_VERSION, "params": self.params, "days": self.days, "observer": self.observer}
        _write_atomic(path, json.dumps(body, default=str))


def _write_atomic(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(body)
    os.replace(tmp, path)


_OBSERVER_FIELDS = ("coverage", "births", "monthly", "splits")


def _observer_state(obs: PlantedObserver) -> dict[str, Any]:
    out = {k: getattr(obs, k) for k in _OBSERVER_FIELDS}
    out["seen_births"] = sorted(obs.seen_births)
    return json.loads(json.dumps(out, default=str))


def _restore_observer(obs: PlantedObserver, saved: dict[str, Any]) -> None:
    for k in _OBSERVER_FIELDS:
        setattr(obs, k, saved[k])
    obs.seen_births = {tuple(x) for x in saved["seen_births"]}


# ----------------------------------------------------------------------------- the truth on disk


class TruthStore:
    """Each day's planted labels in ``folder`` (one Parquet file a day), and a :class:`Truth` of the days so far."""

    COLUMNS = ("video_id", "published_at", "domain", "true_topic", "true_part")

    def __init__(self, folder: Path, stream: SeasonStream) -> None:
        self.folder = folder
        self.stream = stream

    def path(self, d: int) -> Path:
        return self.folder / f"day-{d:0{ID_DAY_DIGITS}d}.parquet"

    def write(self, d: int, videos: pd.DataFrame) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path(d).with_suffix(".tmp")
        videos[list(self.COLUMNS)].to_parquet(tmp, index=False)
        os.replace(tmp, self.path(d))

    def frame(self, through: int) -> pd.DataFrame:
        parts = [pd.read_parquet(self.path(d)) for d in range(through + 1)]
        df = pd.concat(parts, ignore_index=True)
        df["true_topic"] = df["true_topic"].astype(object).where(df["true_topic"].notna(), None)
        return df

    def truth(self, through: int) -> Truth:
        """The planted labels of days ``0..through``, in :class:`Truth`'s shape."""
        df = self.frame(through)
        return Truth(SimpleNamespace(videos=df, topics=self.stream.topics_frame(df), spec=self.stream.spec))


class LazyObserver:
    """Calls :class:`PlantedObserver` after a midnight only when it has something to judge.

    That is: a birth it has not seen, a planted split past its fork and not
    yet separated, or a monthly run. Between those midnights the observer
    would only refresh which topic covers which planted topic, which only
    births, merges and splits change; skipping them keeps the truth (a
    1.7M-row frame at 50,000 videos a day for 35 days) out of memory on most days.
    """

    def __init__(self, rt: Runtime, truths: TruthStore, saved: dict[str, Any] | None) -> None:
        self.rt = rt
        self.truths = truths
        spec = truths.stream.spec
        self.forks = {
            t.name: pd.Timestamp(spec.start).tz_convert("UTC") + pd.Timedelta(days=t.split_day)
            for t in spec.topics
            if t.split_day is not None
        }
        self.saved = saved
        self.obs: PlantedObserver | None = None

    def __call__(self, at: datetime, day: int) -> bool:
        """Judge the midnight ``at`` that ended day ``day`` (from 0) if there is something to judge; whether it did."""
        saved = self.saved or {}
        seen = self.obs.seen_births if self.obs else {tuple(x) for x in saved.get("seen_births", [])}
        splits = self.obs.splits if self.obs else saved.get("splits", {})
        births = self.rt.store.topics.events(types=["birth"])
        new_birth = any((e["topic_id"], e["at"].isoformat()) not in seen and e["at"] <= at for e in births)
        open_split = any(at > fork and not (splits.get(n) or {}).get("separated_at") for n, fork in self.forks.items())
        monthly = at.day == self.rt.cfg.schedule.monthly_on_day
        if not (new_birth or open_split or monthly):
            return False
        truth = self.truths.truth(day)
        if self.obs is None:
            self.obs = PlantedObserver(self.rt, truth)
            if self.saved:
                _restore_observer(self.obs, self.saved)
        self.obs.truth = truth
        self.obs(at)
        self.obs.truth = None  # type: ignore[assignment]  # dropped until the next call
        return True

    def state(self) -> dict[str, Any] | None:
        return _observer_state(self.obs) if self.obs is not None else self.saved


# ----------------------------------------------------------------------------- the season


def _params(args: argparse.Namespace, domains: tuple[str, ...], batch: int) -> dict[str, Any]:
    return {
        "videos_per_day": args.videos_per_day,
        "days": args.days,
        "domains": list(domains),
        "tail_topics": args.tail_topics,
        "seed": args.seed,
        "start": args.start,
        "store": args.store,
        "engine": args.engine,
        "batch": batch,
        "config_overrides": list(args.set),
    }


def _config(args: argparse.Namespace, workdir: Path) -> Any:
    from ray_topics.config import load_config

    ov = [f"execution.engine={args.engine}"]
    if args.store == "postgresql":
        ov += [f"store.url={args.pg_url}", f"store.schema_name={args.pg_schema}"]
    return load_config(overrides=[*ov, *args.set], workdir=str(workdir))


def season_stream(params: dict[str, Any], cfg: Any) -> SeasonStream:
    """The stream a season with these options (:func:`_params`, as ``state.json`` keeps them) replays."""
    days = params["days"]
    death = max(MIN_DEATH_DAY, min(days // 4, days - cfg.daily.dying_after_days - DEATH_MARGIN_DAYS))
    spec = season_scenario(
        days,
        params["videos_per_day"],
        tuple(params["domains"]),
        params["seed"],
        tail_topics=params["tail_topics"],
        death_day=death,
    )
    spec.start = datetime.fromisoformat(params["start"]).replace(tzinfo=UTC)
    return SeasonStream(spec)


def run_season(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Replay the season in ``workdir`` (resuming after its last recorded day); the figures."""
    cfg = _config(args, workdir)
    domains = domains_arg(args.domains, cfg.domains.names)
    batch = args.batch or cfg.serve.max_batch
    start_at = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    stream = season_stream(_params(args, domains, batch), cfg)
    spec = stream.spec
    own = workdir / "season"
    state_path = own / "state.json"
    state = State.load(state_path, _params(args, domains, batch))
    truths = TruthStore(own / "truth", stream)
    rt = Runtime(cfg)
    meter = Meter()
    observer = LazyObserver(rt, truths, state.observer)
    replay = SeasonReplay(rt, batch, meter, domains)
    first_day = len(state.days)
    if first_day:
        print(f"resuming after day {first_day} of {args.days} ({workdir})", flush=True)
    try:
        for d in range(first_day, args.days):
            meter.new_day()
            t0 = time.perf_counter()
            videos, emb = stream.day(d)
            truths.write(d, videos)
            gen_s = time.perf_counter() - t0
            until = start_at + timedelta(days=d + 1)
            n0 = replay.result.videos + replay.result.already_stored
            replay.run(videos, emb, until=until)
            n = replay.result.videos + replay.result.already_stored - n0  # the day's, a resumed day's stored before
            del videos, emb
            reap_loky()
            meter.sample()
            t1 = time.perf_counter()
            judged = observer(until, d)
            obs_s = time.perf_counter() - t1
            meter.sample()
            rec = _day_record(d, start_at, n, meter, rt, gen_s, obs_s, judged)
            state.days.append(rec)
            state.observer = observer.state()
            state.save(state_path)
            _print_day(rec)
            if args.out:
                _write_atomic(Path(args.out), json.dumps(_partial(args, state), indent=2, default=str))
        return _report(args, cfg, rt, state, truths, observer, spec, domains)
    finally:
        rt.store.dispose()


def _day_record(
    d: int, start_at: datetime, videos: int, meter: Meter, rt: Runtime, gen_s: float, obs_s: float, judged: bool
) -> dict[str, Any]:
    tiers = {k: {m: round(v, 4) for m, v in t.items()} for k, t in meter.day.items()}
    t1 = meter.day.get("tier1", {})
    return {
        "day": d + 1,
        "date": (start_at + timedelta(days=d)).date().isoformat(),
        "videos": videos,
        "tiers": tiers,
        "cpu_s": round(sum(t["cpu_s"] for t in meter.day.values()), 3),
        "wall_s": round(sum(t["wall_s"] for t in meter.day.values()), 3),
        "tier1_videos_per_s": round(videos / t1["wall_s"], 1) if t1.get("wall_s") else None,
        "tier1_videos_per_cpu_s": round(videos / t1["cpu_s"], 1) if t1.get("cpu_s") else None,
        "process_peak_rss_mb": round(meter.process_peak, 1),
        "rows": rows(rt),
        "bytes": storage(rt),
        "notes": meter.notes,
        "generate_s": round(gen_s, 2),
        "observer_s": round(obs_s, 2),
        "observer_ran": judged,
    }


def _print_day(r: dict[str, Any]) -> None:
    cpu = "  ".join(f"{k} {r['tiers'][k]['cpu_s']:.1f}" for k in TIERS if k in r["tiers"])
    b = r["bytes"]
    print(
        f"day {r['day']:>3} {r['date']}  {r['videos']:>7} videos  tier1 {r['tier1_videos_per_s'] or 0:,.0f}/s  "
        f"CPU s: {cpu}  peak {r['process_peak_rss_mb']:.0f} MiB  "
        f"disk MB: store {b['store'] / 1e6:.0f} hot {b['lake_hot'] / 1e6:.0f} warm {b['lake_warm'] / 1e6:.0f} "
        f"cold {b['cold'] / 1e6:.0f}",
        flush=True,
    )


def _partial(args: argparse.Namespace, state: State) -> dict[str, Any]:
    return {"complete": False, **run_info(args), "params": state.params, "days": state.days}


# ----------------------------------------------------------------------------- figures


def _mean(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def _period(days: list[dict[str, Any]], lo: int, hi: int | None = None) -> list[dict[str, Any]]:
    return [r for r in days if r["day"] >= lo and (hi is None or r["day"] <= hi)]


def cost_growth(days: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per tier: mean CPU and wall s a day (over the days it ran), peak growth, days 8-14 against day 25 on."""
    early, late = _period(days, *EARLY_DAYS), _period(days, LATE_FROM_DAY)
    out = {}
    for tier in TIERS:
        e = [r["tiers"][tier] for r in early if tier in r["tiers"]]
        lt = [r["tiers"][tier] for r in late if tier in r["tiers"]]
        row: dict[str, Any] = {"early_runs_days": len(e), "late_runs_days": len(lt)}
        for m in ("cpu_s", "wall_s", "growth_mb", "peak_rss_mb"):
            agg = _mean if m in ("cpu_s", "wall_s") else (lambda xs: max(xs) if xs else None)
            row[f"early_{m}"] = agg([t[m] for t in e])
            row[f"late_{m}"] = agg([t[m] for t in lt])
        ec, lc = row["early_cpu_s"], row["late_cpu_s"]
        row["cpu_ratio"] = lc / ec if ec and lc is not None else None
        out[tier] = row
    return out


def _fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    if len(xs) < 2:
        return None
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(slope), float(intercept)


def projection(days: list[dict[str, Any]], cfg: Any) -> dict[str, Any]:
    """Storage after a year, two ways.

    * linear: a straight line through the total bytes of every day after the
      first week (the hot embeddings' retention), at day 365;
    * by storage class: the store on its own line (it keeps every video's row),
      plus the lake at steady state: ``warm_after_days`` days hot,
      ``archive_after_days - warm_after_days`` days warm, the rest cold, each
      at its measured bytes per day. A class the run never reached takes the
      bytes of the class before it (cold <= warm <= hot, so an upper bound),
      and says so.
    """
    if not days:
        return {}
    a = cfg.archive
    fit_from = cfg.refine.hot_retention_days + 1
    tail = [r for r in days if r["day"] >= fit_from]
    tail = tail if len(tail) >= 2 else days  # a short run: every day
    xs = [r["day"] for r in tail]
    total = _fit_line(xs, [r["bytes"]["total"] for r in tail])
    store = _fit_line(xs, [r["bytes"]["store"] for r in tail])
    last = days[-1]["bytes"]
    per_day: dict[str, float | None] = {}
    source: dict[str, str] = {}
    prev = None
    for cls, key in (("hot", "lake_hot"), ("warm", "lake_warm"), ("cold", "cold")):
        n = last["days"][cls]
        if n:
            per_day[cls], source[cls] = last[key] / n, f"measured over {n} day(s)"
        else:
            per_day[cls], source[cls] = prev, "not reached in this run: the class before it (an upper bound)"
        prev = per_day[cls]
    hot_days = min(YEAR_DAYS, a.warm_after_days)
    warm_days = max(0, min(YEAR_DAYS, a.archive_after_days) - a.warm_after_days)
    cold_days = max(0, YEAR_DAYS - a.archive_after_days)
    lake = sum((per_day[c] or 0.0) * k for c, k in (("hot", hot_days), ("warm", warm_days), ("cold", cold_days)))
    store_year = store[0] * YEAR_DAYS + store[1] if store else float(last["store"])
    return {
        "linear_total_bytes": total[0] * YEAR_DAYS + total[1] if total else None,
        "linear_fit_from_day": fit_from,
        "linear_slope_bytes_per_day": total[0] if total else None,
        "by_class_total_bytes": store_year + lake + last["codebooks"],
        "by_class": {
            "store_bytes": store_year,
            "store_slope_bytes_per_day": store[0] if store else None,
            "days": {"hot": hot_days, "warm": warm_days, "cold": cold_days},
            "bytes_per_day": per_day,
            "source": source,
            "codebooks_bytes": last["codebooks"],
        },
    }


def goals(days: list[dict[str, Any]], growth: dict[str, Any], proj: dict[str, Any]) -> Figures:
    t = Figures(ours="season", baseline="reference")
    for tier, g in growth.items():
        if g["early_cpu_s"] is None or g["late_cpu_s"] is None:
            why = "no run in days 8-14" if g["early_cpu_s"] is None else f"no run from day {LATE_FROM_DAY}"
            t.add(f"{tier}: CPU s a day, day {LATE_FROM_DAY} on vs days 8-14", f"<= {COST_GROWTH_GOAL}x", why)
            continue
        t.add(
            f"{tier}: CPU s a day, day {LATE_FROM_DAY} on vs days 8-14 (days it ran)",
            f"<= {COST_GROWTH_GOAL}x",
            f"{g['late_cpu_s']:.2f} ({g['cpu_ratio']:.2f}x)",
            round(g["early_cpu_s"], 2),
            g["cpu_ratio"] <= COST_GROWTH_GOAL,
        )
    budget = CORE_DAY_SHARE_GOAL * SECONDS_PER_DAY
    share = [r["cpu_s"] / r["videos"] * PER_VIDEOS for r in days if r["videos"]]
    if share:
        t.add(
            f"all tiers, CPU s per {PER_VIDEOS:,} videos: mean / worst day",
            f"<= {budget:,.0f} ({CORE_DAY_SHARE_GOAL:.0%} of a core-day)",
            f"{np.mean(share):,.0f} / {max(share):,.0f}",
            None,
            float(np.mean(share)) <= budget,
        )
    first, last = days[0]["tier1_videos_per_s"], days[-1]["tier1_videos_per_s"]
    if first and last:
        t.add(
            "Tier 1 videos/s (validate, route, classify, commit in batches): last day vs first",
            f">= {TIER1_RATE_GOAL:,.0f} on both",
            round(last),
            round(first),
            min(first, last) >= TIER1_RATE_GOAL,
        )
    first, last = days[0].get("tier1_videos_per_cpu_s"), days[-1].get("tier1_videos_per_cpu_s")
    if first and last:
        t.add(
            "Tier 1 videos per CPU s (the same, without the wait for a shared core)",
            "(info)",
            round(last),
            round(first),
        )
    if proj:
        t.add(
            "GB on disk after a year (store + lake + archive), by storage class vs linear",
            f"< {YEAR_BYTES_GOAL / BYTES_PER_GB:g}",
            round(proj["by_class_total_bytes"] / BYTES_PER_GB, 2),
            None if proj["linear_total_bytes"] is None else round(proj["linear_total_bytes"] / BYTES_PER_GB, 2),
            proj["by_class_total_bytes"] < YEAR_BYTES_GOAL,
        )
    for tier, g in growth.items():
        if g["early_growth_mb"] is None or g["late_growth_mb"] is None:
            continue
        limit = max(COST_GROWTH_GOAL * g["early_growth_mb"], g["early_growth_mb"] + MEMORY_SLACK_MIB)
        t.add(
            f"{tier}: peak RSS growth above its start, MiB, day {LATE_FROM_DAY} on vs days 8-14",
            f"<= max({COST_GROWTH_GOAL}x, +{MEMORY_SLACK_MIB:g})",
            round(g["late_growth_mb"], 1),
            round(g["early_growth_mb"], 1),
            g["late_growth_mb"] <= limit,
        )
    return t


def quality(
    rt: Runtime, truths: TruthStore, observer: LazyObserver, spec: StreamSpec, end: datetime, through: int
) -> tuple[Figures, dict[str, Any]]:
    """The planted-truth figures (:func:`benchmarks.planted_truth.planted_figures`) at the end of the season."""
    truth = truths.truth(through)
    obs = observer.obs
    if obs is None:
        obs = PlantedObserver(rt, truth)
        if observer.saved:
            _restore_observer(obs, observer.saved)
    obs.truth = truth
    ids, tids, conf = assignments(rt.store)
    order = np.array([truth.pos[v] for v in ids], dtype=np.int64)
    stream_labels = np.full(len(truth.ids), NONE_LABEL, dtype=object)
    stream_labels[order] = [t or NONE_LABEL for t in tids]
    misfit_labels = stream_labels.copy()
    misfit_labels[order[conf < rt.cfg.daily.misfit_confidence]] = NONE_LABEL
    counters_raw = truth.counters(ids, tids, "raw")
    table, details = planted_figures(
        rt.cfg, truth, obs, rt.store, stream_labels, misfit_labels, counters_raw, end, spec.days
    )
    details["births"] = obs.births
    details["planted_splits"] = obs.splits
    details["videos_judged"] = len(truth.ids)
    details["unclassified"] = int((stream_labels == NONE_LABEL).sum())
    return table, details


def _report(
    args: argparse.Namespace,
    cfg: Any,
    rt: Runtime,
    state: State,
    truths: TruthStore,
    observer: LazyObserver,
    spec: StreamSpec,
    domains: tuple[str, ...],
) -> dict[str, Any]:
    days = state.days
    end = datetime.fromisoformat(args.start).replace(tzinfo=UTC) + timedelta(days=args.days)
    print("\nplanted-truth figures (final assignments)...", flush=True)
    qtable, qdetails = quality(rt, truths, observer, spec, end, args.days - 1)
    growth = cost_growth(days)
    proj = projection(days, cfg)
    gtable = goals(days, growth, proj)
    per_day = Table(
        ("day", "videos", *TIERS, "total", "tier1_vps", "peak_mb", "store_mb", "hot_mb", "warm_mb", "cold_mb"),
        right=True,
        nd=1,
    )
    for r in days:
        b = r["bytes"]
        per_day.add_row(
            r["day"],
            r["videos"],
            *(r["tiers"].get(k, {}).get("cpu_s") for k in TIERS),
            r["cpu_s"],
            r["tier1_videos_per_s"],
            r["process_peak_rss_mb"],
            *(b[k] / 1e6 for k in ("store", "lake_hot", "lake_warm", "cold")),
        )
    events = rt.store.topics.events()
    out = {
        "complete": True,
        **run_info(args),
        "params": state.params,
        "domains": list(domains),
        "planted_topics": len(spec.topics),
        "days": days,
        "cost_growth": growth,
        "projection": proj,
        "events": {k: sum(1 for e in events if e["type"] == k) for k in sorted({e["type"] for e in events})},
        "topic_status": _topic_status(rt),
        "quality": qdetails,
        "tables": {"goals": gtable.rows, "quality": qtable.rows, "per_day_cpu_s": per_day.rows},
        "markdown": {"goals": gtable.markdown(), "quality": qtable.markdown(), "per_day_cpu_s": per_day.markdown()},
    }
    per_day.print("per day: CPU s of each tier (this process + reaped workers), Tier 1 videos/s, peak RSS, MB on disk")
    qtable.print("planted truth")
    gtable.print("goals (issue 17)")
    if proj:
        bc = proj["by_class"]
        print(
            f"\nyear projection: by class {proj['by_class_total_bytes'] / BYTES_PER_GB:.2f} GB "
            f"(store {bc['store_bytes'] / BYTES_PER_GB:.2f} GB; lake per day "
            + ", ".join(f"{c} {fmt((v or 0) / 1e6, 1)} MB ({bc['source'][c]})" for c, v in bc["bytes_per_day"].items())
            + ")"
        )
    if args.plot:
        plot(out, Path(args.plot))
    return out


def _topic_status(rt: Runtime) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in rt.store.topics.list():
        out[str(t.status)] = out.get(str(t.status), 0) + 1
    return out


# ----------------------------------------------------------------------------- plot


def plot_data(out: dict[str, Any]) -> dict[str, Any]:
    """The plot's series: each tier's CPU s per day, the bytes on disk per day, the year projection."""
    days = out["days"]
    x = [r["day"] for r in days]
    proj = out.get("projection") or {}
    return {
        "day": x,
        "cpu_s": {k: [r["tiers"].get(k, {}).get("cpu_s") for r in days] for k in TIERS},
        "bytes": {k: [r["bytes"][k] for r in days] for k in ("store", "lake_hot", "lake_warm", "cold", "total")},
        "projection": {
            "linear_slope_bytes_per_day": proj.get("linear_slope_bytes_per_day"),
            "linear_total_bytes_at_365": proj.get("linear_total_bytes"),
            "by_class_total_bytes_at_365": proj.get("by_class_total_bytes"),
        },
    }


def plot(out: dict[str, Any], path: Path) -> Path:
    """A PNG with matplotlib when it is installed, else the plot's data as JSON beside ``path`` (said so)."""
    data = plot_data(out)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        alt = path.with_suffix(".plot.json")
        alt.write_text(json.dumps(data, indent=2))
        print(f"matplotlib is not installed: the plot's data written to {alt} instead of {path}")
        return alt
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(18, 5))
    for tier, ys in data["cpu_s"].items():
        pts = [(x, y) for x, y in zip(data["day"], ys, strict=True) if y is not None]
        if pts:
            style = (
                {"marker": "o", "linestyle": "none"} if tier in ("weekly", "monthly") else {}
            )  # one run a week / month
            ax1.plot(*zip(*pts, strict=True), label=tier, **style)
    ax1.set(xlabel="day", ylabel="CPU s that day", title="each tier's daily cost", yscale="log")
    ax1.legend()
    for k, ys in data["bytes"].items():
        ax2.plot(data["day"], [y / 1e6 for y in ys], label=k)
    ax2.set(xlabel="day", ylabel="MB on disk", title="storage")
    ax2.legend()
    ax3.plot(data["day"], [y / BYTES_PER_GB for y in data["bytes"]["total"]], label="measured total")
    p = data["projection"]
    if p["linear_total_bytes_at_365"] is not None:
        d0, y0 = data["day"][-1], data["bytes"]["total"][-1]
        ax3.plot(
            [d0, YEAR_DAYS], [y0 / BYTES_PER_GB, p["linear_total_bytes_at_365"] / BYTES_PER_GB], "--", label="linear"
        )
    if p["by_class_total_bytes_at_365"] is not None:
        ax3.plot([YEAR_DAYS], [p["by_class_total_bytes_at_365"] / BYTES_PER_GB], "o", label="by storage class")
    ax3.axhline(YEAR_BYTES_GOAL / BYTES_PER_GB, color="grey", linewidth=0.8, label="goal")
    ax3.set(xlabel="day", ylabel="GB on disk", title="storage projected to a year")
    ax3.legend()
    fig.suptitle(out.get("command", ""), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot written to {path}")
    return path


# ----------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--json", dest="out", metavar="JSON", help="write every figure as JSON here (same as --out)")
    p.add_argument("--videos-per-day", type=int, default=50_000, help="mean planted videos a day, all domains")
    p.add_argument("--days", type=int, default=35, help="simulated days (default 35: one monthly run)")
    p.add_argument("--domains", default="3", help="a count (the config's first N domains) or comma-separated names")
    p.add_argument("--tail-topics", type=int, default=TAIL_TOPICS, help="smaller (Zipf) topics per domain")
    p.add_argument("--start", default=DEFAULT_START, help=f"the first day, UTC (default {DEFAULT_START})")
    p.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--pg-url", default=PG_URL, help="the PostgreSQL server (--store postgresql)")
    p.add_argument("--pg-schema", default=PG_SCHEMA, help="the schema the season's store lives in")
    p.add_argument("--drop-schema", action="store_true", help="drop the PostgreSQL schema once the figures are out")
    p.add_argument("--engine", choices=("local", "ray"), default="local")
    p.add_argument("--batch", type=int, default=None, help="videos per Tier 1 batch (default serve.max_batch)")
    p.add_argument("--workdir", help="store, lake, archive and resume state; rerun with it to resume (default: temp)")
    p.add_argument("--plot", metavar="PNG", help="the plot (PNG with matplotlib; else its data as JSON beside it)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start(args)
    if args.days < 8:
        raise SystemExit("--days must be >= 8 (default_scenario's smallest stream)")
    try:
        date.fromisoformat(args.start)
    except ValueError as exc:
        raise SystemExit(f"--start {args.start!r}: not a date (YYYY-MM-DD)") from exc
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        out = run_season(args, workdir)
    else:
        with scratch(args, "ray-topics-season-") as tmp:
            out = run_season(args, tmp)
    if args.drop_schema and args.store == "postgresql":
        from ray_topics.storage.store import Store

        Store(args.pg_url, schema=args.pg_schema, create=False).drop()
        print(f"schema {args.pg_schema} dropped")
    return finish(args, out)


if __name__ == "__main__":
    sys.exit(main())
