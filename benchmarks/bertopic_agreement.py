"""Agreement after a BERTopic import: Tier 1 against BERTopic's own transform, beside BERTopic's own round trip.

On the news corpus (the demo's articles since 2017-02-01 and their
all-MiniLM-L6-v2 embeddings; ``--planted``: a planted stream instead, no
model needed), one run:

1. fits BERTopic on the corpus with its embeddings: UMAP and HDBSCAN with
   the config's CPU settings (:func:`benchmarks.full_fit.cluster_models`,
   ``prediction_data=True`` so BERTopic's ``transform`` can use HDBSCAN),
   ``CountVectorizer(stop_words="english")``;
2. the reference: that model's own ``transform(docs, embeddings)`` of its
   training documents (UMAP, then HDBSCAN's ``approximate_predict``);
3. BERTopic's own safetensors round trip: ``save(serialization="safetensors")``,
   ``BERTopic.load``, ``transform``: after load BERTopic assigns by cosine to
   its topic embeddings (no UMAP, no HDBSCAN), so it agrees only partly;
4. ray-topics: ``import-bertopic`` of the same safetensors folder (calibrated
   from the training embeddings, ``--embeddings``; and with the prior), then
   Tier 1 (``RealtimeClassifier.classify_and_store``) on the training documents;
5. each against the reference: the share of documents with the same answer
   (BERTopic's outlier ``-1`` and our "no topic" count as the same answer),
   the same share among the documents both give a topic, NMI, and the share
   given a topic; for ray-topics also its nearest topic before the
   confidence rejects (what BERTopic's cosine transform does);
6. import -> export -> import: the share of topics whose id, label and
   keywords survive, and the largest centroid difference;
7. the calibration prior against the measured one (``bertopic.prior_*``).

It prints every figure, writes them with ``--out``, and with ``--results``
replaces its section of ``benchmarks/RESULTS.md`` (machine, command, commit).

Usage, from the repository root::

    .venv/bin/python -m benchmarks.bertopic_agreement --results          # news corpus (embeds it once, cached)
    .venv/bin/python -m benchmarks.bertopic_agreement --planted          # a minute, no embedding model
"""

from __future__ import annotations

import argparse
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.full_fit import cluster_models, cluster_params
from benchmarks.harness import (
    Table,
    corpus_parser,
    describe,
    frame_texts,
    main_of,
    run_info,
    scratch,
    timed,
    write_results_section,
)

AT = datetime(2017, 4, 1, tzinfo=UTC)  # event time of the import (after the corpus)
NONE = -1  # BERTopic's outlier topic, and our "no topic" once mapped to BERTopic ids


