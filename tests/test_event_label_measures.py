"""The measures behind the real-stream figures (benchmarks/events.py, labels.py): event concentration,
bursty named terms, junk among keywords.
"""

from __future__ import annotations

import numpy as np

from benchmarks.events import bursty_terms, concentration, domain_split, planted_events, summarise, term_documents
from benchmarks.labels import compare, debris_chunks, junk_rule


def test_concentration_counts_misfits_in_the_denominator_and_spread_above_five_percent() -> None:
    labels = np.array(["a"] * 6 + ["b"] * 3 + ["c"] * 1 + ["<none>"] * 10, dtype=object)
    misfit = labels == "<none>"
    e = concentration(np.arange(20), labels, misfit, "<none>")
    assert e == {"n": 20, "largest": 0.3, "misfit": 0.5, "spread": 3}  # c holds exactly 5 %
    whole = concentration(np.arange(6), labels, misfit, "<none>")
    assert whole["largest"] == 1.0 and whole["spread"] == 1
    s = summarise({"x": e, "y": whole})
    assert s["events"] == 2 and s["largest"] == 0.65 and s["spread"] == 2.0
    assert summarise({})["largest"] is None


def test_domain_split_tells_what_the_router_split_from_what_one_full_fit_holds_with_the_event() -> None:
    # an event of 10: 6 in world, 1 filed under politics by its category, 3 routed to politics
    domains = np.array(["world"] * 6 + ["politics"] * 4, dtype=object)
    labelled = np.array([True] * 7 + [False] * 3)
    # the story view holds one routed article with the event (world:0), two stay in politics' broad topic
    story = np.array(["world:0"] * 6 + ["politics:1", "world:0", "politics:1", "politics:1"], dtype=object)
    # one full fit: the event is topic 4; of the two nothing holds, it files one with the event, one elsewhere
    full = np.array([4] * 6 + [4, 4, 4, 9])
    got = domain_split(np.arange(10), domains, labelled, {"story": story}, "<none>", full, -1)
    assert got["largest"] == 0.6
    assert (got["by_category"], got["by_router"]) == (0.1, 0.3)
    assert (got["joined_story"], got["unjoined"]) == (0.1, 0.2)
    assert got["by_router_in_reference"] == 0.2  # articles 7 and 8
    assert got["unjoined_in_reference"] == 0.1  # article 8: split by the router, linked by nothing, one story
    # a full fit that leaves the whole event as outliers holds nothing with it
    outliers = domain_split(np.arange(10), domains, labelled, {"story": story}, "<none>", np.full(10, -1), -1)
    assert outliers["by_router_in_reference"] == outliers["unjoined_in_reference"] == 0.0


def test_planted_events_are_the_truth_labels_but_noise() -> None:
    truth = np.array(["t1", "<noise>", "t2", "t1"], dtype=object)
    ev = planted_events(truth, "<noise>")
    assert list(ev) == ["t1", "t2"] and ev["t1"].tolist() == [0, 3]


def test_bursty_terms_are_rare_named_and_crowded_into_a_week() -> None:
    rng = np.random.default_rng(0)
    docs, days = [], []
    for d in range(60):  # an everyday topic: never an event
        docs += ["Parliament debates the Budget"] * 2 + ["ordinary news of the day"] * 10
        days += [d] * 12
    docs += ["Orly airport attack"] * 12 + ["the attack was imposing"] * 12  # a named story, and a bursty common word
    days += [30 + int(x) for x in rng.integers(0, 4, 12)] + [40 + int(x) for x in rng.integers(0, 4, 12)]
    docs += ["Orly runway"] * 2  # the story's name, later
    days += [55, 56]
    terms = bursty_terms(docs, np.array(days, dtype=float))
    assert "orly" in terms and len(terms["orly"]) == 14
    assert "parliament" not in terms  # spread over two months
    assert "imposing" not in terms  # bursty, but no name


def test_a_story_named_by_hand_is_every_document_holding_its_word_as_the_keywords_count_it() -> None:
    docs = ["Ebola in #Guinea http://ebola.ly/x", "flu", "#EbolaOutbreak news", "EBOLA", "ebolavirus", "@ebola hi"]
    got = term_documents(docs, ["ebola", "Guinea", "mars"])
    # a hashtag's word counts; a link, a handle and a longer word do not
    assert {t: v.tolist() for t, v in got.items()} == {"ebola": [0, 2, 3], "Guinea": [0], "mars": []}


