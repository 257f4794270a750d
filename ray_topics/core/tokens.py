"""What a keyword may be: words people wrote, not the debris of social text.

Posts and video descriptions carry links (``http://ow.ly/x1Yz``, ``bit.ly/3kP``,
``reut.rs/2xYz``, ``pic.twitter.com/...``), @handles and retweet markers
(``RT @WHO:``), file names (``photo.jpg``), HTML entities (``&amp;``),
hashtags, and the word a length limit cut at the end of a post (``RT @x: ...
#TalkNutri…``, ``htt…``: what a retweet of a long post ends with). Counted as words, their fragments (``http``, ``ly``,
``twimg``, ``jpg``) become the most distinctive terms of a topic, since every
member carries them. :func:`keyword_text` removes them before words are
counted; a hashtag keeps its words (``#EbolaOutbreak`` -> ``ebola outbreak``).
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
from collections.abc import Iterable

import stop_words as _stop_words_package

__all__ = ["STOP_WORD_LANGUAGES", "TOKEN_PATTERN", "keyword_text", "stop_words"]

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


def _hashtag_words(m: re.Match[str]) -> str:
    return " " + _CAMEL.sub(" ", m.group(1).replace("_", " ")) + " "


def keyword_text(text: str) -> str:
    """``text`` with links, handles, retweet markers, file names, HTML entities and a cut last word removed, and
    hashtags spelled out.

    Example:
        >>> keyword_text("Ebola in #WestAfrica: http://ow.ly/x1Yz via @WHO &amp; pic.jpg bit.ly/3kP")
        'Ebola in West Africa : via'
        >>> keyword_text("RT @cnn: What works and what doesn't… http://ow.ly/g9 #TalkNutri…")
        ": What works and what doesn't…"
    """
    text = _TRUNCATED.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _FILE.sub(" ", text)
    text = _RETWEET.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    text = _ENTITY.sub(" ", text)
    return " ".join(_HASHTAG.sub(_hashtag_words, text).split())


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
