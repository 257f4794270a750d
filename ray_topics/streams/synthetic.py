"""Synthetic video streams over event time with a planted, known ground truth.

Tests (small sizes) and benchmarks (up to millions of rows) of the streaming topic
categorizer need a stream whose truth is known: which topic every video belongs to,
when each topic is born or dies, which topics drift, which pairs should be merged and
which topic should be split. :func:`generate` turns a :class:`StreamSpec` (a list of
:class:`PlantedTopic`) into a :class:`SyntheticStream`: a videos table sorted by
``published_at``, L2-normalised float32 embeddings aligned with it, and the planted
truth. :func:`default_scenario` builds a ready spec with every kind of planted event.

Embedding model (all centers are unit vectors in ``dim`` dimensions):

* Domains get mutually orthogonal random centers ``d``.
* A topic center is ``c = a * d + sqrt(1 - a^2) * u`` with ``u`` a random unit vector
  orthogonal to ``d`` and ``a = domain_cohesion``, so ``cos(c, d) = domain_cohesion``.
  A topic with ``near`` instead gets ``c = k * c_near + sqrt(1 - k^2) * w`` with ``w``
  orthogonal to ``c_near`` and ``k = near_cosine`` (exact cosine).
* A video is ``normalise(c_t + sigma * g)`` with ``g`` standard normal and
  ``sigma = sqrt((1 / cohesion^2 - 1) / dim)``, so its expected cosine to ``c_t`` is
  ``cohesion``.
* Drift rotates the center in the plane of ``(c, v)``, ``v`` a random unit vector
  orthogonal to ``c``: ``c_t = cos(theta) c + sin(theta) v`` with
  ``theta = drift * (t - start_day) / life`` (``t`` in fractional days, ``life`` =
  ``end_day`` or ``days`` minus ``start_day``), so the total rotation over the planted
  life is ``drift``.
* ``parts > 1``: sub-centers ``pc * c_t + sqrt(1 - pc^2) * w_k`` (``w_k`` orthonormal,
  orthogonal to ``c`` and ``v``, ``pc = parts_cosine``); each video picks one sub-center
  uniformly and is cohesive (``cohesion``) around it. With ``split_day`` the parts
  appear only from that day on (a planted split event: one topic forks into
  ``parts``); before it every video is cohesive around ``c_t``. The part a video came
  from is recorded in ``true_part``.
* Noise (misfit) videos: ``a * d + sqrt(1 - a^2) * u`` with ``u`` a random unit vector
  orthogonal to ``d`` and ``a = noise_domain_cosine``: they lean towards their domain
  but have low cosine to every topic center.

Texts: titles, descriptions and tags mix each topic's vocabulary (8-12 distinctive
English words, disjoint between topics) with generic filler words shared by every
topic, so a c-TF-IDF keyword extractor recovers the planted vocabulary. Noise videos
use a separate bank of words.

Randomness is drawn from independent child streams of ``SeedSequence(seed)`` (geometry,
arrivals, embeddings, text, metadata), so e.g. ``with_text=False`` yields exactly the same
videos and embeddings as ``with_text=True``, only without texts.

Example:
    >>> spec = StreamSpec(
    ...     topics=[
    ...         PlantedTopic("gaming/speedrun", "gaming", rate=20.0),
    ...         PlantedTopic("gaming/retro", "gaming", rate=10.0, start_day=5),
    ...     ],
    ...     days=10,
    ...     dim=32,
    ... )
    >>> stream = generate(spec)
    >>> stream.embeddings.shape[1], stream.embeddings.dtype
    (32, dtype('float32'))
    >>> bool(stream.videos["published_at"].is_monotonic_increasing)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from ray_topics.streams.planted import (
    PlantedTopic,
    StreamSpec,
    daily_rates,
    near_order,
    spec_domains,
    validate,
)
from ray_topics.streams.words import FILLER_WORDS, NOISE_WORDS, WORD_BANK

__all__ = ["SyntheticStream", "generate"]

_SECONDS_PER_DAY = 86_400
_NS_PER_SECOND = 1_000_000_000
_GENERATION_STREAMS = 6  # independent child RNG streams (see ``generate``)


@dataclass
class SyntheticStream:
    """A generated stream and its planted truth.

    Attributes:
        videos: One row per video, sorted by ``published_at``. Columns: ``video_id``
            (unique ``v00000000``-style), ``channel_id``, ``published_at``
            (``datetime64[ns, UTC]``), ``title``, ``description``, ``tags`` (list of
            str), ``category`` (the domain name), ``views`` (int64, lognormal),
            ``domain``, ``true_topic`` (object dtype: the topic name, or ``None`` for
            noise videos), ``true_part`` (int8: the sub-center of a video of a topic
            with ``parts > 1``, from its ``split_day`` on; ``-1`` otherwise).
        embeddings: ``float32`` array ``(n, dim)``, rows L2-normalised, aligned with
            ``videos``.
        topics: One row per planted topic: ``name``, ``domain``, ``start_day``,
            ``end_day`` (nullable ``Int64``), ``birth_at`` (timestamp of the first video,
            ``NaT`` if none), ``death_at`` (timestamp of ``end_day`` or ``NaT``),
            ``words`` (list), plus ``rate``, ``ramp_days``, ``drift``, ``near``,
            ``parts``, ``split_day`` (nullable ``Int64``) and ``n_videos``.
        centers: Topic name -> unit center at day 0 (float64).
        spec: The spec the stream was generated from.
        domain_centers: Domain name -> unit domain center (float64).
        part_centers: Topic name -> ``(parts, dim)`` unit sub-centers at day 0, for
            topics with ``parts > 1``.
        drift_directions: Topic name -> unit vector orthogonal to its center, the plane
            of rotation of a drifting topic (present for every topic).
    """

    videos: pd.DataFrame
    embeddings: np.ndarray
    topics: pd.DataFrame
    centers: dict[str, np.ndarray]
    spec: StreamSpec
    domain_centers: dict[str, np.ndarray] = field(default_factory=dict)
    part_centers: dict[str, np.ndarray] = field(default_factory=dict)
    drift_directions: dict[str, np.ndarray] = field(default_factory=dict)

    def center_at(self, name: str, day: float) -> np.ndarray:
        """Planted (drifted) unit center of a topic at a fractional day.

        Args:
            name: Topic name.
            day: Days since :attr:`StreamSpec.start` (fractional).

        Returns:
            The unit center ``cos(theta) c + sin(theta) v`` (float64).

        Raises:
            KeyError: If ``name`` is not a planted topic.
        """
        topic = {t.name: t for t in self.spec.topics}[name]
        theta = _drift_angle(topic, self.spec.days, np.asarray([day], dtype=np.float64))[0]
        return np.cos(theta) * self.centers[name] + np.sin(theta) * self.drift_directions[name]


def generate(spec: StreamSpec) -> SyntheticStream:
    """Generate a synthetic stream with a known ground truth.

    Work is vectorised per topic (and per block of ``chunk_rows`` videos); no Python
    loop runs per video except joining words into texts when ``with_text`` is set.

    Args:
        spec: What to plant.

    Returns:
        The stream: videos sorted by ``published_at``, aligned embeddings and the
        planted truth.

    Raises:
        ValueError: If the spec is inconsistent (duplicate names, unknown or cyclic
            ``near``, ``end_day <= start_day``, out-of-range cosines, ...).
    """
    validate(spec)
    rng_vocab, rng_geom, rng_arrivals, rng_emb, rng_text, rng_meta = (
        np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(_GENERATION_STREAMS)
    )
    topics = spec.topics
    domains = spec_domains(spec)
    noise_rates = _noise_rates(spec, domains)
    vocabularies = _vocabularies(rng_vocab, topics, spec.words_per_topic)
    geometry = _geometry(rng_geom, spec, domains)

    # --- arrivals: per group (topics, then one noise group per domain) ---------------
    lam = np.array(
        [daily_rates(t, spec.days) for t in topics]
        + [np.full(spec.days, noise_rates[d], dtype=np.float64) for d in domains],
        dtype=np.float64,
    ).reshape(len(topics) + len(domains), spec.days)
    counts = rng_arrivals.poisson(lam)
    group_sizes = counts.sum(axis=1)
    n = int(group_sizes.sum())
    offsets = np.concatenate([[0], np.cumsum(group_sizes)])
    group = np.repeat(np.arange(counts.shape[0]), group_sizes)
    day = np.repeat(np.tile(np.arange(spec.days), counts.shape[0]), counts.ravel())
    second = rng_arrivals.integers(0, _SECONDS_PER_DAY, size=n)
    t_days = day + second / _SECONDS_PER_DAY
    event_ns = _start_ns(spec.start) + (day.astype(np.int64) * _SECONDS_PER_DAY + second) * _NS_PER_SECOND
    # time-sort inside each group so every group's output rows are increasing (fast writes)
    within = np.lexsort((event_ns, group))
    event_ns, t_days = event_ns[within], t_days[within]
    order = np.argsort(event_ns, kind="stable")
    dest = np.empty(n, dtype=np.int64)
    dest[order] = np.arange(n)

    # --- embeddings --------------------------------------------------------------------
    embeddings = np.empty((n, spec.dim), dtype=np.float32)
    true_part = np.full(n, -1, dtype=np.int8)
    sigma = float(np.sqrt((1.0 / spec.cohesion**2 - 1.0) / spec.dim))
    for i, topic in enumerate(topics):
        rows = slice(offsets[i], offsets[i + 1])
        _topic_embeddings(rng_emb, spec, topic, geometry, sigma, t_days[rows], dest[rows], embeddings, true_part)
    for j, domain in enumerate(domains):
        g = len(topics) + j
        rows = slice(offsets[g], offsets[g + 1])
        _noise_embeddings(rng_emb, spec, geometry.domain_centers[domain], dest[rows], embeddings)

    # --- metadata ------------------------------------------------------------------
    group_sorted = group[order]
    group_names = [t.name for t in topics] + [f"{d}-noise" for d in domains]
    group_domains = np.array([t.domain for t in topics] + list(domains), dtype=object)
    labels = np.array([t.name for t in topics] + [None] * len(domains), dtype=object)
    channel_names = np.array(
        [f"{name}-ch{k}" for name in group_names for k in range(spec.channels_per_topic)],
        dtype=object,
    )
    channel_code = group_sorted * spec.channels_per_topic + rng_meta.integers(0, spec.channels_per_topic, size=n)
    views = np.rint(rng_meta.lognormal(spec.views_log_mean, spec.views_log_sigma, size=n)).astype(np.int64)

    titles = np.full(n, "", dtype=object)
    descriptions = np.full(n, "", dtype=object)
    tags = np.empty(n, dtype=object)
    if spec.with_text:
        filler = np.array(FILLER_WORDS, dtype=object)
        group_vocab = [np.array(vocabularies[t.name], dtype=object) for t in topics]
        group_vocab += [np.array(NOISE_WORDS, dtype=object)] * len(domains)
        for g, vocab in enumerate(group_vocab):
            rows = dest[offsets[g] : offsets[g + 1]]
            if len(rows):
                titles[rows], descriptions[rows], tags[rows] = _texts(rng_text, spec, vocab, filler, len(rows))
    else:
        tags = _object_array([[] for _ in range(n)])

    domain_sorted = group_domains[group_sorted]
    videos = pd.DataFrame(
        {
            "video_id": [f"v{i:08d}" for i in range(n)],
            "channel_id": channel_names[channel_code],
            "published_at": pd.DatetimeIndex(event_ns[order].view("M8[ns]")).tz_localize("UTC"),
            "title": titles,
            "description": descriptions,
            "tags": pd.Series(tags, dtype=object),
            "category": domain_sorted,
            "views": views,
            "domain": domain_sorted,
            "true_topic": pd.Series(labels[group_sorted], dtype=object),
            "true_part": true_part,
        }
    )

    topics_df = _topics_frame(spec, vocabularies, event_ns, offsets, group_sizes)
    return SyntheticStream(
        videos=videos,
        embeddings=embeddings,
        topics=topics_df,
        centers=dict(geometry.centers),
        spec=spec,
        domain_centers=dict(geometry.domain_centers),
        part_centers=dict(geometry.part_centers),
        drift_directions=dict(geometry.drift_directions),
    )


@dataclass
class _Geometry:
    domain_centers: dict[str, np.ndarray]
    centers: dict[str, np.ndarray]
    drift_directions: dict[str, np.ndarray]
    part_centers: dict[str, np.ndarray]
    part_directions: dict[str, np.ndarray]


def _noise_rates(spec: StreamSpec, domains: Sequence[str]) -> dict[str, float]:
    if isinstance(spec.noise_rate, dict):
        return {d: float(spec.noise_rate.get(d, 0.0)) for d in domains}
    return {d: float(spec.noise_rate) for d in domains}


def _drift_angle(topic: PlantedTopic, days: int, t: np.ndarray) -> np.ndarray:
    """Rotation angle (radians) of a topic center at fractional days ``t``."""
    if topic.drift == 0.0:
        return np.zeros_like(t, dtype=np.float64)
    end = days if topic.end_day is None else topic.end_day
    life = max(end - topic.start_day, 1)
    return topic.drift * np.clip((t - topic.start_day) / life, 0.0, 1.0)


def _start_ns(start: datetime) -> int:
    ts = pd.Timestamp(start)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _orthonormal(rng: np.random.Generator, dim: int, k: int, against: np.ndarray | None = None) -> np.ndarray:
    """``k`` random orthonormal rows, orthogonal to the rows of ``against``."""
    g = rng.standard_normal((k, dim))
    if against is not None and len(against):
        q, _ = np.linalg.qr(np.atleast_2d(against).T)
        g -= (g @ q) @ q.T
    q, r = np.linalg.qr(g.T)
    return (q * np.sign(np.diag(r))).T


def _geometry(rng: np.random.Generator, spec: StreamSpec, domains: Sequence[str]) -> _Geometry:
    domain_matrix = _orthonormal(rng, spec.dim, len(domains))
    domain_centers = {d: domain_matrix[i] for i, d in enumerate(domains)}
    a = spec.domain_cohesion
    centers: dict[str, np.ndarray] = {}
    drift_directions: dict[str, np.ndarray] = {}
    part_centers: dict[str, np.ndarray] = {}
    part_directions: dict[str, np.ndarray] = {}
    for topic in near_order(spec.topics):
        d = domain_centers[topic.domain]
        if topic.near is None:
            u = _orthonormal(rng, spec.dim, 1, d)[0]
            c = a * d + np.sqrt(1.0 - a * a) * u
        else:
            base = centers[topic.near]
            k = topic.near_cosine
            w = _orthonormal(rng, spec.dim, 1, np.vstack([base, d]))[0]
            c = k * base + np.sqrt(1.0 - k * k) * w
        c = c / np.linalg.norm(c)
        extra = _orthonormal(rng, spec.dim, 1 + (topic.parts if topic.parts > 1 else 0), c)
        centers[topic.name] = c
        drift_directions[topic.name] = extra[0]
        if topic.parts > 1:
            pc = topic.parts_cosine
            part_directions[topic.name] = extra[1:]
            part_centers[topic.name] = _unit_rows(pc * c + np.sqrt(1.0 - pc * pc) * extra[1:])
    # keep the caller's topic order in the dicts
    order = [t.name for t in spec.topics]
    return _Geometry(
        domain_centers=domain_centers,
        centers={n: centers[n] for n in order},
        drift_directions={n: drift_directions[n] for n in order},
        part_centers={n: part_centers[n] for n in order if n in part_centers},
        part_directions={n: part_directions[n] for n in order if n in part_directions},
    )


def _vocabularies(
    rng: np.random.Generator, topics: Sequence[PlantedTopic], size_range: tuple[int, int]
) -> dict[str, list[str]]:
    """Explicit ``words`` as given; others disjoint draws from the word bank.

    When the bank runs out, compound words of two bank words (``"applebadger"``) are
    used, still disjoint between topics.
    """
    taken = {w for t in topics if t.words is not None for w in t.words}
    pool = [w for w in rng.permutation(np.array(WORD_BANK, dtype=object)) if w not in taken]
    needing = [t for t in topics if t.words is None]
    sizes = rng.integers(size_range[0], size_range[1] + 1, size=len(needing))
    shortfall = int(sizes.sum()) - len(pool)
    shift = 1
    seen = taken | set(pool)
    while shortfall > 0 and shift < len(WORD_BANK):
        perm = list(rng.permutation(np.array(WORD_BANK, dtype=object)))
        for left, right in zip(perm, perm[shift:] + perm[:shift], strict=True):
            word = f"{left}{right}"
            if word not in seen:
                seen.add(word)
                pool.append(word)
                shortfall -= 1
                if shortfall <= 0:
                    break
        shift += 1
    vocab: dict[str, list[str]] = {}
    pos = 0
    sizes_iter = iter(sizes.tolist())
    for t in topics:
        if t.words is not None:
            vocab[t.name] = list(t.words)
        else:
            size = next(sizes_iter)
            vocab[t.name] = [str(w) for w in pool[pos : pos + size]]
            pos += size
    return vocab


def _normalise_inplace(x: np.ndarray) -> None:
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    x /= norms[:, None]


def _topic_embeddings(
    rng: np.random.Generator,
    spec: StreamSpec,
    topic: PlantedTopic,
    geometry: _Geometry,
    sigma: float,
    t_days: np.ndarray,
    dest: np.ndarray,
    out: np.ndarray,
    out_part: np.ndarray,
) -> None:
    """Write the embeddings of one topic's videos (times ``t_days``) into ``out[dest]``, parts into ``out_part``."""
    c = geometry.centers[topic.name].astype(np.float32)
    v = geometry.drift_directions[topic.name].astype(np.float32)
    split = topic.parts > 1
    if split:
        part_offsets = (np.sqrt(1.0 - topic.parts_cosine**2) * geometry.part_directions[topic.name]).astype(np.float32)
    fork = -np.inf if topic.split_day is None else float(topic.split_day)
    for lo in range(0, len(t_days), spec.chunk_rows):
        t = t_days[lo : lo + spec.chunk_rows]
        m = len(t)
        x = rng.standard_normal((m, spec.dim), dtype=np.float32)
        x *= np.float32(sigma)
        forked = (t >= fork) if split else np.zeros(m, dtype=bool)
        center_weight = np.where(forked, np.float32(topic.parts_cosine), np.float32(1.0)).astype(np.float32)
        if topic.drift != 0.0:
            theta = _drift_angle(topic, spec.days, t)
            x += np.outer((center_weight * np.cos(theta)).astype(np.float32), c)
            x += np.outer((center_weight * np.sin(theta)).astype(np.float32), v)
        else:
            x += np.outer(center_weight, c)
        if split:
            part = rng.integers(0, topic.parts, size=m)
            x[forked] += part_offsets[part[forked]]
            out_part[dest[lo : lo + spec.chunk_rows][forked]] = part[forked]
        _normalise_inplace(x)
        out[dest[lo : lo + spec.chunk_rows]] = x