def test_debris_chunks_and_the_junk_rule() -> None:
    debris, rest = debris_chunks("Flu shots (http://nyti.ms/1x) via @CDCgov, reut.rs/2a photo.jpg &amp; U.S. e.g.")
    assert debris == ["(http://nyti.ms/1x)", "@CDCgov,", "reut.rs/2a", "photo.jpg", "&amp;"]
    assert rest == ["Flu", "shots", "via", "U.S.", "e.g."]
    is_junk = junk_rule(["Flu shots http://nyti.ms/1x", "flu nyti.ms/2b", "health news @nytimeshealth"] * 5)
    assert is_junk("nyti") and is_junk("ms") and is_junk("2017") and is_junk("nytimeshealth")
    assert not is_junk("flu") and not is_junk("health")


def test_compare_scores_each_tokeniser_on_the_same_topics() -> None:
    posts = [f"Flu shots http://nyti.ms/{i}a #FluSeason" for i in range(6)]
    posts += [f"Ebola Guinea http://reut.rs/{i}b 2014" for i in range(6)]
    labels = [0] * 6 + [1] * 6
    res = compare(posts, labels, junk_rule(posts))
    assert res["ours"]["junk_share"] == 0.0 and res["bertopic"]["junk_share"] > 0
    assert set(res["ours"]["keywords"]["0"]) == {"flu", "shots", "season"}
    assert res["ours"]["topics"] == res["bertopic"]["topics"] == 2
    assert all(r["keyword_step_s"] > 0 for r in res.values())  # each tokeniser's step timed, in the same run


def test_compare_counts_the_hashtag_fragments_the_case_only_split_leaves() -> None:
    posts = [f"NHS nurses on the frontline {i} #NHSfrontline" for i in range(6)]
    posts += [f"flu shots this season {i} #FluSeason" for i in range(6)]
    res = compare(posts, [0] * 6 + [1] * 6, junk_rule(posts))
    assert {"nh", "sfrontline"} <= {w for w, _n in res["case only"]["fragment_words"]}
    assert res["case only"]["fragment_share"] > 0 and res["ours"]["fragment_share"] == 0.0
    assert {"nhs", "frontline"} <= set(res["ours"]["keywords"]["0"])


def test_perturbed_embeddings_are_another_draw_of_the_same_unit_vectors() -> None:
    """--perturb: each seed its own tiny noise (the same every time), rows still unit vectors, no row's
    nearest neighbour changed."""
    from benchmarks.quality import PERTURB_SCALE, perturbed

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(200, 384)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    a, again, b = perturbed(emb, 1), perturbed(emb, 1), perturbed(emb, 2)
    assert a.dtype == np.float32 and np.array_equal(a, again) and not np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert 0 < np.abs(a - emb).max() < 10 * PERTURB_SCALE
    sims, moved = emb @ emb.T, a @ a.T
    np.fill_diagonal(sims, -1), np.fill_diagonal(moved, -1)
    assert np.array_equal(sims.argmax(1), moved.argmax(1))


def test_the_neighbour_story_view_follows_most_of_a_videos_nearest_fitted_videos_in_its_window() -> None:
    from benchmarks.quality import NEIGHBOUR_STORY_K, NONE_LABEL, _neighbour_story_labels

    rng = np.random.default_rng(0)
    story, other = np.eye(8)[0], np.eye(8)[1]
    k = NEIGHBOUR_STORY_K
    # a story of k + 1 videos: k answered by its own topic, one (the last) by a broad topic of another domain;
    # then a misfit of the story, k + 1 videos of the story published 30 days later under another topic, and
    # k + 1 videos of the broad topic
    vecs = np.vstack(
        [story + 0.01 * rng.standard_normal((2 * k + 3, 8)), other + 0.01 * rng.standard_normal((k + 1, 8))]
    )
    labels = np.array(["w:1"] * k + ["p:0", NONE_LABEL] + ["x:9"] * (k + 1) + ["p:0"] * (k + 1), dtype=object)
    misfit = labels == NONE_LABEL
    days = np.array([0.0] * (k + 2) + [30.0] * (k + 1) + [0.0] * (k + 1))
    got = _neighbour_story_labels(vecs, labels, misfit, days, window_days=5)
    assert got[k] == "w:1"  # the broad topic's catch goes under the story its neighbours hold
    assert got[k + 1] == NONE_LABEL  # a misfit stays a misfit
    assert set(got[k + 2 : 2 * k + 3]) == {"x:9"}  # a month later the story's first topic does not vote
    assert set(got[-(k + 1) :]) == {"p:0"}  # the broad topic's own videos keep it
    # among its own domain's videos only, the catch has no other vote than its domain's: it stays
    domains = np.array([lab.split(":")[0] if lab != NONE_LABEL else "w" for lab in labels], dtype=object)
    own = _neighbour_story_labels(vecs, labels, misfit, days, window_days=5, groups=domains)
    assert own[k] == "p:0" and set(own[:k]) == {"w:1"}
