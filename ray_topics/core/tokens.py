"""What a keyword may be: words people wrote, not the debris of social text.

Posts and video descriptions carry links (``http://ow.ly/x1Yz``, ``bit.ly/3kP``,
``reut.rs/2xYz``, ``pic.twitter.com/...``), @handles and retweet markers
(``RT @WHO:``), file names (``photo.jpg``), HTML entities (``&amp;``),
hashtags, and the word a length limit cut at the end of a post (``RT @x: ...
#TalkNutri…``, ``htt…``: what a retweet of a long post ends with). Counted as words, their fragments (``http``, ``ly``,
``twimg``, ``jpg``) become the most distinctive terms of a topic, since every
member carries them. :func:`keyword_text` removes them before words are
counted; a hashtag keeps its words (``#EbolaOutbreak`` -> ``ebola outbreak``).
Where capitals run into lower case (``#NHSfrontline``, ``#NYCMarathon``), the
case alone cannot tell an acronym followed by a word (``NHS frontline``) from
an acronym followed by a capitalised word (``NYC Marathon``): given the words
the corpus writes outside hashtags (:func:`corpus_words`), the split whose
parts it knows better wins; without them, or on a tie, the capitalised word's.
An acronym's plural stays one word (``#ACOs`` -> ``ACOS``).
Numbers never count: the token pattern starts with a letter, any alphabet's
(``café``, ``über``, ``Erdoğan`` are words, not dropped as an ASCII pattern
drops them).

Stop words are those of the configured languages (``keywords.languages``,
:func:`stop_words`) plus the configured extra words (``keywords.stop_words``):
English is scikit-learn's list (BERTopic's default), the other languages
come from the ``stop-words`` package (:data:`STOP_WORD_LANGUAGES`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

import stop_words as _stop_words_package

__all__ = ["STOP_WORD_LANGUAGES", "TOKEN_PATTERN", "corpus_words", "keyword_text", "stop_words"]

# a word: a letter of any alphabet, then letters, digits or hyphens (sklearn's CountVectorizer token_pattern);
# no underscore, so snake_case names and what is left of handles never count
TOKEN_PATTERN = r"(?u)\b[^\W\d_](?:[^\W_]|-)+\b"

#: languages with a stop-word list: English (scikit-learn's) and those of the ``stop-words`` package
STOP_WORD_LANGUAGES = tuple(sorted({"english", *_stop_words_package.AVAILABLE_LANGUAGES}))

_URL = re.compile(
    r"""(?xi)
    \b(?:https?://|ftp://|www\.)\S+             # scheme or www.: everything to the next space
    | \b(?:[a-z0-9-]+\.)+[a-z]{2,24}/\S*        # bare host and a path, any top-level domain (reut.rs/2xYz)
    | \b(?:[a-z0-9-]+\.)+(?:com|net|org|info|biz|gov|edu|news|ly|co|io|gl|me|tv|be|ws|sr|fm|ai|cc|to|tk|st
        |sh|am|us|uk|de|fr|it|es|ru|in|ca|au|jp|ch|nl|se|no|eu|nz|ie|mx|br|pl
        |ms|pr|rs|al|tt|cm|cx|gd|gy|bg)\b      # bare host (gu.com, khne.ws, nyti.ms): a common or shortener TLD
    """
)
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_RETWEET = re.compile(r"(?<![\w@])RT\b(?=\s*@\w)", re.I)  # "RT @handle:": the retweet marker
_FILE = re.compile(r"\b[\w-]+\.(?:jpe?g|png|gif|webp|mp4|mov|pdf|html?|php|aspx?)\b", re.I)
_ENTITY = re.compile(r"&(?:[a-z]+|#\d+);", re.I)
_HASHTAG = re.compile(r"#(\w+)")
_TRUNCATED = re.compile(r"\S+…\s*$")  # the last word cut by a length limit, marked by an ellipsis character
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_CAPS_INTO_LOWER = re.compile(r"([A-Z]{2,})([a-z]+)")  # NHSfrontline, NYCMarathon: where the acronym ends?
_WORD = re.compile(TOKEN_PATTERN)
_ACRONYM_PLURAL = "s"  # ACOs, CCGs: the lower-case tail that is an acronym's plural, not a word


def _known_length(parts: Iterable[str], known: Collection[str]) -> int:
    """Letters of the ``parts`` (two letters or more) that ``known`` holds: how well a split reads."""
    return sum(len(w) for w in parts if len(w) > 1 and w.lower() in known)


def _acronym_end(m: re.Match[str], known: Collection[str] | None) -> str:
    caps, tail = m.group(1), m.group(2)
    if tail == _ACRONYM_PLURAL:
        return caps + tail.upper()  # one word, and no camel split inside it
    if known and _known_length([caps, tail], known) > _known_length([caps[:-1], caps[-1] + tail], known):
        return f"{caps} {tail}"  # the acronym, then a lower-case word
    return m.group(0)  # the camel split: the last capital starts the word


def _hashtag_words(m: re.Match[str], known: Collection[str] | None = None) -> str:
    body = _CAPS_INTO_LOWER.sub(lambda x: _acronym_end(x, known), m.group(1).replace("_", " "))
    return " " + _CAMEL.sub(" ", body) + " "


def _without_debris(text: str) -> str:
    text = _TRUNCATED.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _FILE.sub(" ", text)
    text = _RETWEET.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    return _ENTITY.sub(" ", text)


def keyword_text(text: str, known: Collection[str] | None = None) -> str:
    """``text`` with links, handles, retweet markers, file names, HTML entities and a cut last word removed, and
    hashtags spelled out; ``known``: the corpus's words (lower case, :func:`corpus_words`) that decide where an
    acronym in a hashtag ends.

    Example:
        >>> keyword_text("Ebola in #WestAfrica: http://ow.ly/x1Yz via @WHO &amp; pic.jpg bit.ly/3kP")
        'Ebola in West Africa : via'
        >>> keyword_text("RT @cnn: What works and what doesn't… http://ow.ly/g9 #TalkNutri…")
        ": What works and what doesn't…"
        >>> keyword_text("#NHSfrontline #NYCMarathon #ACOs"), keyword_text("#NHSfrontline", {"nhs", "frontline"})
        ('NH Sfrontline NYC Marathon ACOS', 'NHS frontline')
    """
    return " ".join(_HASHTAG.sub(lambda m: _hashtag_words(m, known), _without_debris(text)).split())


def corpus_words(docs: Iterable[str]) -> frozenset[str]:
    """The words (lower case) that ``docs`` write outside hashtags, links and handles: what
    :func:`keyword_text` knows an acronym's end by. Empty where no hashtag runs capitals into lower case.

    Example:
        >>> sorted(corpus_words(["NHS staff on the frontline #NHSfrontline", "#NYCMarathon today"]))
        ['frontline', 'nhs', 'on', 'staff', 'the', 'today']
        >>> corpus_words(["#EbolaOutbreak in Guinea"])
        frozenset()
    """
    docs = [d for d in docs if d]
    if not any(_CAPS_INTO_LOWER.search(body) for d in docs for body in _HASHTAG.findall(d)):
        return frozenset()
    return frozenset(w.lower() for d in docs for w in _WORD.findall(_HASHTAG.sub(" ", _without_debris(d))))


def stop_words(languages: Iterable[str] = ("english",), extra: Iterable[str] = ()) -> frozenset[str]:
    """The stop words of ``languages`` (of :data:`STOP_WORD_LANGUAGES`) and the ``extra`` words, lower case.

    Example:
        >>> words = stop_words(["english"], ["Subscribe"])
        >>> "the" in words, "subscribe" in words
        (True, True)
        >>> sorted(stop_words([], ["Der", "die"]))
        ['der', 'die']
        >>> "und" in stop_words(["german"]), "und" in stop_words(["english"])
        (True, False)
        >>> stop_words(["klingon"])
        Traceback (most recent call last):
        ...
        ValueError: no stop-word list for 'klingon' (have: arabic, bulgarian, ...); list its words in stop_words
    """
    out: set[str] = {w.lower() for w in extra}
    for lang in languages:
        if lang not in STOP_WORD_LANGUAGES:
            have = ", ".join(STOP_WORD_LANGUAGES[:2])
            raise ValueError(f"no stop-word list for {lang!r} (have: {have}, ...); list its words in stop_words")
        if lang == "english":  # scikit-learn's list, as BERTopic's CountVectorizer(stop_words="english")
            from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

            out.update(ENGLISH_STOP_WORDS)
        else:
            out.update(w.lower() for w in _stop_words_package.get_stop_words(lang))
    return frozenset(out)