def _noise_embeddings(
    rng: np.random.Generator,
    spec: StreamSpec,
    domain_center: np.ndarray,
    dest: np.ndarray,
    out: np.ndarray,
) -> None:
    """Write misfit videos: ``a * d + sqrt(1 - a^2) * u``, ``u`` random unit orthogonal to ``d``."""
    d = domain_center.astype(np.float32)
    a = np.float32(spec.noise_domain_cosine)
    for lo in range(0, len(dest), spec.chunk_rows):
        rows = dest[lo : lo + spec.chunk_rows]
        x = rng.standard_normal((len(rows), spec.dim), dtype=np.float32)
        x -= np.outer(x @ d, d)
        _normalise_inplace(x)
        x *= np.sqrt(np.float32(1.0) - a * a)
        x += a * d
        _normalise_inplace(x)
        out[rows] = x


def _object_array(items: list) -> np.ndarray:
    """1-D object array holding ``items`` as elements (lists are not broadcast)."""
    return np.fromiter(items, dtype=object, count=len(items))


def _word_rows(
    rng: np.random.Generator,
    vocab: np.ndarray,
    filler: np.ndarray,
    share: float,
    length_range: tuple[int, int],
    n: int,
) -> list[str]:
    lo, hi = length_range
    lengths = rng.integers(lo, hi + 1, size=n).tolist()
    from_vocab = rng.random((n, hi)) < share
    words = np.where(
        from_vocab,
        vocab[rng.integers(0, len(vocab), size=(n, hi))],
        filler[rng.integers(0, len(filler), size=(n, hi))],
    ).tolist()
    return [" ".join(row[:k]) for row, k in zip(words, lengths, strict=True)]


