"""How small a story settling still gathers when its voters are a sample of the window: a planted story.

Settling (:mod:`ray_topics.tiers.settle`) moves a day's videos to the answer most
of their ``global_topics.place_neighbours`` nearest voters hold. Above
``global_topics.place_voters`` the voters are a sample of the window, so on a
busy domain a story's videos meet fewer of each other among their nearest
voters than among the whole window's. This benchmark plants the case settling
is for and reads the vote alone (no store, no Ray: :class:`VoterSample` and
:class:`Voters`, as settling builds them):

* one domain of ``--topics`` broad topics (unit centroids around a shared
  domain direction; a video's cosine to its topic's centroid about
  ``--broad-cos``), ``--window`` videos over ``2 x after + 1`` days (the
  settled day in the middle, ``daily.settle_after_days``), alike in size or,
  with ``--skew``, topic ``t`` a share proportional to ``(t + 1) ** -skew``
  (the story beside the largest two);
* a story of ``--story-per-day`` videos a day from the settled day on, tight
  (cosine about ``--story-cos`` to its centre, halfway between two broad
  topics); its topic is born ``--born-after`` days later. Its videos before the
  birth hold the broad answer nearest them (Tier 1's), those after hold the
  story's topic. With ``--story-start -k`` the story began ``k`` days before
  the settled day (it straddles it: more of its unplaced videos vote, as
  many of its videos a day; ``--born-after`` still counts from the settled
  day).

For each share of the window the voters hold (``--shares``: 1 is every
voter; a busy domain's ``place_voters / window``) and each story size, it
prints the share of the settled day's story videos that settling moves to the
story's topic (the right answer) and the share of the two neighbouring broad
topics' videos of that day it moves (a wrong move), beside the same with every
voter, for a uniform sample and a sample stratified by answer (its weights
plain, and less ``daily.settle_vote_errors`` standard errors as settling
takes them; "broad voted": the share of broad videos the vote alone would
move, before the fit check). A move needs the
vote and the fit (the video's confidence in the voted topic at least
``daily.misfit_confidence``, each topic calibrated on its videos in the window).
With ``--view``, the stories job's rule by neighbours instead: the plurality
and the fit check, no keep share.
With ``place_voters`` at 100,000, a domain of 80,000 videos a day settling after
7 days has a share of 100,000 / (15 x 80,000) = 0.08.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.settle_resolution --out settle_resolution.json
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np

from benchmarks.harness import Table, floats, ints, main_of, parser, run_info
from benchmarks.planted_vectors import around, broad_centroids
from ray_topics.config import load_config
from ray_topics.core.index import normalize
from ray_topics.core.lifecycle import make_topic, model_of
from ray_topics.core.neighbours import VoterSample, fitting_moves

AT = datetime(2026, 1, 1)  # the planted topics' birth (no role in the vote)
DOMAIN_WEIGHT = 1.0  # the broad topics' shared direction, against a random one of unit length: centroids ~0.5 apart


def _cloud(rng: np.random.Generator, centre: np.ndarray, n: int, cos: float) -> np.ndarray:
    """``n`` unit vectors whose cosine to the unit ``centre`` is about ``cos`` (isotropic noise)."""
    return around(rng, np.broadcast_to(centre, (n, len(centre))), cos)


def plant(args: argparse.Namespace, story_per_day: int, dim: int, after: int) -> dict[str, Any]:
    """The window's voters (ids, vectors, answers) and the settled day's queries with their truth."""
    rng = np.random.default_rng(args.seed)
    cents = broad_centroids(rng, args.topics, dim, DOMAIN_WEIGHT)
    story_centre = normalize(cents[0] + cents[1])
    days = 2 * after + 1
    per_day = args.window // days
    shares = (np.arange(args.topics) + 1.0) ** -args.skew  # topic 0 (beside the story) the largest
    shares /= shares.sum()
    ids: list[str] = []
    vecs: list[np.ndarray] = []
    answers: list[str] = []
    queries: dict[str, Any] = {}
    for day in range(-after, after + 1):
        topic = (
            rng.choice(args.topics, size=per_day, p=shares) if args.skew else rng.integers(args.topics, size=per_day)
        )
        broad = np.concatenate(
            [_cloud(rng, cents[t], int((topic == t).sum()), args.broad_cos) for t in range(args.topics)]
        )
        labels = [f"b{t}" for t in range(args.topics) for _ in range(int((topic == t).sum()))]
        started = day >= args.story_start
        story = _cloud(rng, story_centre, story_per_day, args.story_cos) if started else np.zeros((0, dim), np.float32)
        if day >= args.born_after:
            said = ["story"] * len(story)
        else:  # Tier 1's answer before the birth: the nearest broad centroid
            said = [f"b{t}" for t in np.argmax(story @ cents.T, axis=1).tolist()]
        ids += [f"d{day}-{i}" for i in range(len(broad) + len(story))]
        vecs += [broad, story]
        answers += labels + said
        if day == 0:  # the settled day: its story videos, and the two broad topics around the story
            near = [i for i, lab in enumerate(labels) if lab in ("b0", "b1")]
            queries["day_vectors"] = np.concatenate([story, broad[near]])
            queries["day_answers"] = said + [labels[i] for i in near]
            queries["truth"] = ["story"] * len(story) + [labels[i] for i in near]
    return {"ids": ids, "vectors": np.concatenate(vecs), "answers": answers, **queries}


def fitness(planted: dict[str, Any], cfg: Any) -> Any:
    """The index settling checks a move with (a video moves only to a topic it fits): each answer a topic
    made of its videos in the window, calibrated as a birth or the weekly tier calibrates it."""
    labels, upper = np.array(planted["answers"]), cfg.weekly.calibration_upper_quantile
    topics = [
        make_topic("d", n, planted["vectors"][labels == name], [name], AT, upper_quantile=upper)
        for n, name in enumerate(sorted(set(planted["answers"])))
    ]
    index = model_of("d", topics, cfg.embedding.dim).index(**cfg.confidence.model_dump())
    return index, {name: f"d:{n}" for n, name in enumerate(sorted(set(planted["answers"])))}


def vote(
    planted: dict[str, Any], cap: int, cfg: Any, stratified: bool, view: bool = False, errors: float | None = None
) -> dict[str, Any]:
    """The settled day's answers after settling's vote among a sample of ``cap`` voters of the window: uniform,
    or ``stratified`` by answer as settling samples them (:func:`ray_topics.tiers.stories.window_sample`), each
    answer's weight less ``errors`` standard errors (default: settling's, ``daily.settle_vote_errors``)."""
    g = cfg.global_topics
    sizes = Counter(planted["answers"]) if stratified else None
    sample = VoterSample(cap, salt="settle", sizes=sizes)
    sample.offer(planted["ids"], planted["vectors"], planted["answers"])
    errors = cfg.daily.settle_vote_errors if errors is None else errors
    voters = sample.voters(g.place_neighbours, exact_up_to=g.place_exact_voters, nprobe=g.place_nprobe, errors=errors)
    t0 = time.perf_counter()
    said = planted["day_answers"]
    if view:  # the stories job's rule: the plurality, no keep share
        placed = voters.place(planted["day_vectors"], fallback=said)
    else:
        placed = voters.place(planted["day_vectors"], fallback=said, stay=said, stay_share=cfg.daily.settle_keep_share)
    took = time.perf_counter() - t0
    index, tid = planted["fitness"]

    def confidence(x: np.ndarray, labels: list[str]) -> np.ndarray:
        return index.confidence_in(x, [tid[lab] for lab in labels])

    truth = planted["truth"]
    broad = [i for i, t in enumerate(truth) if t != "story"]
    voted = sum(placed[i] != said[i] for i in broad) / max(len(broad), 1)  # before the fit check
    fits = set(fitting_moves(planted["day_vectors"], said, placed, confidence, cfg.daily.misfit_confidence)[0])
    placed = [p if i in fits else a for i, (p, a) in enumerate(zip(placed, said, strict=True))]  # else it stays
    story = [i for i, t in enumerate(truth) if t == "story" and said[i] != "story"]
    return {
        "voters": len(voters),
        "story_videos": len(story),
        "story_gathered": sum(placed[i] == "story" for i in story) / max(len(story), 1),
        "broad_moved": sum(placed[i] != said[i] for i in broad) / max(len(broad), 1),
        "broad_voted": voted,
        "vote_s": took,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = load_config(overrides=args.set)
    after = cfg.daily.settle_after_days or 7
    keys = ["story/day", "in window", "share", "voters"]
    hows = ("every voter", "uniform", "stratified, plain weights", "stratified, less errors")
    keys += [f"{what}: {how}" for what in ("gathered", "broad moved") for how in hows]
    keys += [f"broad voted: {how}" for how in hows[2:]]  # the vote's own pull, before the fit check
    table = Table(keys, right=True)
    rows = []
    for per_day in args.story_per_day:
        planted = plant(args, per_day, cfg.embedding.dim, after)
        planted["fitness"] = fitness(planted, cfg)
        every = vote(planted, len(planted["ids"]), cfg, stratified=False, view=args.view)
        in_window = per_day * (after + 1 - max(args.story_start, -after))
        for share in args.shares:
            cap = int(share * len(planted["ids"]))
            uniform = every if share >= 1 else vote(planted, cap, cfg, stratified=False, view=args.view)
            plain = every if share >= 1 else vote(planted, cap, cfg, stratified=True, view=args.view, errors=0.0)
            strata = every if share >= 1 else vote(planted, cap, cfg, stratified=True, view=args.view)
            rows.append({"story_per_day": per_day, "share": share, "every_voter": every, "uniform": uniform})
            rows[-1].update(stratified_plain=plain, stratified=strata)
            runs = (every, uniform, plain, strata)
            table.add_row(
                str(per_day),
                f"{in_window:,}",
                f"{share:g}",
                f"{strata['voters']:,}",
                *(f"{r['story_gathered']:.2f}" for r in runs),
                *(f"{r['broad_moved']:.3f}" for r in runs),
                *(f"{r['broad_voted']:.3f}" for r in runs[2:]),
            )
            print(f"  story {per_day}/day, share {share:g}: gathered {strata['story_gathered']:.2f}", flush=True)
    table.print(
        f"{'The story view' if args.view else 'Settling'}'s vote on a planted story "
        f"({args.window:,} videos in the window, {args.topics} broad topics, "
        f"begun {-args.story_start} days before the settled day, born {args.born_after} days after it)"
    )
    return {**run_info(args), "rows": rows, "tables": {"settle_resolution": table.rows}}


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--window", type=int, default=150_000, help="the domain's videos in the voters' window")
    p.add_argument("--topics", type=int, default=20, help="the domain's broad topics (default 20)")
    p.add_argument("--broad-cos", type=float, default=0.6, help="a video's cosine to its broad topic's centroid")
    p.add_argument("--story-cos", type=float, default=0.8, help="a story video's cosine to the story's centre")
    p.add_argument(
        "--skew",
        type=float,
        default=0.0,
        help="broad topic t holds a share of the window proportional to (t + 1) ** -skew (default 0: alike)",
    )
    p.add_argument("--born-after", type=int, default=2, help="days after the settled day the story's topic is born")
    p.add_argument(
        "--story-start",
        type=int,
        default=0,
        help="the story's first day from the settled day (default 0; -3: it began three days before it)",
    )
    p.add_argument(
        "--story-per-day",
        type=ints,
        default=[5, 10, 25, 50, 100],
        help="the story's videos a day, comma-separated",
    )
    p.add_argument(
        "--view",
        action="store_true",
        help="the story view's rule (the stories job by neighbours): the plurality and the fit check, no keep share",
    )
    p.add_argument("--shares", type=floats, default=[1.0, 0.3, 0.1, 0.04], help="voters / window, comma-separated")
    return p


main = main_of(build_parser, run)

if __name__ == "__main__":
    raise SystemExit(main())
