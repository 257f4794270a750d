"""``ray-topics bootstrap``: start from a historical dump instead of an empty store.

1. Each domain's first model is fitted on the monthly tier's sample of the
   dump (:func:`ray_topics.tiers.sample.dump_sample`: the recent days, the
   log-spaced days back, ``bootstrap.extra_log_spaced_days`` further back,
   the most viewed videos; capped at ``monthly.max_sample``) and published
   (:mod:`ray_topics.tiers.bootstrap`). Only the sample's embeddings are read
   for it (embedded, when the dump has none); never the whole dump.
2. Then the whole dump goes through the Tier 1 path in time order,
   ``bootstrap.batch_size`` videos at a time: validated, routed, classified
   with the new models and stored (videos, hot embeddings, preliminary
   answers) as history, so refine, daily, weekly and monthly start from
   there at ``as_of`` (the midnight after the dump's last video by default).

A video's domain for the sample is the one it names, else its mapped
category; the sampled videos that name neither are embedded first and routed
by prototype, then join their domain's sample. Both steps can run again: a
domain whose bootstrap committed is skipped, and Tier 1 stores nothing twice.
A domain that has topics already keeps its model (an imported BERTopic model:
``import-bertopic`` then ``bootstrap`` gives it its history).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ray_topics.core.sampling import union_capped
from ray_topics.core.text import video_text
from ray_topics.execution.runtime import Runtime
from ray_topics.streams.replay import needs_routing, replay_span, validated
from ray_topics.tiers.bootstrap import commit_bootstrap, needs_model, plan_bootstrap
from ray_topics.tiers.realtime import DomainClassifier, RealtimeClassifier
from ray_topics.tiers.sample import dump_sample

__all__ = ["VectorReader", "bootstrap", "frame_vectors"]

log = logging.getLogger(__name__)

# the embeddings of some rows of the dump (their positions in its frame), in that order
VectorReader = Callable[[np.ndarray], np.ndarray]


def frame_vectors(rt: Runtime, videos: pd.DataFrame, embeddings: np.ndarray | None) -> VectorReader:
    """Reads rows of ``embeddings`` when the dump has them, else embeds the rows' texts when asked."""
    if embeddings is not None:
        given = np.asarray(embeddings, dtype=np.float32)
        return lambda pos: given[pos]
    max_chars = rt.cfg.embedding.max_chars
    texts = [
        video_text(t, d, g, max_chars)
        for t, d, g in zip(videos["title"], videos["description"], videos["tags"], strict=True)
    ]
    return lambda pos: rt.embedder.encode([texts[i] for i in pos])


def _known_domains(videos: pd.DataFrame, category_map: dict[str, str]) -> list[str | None]:
    """Each video's domain before any embedding is read: the one it names, else its mapped category."""
    named = videos["domain"] if "domain" in videos else pd.Series(None, index=videos.index)
    cats = videos["category"] if "category" in videos else pd.Series(None, index=videos.index)
    out: list[str | None] = []
    for d, c in zip(named, cats, strict=True):
        if isinstance(d, str) and d:
            out.append(d)
        elif isinstance(c, str) and c.lower() in category_map:
            out.append(category_map[c.lower()])
        else:
            out.append(None)
    return out


