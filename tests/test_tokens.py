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
        ("Tom &amp; Jerry", "Tom Jerry"),
        ("#EbolaOutbreak in #WestAfrica #h1n1", "Ebola Outbreak in West Africa h1n1"),
        ("Node.js tips for the U.S. team, e.g. testing", "Node.js tips for the U.S. team, e.g. testing"),
    ],
)
def test_keyword_text(text: str, kept: str) -> None:
    assert keyword_text(text) == kept


def test_topic_keywords_on_social_posts_carry_no_junk() -> None:
    """Every post of a topic carries a link and a handle: the keywords are still the topic's words."""
    posts, labels = [], []
    for i in range(30):
        posts.append(f"Ebola outbreak Guinea patients http://ow.ly/{i}x via @WHO #EbolaOutbreak pic.twitter.com/{i}")
        labels.append(0)
        posts.append(f"flu vaccine season shots bit.ly/{i}q @CDCgov pbs.twimg.com/media/{i}.jpg #FluSeason")
        labels.append(1)
    kw = ctfidf_keywords(posts, labels, top_n=10)
    assert set(kw[0]) == {"ebola", "outbreak", "guinea", "patients"}
    assert set(kw[1]) == {"flu", "vaccine", "season", "shots"}
    assert not (set(kw[0]) | set(kw[1])) & JUNK
