"""Granularity (issue 14): why the streaming topics on news are coarser than one full fit's, measured.

The news corpus (the demo's articles since 2017-02-01 and their cached
embeddings, ``configs/demo.yaml``) is replayed through every tier once per
variant of the resolution settings (``--set`` lists below, layered over the
demo config), and fitted by BERTopic once per ``min_topic_size`` (HDBSCAN
``min_cluster_size``) of ``--full-sizes``, all fits in one fresh process.
For every run: topics holding articles, topics per 1,000 articles, the share
with no topic, NMI against each full fit, and the event concentration of
:mod:`benchmarks.events` (bursty named terms).

Variants (``VARIANTS``): the demo as configured (birth size 15, pool 60, the
pool clustered at 10, the monthly recluster at 0.5 % of its sample, floor
10); the pool at twice the birth size (30, the ratio of default.yaml's 100 /
50; the demo's is 4); the birth size at the floor (10); the birth size following the domain's
volume (``daily.min_cluster_fraction``); the fringe guard loosened
(``daily.max_similarity_to_existing`` 0.92, the monthly merge threshold);
misfits up to confidence 0.7; the monthly recluster at half its fraction.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.granularity --out g.json
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

import numpy as np

from benchmarks.events import bursty_terms, concentration, summarise
from benchmarks.full_fit import cluster_models, cluster_params, jit_warmup
from benchmarks.harness import (
    ROOT,
    Table,
    frame_texts,
    in_fresh_process,
    main_of,
    parser,
    reap_loky,
    run_info,
    scratch,
    timed,
)
from benchmarks.planted_truth import NONE_LABEL, agreement, assignments
from benchmarks.quality import PER_THOUSAND, _news_frame, news_embeddings

FULL_OUTLIER = -1
SECONDS_PER_DAY = 86_400

VARIANTS: dict[str, list[str]] = {
    "demo": [],
    "pool at twice the birth size (30), as default.yaml": ["daily.min_pool_size=30"],
    "birth at the floor (10)": ["daily.min_cluster_size=10"],
    "birth by volume (5 % of a day, floor 10)": ["daily.min_cluster_fraction=0.05"],
    "fringe guard 0.92": ["daily.max_similarity_to_existing=0.92"],
    "misfit below 0.7": ["daily.misfit_confidence=0.7"],
    "monthly recluster 0.25 %": ["monthly.recluster_min_fraction=0.0025"],
}


def full_fits(job: dict[str, Any]) -> dict[str, Any]:
    """BERTopic fits of the whole corpus, one per HDBSCAN min size, in this (fresh) process: labels of each."""
    warnings.filterwarnings("ignore")
    from bertopic import BERTopic
    from sklearn.feature_extraction.text import CountVectorizer

    from ray_topics.execution.runtime import limit_threads

    limit_threads(job.get("blas_threads"))
    emb = np.load(job["emb_path"])
    docs = list(np.load(job["docs_path"], allow_pickle=True))
    u, h = job["umap"], job["hdbscan"]
    jit_warmup(u, h, emb.shape[1])
    out = {}
    for size in job["sizes"]:
        with timed() as t:
            um, hm = cluster_models(u, {**h, "min_cluster_size": size})
            model = BERTopic(
                embedding_model=None,
                umap_model=um,
                hdbscan_model=hm,
                vectorizer_model=CountVectorizer(stop_words="english"),
            )
            topics, _p = model.fit_transform(docs, emb)
            reap_loky()
        out[str(size)] = {"labels": [int(x) for x in topics], "cpu_s": t.cpu_s}
    return out


def _replay(cfg: Any, videos: Any, emb: np.ndarray, protos: np.ndarray) -> tuple[Any, ...]:
    """One replay of the corpus under ``cfg``: (topic label, misfit mask, domain) per article, and events by type."""
    from collections import Counter

    from ray_topics.execution.runtime import Runtime
    from ray_topics.streams.replay import Replay

    rt = Runtime(cfg)
    first = videos["published_at"].iloc[0].to_pydatetime().replace(minute=0, second=0, microsecond=0)
    for d, v in zip(cfg.domains.items, protos, strict=True):
        rt.store.prototypes.save(d.name, v, first)
    Replay(rt).run(videos, emb)
    ids, tids, conf = assignments(rt.store)
    rows = rt.store.classifications.get(ids)
    pos = {v: i for i, v in enumerate(videos["video_id"])}
    labels = np.full(len(videos), NONE_LABEL, dtype=object)
    misfit = np.ones(len(videos), dtype=bool)
    at = [pos[v] for v in ids]
    labels[at] = [t or NONE_LABEL for t in tids]
    misfit[at] = [t is None or c < cfg.daily.misfit_confidence for t, c in zip(tids, conf, strict=True)]
    domains = np.full(len(videos), NONE_LABEL, dtype=object)
    domains[at] = [rows[v]["domain"] for v in ids]
    return labels, misfit, domains, dict(Counter(e["type"] for e in rt.store.topics.events()))


def _figures(labels: np.ndarray, misfit: np.ndarray, none: Any, events: dict[str, np.ndarray]) -> dict[str, Any]:
    n = len(labels)
    topics = len(set(labels.tolist()) - {none})
    ev = summarise({k: concentration(m, labels, misfit, none) for k, m in events.items()})
    return {
        "topics": topics,
        "per_1000": PER_THOUSAND * topics / n,
        "no_topic": float(np.mean([x == none for x in labels.tolist()])),
        "event_largest": ev["largest"],
        "event_misfit": ev["misfit"],
        "event_spread": ev["spread"],
    }


def _purity(stream: np.ndarray, full: np.ndarray) -> tuple[float, float]:
    """Homogeneity and completeness of the streaming topics against a full fit's, over articles both name a topic.

    Low homogeneity with high completeness: each streaming topic holds several full-fit topics (coarser).
    """
    from sklearn.metrics import homogeneity_completeness_v_measure

    both = np.array([a != NONE_LABEL and b != FULL_OUTLIER for a, b in zip(stream, full, strict=True)])
    h, c, _v = homogeneity_completeness_v_measure(full[both].astype(str), stream[both].astype(str))
    return float(h), float(c)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ray_topics.config import load_config

    warnings.filterwarnings("ignore")
    config = str(ROOT / "configs" / "demo.yaml")
    sizes = [int(s) for s in args.full_sizes.split(",")]
    with scratch(args, "ray-topics-granularity-") as tmp:
        emb, protos = news_embeddings(tmp, args.since)
        videos = _news_frame(args.since)
        base = load_config(config, overrides=["execution.engine=local", *args.set], workdir=str(tmp / "base"))
        docs = frame_texts(videos, base.embedding.max_chars)
        days = (videos["published_at"] - videos["published_at"].min()).dt.total_seconds().to_numpy() / SECONDS_PER_DAY
        events = bursty_terms(docs, days)
        print(f"news: {len(videos)} articles, {len(events)} event terms; full fits at {sizes}...", flush=True)
        np.save(tmp / "fit_emb.npy", emb)
        np.save(tmp / "fit_docs.npy", np.array(docs, dtype=object))
        u, h = cluster_params(base)
        fits = in_fresh_process(
            full_fits,
            {
                "emb_path": str(tmp / "fit_emb.npy"),
                "docs_path": str(tmp / "fit_docs.npy"),
                "umap": u,
                "hdbscan": h,
                "sizes": sizes,
                "blas_threads": base.execution.blas_threads,
            },
        )
        full = {}
        for size, f in fits.items():
            lab = np.array(f["labels"], dtype=object)
            full[size] = {**_figures(lab, lab == FULL_OUTLIER, FULL_OUTLIER, events), "labels": lab}
            print(f"  full fit min size {size}: {full[size]['topics']} topics", flush=True)
        jit_warmup(u, h, base.embedding.dim)
        runs: dict[str, Any] = {}
        for name, sets in VARIANTS.items():
            cfg = load_config(
                config, overrides=["execution.engine=local", *args.set, *sets], workdir=str(tmp / f"v{len(runs)}")
            )
            with timed() as t:
                labels, misfit, domains, kinds = _replay(cfg, videos, emb, protos)
            r = _figures(labels, misfit, NONE_LABEL, events)
            # a topic lives in one domain: an event's largest domain bounds its concentration
            r["event_domain_ceiling"] = summarise(
                {k: concentration(m, domains, domains == NONE_LABEL, NONE_LABEL) for k, m in events.items()}
            )["largest"]
            r.update({"set": sets, "events": kinds, "cpu_s": t.cpu_s})
            for size, f in full.items():
                r[f"nmi_full_{size}"] = agreement(labels, f["labels"])["nmi"]
                r[f"homogeneity_full_{size}"], r[f"completeness_full_{size}"] = _purity(labels, f["labels"])
            runs[name] = r
            print(f"  {name}: {r['topics']} topics, {t.cpu_s:.0f} CPU s", flush=True)
    keys = ["topics", "per_1000", "no_topic", "event_largest", "event_misfit", "event_spread", "event_domain_ceiling"]
    nmi_keys = [f"{m}_full_{s}" for s in full for m in ("nmi", "homogeneity", "completeness")]
    table = Table(
        ("run", *keys, *nmi_keys),
        (
            "run",
            "topics",
            "topics / 1,000",
            "no topic",
            "event conc.",
            "event misfit",
            "event spread",
            "event's largest domain",
            *[f"{m} vs full {s}" for s in full for m in ("NMI", "homog.", "compl.")],
        ),
    )
    for size, f in full.items():
        table.add_row(f"full fit, min_topic_size {size}", *[f.get(k) for k in keys], *[None for _ in nmi_keys])
    for name, r in runs.items():
        table.add_row(f"streaming: {name}", *[r[k] for k in keys], *[r[k] for k in nmi_keys])
    table.print(f"granularity on news ({len(videos)} articles, {len(events)} event terms)")
    out = {
        **run_info(args),
        "articles": len(videos),
        "event_terms": {k: len(v) for k, v in events.items()},
        "full": {k: {x: y for x, y in v.items() if x != "labels"} for k, v in full.items()},
        "streaming": runs,
        "tables": {"granularity": table.rows},
        "markdown": table.markdown(),
    }
    return out


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--since", default="2017-02-01", help="first publication date kept (as the demo)")
    p.add_argument("--full-sizes", default="10,15", help="HDBSCAN min sizes of the full fits (default 10,15)")
    return p


main = main_of(build_parser, run)


if __name__ == "__main__":
    raise SystemExit(main())
