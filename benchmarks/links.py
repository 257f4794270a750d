"""Cross-domain links (issue 14): which rule links the parts of one story in different domains, and only them.

One replay, with a probe after every midnight's jobs that keeps every live
topic (domain, centroid, ``sim_mean``, ``sim_std``, size):

* news (default): the demo corpus with ``configs/demo.yaml``, as
  ``benchmarks.quality --news`` replays it (the demo's cached embeddings and
  zero-shot domain prototypes);
* ``--planted``: :func:`ray_topics.streams.planted.default_scenario` plus
  stories planted across domains (:func:`planted_spec`): one story in two
  domains, one in three (centers at cosine 0.999 and 0.98, one story by the
  intended truth), and pairs of *different* stories in two domains whose
  centers sit at the cosines of news' closest different-story pairs
  (:data:`RELATED_COSINES`; two planted topics, two events).

Then every pair of topics of different domains that were live on the same
day is judged:

* same story or not: whether the majority label of both topics' final
  members is the same (news: the topic of one full BERTopic fit, the quality
  benchmark's, outliers aside; planted: the planted topic of the intended
  truth). A topic with no final member (merged) is left out;
* overlap: the Bhattacharyya coefficient of both topics' label distributions
  (1: the same mixture, 0: nothing in common), which judges broad topics
  holding several stories (a link below :data:`LOW_OVERLAP` mixes stories);
* its highest centroid cosine on a day both were live, and the calibration
  of both topics that day;
* for every candidate rule (:data:`RULES`), whether it linked the pair on
  some day (rules are applied day by day with the grouping of
  :func:`ray_topics.core.global_topics.group_links`: strongest first, at most
  one topic per domain).

The *needed* links (:func:`needed_links`): for each event of the
concentration figure (:mod:`benchmarks.events`: news' bursty terms, the
planted topics), its largest topic and, in every other domain holding part
of it, that domain's largest topic of the event. And the event
concentration under each rule, and under exactly the needed links (a
ceiling), with the topics of one global topic counted as one (as
``benchmarks.quality``'s table E): each topic counted with the last global
topic it belonged to while live (ids as the store gives them,
:func:`assign_ids` day by day), and with the links of the last day only
(what ``benchmarks.quality`` counts). The store's own global topics at the
end (the configured rule) are printed beside them.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.links --data news.pkl --out links-news.json
    .venv/bin/python -m benchmarks.links --planted --days 40 --daily-volume 600 --data planted.pkl --out lp.json

``--data`` keeps the replay's snapshots, members and labels; with the file
present the rules are judged again without a replay.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.events import bursty_terms, planted_events
from benchmarks.full_fit import fit_fresh
from benchmarks.harness import ROOT, Table, corpus_parser, finish, frame_texts, run_info, scratch, start
from benchmarks.planted_truth import NOISE_LABEL, NONE_LABEL, Truth, assignments, majority
from benchmarks.quality import FULL_OUTLIER, _events, _news_frame, _replay, news_embeddings
from ray_topics.core.global_topics import assign_ids, group_links
from ray_topics.core.index import normalize

DOMAINS = ("gaming", "cooking", "tech")
RELATED_COSINES = (0.85, 0.8)  # planted different stories across domains (centers' cosine)
QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
MIN_SIGMA = 0.03  # as confidence.min_sigma: a spread below it is not trusted
LOW_OVERLAP = 0.4  # a linked pair whose truth-label distributions overlap less than this mixes stories
TOP = 25  # closest pairs printed
NEEDED = "only the needed links"  # the ceiling: exactly the links the events need

# ----------------------------------------------------------------------------- the day's live topics


@dataclasses.dataclass
class Day:
    """The live topics after one midnight's jobs, aligned arrays."""

    at: datetime
    ids: list[str]
    domains: list[str]
    centroids: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    size: np.ndarray


def snapshot(store: Any, at: datetime) -> Day:
    from ray_topics.core.types import LIVE_STATUSES

    live = store.topics.list(statuses=LIVE_STATUSES)
    dim = live[0].centroid.shape[0] if live else 1
    return Day(
        at,
        [t.topic_id for t in live],
        [t.domain for t in live],
        normalize(np.stack([t.centroid for t in live])) if live else np.zeros((0, dim), np.float32),
        np.array([t.sim_mean for t in live], dtype=np.float64),
        np.array([t.sim_std for t in live], dtype=np.float64),
        np.array([t.size for t in live], dtype=np.float64),
    )


