"""Settling (part of the daily job): a day's answers, once the days around it are in, by its videos' neighbours.

Tier 1 answers a video with the nearest centroid the moment it arrives. A story
that begins inside broad topics (its first videos answered by two or three of
them, days before its own topic is born) stays split in its domain's answers:
a birth takes its misfit pool and the window's videos now *nearest* to it
(:func:`ray_topics.tiers.daily.fitting_newborns`), not those still nearer a
broad centroid. Its videos are still each other's nearest neighbours.

With ``daily.settle_after_days`` set, every daily run settles one day: the
day that ended that many days before its midnight. Each of that day's videos
that fits its answer goes to the answer most of its
``global_topics.place_neighbours`` nearest videos of its *own domain* hold
(:class:`ray_topics.core.neighbours.Voters`; a tie goes to the nearest voter's
answer; by weight where the voters are sampled), unless at least ``daily.settle_keep_share`` of them
(of their weight) hold its own answer: its topic is there around it (a small story's own topic inside a
broad one), and only a video whose neighbours hardly share its answer
moves. The voters are the domain's videos that fit a topic of the model the
run commits, published within ``settle_after_days`` of the day on either
side (the days after it are in by then): all of them up to
``global_topics.place_voters``, above it a sample stratified by answer (as
the run leaves them; :class:`ray_topics.core.neighbours.VoterSample`): a topic with few videos in
the window (a story's newborn) votes with all of them, a broad one with a
stable-hash sample of its videos, each counting for the videos it stands for, each answer's weight among a
video's neighbours less ``daily.settle_vote_errors`` standard errors of it (one heavy voter of a large topic
does not outvote a story's voters kept whole: RESULTS.md, "Settling's vote, less one standard error").
So at any volume a video's vote estimates (cautiously) its vote among the whole window, the
days after its own included, where a story's topic born since holds its
videos. (Read the settled day first, a busy domain's cap held only the settled
day's own Tier 1 answers and a newborn's videos never voted; a uniform sample
of the window thinned a small story out of its own videos' neighbours:
RESULTS.md, "Settling's voters, a uniform sample of the window" and
"Settling's voters, stratified by answer".) The misfits the run's births take vote
with their newborn answer where they fit it (the store still calls them
misfits). A video moves only to a topic it also fits (its confidence in it
at least ``daily.misfit_confidence``): no video becomes a misfit by
settling. The moves are reassignments of the daily plan, committed with it
under the domain's commit lock (:mod:`ray_topics.tiers.job`): a plan another
job's commit made stale is planned again, settling included.

Each video is settled once, by the run of the midnight ``settle_after_days``
after its day (a forced rerun votes again, on the answers as they are then);
the settled answers of earlier days vote on later days. The videos the run's
births and echoes move are not settled again. A midnight the scheduler never
runs leaves its day unsettled, and a later monthly merge or split puts the
videos of the topics it changes under their nearest topic again.

Cost: the voters' window (``2 x settle_after_days + 1`` days of the domain) is
counted, its rows read once and the embeddings of the sampled voters only (at
most about ``place_voters``, a chunk at a time), and the day once more, with its
embeddings (``benchmarks/settle_cost.py``; RESULTS.md, "What settling costs the
daily job").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ray_topics.core.lifecycle import model_of
from ray_topics.core.neighbours import Voters, fitting_moves
from ray_topics.core.snapshot import version_name
from ray_topics.core.types import ClassificationStatus, Topic
from ray_topics.execution.runtime import Runtime
from ray_topics.tiers.stories import Fitting, fitting_chunks, window_sample

__all__ = ["settle", "settled_day"]


def settled_day(as_of: datetime, after_days: int) -> tuple[datetime, datetime]:
    """The day a daily run ending ``as_of`` settles: the one that ended ``after_days`` before it.

    Example:
        >>> [d.isoformat() for d in settled_day(datetime(2026, 3, 10), 7)]
        ['2026-03-02T00:00:00', '2026-03-03T00:00:00']
    """
    end = as_of - timedelta(days=after_days)
    return end - timedelta(days=1), end


def settle(
    rt: Runtime,
    domain: str,
    topics: Sequence[Topic],
    moved: Mapping[str, str],
    as_of: datetime,
    core: Fitting | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(reassignment rows, stats) settling the domain's day (:func:`settled_day`) by its videos' neighbours.

    ``topics``: the domain's topics as the run will commit them (its live ones count); ``moved``: video id ->
    topic the run already moved it to (births, echoes); ``core``: the misfits the run's births took that fit
    their newborn (they vote too: the stored rows still call them misfits). Nothing when
    ``daily.settle_after_days`` is null.
    """
    after = rt.cfg.daily.settle_after_days
    model = model_of(domain, topics, rt.cfg.embedding.dim)
    if after is None or not model.topic_ids:
        return [], {}
    day, allowed = settled_day(as_of, after), set(model.topic_ids)
    voters = _voters(rt, domain, allowed, moved, day, after, core)
    stats: dict[str, Any] = {"day": day[0].isoformat(), "voters": len(voters), "placed": 0, "moved": 0}
    stats.update(kept_not_fitting=0)
    if not len(voters):
        return [], stats
    index = model.index(**rt.confidence)
    share = rt.cfg.daily.settle_keep_share  # 0: the plurality alone decides
    tag = version_name(domain, rt.store.models.latest_versions().get(domain, 0))  # the commit renames on a publish
    fit = rt.cfg.daily.misfit_confidence
    rows: list[dict[str, Any]] = []
    for c in fitting_chunks(rt, *day, [domain]):
        keep = [i for i, v in enumerate(c.video_ids) if v not in moved and c.answers[i] in allowed]
        if not keep:
            continue
        answers, vecs = [c.answers[i] for i in keep], c.vectors[keep]
        stay = answers if share > 0 else None
        placed = voters.place(vecs, fallback=answers, stay=stay, stay_share=share)  # no voter found: stays
        stats["placed"] += len(keep)
        moves, confidences, refused = fitting_moves(vecs, answers, placed, index.confidence_in, fit)
        stats["kept_not_fitting"] += refused
        for j, confidence in zip(moves, confidences, strict=True):
            rows.append(
                {
                    "video_id": c.video_ids[keep[j]],
                    "topic_id": placed[j],
                    "confidence": confidence,
                    "status": ClassificationStatus.REFINED,
                    "model_version": tag,
                    "classified_at": as_of,
                }
            )
    stats["moved"] = len(rows)
    return rows, stats


