"""The stored story view: the videos whose story, as placed every midnight, is not their own answer.

:func:`ray_topics.tiers.stories.run_stories` places the last days' videos and
writes one row of ``story_moves`` per video that fits a topic of its own
domain but lies nearest to another topic (of any domain). Every other
video's story is its own answer (a misfit keeps its answer, as in the view),
so a story's videos are its topic's answers, less those placed elsewhere,
plus those placed in it: read with two grouped queries and no embedding.

The job stages its moves a chunk at a time (``story_staging``, :meth:`StoryMoves.stage`)
and its commit writes the difference from the stored ones (:meth:`StoryMoves.promote`):
readers see one placement or the next, never a part.

A move counts only while it still describes its video: the video's answer is
still the one it was placed from, with the confidence that fits (a later job,
a merge's reassignment say, may have changed it), and its story topic is not
merged (a merged topic is no place for a video). A stale move is ignored when
read, never rewritten: the video's story is its answer until its day is
placed again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, func, insert, or_, select

from ray_topics.core.types import TopicStatus
from ray_topics.storage.db import Database, chunks

__all__ = ["Story", "StoryMoves"]


@dataclass(frozen=True)
class Story:
    """A topic and the videos of each domain that its story holds in a window."""

    topic_id: str
    domain: str  # the topic's own domain
    videos: Counter[str]

    @property
    def elsewhere(self) -> int:
        """Videos of other domains than the topic's."""
        return sum(n for d, n in self.videos.items() if d != self.domain)


class StoryMoves:
    """Repository of ``story_moves``.

    Example:
        >>> from datetime import UTC, datetime
        >>> from ray_topics.storage.store import Store
        >>> s = Store("sqlite://")
        >>> t = datetime(2026, 3, 1, tzinfo=UTC)
        >>> s.stories.crossing(t, t, fit=0.5), s.stories.stories_of(["v1"], fit=0.5)
        ([], {})
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def stage(self, attempt: str, moves: Sequence[dict[str, Any]]) -> None:
        """Write a chunk of a placement's moves aside, under its ``attempt``, in a transaction of its own.

        ``moves``: ``story_moves`` rows (``placed_at``: the midnight placed). Staging the same video twice in
        one attempt keeps the first.
        """
        if moves:
            with self.db.begin() as conn:
                self.db.insert_ignore(conn, "story_staging", [{**m, "attempt": attempt} for m in moves])

    def promote(self, attempt: str, start: datetime, end: datetime, staged: int, conn: Connection) -> None:
        """The attempt's staged moves become the moves of ``[start, end)`` (in ``conn``, the run's commit).

        Only the difference is written, inside the database (no row passes through Python): the
        stored moves that the placement no longer makes are deleted, its new ones inserted; a move
        placed again keeps its row (and its ``placed_at``, the midnight that first placed it so).
        A midnight places again the days placed before, so the difference is about a day's moves,
        which is what the run holds the write lock for. The attempt's rows stay staged: the run drops
        them after its commit, in a transaction of its own (:meth:`discard`). ``staged``: how many moves the
        attempt staged; a different count (rows removed meanwhile) raises, and the run stays undone.
        """
        m, s = self.db.table("story_moves"), self.db.table("story_staging")
        mine = s.c.attempt == attempt
        found = conn.execute(select(func.count()).select_from(s).where(mine)).scalar_one()
        if found != staged:
            raise RuntimeError(f"story placement {attempt}: {found} staged moves found, {staged} written")
        kept = select(s.c.video_id).where(
            mine, s.c.video_id == m.c.video_id, s.c.topic_id == m.c.topic_id, s.c.story_id == m.c.story_id
        )
        conn.execute(delete(m).where(m.c.published_at >= start, m.c.published_at < end, ~exists(kept)))
        cols = [c.name for c in m.columns]
        new = select(*(s.c[c] for c in cols)).where(
            mine, ~exists(select(m.c.video_id).where(m.c.video_id == s.c.video_id))
        )
        conn.execute(insert(m).from_select(cols, new))

    def discard(self, attempt: str, older_than: datetime | None = None) -> None:
        """Drop what ``attempt`` staged (promoted or not), in a transaction of its own; with ``older_than``,
        also every attempt's of an older midnight (one killed half-way: nothing else removes them)."""
        s = self.db.table("story_staging")
        gone = s.c.attempt == attempt
        with self.db.begin() as conn:
            conn.execute(delete(s).where(gone if older_than is None else or_(gone, s.c.placed_at < older_than)))

    def _valid(self, fit: float, *cols: Any) -> Any:
        """SELECT ``cols`` over the moves that still describe their videos (module doc)."""
        m, c, s = self.db.table("story_moves"), self.db.table("classifications"), self.db.table("topics")
        return (
            select(*cols)
            .select_from(m)
            .join(c, c.c.video_id == m.c.video_id)
            .join(s, s.c.topic_id == m.c.story_id)
            .where(c.c.topic_id == m.c.topic_id, c.c.confidence >= fit, s.c.status != TopicStatus.MERGED)
        )

    def stories_of(self, video_ids: Sequence[str], fit: float) -> dict[str, str]:
        """{video id: story topic} of those of ``video_ids`` whose story is not their own answer."""
        m = self.db.table("story_moves")
        out: dict[str, str] = {}
        with self.db.connect() as conn:
            for part in chunks(list(video_ids)):
                q = self._valid(fit, m.c.video_id, m.c.story_id).where(m.c.video_id.in_(part))
                out.update({r.video_id: r.story_id for r in conn.execute(q)})
        return out

    def crossing(self, start: datetime, end: datetime, fit: float, domain: str | None = None) -> list[Story]:
        """Stories of ``[start, end)`` that hold videos of a domain other than their topic's, largest first.

        With ``domain``: those whose topic is in it or that hold its videos. ``fit``: the confidence
        at which a video fits its answer (``daily.misfit_confidence``): a move of a video that no
        longer fits its answer no longer counts.
        """
        m, c, s = self.db.table("story_moves"), self.db.table("classifications"), self.db.table("topics")
        cols = (m.c.story_id, s.c.domain.label("story_domain"), m.c.domain, m.c.topic_id)
        moved = self._valid(fit, *cols, func.count().label("n"))
        moved = moved.where(m.c.published_at >= start, m.c.published_at < end).group_by(*cols)
        with self.db.connect() as conn:
            into: dict[str, Counter[str]] = {}  # story -> the domains of the videos moved into it
            out_of: Counter[str] = Counter()  # answer -> its videos moved out
            home: dict[str, str] = {}
            for r in conn.execute(moved):  # one scan of the window's moves, both ways
                into.setdefault(r.story_id, Counter())[r.domain] += int(r.n)
                out_of[r.topic_id] += int(r.n)
                home[r.story_id] = r.story_domain
            stories = [t for t, by in into.items() if any(d != home[t] for d in by)]
            if domain is not None:
                stories = [t for t in stories if home[t] == domain or domain in into[t]]
            own: dict[str, int] = {}
            for part in chunks(stories):
                q = (
                    select(c.c.topic_id, func.count())
                    .where(c.c.topic_id.in_(part), c.c.published_at >= start, c.c.published_at < end)
                    .group_by(c.c.topic_id)
                )
                own.update({r.topic_id: int(r[1]) for r in conn.execute(q)})
        out = []
        for t in stories:
            videos = Counter(into[t])
            videos[home[t]] += own.get(t, 0) - out_of[t]
            out.append(Story(t, home[t], +videos))
        return sorted(out, key=lambda st: (-sum(st.videos.values()), st.topic_id))
