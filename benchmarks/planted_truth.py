"""Planted-truth quality figures of a replay: births, false births, splits, deaths, NMI/ARI, id stability.

Shared by ``benchmarks.quality`` and ``benchmarks.season``: :class:`Truth`
holds each video's planted labels, :class:`PlantedObserver` is called after
midnight boundaries of a replay and judges the day's births against the
truth, and :func:`planted_figures` turns both, with the final assignments,
into the figures table (table A of ``benchmarks.quality``). Not a script:
the benchmarks import it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.harness import Figures
from ray_topics.core.timeutil import floor_day

__all__ = [
    "BIRTH_DELAY_GOAL_DAYS",
    "DYING_GOAL_DAYS",
    "FALSE_BIRTH_GOAL",
    "NMI_GOAL",
    "NOISE_LABEL",
    "NONE_LABEL",
    "PURITY",
    "PlantedObserver",
    "Truth",
    "agreement",
    "assignments",
    "majority",
    "planted_figures",
    "threshold_crossing",
]

NONE_LABEL = "<none>"
NOISE_LABEL = "<noise>"
PURITY = 0.5  # "mostly": more than half of a topic's members

# goals
BIRTH_DELAY_GOAL_DAYS = 2.0
FALSE_BIRTH_GOAL = 0.05
SPLIT_WINDOW_DAYS = 7  # a planted split's parts are judged on their videos of the last week
DYING_GOAL_DAYS = 31.0
NMI_GOAL = 0.9


# ----------------------------------------------------------------------------- agreement and assignments


def agreement(a: Sequence[Any], b: Sequence[Any]) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    a = [str(x) for x in a]
    b = [str(x) for x in b]
    return {"nmi": float(normalized_mutual_info_score(a, b)), "ari": float(adjusted_rand_score(a, b))}


def assignments(store: Any) -> tuple[list[str], list[str | None], np.ndarray]:
    from sqlalchemy import select

    c = store.table("classifications")
    with store.engine.connect() as conn:
        rows = conn.execute(select(c.c.video_id, c.c.topic_id, c.c.confidence)).all()
    return [r[0] for r in rows], [r[1] for r in rows], np.array([r[2] for r in rows], dtype=np.float64)


# ----------------------------------------------------------------------------- planted truth bookkeeping


class Truth:
    """Planted labels per video (raw; and the intended view: merge pair collapsed, split parts separated)."""

    def __init__(self, stream: Any) -> None:
        v = stream.videos
        self.ids = v["video_id"].tolist()
        self.pos = {vid: i for i, vid in enumerate(self.ids)}
        self.raw = np.array([NOISE_LABEL if t is None else t for t in v["true_topic"]], dtype=object)
        self.published = v["published_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        self.domain = v["domain"].to_numpy()
        topics = stream.topics.set_index("name")
        self.topics = topics
        intended = self.raw.copy()
        self.merge_map: dict[str, str] = {}
        for name, near in topics["near"].items():
            if isinstance(near, str):
                self.merge_map[name] = f"{near}+{name.rsplit('/', 1)[-1]}"
                self.merge_map[near] = self.merge_map[name]
        for name, target in self.merge_map.items():
            intended[self.raw == name] = target
        # (a topic both in a merge pair and forked would take its part labels here: no scenario plants both)
        # a planted split event (split_day) forks one planted topic into its parts: from the fork on the
        # planted truth holds the parts (raw and intended). Parts planted from the start (no split_day)
        # are one planted topic in the raw view and the parts in the intended view.
        part = v["true_part"].to_numpy()
        forked = topics["split_day"].dropna().index
        self.forks = {
            name: _utc(stream.spec.start) + pd.Timedelta(days=int(topics.loc[name, "split_day"])) for name in forked
        }
        for name in topics.index[topics["parts"] > 1]:
            idx = np.flatnonzero((self.raw == name) & (part >= 0))
            labels = np.array([f"{name}#{k}" for k in part[idx]], dtype=object)
            intended[idx] = labels
            if name in self.forks:
                self.raw[idx] = labels
        self.intended = intended

    def counters(self, ids: Sequence[str], tids: Sequence[str | None], view: str) -> dict[str, Counter]:
        lab = self.raw if view == "raw" else self.intended
        out: dict[str, Counter] = defaultdict(Counter)
        for vid, tid in zip(ids, tids, strict=True):
            if tid is not None:
                out[tid][lab[self.pos[vid]]] += 1
        return out


def _utc(ts: datetime) -> pd.Timestamp:
    """``ts`` as an aware UTC timestamp (naive datetimes are UTC, as in the generator)."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def majority(c: Counter) -> tuple[str | None, float, int]:
    if not c:
        return None, 0.0, 0
    label, k = c.most_common(1)[0]
    n = sum(c.values())
    return label, k / n, n


