"""What a synthetic stream plants: its topics, their events (births, deaths, drift, forks, bursts), and checks.

:class:`StreamSpec` lists :class:`PlantedTopic` s; :func:`default_scenario`
builds a spec with every kind of planted event; :func:`ray_topics.streams.synthetic.generate`
turns a spec into videos, embeddings and the planted truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

__all__ = ["PlantedTopic", "StreamSpec", "daily_rates", "default_scenario", "near_order", "spec_domains", "validate"]


@dataclass
class PlantedTopic:
    """One planted topic of a synthetic stream.

    Attributes:
        name: Unique topic name, e.g. ``"gaming/speedrun"``.
        domain: Domain the topic belongs to, e.g. ``"gaming"``.
        rate: Mean videos per day while alive (Poisson).
        start_day: First day (offset from :attr:`StreamSpec.start`) with videos.
        end_day: First day with no videos any more (a planted death); ``None`` keeps the
            topic alive to the end of the stream.
        ramp_days: The rate rises linearly from 0 to ``rate`` over these days after
            ``start_day`` (a slow birth); the rate of day ``start_day + i`` is
            ``rate * min(1, (i + 0.5) / ramp_days)``.
        drift: Total angle (radians) the topic center rotates over its life, linear in
            time (a planted drift).
        near: Name of another topic whose center this one starts close to (a planted
            merge candidate).
        near_cosine: Cosine between this center and ``near``'s center.
        parts: Number of sub-centers (``> 1`` plants a split candidate).
        parts_cosine: Cosine between each sub-center and the topic center.
        split_day: With ``parts > 1``, the day the topic forks into its parts (a planted
            split event; one center before it); ``None``: the parts from the start.
        words: Vocabulary for texts; ``None`` draws 8-12 words from :data:`WORD_BANK`,
            disjoint from every other topic's vocabulary.
        bursts: Day -> rate multiplier (e.g. ``{12: 4.0}`` quadruples day 12).
    """

    name: str
    domain: str
    rate: float
    start_day: int = 0
    end_day: int | None = None
    ramp_days: int = 0
    drift: float = 0.0
    near: str | None = None
    near_cosine: float = 0.95
    parts: int = 1
    parts_cosine: float = 0.75
    split_day: int | None = None
    words: list[str] | None = None
    bursts: dict[int, float] = field(default_factory=dict)


@dataclass
class StreamSpec:
    """Everything :func:`generate` needs; the same spec and seed give the same stream.

    Attributes:
        topics: Planted topics.
        days: Length of the stream in days.
        start: Event time of day 0 (naive datetimes are taken as UTC).
        dim: Embedding dimension.
        cohesion: Target mean cosine between a topic's videos and its (sub-)center.
        domain_cohesion: Cosine between topic centers and their domain's center (topics
            of one domain share a direction).
        noise_rate: Misfit videos per day per domain; a float applies to every domain
            of ``topics``, a dict may also name extra, noise-only domains.
        channels_per_topic: Channels publishing each topic (and each domain's noise).
        with_text: Build titles, descriptions and tags (slower); ``False`` leaves them
            empty.
        seed: Seed of ``numpy.random.default_rng``-style generators.
        noise_domain_cosine: Cosine between noise videos and their domain center.
        words_per_topic: Inclusive range of vocabulary sizes drawn from the word bank.
        title_words: Inclusive range of words per title.
        description_words: Inclusive range of words per description.
        tags_per_video: Inclusive range of (distinct) tags per video.
        topic_word_share: Probability that a title/description word comes from the
            topic vocabulary rather than :data:`FILLER_WORDS`.
        views_log_mean: Mean of ``log(views)`` (views are lognormal, heavy-tailed).
        views_log_sigma: Standard deviation of ``log(views)``.
        chunk_rows: Rows per embedding block (bounds temporary memory).
    """

    topics: list[PlantedTopic]
    days: int
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    dim: int = 384
    cohesion: float = 0.6
    domain_cohesion: float = 0.3
    noise_rate: dict[str, float] | float = 0.0
    channels_per_topic: int = 20
    with_text: bool = True
    seed: int = 0
    noise_domain_cosine: float = 0.2
    words_per_topic: tuple[int, int] = (8, 12)
    title_words: tuple[int, int] = (4, 8)
    description_words: tuple[int, int] = (15, 30)
    tags_per_video: tuple[int, int] = (2, 4)
    topic_word_share: float = 0.7
    views_log_mean: float = 7.0
    views_log_sigma: float = 2.0
    chunk_rows: int = 65_536


def default_scenario(
    days: int = 60,
    daily_volume: int = 600,
    domains: tuple[str, ...] = ("gaming", "cooking", "tech"),
    seed: int = 0,
    *,
    noise_share: float = 0.05,
    drift: float = 0.8,
    ramp_days: int = 10,
    merge_cosine: float = 0.95,
    split_parts: int = 2,
    split_cosine: float = 0.75,
    split_after: float | None = 0.5,
) -> StreamSpec:
    """A ready scenario with every kind of planted event in every domain.

    Per domain ``D`` the topics are (names ``f"{D}/{role}"``):

    * ``stable-1``, ``stable-2``: alive from day 0 to the end (``stable-1`` busier);
    * ``birth``: born mid-stream, ``start_day = days // 3``;
    * ``slow-birth``: born at ``days // 6`` with ``ramp_days = min(ramp_days, days // 3)``;
    * ``death``: dies at ``end_day = days // 4``;
    * ``drift``: its center rotates by ``drift`` radians over the stream;
    * ``merge-a`` and ``merge-b``: a pair planted for a merge (``merge-b`` has
      ``near="D/merge-a"``, ``near_cosine=merge_cosine``), both alive from day 0;
    * ``split``: one topic that forks at ``split_day = int(days * split_after)`` into
      ``split_parts`` sub-centers at ``split_cosine`` to its center (a planted split
      event); ``split_after=None`` plants the parts from day 0 instead (two close
      topics from the start: a split candidate with no split event);

    plus noise making up ``noise_share`` of the volume. Rates are scaled so that the
    expected total is ``daily_volume * days`` videos (about ``daily_volume`` per day on
    average; births and deaths make individual days vary). Adjust other settings with
    ``dataclasses.replace(spec, dim=..., with_text=...)``.

    Args:
        days: Length of the stream in days (at least 8).
        daily_volume: Target mean videos per day (all domains, noise included).
        domains: Domain names.
        seed: Seed of the generated stream.
        noise_share: Fraction of the volume that is noise (misfit) videos.
        drift: Total rotation (radians) of each ``drift`` topic.
        ramp_days: Ramp length of each ``slow-birth`` topic (capped at ``days // 3``).
        merge_cosine: Cosine between the centers of ``merge-a`` and ``merge-b``.
        split_parts: Sub-centers of each ``split`` topic.
        split_cosine: Cosine between the ``split`` sub-centers and its center.
        split_after: Fraction of ``days`` after which the ``split`` topic forks; ``None``
            for parts from the start.

    Returns:
        The spec; pass it to :func:`generate`.

    Raises:
        ValueError: If ``days < 8``, ``daily_volume <= 0``, ``domains`` is empty or has
            duplicates, or ``noise_share`` is outside ``[0, 1)``.
    """
    min_days = 8
    if days < min_days:
        raise ValueError(f"default_scenario needs days >= {min_days}, got {days}")
    if daily_volume <= 0:
        raise ValueError(f"daily_volume must be > 0, got {daily_volume}")
    if not domains or len(set(domains)) != len(domains):
        raise ValueError(f"domains must be non-empty and distinct, got {domains!r}")
    if not 0.0 <= noise_share < 1.0:
        raise ValueError(f"noise_share must be in [0, 1), got {noise_share}")
    if split_after is not None and not 0.0 < split_after < 1.0:
        raise ValueError(f"split_after must be in (0, 1) or None, got {split_after}")
    split_kw: dict[str, object] = {"parts": split_parts, "parts_cosine": split_cosine}
    if split_after is not None:
        split_kw["split_day"] = max(1, min(days - 1, int(days * split_after)))

    # (role, relative weight, keyword arguments of PlantedTopic)
    roles: list[tuple[str, float, dict[str, object]]] = [
        ("stable-1", 1.5, {}),
        ("stable-2", 1.0, {}),
        ("birth", 1.0, {"start_day": days // 3}),
        ("slow-birth", 1.0, {"start_day": days // 6, "ramp_days": min(ramp_days, days // 3)}),
        ("death", 1.0, {"end_day": days // 4}),
        ("drift", 1.0, {"drift": drift}),
        ("merge-a", 1.0, {}),
        ("merge-b", 1.0, {"near": "merge-a", "near_cosine": merge_cosine}),
        ("split", 1.5, split_kw),
    ]
    topics: list[PlantedTopic] = []
    weights: list[float] = []
    for domain in domains:
        for role, weight, kwargs in roles:
            kw = dict(kwargs)
            if "near" in kw:
                kw["near"] = f"{domain}/{kw['near']}"
            topics.append(PlantedTopic(name=f"{domain}/{role}", domain=domain, rate=1.0, **kw))  # type: ignore[arg-type]
            weights.append(weight)

    # Expected video-days of each topic at rate 1, then one scale for all topics.
    exposure = np.array([daily_rates(t, days).sum() for t in topics])
    topic_volume = (1.0 - noise_share) * daily_volume * days
    scale = topic_volume / float(np.dot(weights, exposure))
    for topic, weight in zip(topics, weights, strict=True):
        topic.rate = weight * scale
    noise_per_domain = noise_share * daily_volume / len(domains)
    return StreamSpec(
        topics=topics,
        days=days,
        noise_rate={d: noise_per_domain for d in domains},
        seed=seed,
    )


# ---------------------------------------------------------------------------------------
# internals
# ---------------------------------------------------------------------------------------


def _check_range(name: str, value: tuple[int, int], low: int) -> None:
    if len(value) != 2 or value[0] < low or value[1] < value[0]:
        raise ValueError(f"{name} must be an inclusive range (lo, hi) with {low} <= lo <= hi, got {value!r}")


def validate(spec: StreamSpec) -> None:
    if spec.days < 1:
        raise ValueError(f"days must be >= 1, got {spec.days}")
    if not 0.0 < spec.cohesion < 1.0:
        raise ValueError(f"cohesion must be in (0, 1), got {spec.cohesion}")
    if not 0.0 <= spec.domain_cohesion < 1.0:
        raise ValueError(f"domain_cohesion must be in [0, 1), got {spec.domain_cohesion}")
    if not 0.0 <= spec.noise_domain_cosine < 1.0:
        raise ValueError(f"noise_domain_cosine must be in [0, 1), got {spec.noise_domain_cosine}")
    if spec.channels_per_topic < 1:
        raise ValueError(f"channels_per_topic must be >= 1, got {spec.channels_per_topic}")
    if spec.chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {spec.chunk_rows}")
    if not 0.0 <= spec.topic_word_share <= 1.0:
        raise ValueError(f"topic_word_share must be in [0, 1], got {spec.topic_word_share}")
    _check_range("words_per_topic", spec.words_per_topic, 1)
    _check_range("title_words", spec.title_words, 1)
    _check_range("description_words", spec.description_words, 1)
    _check_range("tags_per_video", spec.tags_per_video, 0)
    rates = spec.noise_rate.values() if isinstance(spec.noise_rate, dict) else [spec.noise_rate]
    if any(r < 0 or not np.isfinite(r) for r in rates):
        raise ValueError(f"noise_rate must be finite and >= 0, got {spec.noise_rate!r}")

    names = [t.name for t in spec.topics]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"topic names must be unique, duplicated: {dupes}")
    by_name = {t.name: t for t in spec.topics}
    max_parts = 0
    for t in spec.topics:
        if not t.rate >= 0 or not np.isfinite(t.rate):
            raise ValueError(f"{t.name}: rate must be finite and >= 0, got {t.rate}")
        if t.start_day < 0:
            raise ValueError(f"{t.name}: start_day must be >= 0, got {t.start_day}")
        if t.end_day is not None and t.end_day <= t.start_day:
            raise ValueError(f"{t.name}: end_day ({t.end_day}) must be > start_day ({t.start_day})")
        if t.ramp_days < 0:
            raise ValueError(f"{t.name}: ramp_days must be >= 0, got {t.ramp_days}")
        if t.parts < 1:
            raise ValueError(f"{t.name}: parts must be >= 1, got {t.parts}")
        if not 0.0 < t.parts_cosine < 1.0:
            raise ValueError(f"{t.name}: parts_cosine must be in (0, 1), got {t.parts_cosine}")
        if t.split_day is not None and t.parts < 2:
            raise ValueError(f"{t.name}: split_day needs parts > 1, got parts={t.parts}")
        last = spec.days if t.end_day is None else t.end_day
        if t.split_day is not None and not t.start_day < t.split_day < last:
            raise ValueError(f"{t.name}: split_day must lie in ({t.start_day}, {last}), got {t.split_day}")
        if not -1.0 < t.near_cosine < 1.0:
            raise ValueError(f"{t.name}: near_cosine must be in (-1, 1), got {t.near_cosine}")
        if t.near is not None and (t.near not in by_name or t.near == t.name):
            raise ValueError(f"{t.name}: near={t.near!r} is not another planted topic")
        if t.words is not None and (not t.words or not all(isinstance(w, str) and w for w in t.words)):
            raise ValueError(f"{t.name}: words must be a non-empty list of non-empty strings")
        if any(m < 0 or not np.isfinite(m) for m in t.bursts.values()):
            raise ValueError(f"{t.name}: burst multipliers must be finite and >= 0, got {t.bursts!r}")
        max_parts = max(max_parts, t.parts)
    near_order(spec.topics)  # raises on cycles
    n_domains = len(spec_domains(spec))
    # domain centers are orthonormal; a topic needs room for its center, drift and parts
    if spec.dim < max(n_domains, max_parts + 3):
        raise ValueError(f"dim={spec.dim} is too small for {n_domains} domains and parts={max_parts}")


def spec_domains(spec: StreamSpec) -> list[str]:
    domains = list(dict.fromkeys(t.domain for t in spec.topics))
    if isinstance(spec.noise_rate, dict):
        domains += [d for d in spec.noise_rate if d not in domains]
    return domains


def near_order(topics: Sequence[PlantedTopic]) -> list[PlantedTopic]:
    """Topics ordered so that every ``near`` target comes before the topic."""
    by_name = {t.name: t for t in topics}
    done: dict[str, bool] = {}  # name -> finished (False while on the stack)
    ordered: list[PlantedTopic] = []
    for topic in topics:
        chain: list[PlantedTopic] = []
        current: PlantedTopic | None = topic
        while current is not None and current.name not in done:
            done[current.name] = False
            chain.append(current)
            current = by_name.get(current.near) if current.near is not None else None
        if current is not None and done.get(current.name) is False:
            raise ValueError(f"cyclic near= chain through {current.name!r}")
        for t in reversed(chain):
            done[t.name] = True
            ordered.append(t)
    return ordered


def daily_rates(topic: PlantedTopic, days: int) -> np.ndarray:
    """Expected videos of each day ``0..days-1`` (rate, alive window, ramp and bursts)."""
    d = np.arange(days, dtype=np.float64)
    end = days if topic.end_day is None else topic.end_day
    alive = (d >= topic.start_day) & (d < end)
    since = d - topic.start_day
    ramp = np.ones(days) if topic.ramp_days <= 0 else np.clip((since + 0.5) / topic.ramp_days, 0.0, 1.0)
    lam = topic.rate * ramp * alive
    for burst_day, multiplier in topic.bursts.items():
        if 0 <= burst_day < days:
            lam[burst_day] *= multiplier
    return lam
