"""Keywords on social text: no link, handle or file-name debris; hashtags keep their words."""

from __future__ import annotations

import pytest

from ray_topics.core.keywords import ctfidf_keywords
from ray_topics.core.tokens import keyword_text

JUNK = {
    "http",
    "https",
    "www",
    "ly",
    "ow",
    "bit",
    "twimg",
    "jpg",
    "png",
    "pic",
    "twitter",
    "com",
    "co",
    "amp",
    "ws",
    "gu",
}


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Ebola spreads http://ow.ly/x1Yz", "Ebola spreads"),
        ("cases rise https://t.co/AbC123?x=1 today", "cases rise today"),
        ("read www.cdc.gov/flu/season now", "read now"),
        ("vaccine news bit.ly/3kP and gu.com/p/4x7 khne.ws", "vaccine news and"),
        ("photo pbs.twimg.com/media/B1.jpg", "photo"),
        ("thanks @CDCgov and @WHO_Europe", "thanks and"),
        ("RT @nprhealth: flu season rt @x", ": flu season"),
        ("see reut.rs/2xYz nyti.ms trib.al/a1 ift.tt/b2", "see"),
        ("U.S./Mexico talks, 10.5cm, St.Louis, and/or", "U.S./Mexico talks, 10.5cm, St.Louis, and/or"),
        ("ART @ noon, RT is a channel", "ART @ noon, RT is a channel"),
        ("Tom &amp; Jerry", "Tom Jerry"),
        ("#EbolaOutbreak in #WestAfrica #h1n1", "Ebola Outbreak in West Africa h1n1"),
        ("#NHSfrontline #NYCMarathon", "NH Sfrontline NYC Marathon"),  # case alone: see the corpus test
        ("Node.js tips for the U.S. team, e.g. testing", "Node.js tips for the U.S. team, e.g. testing"),
        # a retweet cut at the length limit: the last word is a fragment (#TalkNutri…, htt…); an ellipsis
        # inside the text is the writer's; one that ends a post cannot be told from a cut (its word goes)
        ("RT @a: sports nutrition #TalkNutri…", ": sports nutrition"),
        ("achy joints… http://ow.ly/gpE7A tips htt… ", "achy joints… tips"),
        ("wait for it…", "wait for"),
    ],
)
def test_keyword_text(text: str, kept: str) -> None:
    assert keyword_text(text) == kept


def _two_topics_keywords(first: str, second: str, n: int) -> dict[object, list[str]]:
    """The top-10 keywords of two topics of ``n`` posts each, post ``i`` of each its template with ``{i}``."""
    posts = [t.format(i=i) for i in range(n) for t in (first, second)]
    return ctfidf_keywords(posts, [0, 1] * n, top_n=10)


def test_topic_keywords_on_social_posts_carry_no_junk() -> None:
    """Every post of a topic carries a link and a handle: the keywords are still the topic's words."""
    kw = _two_topics_keywords(
        "Ebola outbreak Guinea patients http://ow.ly/{i}x via @WHO #EbolaOutbreak pic.twitter.com/{i}",
        "flu vaccine season shots bit.ly/{i}q @CDCgov pbs.twimg.com/media/{i}.jpg #FluSeason",
        30,
    )
    assert set(kw[0]) == {"ebola", "outbreak", "guinea", "patients"}
    assert set(kw[1]) == {"flu", "vaccine", "season", "shots"}
    assert not (set(kw[0]) | set(kw[1])) & JUNK


@pytest.mark.parametrize(
    ("tag", "known", "words"),
    [
        ("#NHSfrontline", {"nhs", "frontline"}, "NHS frontline"),
        ("#NHSfrontline", set(), "NH Sfrontline"),  # no corpus: case alone, the capitalised word's split
        ("#NYCMarathon", {"nyc", "marathon", "it"}, "NYC Marathon"),
        ("#LATfit", {"fit", "la"}, "LAT fit"),  # the longer known word: fit (3 letters) over la (2)
        ("#LATFit", {"fit", "it"}, "LAT Fit"),  # fit over it
        ("#CNNallergies #NHSChangeDay", {"allergies", "nhs", "change", "day"}, "CNN allergies NHS Change Day"),
        ("#ACOs and #CCGs", set(), "ACOS and CCGS"),  # an acronym's plural stays one word
    ],
)
def test_a_hashtags_acronym_ends_where_the_corpus_words_say(tag: str, known: set[str], words: str) -> None:
    assert keyword_text(tag, known) == words