class PlantedObserver:
    """Called after every midnight boundary: classifies the day's births and records monthly id holders."""

    def __init__(self, rt: Any, truth: Truth) -> None:
        self.rt = rt
        self.truth = truth
        self.coverage: dict[str, dict[str, str]] = {"raw": {}, "intended": {}}  # live topic -> majority label
        self.births: list[dict[str, Any]] = []
        self.monthly: list[dict[str, Any]] = []
        self.seen_births: set[tuple[str, str]] = set()
        self.splits: dict[str, dict[str, Any]] = {
            name: {"fork": fork.isoformat(), "separated_at": None, "delay_days": None, "holders": {}}
            for name, fork in truth.forks.items()
        }

    def __call__(self, at: datetime) -> None:
        store = self.rt.store
        births = [
            e
            for e in store.topics.events(types=["birth"])
            if (e["topic_id"], e["at"].isoformat()) not in self.seen_births and e["at"] <= at
        ]
        ids, tids, _conf = assignments(store)
        counters = {v: self.truth.counters(ids, tids, v) for v in ("raw", "intended")}
        live = {t.topic_id for t in store.topics.list() if t.status in ("active", "dying")}
        # births of this boundary, largest first, judged against the coverage before it
        births.sort(key=lambda e: -int((e["details"] or {}).get("size", 0)))
        claimed: dict[str, set[str]] = {"raw": set(), "intended": set()}
        for e in births:
            self.seen_births.add((e["topic_id"], e["at"].isoformat()))
            row: dict[str, Any] = {
                "topic_id": e["topic_id"],
                "at": e["at"].isoformat(),
                "by": (e["details"] or {}).get("by", "daily"),
                "size": int((e["details"] or {}).get("size", 0)),
                "keywords": (e["details"] or {}).get("keywords", []),
            }
            for view in ("raw", "intended"):
                c = counters[view].get(e["topic_id"], Counter())
                label, share, n = majority(c)
                covered_by = [t for t, lab in self.coverage[view].items() if lab == label and t != e["topic_id"]]
                if label is None:
                    false = "no members at birth"
                elif share <= PURITY:
                    false = "mixed"
                elif label == NOISE_LABEL:
                    false = "noise"
                elif covered_by or label in claimed[view]:
                    false = "duplicate"
                else:
                    false = ""
                if label is not None and share > PURITY:
                    claimed[view].add(label)
                row[view] = {
                    "majority": label,
                    "share": round(share, 3),
                    "members": n,
                    "top": [(k, v) for k, v in c.most_common(4)],
                    "false": false,
                    "duplicate_of": sorted(covered_by) if false == "duplicate" else [],
                }
            self.births.append(row)
        for view in ("raw", "intended"):
            # a live topic covers a planted topic when more than half its members are of it
            self.coverage[view] = {
                t: lab
                for t, c in counters[view].items()
                if t in live
                for lab, share, _n in [majority(c)]
                if lab != NOISE_LABEL and share > PURITY
            }
        if at.day == self.rt.cfg.schedule.monthly_on_day:
            self.monthly.append(self._holders(at, ids, tids))
        self._track_splits(at, ids, tids)

    def _track_splits(self, at: datetime, ids: list[str], tids: list[str | None]) -> None:
        """Per planted split: the first midnight its parts' last week is held by distinct topics, each mostly."""
        pending = {n: r for n, r in self.splits.items() if r["separated_at"] is None and at > self.truth.forks[n]}
        for name, rec in pending.items():
            lo = max(at - timedelta(days=SPLIT_WINDOW_DAYS), self.truth.forks[name].to_pydatetime())
            per = self._held_by(ids, tids, self.truth.raw, lo, at)
            holders = {}
            for part in sorted(lab for lab in per if lab.startswith(f"{name}#")):
                top, share, n = majority(per[part])
                holders[part] = {"holder": top, "share": round(share, 3), "videos": n}
            rec["holders"] = holders
            tops = [h["holder"] for h in holders.values() if h["share"] > PURITY and h["holder"] != NONE_LABEL]
            if len(holders) > 1 and len(set(tops)) == len(holders):
                rec["separated_at"] = at.isoformat()
                rec["delay_days"] = (at - self.truth.forks[name].to_pydatetime()).total_seconds() / 86400

    def _holders(self, at: datetime, ids: list[str], tids: list[str | None]) -> dict[str, Any]:
        """Per planted topic, the topic ids holding its videos of the past 30 days."""
        out: dict[str, Any] = {"at": at.isoformat(), "raw": {}, "intended": {}}
        for view, lab in (("raw", self.truth.raw), ("intended", self.truth.intended)):
            per = self._held_by(ids, tids, lab, at - timedelta(days=30), at)
            for name, c in sorted(per.items()):
                if name == NOISE_LABEL:
                    continue
                top, share, n = majority(c)
                out[view][name] = {
                    "holder": top,
                    "share": round(share, 3),
                    "videos": n,
                    "holders_25pct": sorted(t for t, k in c.items() if k >= 0.25 * n),
                }
        return out

    def _held_by(
        self, ids: list[str], tids: list[str | None], lab: np.ndarray, lo: datetime, hi: datetime
    ) -> dict[str, Counter]:
        """Per planted label (``lab``, one view), the topic ids holding its videos published in ``[lo, hi)``."""
        lo_ns, hi_ns = (np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "ns") for t in (lo, hi))
        per: dict[str, Counter] = defaultdict(Counter)
        for vid, tid in zip(ids, tids, strict=True):
            i = self.truth.pos[vid]
            if lo_ns <= self.truth.published[i] < hi_ns:
                per[lab[i]][tid or NONE_LABEL] += 1
        return per


