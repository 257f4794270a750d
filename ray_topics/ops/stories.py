"""The story view as placed (the stories job), shaped for the HTTP API and the report.

Reads :class:`ray_topics.storage.stories.StoryMoves` only: no embedding, one
grouped query over the window's moves and one over its stories' own answers.
The window ends where the newest placement ended (the stories job runs every
midnight), so the days summed are days already placed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from ray_topics.storage.db import chunks
from ray_topics.storage.store import Store
from ray_topics.storage.stories import Story

__all__ = ["placed_stories", "placed_until", "shaped", "stories_from_payload", "stories_payload", "story_of_video"]


def placed_stories(
    store: Store, fit: float, days: int, domain: str | None = None
) -> tuple[datetime | None, list[dict[str, Any]]]:
    """(end of the newest placed day, the stories of the ``days`` days before it that cross domains).

    Each story: its topic (id, label, keywords, domain, status, global topic), its videos per domain,
    and how many are of other domains than the topic's; largest first. ``(None, [])`` before the
    first placement.
    """
    end = placed_until(store)
    if end is None:
        return None, []
    found = store.stories.crossing(end - timedelta(days=days), end, fit, domain)
    return end, shaped(store, found)


def stories_payload(as_of: datetime | None, found: list[dict[str, Any]]) -> bytes:
    """What :func:`placed_stories` returned, as JSON bytes (one replica's value for the others)."""
    return json.dumps({"as_of": as_of.isoformat() if as_of else None, "stories": found}).encode()


def stories_from_payload(payload: bytes) -> tuple[datetime | None, list[dict[str, Any]]]:
    """(as_of, stories) from :func:`stories_payload`'s bytes.

    Example:
        >>> from datetime import UTC
        >>> at, found = datetime(2024, 1, 8, tzinfo=UTC), [{"topic_id": "a:1", "videos": {"a": 3, "b": 1}}]
        >>> stories_from_payload(stories_payload(at, found)) == (at, found)
        True
        >>> stories_from_payload(stories_payload(None, []))  # before the first placement
        (None, [])
    """
    d = json.loads(payload)
    return (datetime.fromisoformat(d["as_of"]) if d["as_of"] else None), d["stories"]


def placed_until(store: Store, at: datetime | None = None) -> datetime | None:
    """The end of the newest day placed (at or before ``at``): where a window of placed days ends."""
    end = store.runs.newest_success("stories")
    return end if end is None or at is None else min(end, at)


def shaped(store: Store, found: list[Story]) -> list[dict[str, Any]]:
    """The stories as the API answers them, their topics read at once (theirs only, not every topic ever)."""
    named = sorted({s.topic_id for s in found})
    topics = {t.topic_id: t for part in chunks(named) for t in store.topics.list(ids=part)}
    linked = store.global_topics.of_topics([s.topic_id for s in found])
    return [_shape(s, topics.get(s.topic_id), linked.get(s.topic_id)) for s in found]


def _shape(story: Story, topic: Any, global_topic: int | None) -> dict[str, Any]:
    return {
        "topic_id": story.topic_id,
        "label": topic.label if topic else None,
        "keywords": topic.keywords if topic else [],
        "domain": story.domain,
        "status": str(topic.status) if topic else None,
        "global_topic": global_topic,
        "videos": dict(story.videos.most_common()),
        "elsewhere": story.elsewhere,
    }


def story_of_video(store: Store, row: dict[str, Any], fit: float) -> str | None:
    """A stored classification's story: where the placement told it, else its answer (None: no topic)."""
    return store.stories.stories_of([row["video_id"]], fit).get(row["video_id"], row["topic_id"])