def _agreement(ours: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Same answer overall (outlier == no topic), among documents both assign, NMI, share assigned."""
    from sklearn.metrics import normalized_mutual_info_score

    both = (ours != NONE) & (ref != NONE)
    return {
        "same": float(np.mean(ours == ref)),
        "same_both_assigned": float(np.mean(ours[both] == ref[both])) if both.any() else float("nan"),
        "nmi": float(normalized_mutual_info_score(ref, ours)),
        "assigned": float(np.mean(ours != NONE)),
    }


def _corpus(args: argparse.Namespace, tmp: Path) -> tuple[list[str], np.ndarray, list[str], str]:
    """(texts, embeddings, video ids, what the corpus is)."""
    if args.planted:
        from ray_topics.streams.planted import default_scenario
        from ray_topics.streams.synthetic import generate

        spec = default_scenario(days=args.days, daily_volume=args.daily_volume, domains=("news",), seed=args.seed)
        s = generate(spec)
        return frame_texts(s.videos, 1000), s.embeddings, s.videos["video_id"].tolist(), f"planted ({len(s.videos)})"
    from benchmarks.quality import _news_frame, news_embeddings

    emb, _protos = news_embeddings(tmp, args.since)
    videos = _news_frame(args.since)
    return frame_texts(videos, 1000), emb, videos["video_id"].tolist(), "news"


def _fit(cfg: Any, docs: list[str], emb: np.ndarray) -> Any:
    from bertopic import BERTopic
    from sklearn.feature_extraction.text import CountVectorizer

    umap_model, hdbscan_model = cluster_models(*cluster_params(cfg))
    hdbscan_model.prediction_data = True  # BERTopic's transform predicts through HDBSCAN
    return BERTopic(
        embedding_model=None,
        umap_model=umap_model,
        hdbscan_model=hdbscan_model,
        vectorizer_model=CountVectorizer(stop_words="english"),
    ).fit(docs, emb)


def _tier1(rt: Any, ids: list[str], docs: list[str], emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Tier 1's stored answers, its nearest topics), as BERTopic ids (-1: no topic)."""
    from ray_topics.core.validation import VideoIn
    from ray_topics.tiers.realtime import DomainClassifier, RealtimeClassifier

    back = rt.store.bertopic_ids.by_topic("news")  # our topic id -> its BERTopic id
    videos = [
        VideoIn(video_id=v, channel_id="c", published_at=AT, title=d[:1000] or "-", domain="news")
        for v, d in zip(ids, docs, strict=True)
    ]
    tier1 = RealtimeClassifier(rt.router(embed_missing=False), DomainClassifier(rt.registry, rt.confidence), rt.store)
    answers = tier1.classify_and_store(videos, emb, at=AT)
    nearest = rt.registry.latest("news").index(**rt.confidence).search(emb).nearest
    return (
        np.array([back.get(a["topic_id"], NONE) for a in answers]),
        np.array([back.get(t, NONE) for t in nearest]),
    )


def _survival(first: Any, second: Any) -> dict[str, float]:
    """Share of topics whose id, label and keywords survive import -> export -> import; largest centroid change."""
    a = {t.topic_id: t for t in first.store.topics.list("news")}
    b = {t.topic_id: t for t in second.store.topics.list("news")}
    kept = [tid for tid, t in a.items() if tid in b and (b[tid].label, b[tid].keywords) == (t.label, t.keywords)]
    diff = max((float(np.abs(a[t].centroid - b[t].centroid).max()) for t in a if t in b), default=float("nan"))
    return {"topics": len(a), "survive": len(kept) / max(len(a), 1), "centroid_max_abs_diff": diff}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bertopic import BERTopic

    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime
    from ray_topics.interop.bertopic_export import export_bertopic
    from ray_topics.interop.bertopic_import import import_bertopic

    warnings.filterwarnings("ignore")
    with scratch(args, "ray-topics-bertopic-") as tmp:
        docs, emb, ids, corpus = _corpus(args, tmp)
        cfg = load_config(overrides=list(args.set), workdir=str(tmp / "w"))
        print(f"{corpus}: {len(docs)} documents; fitting BERTopic...", flush=True)
        with timed() as t_fit:
            model = _fit(cfg, docs, emb)
        with timed() as t_ref:
            ref, _ = model.transform(docs, emb)
        ref = np.asarray(ref)
        n_topics = len([k for k in model.topic_representations_ if k != -1])
        print(f"  {n_topics} topics, {np.mean(ref == -1):.1%} outliers; fit {t_fit.wall_s:.0f} s", flush=True)
        folder = tmp / "model_st"
        model.save(str(folder), serialization="safetensors", save_embedding_model=False)
        roundtrip, _ = BERTopic.load(str(folder)).transform(docs, emb)
        np.savez(tmp / "train.npz", embeddings=emb, ids=np.array(ids, dtype=str))
        rows: dict[str, dict[str, float]] = {"BERTopic safetensors round trip (save, load, transform)": {}}
        rows["BERTopic safetensors round trip (save, load, transform)"] = _agreement(np.asarray(roundtrip), ref)
        calib: dict[str, Any] = {}
        runtimes = {}
        for name, extra in (("training embeddings", {"embeddings": tmp / "train.npz"}), ("prior", {})):
            rt = Runtime(load_config(overrides=list(args.set), workdir=str(tmp / f"w-{name.split()[0]}")))
            with timed() as t_imp:
                import_bertopic(rt, folder, "news", AT, **extra)
            with timed() as t_tier1:
                stored, nearest = _tier1(rt, ids, docs, emb)
            rows[f"ray-topics Tier 1 after import, calibrated from {name}"] = _agreement(stored, ref)
            if name == "prior":
                rows["ray-topics nearest topic (no rejection)"] = _agreement(nearest, ref)
            runtimes[name] = rt
            calib[name] = {"import_s": t_imp.wall_s, "tier1_s": t_tier1.wall_s}
        measured = {t.topic_id: t for t in runtimes["training embeddings"].store.topics.list("news")}
        prior = {t.topic_id: t for t in runtimes["prior"].store.topics.list("news")}
        gaps = [abs(prior[k].sim_mean - measured[k].sim_mean) for k in measured]
        calib["mu_prior_minus_measured_median_abs"] = float(np.median(gaps))
        calib["measured_sigma_median"] = float(np.median([t.sim_std for t in measured.values()]))
        calib["measured_mu_median"] = float(np.median([t.sim_mean for t in measured.values()]))
        export_bertopic(runtimes["training embeddings"], "news", tmp / "export")
        again = Runtime(load_config(overrides=list(args.set), workdir=str(tmp / "w-again")))
        import_bertopic(again, tmp / "export", "news", AT)
        survival = _survival(runtimes["training embeddings"], again)
        table = Table(
            ("against", "same", "same_both", "nmi", "assigned"),
            ("against BERTopic's own transform", "same answer", "same, both assign", "NMI", "given a topic"),
        )
        table.add_row("BERTopic's own transform (reference)", 1.0, 1.0, 1.0, float(np.mean(ref != NONE)))
        for name, a in rows.items():
            table.add_row(name, a["same"], a["same_both_assigned"], a["nmi"], a["assigned"])
        table.print(f"agreement on the {len(docs)} training documents of {corpus} ({n_topics} topics)")
        print(
            f"\nimport -> export -> import: {survival['survive']:.1%} of {survival['topics']} topics keep id, label "
            f"and keywords; largest centroid change {survival['centroid_max_abs_diff']:.2e}"
        )
        print(
            f"calibration: measured mu median {calib['measured_mu_median']:.3f}, sigma median "
            f"{calib['measured_sigma_median']:.3f}; prior mu off by {calib['mu_prior_minus_measured_median_abs']:.4f}"
            f" (median); import {calib['training embeddings']['import_s']:.1f} s, Tier 1 "
            f"{calib['training embeddings']['tier1_s']:.1f} s"
        )
        out = {
            **run_info(args),
            "corpus": corpus,
            "documents": len(docs),
            "topics": n_topics,
            "fit_s": t_fit.wall_s,
            "reference_transform_s": t_ref.wall_s,
            "agreement": rows,
            "survival": survival,
            "calibration": calib,
            "prior_sim_mean": cfg.bertopic.prior_sim_mean,
            "prior_sim_std": cfg.bertopic.prior_sim_std,
            "markdown": table.markdown(),
        }
        if args.results:
            _write_results(out)
        return out


def _write_results(out: dict[str, Any]) -> None:
    """This script's section of RESULTS.md."""
    m = out["machine"]
    s, c = out["survival"], out["calibration"]
    body = "\n".join(
        [
            "## Coming from BERTopic: agreement after an import (`benchmarks/bertopic_agreement.py`)",
            "",
            f"Machine: {describe(m)}; the sandbox's 2 cores shared with other jobs. "
            f"Command: `{out['command']}`; date {out['date'][:10]}.",
            "",
            f"Corpus: {out['corpus']}, {out['documents']} documents, BERTopic fitted on them with their embeddings "
            f"({out['topics']} topics, fit {out['fit_s']:.0f} s). Every row compares an answer per training "
            "document with that model's own `transform` (UMAP, then HDBSCAN's `approximate_predict`); "
            "BERTopic's outlier `-1` and our *no topic* count as the same answer.",
            "",
            out["markdown"],
            "",
            f"- import → export → import: {s['survive']:.1%} of {s['topics']} topics keep their id, label and "
            f"keywords; the largest centroid change is {s['centroid_max_abs_diff']:.1e}.",
            f"- calibration: measured over the training documents, median mu {c['measured_mu_median']:.3f} and "
            f"sigma {c['measured_sigma_median']:.3f}; the prior's mu (norm of the topic embedding) is off by "
            f"{c['mu_prior_minus_measured_median_abs']:.4f} (median, mean vs median of the members' cosine).",
            "- BERTopic's round trip and our nearest topic both assign by cosine to the same topic embeddings; "
            "they differ where the loaded model's outlier row (BERTopic keeps a topic embedding for `-1`) is the "
            "nearest, and ray-topics has no outlier topic: it leaves a document without a topic when its "
            "confidence is below `confidence.reject_below`.",
            f"- the prior: `bertopic.prior_sim_std` {out['prior_sim_std']}, `prior_sim_mean` {out['prior_sim_mean']}.",
            f"- cost: import {c['training embeddings']['import_s']:.1f} s, Tier 1 on every training document "
            f"{c['training embeddings']['tier1_s']:.1f} s (classify and commit, SQLite).",
        ]
    )
    write_results_section("bertopic_agreement", body)


def build_parser() -> argparse.ArgumentParser:
    return corpus_parser(__doc__)


main = main_of(build_parser, run)


if __name__ == "__main__":
    raise SystemExit(main())