def threshold_crossing(truth: Truth, name: str, domain: str, cfg: Any, end: datetime) -> datetime | None:
    """First midnight whose pool window holds more than the birth threshold of planted ``name``'s videos."""
    from ray_topics.tiers.daily import thresholds

    mine = np.sort(truth.published[truth.raw == name])
    dom = np.sort(truth.published[truth.domain == domain])
    if not len(mine):
        return None
    w = cfg.daily.pool_window_days
    d = floor_day(pd.Timestamp(mine[0]).to_pydatetime())
    while d <= end:
        d += timedelta(days=1)
        hi = np.datetime64(d.replace(tzinfo=None), "ns")
        lo = np.datetime64((d - timedelta(days=w)).replace(tzinfo=None), "ns")
        n = np.searchsorted(mine, hi) - np.searchsorted(mine, lo)
        volume = (np.searchsorted(dom, hi) - np.searchsorted(dom, lo)) / w
        _pool, min_cluster = thresholds(cfg.daily, volume)
        if n > min_cluster:
            return d
    return None


# ----------------------------------------------------------------------------- the figures


def planted_figures(
    cfg: Any,
    truth: Truth,
    obs: PlantedObserver,
    store: Any,
    stream_labels: np.ndarray,
    misfit_labels: np.ndarray,
    counters_raw: dict[str, Counter],
    end: datetime,
    days: int,
    full_labels: np.ndarray | None = None,
    more_runs_hint: str = "",
) -> tuple[Figures, dict[str, Any]]:
    """The planted-truth figures (table A of ``benchmarks.quality``) and their details.

    Args:
        cfg: the replay's config.
        truth: the planted labels.
        obs: the observer that watched the replay.
        store: the replay's store (its events and topics as they end).
        stream_labels: each video's final topic (truth order; :data:`NONE_LABEL` for none).
        misfit_labels: the same with misfits (confidence below ``daily.misfit_confidence``) as none.
        counters_raw: per topic id, its members by raw planted label (:meth:`Truth.counters`).
        end: the event time the replay ended at.
        days: the stream's length (named in the id-stability row).
        full_labels: a full fit's labels (truth order), the baseline column; None: no baseline.
        more_runs_hint: appended to the id-stability row when fewer than three monthly runs passed.

    Returns:
        (the table, {"planted_births", "false_births", "planted_deaths", "agreement",
        "id_stability", "monthly_holders"}).
    """
    events = store.topics.events()
    table = Figures(ours="streaming", baseline="full retrain")
    topics = truth.topics

    # --- A1 planted births --------------------------------------------------------------
    births_detail = []
    delays_crossing, delays_first = [], []
    for name, row in topics.iterrows():
        if int(row["start_day"]) <= 0:
            continue
        first = pd.Timestamp(row["birth_at"]).to_pydatetime()
        crossing = threshold_crossing(truth, name, row["domain"], cfg, end)
        born = next((b for b in obs.births if b["raw"]["majority"] == name and b["raw"]["share"] > PURITY), None)
        plural = next((b for b in obs.births if b["raw"]["majority"] == name), None)
        born_at = datetime.fromisoformat(born["at"]) if born else None
        d_cross = (born_at - crossing).total_seconds() / 86400 if born_at and crossing else None
        d_first = (born_at - first).total_seconds() / 86400 if born_at else None
        if d_cross is not None:
            delays_crossing.append(d_cross)
        if d_first is not None:
            delays_first.append(d_first)
        births_detail.append(
            {
                "planted": name,
                "first_video": first.isoformat(),
                "threshold_crossed": crossing.isoformat() if crossing else None,
                "born": born_at.isoformat() if born_at else None,
                "topic_id": born["topic_id"] if born else None,
                "share_at_birth": born["raw"]["share"] if born else None,
                "first_birth_as_plurality": None
                if plural is None
                else {k: plural[k] for k in ("topic_id", "at")} | {"share": plural["raw"]["share"]},
                "delay_from_crossing_days": d_cross,
                "delay_from_first_video_days": d_first,
            }
        )
        table.add(
            f"birth delay {name} (days after threshold crossed)",
            f"<= {BIRTH_DELAY_GOAL_DAYS:g}",
            (
                ("never born" if plural is None else f"never born pure (plurality {plural['raw']['share']:.0%})")
                if born is None
                else round(d_cross, 2)
                if d_cross is not None
                else "no crossing"
            ),
            None,
            born is not None and d_cross is not None and d_cross <= BIRTH_DELAY_GOAL_DAYS,
        )

    # --- A2 false births ----------------------------------------------------------------
    n_births = len(obs.births)
    false_stats = {}
    for view in ("raw", "intended"):
        false = [b for b in obs.births if b[view]["false"]]
        share = len(false) / n_births if n_births else 0.0
        reasons = Counter(b[view]["false"] for b in false)
        false_stats[view] = {"false": len(false), "births": n_births, "share": share, "reasons": dict(reasons)}
        why = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
        table.add(
            f"false births ({view} truth{'' if view == 'raw' else ': merge pair one, split parts two'})",
            f"<= {FALSE_BIRTH_GOAL:.0%}",
            f"{len(false)}/{n_births} = {share:.1%}" + (f" ({why})" if why else ""),
            None,
            share <= FALSE_BIRTH_GOAL,
        )

    # --- A2b planted splits ------------------------------------------------------------
    for name, rec in obs.splits.items():
        table.add(
            f"planted split {name}: parts held by distinct topics (days after the fork)",
            "(info)",
            round(rec["delay_days"], 2) if rec["delay_days"] is not None else f"not separated: {rec['holders']}",
            None,
        )

    # --- A3 planted deaths --------------------------------------------------------------
    deaths_detail = []
    for name, row in topics.iterrows():
        if pd.isna(row["end_day"]):
            continue
        mine = truth.published[truth.raw == name]
        last = pd.Timestamp(mine.max()).tz_localize("UTC").to_pydatetime() if len(mine) else None
        holders = Counter({t: c[name] for t, c in counters_raw.items() if c.get(name)})
        holder = holders.most_common(1)[0][0] if holders else None
        dying = next(
            (e for e in events if e["topic_id"] == holder and e["type"] in ("dying", "death") and e["at"] >= last),
            None,
        )
        delay = (dying["at"] - last).total_seconds() / 86400 if dying and last else None
        t = store.topics.get(holder) if holder else None
        horizon_ok = last is not None and (end - last).days >= DYING_GOAL_DAYS
        deaths_detail.append(
            {
                "planted": name,
                "last_video": last.isoformat() if last else None,
                "topic_id": holder,
                "status": t.status if t else None,
                "topic_last_seen_at": t.last_seen_at.isoformat() if t else None,
                "dying_at": dying["at"].isoformat() if dying else None,
                "delay_days": delay,
                "other_holders": dict(holders.most_common()[1:4]),
            }
        )
        shown = round(delay, 2) if delay is not None else (f"not marked ({t.status})" if t else "never a topic")
        if not horizon_ok and delay is None:
            shown = f"stream ends {(end - last).days}d after last video"
        table.add(
            f"planted death {name}: dying marked (days after last video)",
            f"<= {DYING_GOAL_DAYS:g}",
            shown,
            None,
            None if (not horizon_ok and delay is None) else (delay is not None and delay <= DYING_GOAL_DAYS),
        )

    # --- A4 agreement ---------------------------------------------------------------
    agree = {
        "stream_vs_raw": agreement(stream_labels, truth.raw),
        "stream_vs_intended": agreement(stream_labels, truth.intended),
        "stream_misfits_vs_raw": agreement(misfit_labels, truth.raw),
    }
    if full_labels is not None:
        agree["full_vs_raw"] = agreement(full_labels, truth.raw)
        agree["full_vs_intended"] = agreement(full_labels, truth.intended)
        agree["stream_vs_full"] = agreement(stream_labels, full_labels)
    for view, label in (("raw", "planted topics"), ("intended", "merge pair one, split parts two")):
        s, f = agree[f"stream_vs_{view}"], agree.get(f"full_vs_{view}", {})
        table.add(f"NMI vs truth ({label})", f">= {NMI_GOAL}", s["nmi"], f.get("nmi"), s["nmi"] >= NMI_GOAL)
        table.add(f"ARI vs truth ({label})", "(info)", s["ari"], f.get("ari"))
    s = agree["stream_misfits_vs_raw"]
    table.add("NMI vs truth, confidence < misfit threshold as no topic", "(info)", s["nmi"], None)

    # --- A5 id stability over monthly runs ----------------------------------------------
    stability = {}
    runs = obs.monthly
    for view in ("raw", "intended"):
        names = sorted({n for m in runs for n in m[view]})
        for name in names:
            holders = [m[view].get(name, {}).get("holder") for m in runs if name in m[view]]
            stability.setdefault(view, {})[name] = holders
    n_runs = len(runs)
    if n_runs >= 3:
        view = "intended"
        alive = {n: h for n, h in stability[view].items() if len(h) == n_runs}
        stable = [n for n, h in alive.items() if len(set(h)) == 1 and h[0] != NONE_LABEL]
        table.add(
            f"planted topics keeping one id over {n_runs} monthly runs (merge pair one, split parts two)",
            "all",
            f"{len(stable)}/{len(alive)}",
            None,
            len(stable) == len(alive),
        )
    else:
        table.add(
            "planted topics keeping one id over 3 monthly runs",
            "all",
            f"only {n_runs} monthly run(s) in {days} days{more_runs_hint}",
            None,
            None,
        )

    # --- A6 emergence summary -----------------------------------------------------------
    if delays_crossing:
        table.add(
            "emergence delay after threshold crossed: median / max (days)",
            "(info)",
            f"{np.median(delays_crossing):.2f} / {max(delays_crossing):.2f}",
            None,
        )
    if delays_first:
        table.add(
            "emergence delay after first video: median / max (days)",
            "(info)",
            f"{np.median(delays_first):.2f} / {max(delays_first):.2f}",
            None,
        )

    details = {
        "planted_births": births_detail,
        "false_births": false_stats,
        "planted_deaths": deaths_detail,
        "agreement": agree,
        "id_stability": stability,
        "monthly_holders": runs,
    }
    return table, details