def _texts(
    rng: np.random.Generator, spec: StreamSpec, vocab: np.ndarray, filler: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Titles, descriptions and tags of ``n`` videos drawing on ``vocab``."""
    titles = _word_rows(rng, vocab, filler, spec.topic_word_share, spec.title_words, n)
    descriptions = _word_rows(rng, vocab, filler, spec.topic_word_share, spec.description_words, n)
    lo, hi = spec.tags_per_video
    hi = min(hi, len(vocab))
    counts = rng.integers(min(lo, hi), hi + 1, size=n).tolist()
    distinct_limit = 64  # above this vocabulary size, draw with replacement and dedupe
    if len(vocab) <= distinct_limit:
        picks = np.argsort(rng.random((n, len(vocab))), axis=1)[:, :hi]
        rows = vocab[picks].tolist()
        tags = [row[:k] for row, k in zip(rows, counts, strict=True)]
    else:
        rows = vocab[rng.integers(0, len(vocab), size=(n, hi))].tolist()
        tags = [list(dict.fromkeys(row[:k])) for row, k in zip(rows, counts, strict=True)]
    return _object_array(titles), _object_array(descriptions), _object_array(tags)


def _topics_frame(
    spec: StreamSpec,
    vocabularies: dict[str, list[str]],
    event_ns: np.ndarray,
    offsets: np.ndarray,
    group_sizes: np.ndarray,
) -> pd.DataFrame:
    start_ns = _start_ns(spec.start)
    nat = np.iinfo(np.int64).min  # NaT as int64
    birth = np.full(len(spec.topics), nat, dtype=np.int64)
    death = np.full(len(spec.topics), nat, dtype=np.int64)
    for i, t in enumerate(spec.topics):
        if group_sizes[i]:
            birth[i] = event_ns[offsets[i] : offsets[i + 1]].min()
        if t.end_day is not None:
            death[i] = start_ns + t.end_day * _SECONDS_PER_DAY * _NS_PER_SECOND

    def stamps(ns: np.ndarray) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC")

    return pd.DataFrame(
        {
            "name": [t.name for t in spec.topics],
            "domain": [t.domain for t in spec.topics],
            "start_day": np.array([t.start_day for t in spec.topics], dtype=np.int64),
            "end_day": pd.array([t.end_day for t in spec.topics], dtype="Int64"),
            "birth_at": stamps(birth),
            "death_at": stamps(death),
            "words": pd.Series([list(vocabularies[t.name]) for t in spec.topics], dtype=object),
            "rate": np.array([t.rate for t in spec.topics], dtype=np.float64),
            "ramp_days": np.array([t.ramp_days for t in spec.topics], dtype=np.int64),
            "drift": np.array([t.drift for t in spec.topics], dtype=np.float64),
            "near": pd.Series([t.near for t in spec.topics], dtype=object),
            "parts": np.array([t.parts for t in spec.topics], dtype=np.int64),
            "split_day": pd.array([t.split_day for t in spec.topics], dtype="Int64"),
            "n_videos": group_sizes[: len(spec.topics)].astype(np.int64),
        }
    )