def bootstrap(
    rt: Runtime,
    videos: pd.DataFrame,
    read: VectorReader,
    *,
    as_of: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    stored_so_far: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Bootstrap every configured domain from ``videos`` (the loader's frame); ``read`` gives their embeddings.

    ``progress`` gets a line per step; ``stored_so_far(done, total)`` follows the history pass
    (a progress bar), which otherwise reports through ``progress`` too.

    Returns the summary: per domain its sample (video ids), births and version; the videos
    stored and rejected.
    """
    cfg = rt.cfg
    say = progress or (lambda _s: None)
    if not len(videos):
        raise ValueError("nothing to bootstrap from: the dump holds no videos")
    videos = videos.reset_index(drop=True)
    times = [ts.to_pydatetime() for ts in videos["published_at"]]
    first, end = replay_span(videos["published_at"])
    as_of = as_of or end
    ids = videos["video_id"].astype(str).tolist()
    views = [None if pd.isna(v) else int(v) for v in videos["views"]] if "views" in videos else [None] * len(ids)
    known = np.array(_known_domains(videos, cfg.domains.category_map()), dtype=object)

    # 1. the sample of each domain (and of the videos whose domain is not known yet): positions in the frame
    groups: dict[str | None, np.ndarray] = {}
    for d in [*cfg.domains.names, None]:
        rows = np.flatnonzero(known == d) if d is not None else np.flatnonzero(pd.isna(known))
        strata = dump_sample(
            [ids[i] for i in rows],
            [times[i] for i in rows],
            [views[i] for i in rows],
            as_of,
            cfg.monthly,
            cfg.bootstrap.extra_log_spaced_days,
        )
        at = {ids[i]: i for i in rows}
        groups[d] = np.array([at[v] for v in union_capped(strata, cfg.monthly.max_sample)], dtype=np.int64)
    sample = np.concatenate(list(groups.values()))
    say(f"bootstrap: sample of {len(sample)} of {len(videos)} videos; reading its embeddings")
    vecs = dict(zip(sample.tolist(), read(sample), strict=True))
    router = rt.router(at=first, embed_missing=needs_routing(videos, cfg.domains.category_map()))
    cats = {i: c if isinstance(c := videos.at[i, "category"], str) else None for i in groups[None].tolist()}
    if cfg.domains.unknown_category == "reject":  # an unmapped category is refused by Tier 1: not sampled either
        groups[None] = np.array([i for i, c in cats.items() if c is None], dtype=np.int64)
    if len(groups[None]):
        records = [{"domain": None, "category": cats[i]} for i in groups[None].tolist()]
        routed = router.route(records, np.stack([vecs[i] for i in groups[None]]))
        for i, d in zip(groups[None].tolist(), routed, strict=True):
            groups[d] = np.append(groups.get(d, np.zeros(0, np.int64)), i)

    # 2. each domain's first model
    domains: dict[str, Any] = {}
    for d in cfg.domains.names:
        pos = groups.get(d, np.zeros(0, np.int64))
        stats: dict[str, Any] = {"sample": len(pos)}
        if needs_model(rt, d, as_of):
            docs = [video_text(*videos.loc[i, ["title", "description", "tags"]], cfg.embedding.max_chars) for i in pos]
            x = np.stack([vecs[i] for i in pos]) if len(pos) else np.zeros((0, cfg.embedding.dim), np.float32)
            plan = plan_bootstrap(rt, d, x, docs, [times[i] for i in pos], as_of)
            stats.update(commit_bootstrap(rt, plan, as_of))
        else:  # bootstrapped before, or a model of its own (imported): kept, the history is classified by it
            stats["kept"] = True
        stats["version"] = rt.registry.latest(d).name
        stats["sample_ids"] = [ids[i] for i in pos]
        domains[d] = stats
        say(f"bootstrap: {d}: {stats.get('births', 0)} topic(s) from a sample of {len(pos)} ({stats['version']})")

    # 3. the whole dump through Tier 1, in time order, as history
    models = DomainClassifier(rt.registry, rt.confidence)
    models.refresh()
    tier1 = RealtimeClassifier(router, models, store=rt.store, max_chars=cfg.embedding.max_chars)
    order = np.argsort(np.array(videos["published_at"].to_numpy()), kind="stable")
    stored, rejected = 0, []
    for lo in range(0, len(order), cfg.bootstrap.batch_size):
        pos = order[lo : lo + cfg.bootstrap.batch_size]
        batch = read(pos)
        good, rows, bad = validated(cfg, videos.iloc[pos], batch, as_of)
        rejected += bad
        if good:
            tier1.classify_and_store(good, batch[rows], at=as_of)
            stored += len(good)
        done = min(lo + len(pos), len(order))
        if stored_so_far is not None:
            stored_so_far(done, len(order))
        else:
            say(f"bootstrap: history {done}/{len(order)} videos")
    return {
        "as_of": as_of.isoformat(),
        "videos": len(videos),
        "sampled": int(sum(len(g) for g in groups.values())),
        "stored": stored,
        "rejected": len(rejected),
        "rejected_examples": rejected[:5],
        "domains": domains,
    }
