"""keywords.representation on the news corpus: our c-TF-IDF against BERTopic's KeyBERTInspired and MMR.

The corpus (the demo's news articles since 2017-02-01 and their
all-MiniLM-L6-v2 embeddings; ``--planted``: a planted stream) is clustered
once as the monthly tier reclusters a sample (the configured backend, HDBSCAN
at ``monthly.recluster_min_fraction`` of the documents, at least
``daily.min_cluster_floor``); then each representation gives the top-10
keywords of the same clusters (the noise a class of its own, as in the tiers):

* ``ctfidf``: today's keywords (:func:`ray_topics.core.keywords.ctfidf_keywords`);
* ``keybert``, ``mmr``: :class:`ray_topics.execution.representation.KeywordModel` with the
  config's ``keywords`` settings, words and documents embedded by the configured embedder.

Per representation: mean NPMI of each topic's top-10 words over the corpus'
documents (as ``benchmarks.quality`` scores it), topic diversity (unique words
/ 10 x topics), words shared with today's keywords, and the wall and CPU
seconds per topic of the keyword step (the embedder loaded and warmed first).

Usage, from the repository root::

    .venv/bin/python -m benchmarks.representation --results     # news (embeds it once, cached)
    .venv/bin/python -m benchmarks.representation --planted     # planted stream
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

import numpy as np

from benchmarks.harness import (
    Figures,
    corpus_parser,
    describe,
    main_of,
    run_info,
    scratch,
    timed,
    write_results_section,
)
from benchmarks.quality import _token_sets, _topic_quality

KINDS = ("ctfidf", "keybert", "mmr")
TOP_N = 10


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.bertopic_agreement import _corpus
    from ray_topics.config import load_config
    from ray_topics.execution.representation import KeywordModel
    from ray_topics.execution.runtime import Runtime

    warnings.filterwarnings("ignore")
    with scratch(args, "ray-topics-representation-") as tmp:
        docs, emb, _ids, corpus = _corpus(args, tmp)
        cfg = load_config(overrides=list(args.set), workdir=str(tmp / "w"))
        rt = Runtime(cfg)
        size = max(cfg.daily.min_cluster_floor, int(cfg.monthly.recluster_min_fraction * len(docs)))
        print(f"{corpus}: {len(docs)} documents; clustering (HDBSCAN min size {size})...", flush=True)
        labels = rt.backend.fit_predict(emb, size).tolist()
        n_topics = len({c for c in labels if c >= 0})
        rt.embedder.encode(["warm up the embedder"])  # its load is not the keyword step's cost
        tokens = _token_sets(docs)
        k = cfg.keywords
        keywords: dict[str, dict[Any, list[str]]] = {}
        rows: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            model = KeywordModel(
                kind,
                rt.embedder.encode,
                candidates=k.candidates,
                mmr_diversity=k.mmr_diversity,
                keybert_docs=k.keybert_docs,
                keybert_samples=k.keybert_samples,
            )
            with timed() as t:
                kw = model(docs, labels, top_n=TOP_N)
            keywords[kind] = {c: v for c, v in kw.items() if c != -1 and v}
            q = _topic_quality({str(c): v for c, v in keywords[kind].items()}, tokens, top_n=TOP_N)
            rows[kind] = {
                "npmi": q["npmi"],
                "diversity": q["diversity"],
                "topics": q["topics"],
                "wall_s_per_topic": t.wall_s / max(len(kw), 1),
                "cpu_s_per_topic": t.cpu_s / max(len(kw), 1),
            }
            print(f"  {kind}: {t.wall_s:.1f} s for {len(kw)} classes", flush=True)
        base = keywords["ctfidf"]
        for kind in KINDS:
            shared = [len(set(keywords[kind].get(c, [])) & set(base[c])) / TOP_N for c in base]
            rows[kind]["shared_with_ctfidf"] = float(np.mean(shared)) if shared else None
        table = Figures(ours="value", baseline="ctfidf (today)")
        for kind in KINDS:
            r = rows[kind]
            table.add(f"{kind}: NPMI of top-10", "(info)", r["npmi"], rows["ctfidf"]["npmi"])
            table.add(f"{kind}: topic diversity", "(info)", r["diversity"], rows["ctfidf"]["diversity"])
            table.add(f"{kind}: top-10 words shared with ctfidf", "(info)", r["shared_with_ctfidf"], 1.0)
            table.add(f"{kind}: wall s per topic", "(info)", r["wall_s_per_topic"], rows["ctfidf"]["wall_s_per_topic"])
        table.print(f"keyword representations of {n_topics} clusters of {corpus} ({len(docs)} documents)")
        examples = {
            kind: {str(c): keywords[kind].get(c, []) for c in sorted(base, key=lambda c: -labels.count(c))[:3]}
            for kind in KINDS
        }
        for kind, ex in examples.items():
            for c, words in ex.items():
                print(f"  {kind:<8} topic {c}: {', '.join(words)}")
        out = {
            **run_info(args),
            "corpus": corpus,
            "documents": len(docs),
            "clusters": n_topics,
            "min_cluster_size": size,
            "keywords_config": k.model_dump(),
            "rows": rows,
            "examples": examples,
            "tables": {"representation": table.rows},
            "markdown": table.markdown(),
        }
        if args.results:
            _write_results(out)
        return out


def _write_results(out: dict[str, Any]) -> None:
    r = out["rows"]
    lines = [
        "| representation | NPMI top-10 | diversity | top-10 shared with ctfidf | wall s / topic | CPU s / topic |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind in KINDS:
        x = r[kind]
        lines.append(
            f"| `{kind}` | {x['npmi']:.3f} | {x['diversity']:.3f} | {x['shared_with_ctfidf']:.2f} | "
            f"{x['wall_s_per_topic']:.3f} | {x['cpu_s_per_topic']:.3f} |"
        )
    k = out["keywords_config"]
    body = "\n".join(
        [
            "## Keyword representations: c-TF-IDF, KeyBERTInspired, MMR (`benchmarks/representation.py`)",
            "",
            f"Machine: {describe(out['machine'])}; the sandbox's 2 cores shared with other jobs. "
            f"Command: `{out['command']}`; date {out['date'][:10]}.",
            "",
            f"Corpus: {out['corpus']}, {out['documents']} documents in {out['clusters']} clusters (HDBSCAN min "
            f"size {out['min_cluster_size']}); each representation keywords the same clusters. keybert and mmr "
            f"re-rank {k['candidates']} c-TF-IDF candidates (mmr diversity {k['mmr_diversity']}, keybert "
            f"{k['keybert_docs']} representative documents), embedding with all-MiniLM-L6-v2 (int8, CPU).",
            "",
            *lines,
            "",
            f"Best NPMI: `{max(KINDS, key=lambda x: r[x]['npmi'])}`; best diversity: "
            f"`{max(KINDS, key=lambda x: r[x]['diversity'])}`. keybert and mmr cost "
            f"{r['keybert']['cpu_s_per_topic'] / r['ctfidf']['cpu_s_per_topic']:.0f}x and "
            f"{r['mmr']['cpu_s_per_topic'] / r['ctfidf']['cpu_s_per_topic']:.0f}x the CPU per topic of ctfidf "
            "(they embed each topic's candidate words, and keybert its representative documents). The default "
            "stays `keywords.representation: ctfidf`.",
        ]
    )
    write_results_section("representation", body)


def build_parser() -> argparse.ArgumentParser:
    return corpus_parser(__doc__)


main = main_of(build_parser, run)


if __name__ == "__main__":
    raise SystemExit(main())