# ----------------------------------------------------------------------------- candidate rules

Links = list[tuple[float, int, int]]


def _pairs(day: Day) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle pairs (i, j) of different domains and their cosine."""
    n = len(day.ids)
    i, j = np.triu_indices(n, 1)
    doms = np.array(day.domains, dtype=object)
    keep = doms[i] != doms[j]
    i, j = i[keep], j[keep]
    return i, j, np.einsum("kd,kd->k", day.centroids[i], day.centroids[j]) if len(i) else np.zeros(0)


def fixed(threshold: float) -> Callable[[Day], Links]:
    """Cosine >= ``threshold`` (the rule before this benchmark, at 0.92)."""

    def rule(day: Day) -> Links:
        i, j, s = _pairs(day)
        k = s >= threshold
        return list(zip(s[k].tolist(), i[k].tolist(), j[k].tolist(), strict=True))

    return rule


def member(z: float) -> Callable[[Day], Links]:
    """Each centroid is at least as close to the other as the other's typical member plus ``z`` spreads.

    cosine >= max(mu_a + z sigma_a, mu_b + z sigma_b) (sigma floored at MIN_SIGMA); z = 0: each centroid at least
    as similar to the other topic as its median member (confidence >= typical).
    """

    def rule(day: Day) -> Links:
        i, j, s = _pairs(day)
        sig = np.maximum(day.sigma, MIN_SIGMA)
        bar = np.maximum(day.mu[i] + z * sig[i], day.mu[j] + z * sig[j])
        k = s >= bar
        return list(zip(s[k].tolist(), i[k].tolist(), j[k].tolist(), strict=True))

    return rule


def sampling(k: float) -> Callable[[Day], Links]:
    """Centroids as close as two samples of one topic would be, up to ``k`` times their sampling noise.

    A topic of n members at median cosine mu has a centroid about
    ``noise = 1 - mu / sqrt(mu^2 + (1 - mu^2) / n)`` away from its population's
    (:func:`ray_topics.core.drift.sampling_noise`); link when
    cosine >= (1 - k noise_a) (1 - k noise_b).
    """
    from ray_topics.core.drift import sampling_noise

    def rule(day: Day) -> Links:
        i, j, s = _pairs(day)
        noise = np.array([sampling_noise(int(n), float(m)) for n, m in zip(day.size, day.mu, strict=True)])
        bar = (1 - k * noise[i]) * (1 - k * noise[j])
        keep = s >= bar
        return list(zip(s[keep].tolist(), i[keep].tolist(), j[keep].tolist(), strict=True))

    return rule


def mutual(floor: float, inner: Callable[[Day], Links] | None = None) -> Callable[[Day], Links]:
    """Mutual nearest neighbours across two domains (each the other's nearest topic in its domain), cosine >= floor.

    With ``inner``, only the pairs ``inner`` links as well.
    """

    def rule(day: Day) -> Links:
        i, j, s = _pairs(day)
        doms = np.array(day.domains, dtype=object)
        best: dict[tuple[int, str], tuple[float, int]] = {}  # (topic, other domain) -> (cosine, nearest)
        for a, b, c in zip(i.tolist(), j.tolist(), s.tolist(), strict=True):
            for x, y in ((a, b), (b, a)):
                key = (x, doms[y])
                if key not in best or c > best[key][0]:
                    best[key] = (c, y)
        allowed = {(a, b) for _c, a, b in inner(day)} if inner else None
        out = []
        for a, b, c in zip(i.tolist(), j.tolist(), s.tolist(), strict=True):
            if c >= floor and best[(a, doms[b])][1] == b and best[(b, doms[a])][1] == a:
                if allowed is None or (a, b) in allowed:
                    out.append((c, a, b))
        return out

    return rule


RULES: dict[str, Callable[[Day], Links]] = {
    **{f"cosine >= {t:.2f}": fixed(t) for t in (0.95, 0.92, 0.9, 0.88, 0.85, 0.82, 0.8, 0.75, 0.7)},
    **{f"member, z {z:g}": member(z) for z in (0.0, 1.0, 2.0, 3.0, 4.0)},
    **{f"sampling, k {k:g}": sampling(k) for k in (1.0, 2.0, 3.0, 5.0)},
    **{f"mutual nearest, >= {f:.2f}": mutual(f) for f in (0.6, 0.7, 0.75, 0.8, 0.85)},
    **{f"mutual nearest + member, z {z:g}": mutual(-1.0, member(z)) for z in (0.0, 1.0, 2.0)},
}


# ----------------------------------------------------------------------------- judging pairs


def topic_members(store: Any, pos: dict[str, int]) -> dict[str, np.ndarray]:
    """Final members of every topic: positions in the frame."""
    ids, tids, _conf = assignments(store)
    out: dict[str, list[int]] = {}
    for v, t in zip(ids, tids, strict=True):
        if t is not None:
            out.setdefault(t, []).append(pos[v])
    return {t: np.array(m) for t, m in out.items()}


def judge_pairs(
    days: list[Day], members: dict[str, np.ndarray], truth: np.ndarray, outlier: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every pair of topics of different domains live on one day: its best cosine, truth and each rule's verdict.

    ``same``: the majority truth label of both topics' final members (``outlier`` aside) is the same (None when
    a topic has no member); ``overlap``: the Bhattacharyya coefficient of their truth-label distributions
    (1: the same mixture, 0: nothing in common), which judges broad topics that hold several stories.
    """
    maj: dict[str, Any] = {}
    dist: dict[str, dict[Any, float]] = {}
    for t, m in members.items():
        c = Counter(x for x in truth[m].tolist() if x != outlier)
        maj[t] = majority(c) if c else (None, 0.0, 0)
        n = sum(c.values())
        dist[t] = {k: v / n for k, v in c.items()}
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for day in days:
        i, j, s = _pairs(day)
        for a, b, c in zip(i.tolist(), j.tolist(), s.tolist(), strict=True):
            key = tuple(sorted((day.ids[a], day.ids[b])))
            rec = pairs.get(key)
            if rec is None or c > rec["cosine"]:
                ka, kb = (a, b) if day.ids[a] == key[0] else (b, a)
                pairs[key] = {
                    "cosine": c,
                    "at": day.at.date().isoformat(),
                    "mu": (float(day.mu[ka]), float(day.mu[kb])),
                    "sigma": (float(day.sigma[ka]), float(day.sigma[kb])),
                    "size": (int(day.size[ka]), int(day.size[kb])),
                }
    for (a, b), rec in pairs.items():
        ma, mb = maj.get(a, (None, 0.0, 0)), maj.get(b, (None, 0.0, 0))
        rec["majority"] = (ma[0], mb[0])
        rec["majority_share"] = (round(ma[1], 3), round(mb[1], 3))
        rec["same"] = None if ma[0] is None or mb[0] is None else ma[0] == mb[0]
        da, db = dist.get(a, {}), dist.get(b, {})
        rec["overlap"] = None if not da or not db else sum(np.sqrt(p * db.get(k, 0.0)) for k, p in da.items())
        rec["rules"] = {}
    for name, rule in RULES.items():
        linked: set[tuple[str, str]] = set()
        for day in days:
            for g in group_links(day.ids, day.domains, rule(day)):
                linked |= {(x, y) for x in g for y in g if x < y}
        for key, rec in pairs.items():
            rec["rules"][name] = key in linked
    return pairs


def needed_links(events: dict[str, np.ndarray], labels: np.ndarray) -> dict[tuple[str, str], list[str]]:
    """The links the events' parts in other domains need: pair -> the events that need it.

    For each event, its largest topic and, in every other domain holding a part of it, that domain's
    largest topic of the event: linking the two adds that part to the event's largest global topic (at most
    one topic per domain is linked, so these links bound what any rule can give).
    """
    out: dict[tuple[str, str], list[str]] = {}
    for name, m in events.items():
        counts = Counter(x for x in labels[m].tolist() if x != NONE_LABEL)
        best: dict[str, tuple[int, str]] = {}
        for t, k in counts.items():
            d = t.split(":", 1)[0]
            best[d] = max(best.get(d, (0, "")), (k, t))
        if len(best) < 2:
            continue
        top = max(best.values())[1]
        for _k, t in best.values():
            if t != top:
                out.setdefault(tuple(sorted((top, t))), []).append(name)
    return out


def _quantiles(v: list[float]) -> list[float | None]:
    return [float(np.quantile(v, q)) for q in QUANTILES] if v else [None] * len(QUANTILES)


def distributions(pairs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """Quantiles of the best cosine (and of its margin over each topic's mu) of same- and different-story pairs."""
    out: dict[str, Any] = {"quantiles": list(QUANTILES)}
    for name, flag in (("same", True), ("different", False)):
        recs = [r for r in pairs.values() if r["same"] is flag]
        out[name] = {
            "pairs": len(recs),
            "cosine": _quantiles([r["cosine"] for r in recs]),
            "cosine_minus_max_mu": _quantiles([r["cosine"] - max(r["mu"]) for r in recs]),
            "z_over_max_bar": _quantiles(
                [
                    min((r["cosine"] - m) / max(s, MIN_SIGMA) for m, s in zip(r["mu"], r["sigma"], strict=True))
                    for r in recs
                ]
            ),
            "overlap": _quantiles([r["overlap"] for r in recs if r["overlap"] is not None]),
        }
    return out


def rule_counts(
    pairs: dict[tuple[str, str], dict[str, Any]], needed: dict[tuple[str, str], list[str]]
) -> dict[str, dict[str, int]]:
    """Per rule: same- and different-story pairs linked, linked pairs of little overlap, needed links made."""
    same = [r for r in pairs.values() if r["same"] is True]
    diff = [r for r in pairs.values() if r["same"] is False]
    judged = [r for r in pairs.values() if r["overlap"] is not None]
    return {
        name: {
            "same_linked": sum(r["rules"][name] for r in same),
            "same": len(same),
            "different_linked": sum(r["rules"][name] for r in diff),
            "different": len(diff),
            "low_overlap_linked": sum(r["rules"][name] and r["overlap"] < LOW_OVERLAP for r in judged),
            "linked": sum(r["rules"][name] for r in pairs.values()),
            "needed_linked": sum(bool(pairs.get(k, {}).get("rules", {}).get(name)) for k in needed),
            "needed": len(needed),
        }
        for name in RULES
    }


# ----------------------------------------------------------------------------- concentration under each rule


def global_labels(days: list[Day], rule: Callable[[Day], Links], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stream labels with linked topics as one: (each topic's last global topic while live, the last day's links)."""
    current: dict[int, tuple[str, ...]] = {}
    ended: dict[int, tuple[str, ...]] = {}
    next_id = 1
    last: dict[str, int] = {}
    for day in days:
        r = assign_ids(group_links(day.ids, day.domains, rule(day)), current, ended, next_id)
        for e in r.events:
            if str(e.type) == "end":
                ended[e.global_id] = tuple(e.details["last"])
        current = r.groups
        next_id = max([next_id - 1, *current, *ended]) + 1
        for gid, members in current.items():
            last.update(dict.fromkeys(members, gid))
    final = {t: g for g, m in current.items() for t in m}

    def relabel(owner: dict[str, int]) -> np.ndarray:
        return np.array([f"global:{owner[x]}" if x in owner else x for x in labels.tolist()], dtype=object)

    return relabel(last), relabel(final)


def concentrations(
    days: list[Day],
    events: dict[str, np.ndarray],
    labels: np.ndarray,
    misfit: np.ndarray,
    full_labels: np.ndarray,
    rules: Sequence[str],
    needed: dict[tuple[str, str], list[str]],
) -> dict[str, Any]:
    """The event concentration with the links of each rule, and with exactly the needed links (the ceiling)."""
    base = _events(events, labels, misfit, full_labels)
    out: dict[str, Any] = {"streaming": base["streaming"]["largest"], "full": base["full"]["largest"], "rules": {}}

    def only_needed(day: Day) -> Links:
        i, j, s = _pairs(day)
        return [
            (c, a, b)
            for a, b, c in zip(i.tolist(), j.tolist(), s.tolist(), strict=True)
            if tuple(sorted((day.ids[a], day.ids[b]))) in needed
        ]

    for name, rule in [*((n, RULES[n]) for n in rules), (NEEDED, only_needed)]:
        lineage, final = global_labels(days, rule, labels)
        out["rules"][name] = {
            "lineage": _events(events, labels, misfit, full_labels, lineage)["streaming_global"]["largest"],
            "last_day": _events(events, labels, misfit, full_labels, final)["streaming_global"]["largest"],
        }
    return out


# ----------------------------------------------------------------------------- the streams


class _Days:
    """The replay's probe: a snapshot of the live topics after every midnight's jobs."""

    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self.days: list[Day] = []

    def __call__(self, at: datetime) -> None:
        self.days.append(snapshot(self.rt.store, at))


def _stored(rt: Any) -> dict[str, Any]:
    """The store's global topics after the replay (linked by the configured rule): groups and lineage events."""
    events = rt.store.global_topics.events()
    return {
        "groups": rt.store.global_topics.groups(),
        "events": dict(Counter(e["type"] for e in events)),
        "ever_linked": sorted({t for e in events for t in e["members"]}),
    }


def run_news(args: argparse.Namespace) -> Data:
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime

    with scratch(args, "ray-topics-links-") as tmp:
        work = tmp / "work"
        emb, protos = news_embeddings(tmp, args.since, work)
        cfg = load_config(
            str(ROOT / "configs" / "demo.yaml"), overrides=["execution.engine=local", *args.set], workdir=str(work)
        )
        rt = Runtime(cfg)
        videos = _news_frame(args.since)
        first = videos["published_at"].iloc[0].to_pydatetime().replace(minute=0, second=0, microsecond=0)
        for d, v in zip(cfg.domains.items, protos, strict=True):
            rt.store.prototypes.save(d.name, v, first)
        probe = _Days(rt)
        print(f"news: {len(videos)} articles; replaying (configs/demo.yaml)...", flush=True)
        rep = _replay(rt, videos, emb, probe)
        print(f"  replay: {rep['wall_s']:.1f}s wall, {len(probe.days)} days", flush=True)
        pos = {v: i for i, v in enumerate(videos["video_id"])}
        members = topic_members(rt.store, pos)
        ids, tids, conf = assignments(rt.store)
        labels = np.full(len(videos), NONE_LABEL, dtype=object)
        labels[[pos[v] for v in ids]] = [t or NONE_LABEL for t in tids]
        misfit = np.ones(len(videos), dtype=bool)
        misfit[[pos[v] for v in ids]] = [
            t is None or c < cfg.daily.misfit_confidence for t, c in zip(tids, conf, strict=True)
        ]
        docs = frame_texts(videos, cfg.embedding.max_chars)
        print("one full BERTopic fit (fresh process)...", flush=True)
        full = fit_fresh(tmp, emb, docs, cfg, [len(docs)], detail_n=len(docs))["fits"][0]
        full_labels = np.array(full["labels"], dtype=object)
        days = (videos["published_at"] - videos["published_at"].min()).dt.total_seconds().to_numpy() / 86_400
        terms = bursty_terms(docs, days)
        return Data(
            "news",
            probe.days,
            members,
            full_labels,
            FULL_OUTLIER,
            terms,
            terms,
            labels,
            misfit,
            full_labels,
            _stored(rt),
        )


def planted_spec(days: int, daily_volume: int, seed: int) -> tuple[Any, list[str]]:
    """:func:`default_scenario` plus stories across domains; returns the spec and the names of the different stories.

    Added (rates as the scenario's ``stable-2``): ``gaming/story`` and ``tech/story`` (centers at 0.999, from
    ``days // 4``), ``cooking/story3``, ``gaming/story3`` and ``tech/story3`` (at 0.98 to the first, from
    ``days // 3``), and for each of :data:`RELATED_COSINES` a pair ``gaming/related-C`` / ``tech/related-C``
    (centers at C): different stories, which the truth keeps apart.
    """
    from ray_topics.streams.planted import PlantedTopic, default_scenario

    spec = default_scenario(days=days, daily_volume=daily_volume, domains=DOMAINS, seed=seed)
    rate = next(t.rate for t in spec.topics if t.name.endswith("/stable-2"))
    story = [
        PlantedTopic("gaming/story", "gaming", rate=rate, start_day=days // 4),
        PlantedTopic("tech/story", "tech", rate=rate, start_day=days // 4, near="gaming/story", near_cosine=0.999),
        PlantedTopic("cooking/story3", "cooking", rate=rate, start_day=days // 3),
        PlantedTopic(
            "gaming/story3", "gaming", rate=rate, start_day=days // 3, near="cooking/story3", near_cosine=0.98
        ),
        PlantedTopic("tech/story3", "tech", rate=rate, start_day=days // 3, near="cooking/story3", near_cosine=0.98),
    ]
    related, different = [], []
    for c in RELATED_COSINES:
        a, b = f"gaming/related-{c:g}", f"tech/related-{c:g}"
        related += [PlantedTopic(a, "gaming", rate=rate), PlantedTopic(b, "tech", rate=rate, near=a, near_cosine=c)]
        different.append(b)
    return dataclasses.replace(spec, topics=[*spec.topics, *story, *related]), different


def run_planted(args: argparse.Namespace) -> Data:
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime
    from ray_topics.streams.synthetic import generate

    with scratch(args, "ray-topics-links-planted-") as tmp:
        cfg = load_config(overrides=["execution.engine=local", *args.set], workdir=str(tmp / "work"))
        spec, different = planted_spec(args.days, args.daily_volume, args.seed)
        stream = generate(spec)
        stream.topics.loc[stream.topics["name"].isin(different), "near"] = None  # different stories: two events
        truth = Truth(stream)
        rt = Runtime(cfg)
        probe = _Days(rt)
        print(
            f"planted: {len(stream.videos)} videos, {args.days} days, {len(spec.topics)} topics; replaying...",
            flush=True,
        )
        rep = _replay(rt, stream.videos.drop(columns=["true_topic", "true_part"]), stream.embeddings, probe)
        print(f"  replay: {rep['wall_s']:.1f}s wall, {len(probe.days)} days", flush=True)
        ids, tids, conf = assignments(rt.store)
        members = topic_members(rt.store, truth.pos)
        labels = np.full(len(truth.ids), NONE_LABEL, dtype=object)
        order = np.array([truth.pos[v] for v in ids])
        labels[order] = [t or NONE_LABEL for t in tids]
        misfit = labels == NONE_LABEL
        misfit[order[conf < cfg.daily.misfit_confidence]] = True
        docs = frame_texts(stream.videos, cfg.embedding.max_chars)
        print("one full BERTopic fit (fresh process)...", flush=True)
        full = fit_fresh(tmp, stream.embeddings, docs, cfg, [len(docs)], detail_n=len(docs))["fits"][0]
        full_labels = np.array(full["labels"], dtype=object)
        events = planted_events(truth.intended, NOISE_LABEL)
        return Data(
            "planted",
            probe.days,
            members,
            truth.intended,
            NOISE_LABEL,
            {},
            events,
            labels,
            misfit,
            full_labels,
            _stored(rt),
        )


# ----------------------------------------------------------------------------- report


@dataclasses.dataclass
class Data:
    """What one replay gives the analysis (kept by ``--data`` so the rules can be judged again without a replay).

    ``truth``: per document, the label pairs are judged by (news: the full fit's; planted: the intended
    truth), ``outlier`` its no-topic value; ``terms``: news' event terms (none on planted); ``events``: the
    events of the concentration figure.
    """

    mode: str
    days: list[Day]
    members: dict[str, np.ndarray]
    truth: np.ndarray
    outlier: Any
    terms: dict[str, np.ndarray]
    events: dict[str, np.ndarray]
    labels: np.ndarray
    misfit: np.ndarray
    full_labels: np.ndarray
    stored: dict[str, Any] | None = None  # the store's own global topics at the end (the configured rule)


def _report(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    mode, days = data.mode, data.days
    pairs = judge_pairs(days, data.members, data.truth, data.outlier)
    needed = needed_links(data.events, data.labels)
    dist = distributions(pairs)
    counts = rule_counts(pairs, needed)
    conc = concentrations(days, data.events, data.labels, data.misfit, data.full_labels, list(RULES), needed)
    t = Table(
        ("rule", "same", "diff", "low", "needed", "lineage", "last"),
        (
            "rule",
            "same-story pairs linked",
            "different-story pairs linked",
            f"linked, overlap < {LOW_OVERLAP}",
            "needed links made",
            "concentration (lineage)",
            "concentration (last day)",
        ),
    )
    for name, c in counts.items():
        t.add_row(
            name,
            f"{c['same_linked']} / {c['same']}",
            f"{c['different_linked']} / {c['different']}",
            f"{c['low_overlap_linked']} / {c['linked']}",
            f"{c['needed_linked']} / {c['needed']}",
            conc["rules"][name]["lineage"],
            conc["rules"][name]["last_day"],
        )
    ceiling = conc["rules"][NEEDED]
    print(
        f"\nevent concentration: streaming {conc['streaming']:.3f}, full fit {conc['full']:.3f}; "
        f"with exactly the needed links {ceiling['lineage']:.3f} (lineage), {ceiling['last_day']:.3f} (last day)"
    )
    stored = getattr(data, "stored", None)
    if stored is not None:
        print(f"the store's global topics (configured rule): {stored['groups']}, events {stored['events']}")
    for name in ("same", "different"):
        d = dist[name]
        print(f"{name}-story pairs ({d['pairs']}), quantiles {list(QUANTILES)}:")
        for key in ("cosine", "cosine_minus_max_mu", "z_over_max_bar", "overlap"):
            print(f"  {key}: {[None if x is None else round(x, 3) for x in d[key]]}")
    t.print(f"{mode}: rules")

    def show(key: tuple[str, str], r: dict[str, Any], extra: str = "") -> None:
        print(
            f"  {key[0]:<16} {key[1]:<16} {r['cosine']:.3f} same {r['same']!s:<5} overlap {_r(r['overlap'])} "
            f"majority {r['majority']} {r['majority_share']} mu {tuple(round(x, 3) for x in r['mu'])} "
            f"sigma {tuple(round(x, 3) for x in r['sigma'])} size {r['size']} {extra}"
        )

    print("\nthe closest pairs:")
    for key, r in sorted(pairs.items(), key=lambda kv: -kv[1]["cosine"])[:TOP]:
        show(key, r)
    print("\nthe needed links (events: the event's largest topic and its largest topic in another domain):")
    rank = {k: n for n, (k, _r) in enumerate(sorted(pairs.items(), key=lambda kv: -kv[1]["cosine"]), 1)}
    for key, names in sorted(needed.items()):
        if key in pairs:
            show(key, pairs[key], f"rank {rank[key]} of {len(pairs)} by cosine; {', '.join(names)}")
        else:
            print(f"  {key[0]:<16} {key[1]:<16} never live together; {', '.join(names)}")
    return {
        "mode": mode,
        **run_info(args),
        "days": len(days),
        "distributions": dist,
        "rules": counts,
        "concentration": conc,
        "stored": getattr(data, "stored", None),
        "needed": {f"{a}|{b}": v for (a, b), v in needed.items()},
        "pairs": {f"{a}|{b}": {**r, "majority": [str(x) for x in r["majority"]]} for (a, b), r in pairs.items()},
        "tables": {"rules": t.rows},
        "markdown": t.markdown(),
    }


def _r(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def build_parser() -> argparse.ArgumentParser:
    p = corpus_parser(__doc__)
    p.add_argument("--data", metavar="PICKLE", help="keep the replay's data here; when the file exists, judge it again")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start(args)
    if args.data and Path(args.data).exists():
        data = pickle.loads(Path(args.data).read_bytes())
        print(f"data of a {data.mode} replay read from {args.data}")
    else:
        data = run_planted(args) if args.planted else run_news(args)
        if args.data:
            Path(args.data).write_bytes(pickle.dumps(data))
    return finish(args, _report(args, data))


if __name__ == "__main__":
    sys.exit(main())
