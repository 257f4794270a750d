"""c-TF-IDF keywords: planted vocabularies are recovered, counted in documents, not occurrences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from ray_topics.evolution import topic_keywords
from ray_topics.keywords import ctfidf_keywords, label_from_keywords
from ray_topics.lifecycle import make_topic
from ray_topics.runtime import Runtime

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


def test_weekly_keywords_use_members_beyond_the_week(sqlite_runtime: Runtime) -> None:
    """A topic with 2 videos this week and 20 over the last month is keyworded from its month.

    From this week alone its keywords would be "livestream, replay".
    """
    rt = sqlite_runtime
    as_of = datetime(2026, 3, 30, tzinfo=UTC)
    rng = np.random.default_rng(1)
    vocab = ["telescope", "nebula", "orbit", "comet"]
    texts = [*_docs(rng, vocab, 20), "livestream replay today", "livestream replay best"]  # this week: two
    days = [20] * 20 + [2, 1]  # days before as_of
    vec = np.zeros((2, rt.cfg.embedding.dim), np.float32)
    vec[:, 0] = 1.0
    t = make_topic("tech", 0, vec, ["old"], as_of - timedelta(days=40), upper_quantile=0.9)
    with rt.store.begin() as conn:
        rt.store.upsert_topics([t], conn)
    records = [
        {
            "video_id": f"v{i}",
            "channel_id": "c",
            "published_at": as_of - timedelta(days=d),
            "title": txt,
            "description": "",
            "tags": [],
            "category": None,
            "views": 1,
            "domain": "tech",
        }
        for i, (txt, d) in enumerate(zip(texts, days, strict=True))
    ]
    rows = [
        {
            "video_id": r["video_id"],
            "domain": "tech",
            "published_at": r["published_at"],
            "topic_id": t.topic_id,
            "confidence": 0.9,
            "status": "refined",
            "model_version": 1,
            "classified_at": as_of,
        }
        for r in records
    ]
    # the domain's misfits of the month speak the filler words too
    noise = [{**records[0], "video_id": f"m{i}", "title": " ".join(rng.choice(FILLER, size=8))} for i in range(10)]
    records += noise
    rows += [{**rows[0], "video_id": r["video_id"], "topic_id": None, "confidence": 0.2} for r in noise]
    rt.store.ingest(records, np.tile(vec[0], (len(records), 1)), rows)
    kw = topic_keywords(rt, "tech", [t], as_of)
    assert set(kw[t.topic_id][:4]) == set(vocab)