def _voters(
    rt: Runtime,
    domain: str,
    allowed: set[str],
    moved: Mapping[str, str],
    day: tuple[datetime, datetime],
    after: int,
    core: Fitting | None,
) -> Voters:
    """The day's voters: the domain's fitting videos published within ``after`` days of it (answers as the run
    leaves them) and the births' ``core`` among them; a sample of ``global_topics.place_voters`` stratified by
    answer (the run's: a topic born in this run keeps the videos it took whole, as an earlier newborn's) where
    they hold more, whose embeddings alone are read. A dead or merged topic's video does not vote."""
    g = rt.cfg.global_topics
    start, end = day[0] - timedelta(days=after), day[1] + timedelta(days=after)
    inside = [] if core is None else [i for i, p in enumerate(core.published) if start <= p < end]
    more = Counter(core.answers[i] for i in inside) if core is not None else Counter()
    fit = rt.cfg.daily.misfit_confidence
    stored = rt.store.classifications.window_fitting_answers(domain, start, end, fit, list(moved))
    more.update(moved[v] for v in stored)  # the window's videos the run's births and echoes moved: counted
    more.subtract(stored.values())  # under their new answer, not the stored one
    sample, admit = window_sample(rt, start, end, allowed=allowed, salt="settle", domains=[domain], more=more)
    run_admit = None if admit is None else (lambda v, t: admit(v, moved.get(v, t)))
    for c in fitting_chunks(rt, start, end, [domain], admit=run_admit):
        sample.offer(c.video_ids, c.vectors, [moved.get(v, a) for v, a in zip(c.video_ids, c.answers, strict=True)])
    if core is not None:
        inside = [i for i in inside if admit is None or admit(core.video_ids[i], core.answers[i])]
        if inside:
            sample.offer([core.video_ids[i] for i in inside], core.vectors[inside], [core.answers[i] for i in inside])
    return sample.voters(
        g.place_neighbours, exact_up_to=g.place_exact_voters, nprobe=g.place_nprobe,
        errors=rt.cfg.daily.settle_vote_errors,
    )  # fmt: skip
