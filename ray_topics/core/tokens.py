"""What a keyword may be: words people wrote, not the debris of social text.

Posts and video descriptions carry links (``http://ow.ly/x1Yz``, ``bit.ly/3kP``,
``pic.twitter.com/...``), @handles, file names (``photo.jpg``), HTML entities
(``&amp;``) and hashtags. Counted as words, their fragments (``http``, ``ly``,
``twimg``, ``jpg``) become the most distinctive terms of a topic, since every
member carries them. :func:`keyword_text` removes them before words are
counted; a hashtag keeps its words (``#EbolaOutbreak`` -> ``ebola outbreak``).
Numbers never count: the token pattern starts with a letter.
"""

from __future__ import annotations

import re

__all__ = ["TOKEN_PATTERN", "keyword_text"]

# a word: a letter, then letters, digits or inner hyphens (sklearn's CountVectorizer token_pattern)
TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z0-9\-]+\b"

_URL = re.compile(
    r"""(?xi)
    \b(?:https?://|ftp://|www\.)\S+             # scheme or www.: everything to the next space
    | \b(?:[a-z0-9-]+\.)+(?:com|net|org|info|biz|gov|edu|news|ly|co|io|gl|me|tv|be|ws|sr|fm|ai|cc|to|tk|st
        |sh|am|us|uk|de|fr|it|es|ru|in|ca|au|jp|ch|nl|se|no|eu|nz|ie|mx|br|pl)
      (?:/\S*)?\b                               # bare host, with a path or not (bit.ly/3kP, gu.com, khne.ws)
    """
)
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_FILE = re.compile(r"\b[\w-]+\.(?:jpe?g|png|gif|webp|mp4|mov|pdf|html?|php|aspx?)\b", re.I)
_ENTITY = re.compile(r"&(?:[a-z]+|#\d+);", re.I)
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _hashtag_words(m: re.Match[str]) -> str:
    return " " + _CAMEL.sub(" ", m.group(1).replace("_", " ")) + " "


def keyword_text(text: str) -> str:
    """``text`` with links, handles, file names and HTML entities removed and hashtags spelled out.

    Example:
        >>> keyword_text("Ebola in #WestAfrica: http://ow.ly/x1Yz via @WHO &amp; pic.jpg bit.ly/3kP")
        'Ebola in West Africa : via'
    """
    text = _URL.sub(" ", text)
    text = _FILE.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    text = _ENTITY.sub(" ", text)
    return " ".join(_HASHTAG.sub(_hashtag_words, text).split())