def test_topic_keywords_split_hashtag_acronyms_by_the_corpus_words() -> None:
    """One topic's posts write the NHS and the frontline in words and tag #NHSfrontline, the other's tag
    #NYCMarathon: the keywords hold nhs and frontline, never the case-only fragments nh or sfrontline."""
    kw = _two_topics_keywords(
        "NHS nurses on the frontline of winter {i} #NHSfrontline #ViewsfromtheNHSfrontline",
        "runners finish the race in record time #NYCMarathon {i}",
        20,
    )
    assert {"nhs", "frontline"} <= set(kw[0]) and not {"nh", "sfrontline"} & set(kw[0])
    assert {"nyc", "marathon"} <= set(kw[1])


def test_words_of_any_alphabet_are_keywords() -> None:
    """Accented words count whole (an ASCII pattern dropped 'café' and 'über' altogether); numbers never."""
    from ray_topics.core.keywords import keyword_vectorizer

    words = keyword_vectorizer().build_analyzer()("Erdoğan visits São Paulo café über 2017 h1n1 COVID-19")
    assert words == ["erdoğan", "visits", "são", "paulo", "café", "über", "h1n1", "covid-19"]


def test_stop_words_follow_the_configured_languages_and_words() -> None:
    from ray_topics.core.tokens import STOP_WORD_LANGUAGES, stop_words

    assert "english" in STOP_WORD_LANGUAGES
    assert {"the", "and"} <= stop_words() and "die" not in stop_words()
    german = stop_words([], ["der", "Die", "und", "Das"])  # any words of one's own, lower-cased
    assert german == {"der", "die", "und", "das"}
    assert german <= stop_words(["german"]) and "the" not in stop_words(["german"])  # the package's list
    posts = ["der Bundestag und die Wahl", "die Wahl und der Bundestag", "das Spiel und der Ball", "der Ball das Spiel"]
    plain = ctfidf_keywords(posts, [0, 0, 1, 1], top_n=5, stops=stop_words())
    assert "der" in plain[0]  # English stop words leave German ones
    kw = ctfidf_keywords(posts, [0, 0, 1, 1], top_n=5, stops=stop_words(["english"], german))
    assert set(kw[0]) == {"bundestag", "wahl"} and set(kw[1]) == {"spiel", "ball"}
    kw = ctfidf_keywords(posts, [0, 0, 1, 1], top_n=5, stops=stop_words(["english", "german"]))
    assert set(kw[0]) == {"bundestag", "wahl"} and set(kw[1]) == {"spiel", "ball"}
    with pytest.raises(ValueError, match="no stop-word list for 'klingon'"):
        stop_words(["klingon"])


def test_the_config_names_installed_languages_and_reaches_the_keyword_step(tmp_path) -> None:
    from ray_topics.config import ConfigError, load_config
    from ray_topics.execution.runtime import Runtime

    cfg = load_config()
    assert cfg.keywords.languages == ["english"] and cfg.keywords.stop_words == []
    assert load_config(overrides=["keywords.languages=[english, french]"]).keywords.languages == ["english", "french"]
    with pytest.raises(ConfigError, match=r"(?s)keywords\.languages.*no stop-word list for klingon"):
        load_config(overrides=["keywords.languages=[english, klingon]"])
    rt = Runtime(load_config(overrides=["keywords.stop_words=[subscribe, Channel]"], workdir=str(tmp_path)))
    posts = ["subscribe channel cats purr", "cats purr subscribe channel", "dogs bark subscribe", "dogs bark channel"]
    assert rt.keywords(posts, [0, 0, 1, 1], top_n=5) == {0: ["cats", "purr"], 1: ["bark", "dogs"]}


def test_a_synthetic_social_stream_names_its_topics_without_junk() -> None:
    """The planted posts carry links, handles, numbers, files and hashtags; ours keeps their words only."""
    from sklearn.feature_extraction.text import CountVectorizer

    from ray_topics.streams.social import SocialSpec, social_stream

    spec = SocialSpec(topics=4, days=3, posts_per_day=120, seed=3)
    s = social_stream(spec)
    again = social_stream(spec)
    assert s.posts["title"].tolist() == again.posts["title"].tolist() and s.junk == again.junk  # seeded
    assert len(s.posts) == 360 and s.posts["true_topic"].nunique() == 4
    texts, labels = s.posts["title"].tolist(), s.posts["true_topic"].tolist()
    assert any("http://" in t for t in texts) and any("@" in t for t in texts) and any("#" in t for t in texts)
    assert {"http", "com", "www", "html", "twitter", "pic"} <= s.junk and not s.junk & s.words
    ours = ctfidf_keywords(texts, labels, top_n=10)
    plain = ctfidf_keywords(texts, labels, top_n=10, vectorizer=CountVectorizer(stop_words="english", binary=True))
    for topic, words in ours.items():
        assert words and not [w for w in words if s.is_junk(w)], (topic, words)
        assert set(words) <= set(s.vocabularies[topic]) | s.words
    assert sum(s.is_junk(w) for words in plain.values() for w in words) > 0  # a plain tokeniser names junk
