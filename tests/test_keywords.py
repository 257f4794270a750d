"""c-TF-IDF keywords: planted vocabularies are recovered, counted in documents, not occurrences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from ray_topics.core.keywords import ctfidf_keywords, label_from_keywords
from ray_topics.core.lifecycle import make_topic
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers.weekly import topic_keywords

FILLER = "video today new watch best time".split()


def _docs(rng: np.random.Generator, vocab: list[str], n: int, words: int = 8) -> list[str]:
    return [" ".join(rng.choice(vocab + FILLER, size=words)) for _ in range(n)]


def test_planted_vocabularies_are_each_class_keywords() -> None:
    rng = np.random.default_rng(0)
    a, b = ["guitar", "chord", "riff", "amp"], ["sourdough", "starter", "crumb", "oven"]
    docs = _docs(rng, a, 30) + _docs(rng, b, 30)
    kw = ctfidf_keywords(docs, [0] * 30 + [1] * 30, top_n=4)
    assert set(kw[0]) == set(a) and set(kw[1]) == set(b)


def test_a_name_repeated_in_one_document_is_not_a_keyword() -> None:
    """Counting occurrences, 'zelensky' x 12 in one article would top the class; in documents it is one."""
    docs = ["election vote ballot " + "zelensky " * 12] + ["election vote ballot count"] * 5 + ["goal match"] * 6
    kw = ctfidf_keywords(docs, ["p"] * 6 + ["s"] * 6, top_n=5)
    assert "zelensky" not in kw["p"]
    assert set(kw["p"]) == {"election", "vote", "ballot", "count"}


def test_keywords_must_be_shared_by_members() -> None:
    docs = ["alpha beta gamma", "alpha beta delta", "epsilon zeta"]
    kw = ctfidf_keywords(docs, [0, 0, 1], top_n=10)
    assert set(kw[0]) == {"alpha", "beta"}  # gamma and delta occur in one member each
    assert set(kw[1]) == {"epsilon", "zeta"}  # a one-document class keeps its words


def test_empty_texts_and_labels() -> None:
    assert ctfidf_keywords(["", "  "], [0, 1]) == {0: [], 1: []}
    assert ctfidf_keywords(["the and of"], [0]) == {0: []}  # only stop words
    assert label_from_keywords(["a", "b", "c", "d"], "t:0") == "a, b, c"
    assert label_from_keywords([], "t:0") == "t:0"


AS_OF = datetime(2026, 3, 30, tzinfo=UTC)


def _store_videos(
    rt: Runtime, domain: str, texts: list[str], days: list[int], topic_id: str | None, prefix: str
) -> None:
    """Videos published ``days`` before AS_OF, assigned to ``topic_id`` (None: misfits)."""
    records = [
        {
            "video_id": f"{prefix}{i}",
            "channel_id": "c",
            "published_at": AS_OF - timedelta(days=d),
            "title": txt,
            "description": "",
            "tags": [],
            "category": None,
            "views": 1,
            "domain": domain,
        }
        for i, (txt, d) in enumerate(zip(texts, days, strict=True))
    ]
    rows = [
        {
            "video_id": r["video_id"],
            "domain": domain,
            "published_at": r["published_at"],
            "topic_id": topic_id,
            "confidence": 0.9 if topic_id else 0.2,
            "status": "refined",
            "model_version": "1",
            "classified_at": AS_OF,
        }
        for r in records
    ]
    vecs = np.zeros((len(records), rt.cfg.embedding.dim), np.float32)
    vecs[:, 0] = 1.0
    rt.store.videos.ingest(records, vecs, rows)


def _topic(rt: Runtime, domain: str):
    vec = np.zeros((2, rt.cfg.embedding.dim), np.float32)
    vec[:, 0] = 1.0
    t = make_topic(domain, 0, vec, ["old"], AS_OF - timedelta(days=40), upper_quantile=0.9)
    with rt.store.begin() as conn:
        rt.store.topics.upsert([t], conn)
    return t


def test_weekly_keywords_use_members_beyond_the_week(sqlite_runtime: Runtime) -> None:
    """A topic with 2 videos this week and 20 over the last month is keyworded from its month.

    From this week alone its keywords would be "livestream, replay".
    """
    rt = sqlite_runtime
    rng = np.random.default_rng(1)
    vocab = ["telescope", "nebula", "orbit", "comet"]
    t = _topic(rt, "tech")
    texts = [*_docs(rng, vocab, 20), "livestream replay today", "livestream replay best"]  # this week: two
    _store_videos(rt, "tech", texts, [20] * 20 + [2, 1], t.topic_id, "v")
    # the domain's misfits of the month speak the filler words too
    _store_videos(rt, "tech", [" ".join(rng.choice(FILLER, size=8)) for _ in range(10)], [20] * 10, None, "m")
    kw = topic_keywords(rt, "tech", [t], AS_OF)
    assert set(kw[t.topic_id][:4]) == set(vocab)


def test_words_every_domain_uses_are_not_keywords(sqlite_runtime: Runtime) -> None:
    """'said' in every video of every domain: a member word, but not what the topic is about."""
    rt = sqlite_runtime
    rng = np.random.default_rng(2)
    vocab = ["telescope", "nebula", "orbit", "comet"]
    t = _topic(rt, "tech")
    texts = [" ".join(rng.choice(vocab, size=3)) + " said" for _ in range(20)]
    _store_videos(rt, "tech", texts, [3] * 20, t.topic_id, "v")
    games = ["speedrun glitch said", "boss fight said", "controller patch said"] * 5
    _store_videos(rt, "gaming", games, [3] * len(games), None, "g")
    kw = topic_keywords(rt, "tech", [t], AS_OF)
    assert "said" not in kw[t.topic_id][:4]
    assert set(kw[t.topic_id][:4]) == set(vocab)
