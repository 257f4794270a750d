"""The text of a video that is embedded and keyworded."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["video_text"]


def video_text(title: str | None, description: str | None, tags: Iterable[str] | None, max_chars: int) -> str:
    """The text a video is embedded and keyworded by: title, tags, then description."""
    parts = [title or "", " ".join(tags or []), description or ""]
    return " ".join(p.strip() for p in parts if p and p.strip())[:max_chars]
