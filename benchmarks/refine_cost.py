"""CPU cost of one hourly refine run as the store's history grows, and of the two queries that must not grow with it.

For each history size (``--histories``, days of ~``--daily-volume`` synthetic
videos from :func:`ray_topics.streams.planted.default_scenario`), the store
holds what it holds in steady state just before the run at ``as_of`` = day H,
13:00 UTC:

* every video published before ``as_of`` with its classification: ``refined``,
  except the last hour's (~``daily_volume / 24``), still ``preliminary``;
* hot embeddings of the last ``refine.hot_retention_days`` days plus one hour,
  compacted except the last hour (older ones were evicted by earlier runs);
* one model version per domain (a topic per planted topic);
* a lake holding the two closed days before, compacted into day files, and
  today's closed hours.

Then, each on a fresh copy of that store and lake, ``--repeats`` times (the
median is shown; CPU is ``time.process_time`` plus reaped children: SQLite runs
in-process, so its query work is included):

* ``run_refine`` once, exactly as ``ray-topics refine`` runs it (one hour:
  refine ~40 videos, compact the hour, evict the hour that left the retention
  window);
* the run's two queries whose cost could follow the history, each alone: the
  refinement queue (``store.classifications.pending`` of every domain) and the
  hot table's eviction (``store.videos.evict_hot``), on the current schema
  ("new") and on the schema before the queue's index (now ``ix_class_queue``) and
  ``ix_embeddings_published`` with the eviction statement of that time ("old":
  :func:`old_evict_hot`, raw SQL on the store's tables).

The set-up (bulk inserts, lake files) is not timed. Last, the lake's read
side: one week (what the weekly tier reads) of hour files against the same
week compacted into day files.

Usage, from the repository root (timing runs hold the benchmark lock so they do not overlap)::

    flock /tmp/ray-topics-bench.lock .venv/bin/python -m benchmarks.refine_cost
    .venv/bin/python -m benchmarks.refine_cost --histories 5,10 --repeats 1   # a quick look
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, text

from benchmarks.harness import Table, finish, parser, run_info, scratch, start, timed
from ray_topics.config import load_config
from ray_topics.core.lifecycle import make_topic
from ray_topics.core.timeutil import as_utc, floor_day
from ray_topics.core.types import ClassificationStatus
from ray_topics.execution.runtime import Runtime
from ray_topics.storage.lake import Lake
from ray_topics.storage.registry import ModelRegistry
from ray_topics.storage.schema import pack
from ray_topics.storage.store import Store
from ray_topics.streams.planted import default_scenario
from ray_topics.streams.synthetic import generate
from ray_topics.tiers.refine import run_refine

H = timedelta(hours=1)
DAY = timedelta(days=1)
RUN_HOUR = 13  # the measured run: as_of = day H at 13:00 UTC
INSERT_CHUNK = 20_000
NS = 1_000_000_000


# ----------------------------------------------------------------------------- the schema before the refine indexes


def old_evict_hot(store: Store, before: datetime) -> int:
    """The eviction statement before the refine indexes: driven by every refined classification in the store."""
    e, c = store.table("embeddings"), store.table("classifications")
    refined = select(c.c.video_id).where(c.c.status == ClassificationStatus.REFINED)
    with store.begin() as conn:
        res = conn.execute(
            e.delete().where(e.c.compacted_at.is_not(None), e.c.published_at < before, e.c.video_id.in_(refined))
        )
        return int(res.rowcount or 0)


def to_old_schema(db: Path) -> None:
    """The indexes the store had before the refine indexes (open it with ``create=False`` after)."""
    s = Store(f"sqlite:///{db}", create=False)
    with s.begin() as conn:
        conn.execute(text("DROP INDEX ix_class_queue"))
        conn.execute(text("DROP INDEX ix_embeddings_published"))
        conn.execute(text("CREATE INDEX ix_class_status ON classifications (status, domain)"))
    _close(s)


def _close(s: Store) -> None:
    """Checkpoint SQLite's WAL into the database file (so that a copy of the file is the whole store), then close."""
    with s.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    s.dispose()


# ----------------------------------------------------------------------------- set-up (not timed)


class History:
    """One store that grows from checkpoint to checkpoint, with a lake template per checkpoint."""

    def __init__(self, workdir: Path, days: int, daily_volume: int, seed: int, overrides: Sequence[str]) -> None:
        self.workdir = workdir
        self.overrides = list(overrides)
        spec = replace(default_scenario(days=days + 1, daily_volume=daily_volume, seed=seed), with_text=False)
        stream = generate(spec)
        self.videos, self.emb = stream.videos, stream.embeddings
        self.start = as_utc(spec.start)
        self.pub_ns = self.videos["published_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("int64")
        self.vid, self.dom = self.videos["video_id"].tolist(), self.videos["domain"].tolist()
        self.chan, self.views = self.videos["channel_id"].tolist(), self.videos["views"].astype("int64").tolist()
        self.db = workdir / "base.db"
        self.cfg = self.config(self.db, workdir / "unused-lake")
        self.store = Store(f"sqlite:///{self.db}")
        self.loaded = 0  # rows of ``videos`` already in the store
        self._publish_models(stream)

    def config(self, db: Path, lake: Path) -> Any:
        return load_config(
            overrides=[f"store.url=sqlite:///{db}", f"lake.root={lake}", *self.overrides], workdir=str(self.workdir)
        )

    def _index(self, t: datetime) -> int:
        return int(np.searchsorted(self.pub_ns, int(as_utc(t).timestamp()) * NS, "left"))

    def _at(self, i: int) -> datetime:
        return datetime.fromtimestamp(self.pub_ns[i] / NS, UTC)

    def _publish_models(self, stream: Any) -> None:
        uq = self.cfg.weekly.calibration_upper_quantile
        registry = ModelRegistry(self.store, self.cfg.embedding.dim)
        truth = self.videos["true_topic"].to_numpy()
        by_domain = defaultdict(list)
        for name, domain, words in stream.topics[["name", "domain", "words"]].itertuples(index=False):
            members = self.emb[np.flatnonzero(truth == name)[:2000]]
            if len(members):
                n = len(by_domain[domain])
                by_domain[domain].append(make_topic(domain, n, members, words[:5], self.start, upper_quantile=uq))
        with self.store.begin() as conn:
            for domain, topics in by_domain.items():
                self.store.topics.upsert(topics, conn)
                registry.publish(domain, self.start, "bootstrap", conn)

    def advance(self, as_of: datetime) -> dict[str, int]:
        """Bring the store to its state just before the refine run at ``as_of`` (bulk SQL on the store's tables)."""
        s = self.store
        hour0 = as_of - H
        lo, hi, cut = self.loaded, self._index(as_of), self._index(hour0)
        with s.begin() as conn:
            conn.execute(s.table("classifications").update().values(status=ClassificationStatus.REFINED))
            conn.execute(s.table("embeddings").delete())
        for a in range(lo, hi, INSERT_CHUNK):
            idx = range(a, min(a + INSERT_CHUNK, hi))
            pub = [self._at(i) for i in idx]
            with s.begin() as conn:
                conn.execute(
                    s.table("videos").insert(),
                    [
                        {"video_id": self.vid[i], "domain": self.dom[i], "channel_id": self.chan[i],
                         "published_at": p, "title": "", "description": "", "tags": [], "views": self.views[i]}
                        for i, p in zip(idx, pub, strict=True)
                    ],
                )  # fmt: skip
                conn.execute(
                    s.table("classifications").insert(),
                    [
                        {"video_id": self.vid[i], "domain": self.dom[i], "published_at": p,
                         "topic_id": f"{self.dom[i]}:0", "confidence": 0.8,
                         "status": ClassificationStatus.PRELIMINARY if i >= cut else ClassificationStatus.REFINED,
                         "model_version": f"{self.dom[i]}@v1", "classified_at": p + (timedelta(0) if i >= cut else H)}
                        for i, p in zip(idx, pub, strict=True)
                    ],
                )  # fmt: skip
        hot_lo = self._index(hour0 - timedelta(days=self.cfg.refine.hot_retention_days))
        with s.begin() as conn:
            conn.execute(
                s.table("embeddings").insert(),
                [
                    {"video_id": self.vid[i], "domain": self.dom[i], "published_at": self._at(i),
                     "vector": pack(self.emb[i]), "compacted_at": None if i >= cut else hour0}
                    for i in range(hot_lo, hi)
                ],
            )  # fmt: skip
        self.loaded = hi
        _close(s)
        self.store = Store(f"sqlite:///{self.db}")
        return {"videos": hi, "pending": hi - cut, "hot": hi - hot_lo}

    def lake_template(self, as_of: datetime, root: Path) -> None:
        """Day files of the two days before ``as_of``'s day (compacted) and hour files of its closed hours."""
        lake = Lake(str(root), self.cfg.embedding.dim)
        today = floor_day(as_of)
        self.write_hours(lake, today - 2 * DAY, as_of - H)
        lake.compact_days([(today - i * DAY).date() for i in (1, 2)])

    def write_hours(self, lake: Lake, start: datetime, end: datetime) -> int:
        """One hour file per closed hour and domain in ``[start, end)``; returns the files written."""
        files = 0
        h = start
        while h < end:
            lo, hi = self._index(h), self._index(h + H)
            for domain in sorted(set(self.dom[lo:hi])):
                rows = [
                    {"video_id": self.vid[i], "published_at": self._at(i), "channel_id": self.chan[i],
                     "views": self.views[i], "vector": self.emb[i]}
                    for i in range(lo, hi)
                    if self.dom[i] == domain
                ]  # fmt: skip
                lake.write_hour(domain, h, rows)
                files += 1
            h += H
        return files


# ----------------------------------------------------------------------------- measurement


def _fresh(src: Path, dst: Path) -> Path:
    """A fresh copy of ``src`` (a file or a folder) at ``dst``."""
    if dst.is_dir():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)
    return dst


def refine_run(hist: History, as_of: datetime, db_src: Path, lake_src: Path, work: Path) -> dict[str, Any]:
    """One ``run_refine`` on fresh copies of the store and the lake: CPU and wall seconds, and its stats."""
    db, lake_root = _fresh(db_src, work / "store.db"), _fresh(lake_src, work / "lake")
    rt = Runtime(hist.config(db, lake_root))
    _ = rt.store, rt.lake  # opened before the clock starts
    with timed() as t:
        stats = run_refine(rt, as_of)
    rt.store.dispose()
    return {"cpu_s": t.cpu_s, "wall_s": t.wall_s, "stats": stats}


def queries(hist: History, as_of: datetime, db_src: Path, work: Path, old: bool) -> dict[str, Any]:
    """The run's queue read and eviction, each alone, on a fresh copy of the store (``old``: the old schema)."""
    db = _fresh(db_src, work / "store.db")
    store = Store(f"sqlite:///{db}", create=not old)  # create() would give the old schema the new indexes
    batch = hist.cfg.refine.batch_size
    with timed() as pending:
        queued = sum(
            len(store.classifications.pending(d, batch, published_before=as_of)) for d in hist.cfg.domains.names
        )
    before = as_of - timedelta(days=hist.cfg.refine.hot_retention_days)
    with timed() as evict:
        evicted = old_evict_hot(store, before) if old else store.videos.evict_hot(before)
    store.dispose()
    return {"pending_cpu_s": pending.cpu_s, "evict_hot_cpu_s": evict.cpu_s, "queued": queued, "evicted": evicted}


def lake_reads(hist: History, as_of: datetime, work: Path, repeats: int) -> dict[str, Any]:
    """A week of hour files read whole, then the same week after day compaction."""
    lake = Lake(str(work / "week-lake"), hist.cfg.embedding.dim)
    end = floor_day(as_of)
    start = end - 7 * DAY
    files = hist.write_hours(lake, start, end)

    def timed_read() -> tuple[float, int]:
        cpu = []
        for _ in range(repeats):
            with timed() as t:
                ids, _vecs = lake.read(start, end)
            cpu.append(t.cpu_s)
        return statistics.median(cpu), len(ids)

    hour_cpu, n = timed_read()
    with timed() as compaction:
        day_files = lake.compact_days([(start + i * DAY).date() for i in range(7)])
    day_cpu, n2 = timed_read()
    assert n == n2, (n, n2)
    return {
        "rows": n,
        "hour_files": files,
        "day_files": len(day_files),
        "read_hour_files_cpu_s": hour_cpu,
        "read_day_files_cpu_s": day_cpu,
        "compact_week_cpu_s": compaction.cpu_s,
    }


# ----------------------------------------------------------------------------- the run


COLUMNS = {  # key in the JSON rows: printed header
    "history": "history",
    "videos": "videos",
    "pending": "pending",
    "hot": "hot",
    "refine_cpu_s": "refine CPU s",
    "refine_wall_s": "refine wall s",
    "pending_old_cpu_s": "pending() old",
    "pending_new_cpu_s": "pending() new",
    "evict_hot_old_cpu_s": "evict_hot() old",
    "evict_hot_new_cpu_s": "evict_hot() new",
}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sizes = sorted(int(x) for x in args.histories.split(","))
    t0 = time.perf_counter()
    hist = History(work, sizes[-1] + 1, args.daily_volume, args.seed, args.set)
    print(
        f"stream: {len(hist.videos)} videos over {sizes[-1] + 2} days, {args.daily_volume} videos/day, "
        f"SQLite store, local lake (set-up {time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    table = Table(list(COLUMNS), list(COLUMNS.values()), nd=3, right=True)
    results: list[dict[str, Any]] = []
    for days in sizes:
        as_of = hist.start + days * DAY + RUN_HOUR * H
        shape = hist.advance(as_of)
        lake_src = work / f"lake-{days}"
        hist.lake_template(as_of, lake_src)
        old_db = _fresh(hist.db, work / f"old-{days}.db")
        to_old_schema(old_db)
        runs: list[dict[str, Any]] = []
        new: list[dict[str, Any]] = []
        old: list[dict[str, Any]] = []
        for r in range(args.repeats):  # alternating, so that a slower stretch of the machine hits every side
            for variant in ("run", "new", "old") if r % 2 == 0 else ("old", "new", "run"):
                if variant == "run":
                    runs.append(refine_run(hist, as_of, hist.db, lake_src, work / "run"))
                elif variant == "new":
                    new.append(queries(hist, as_of, hist.db, work / "run", old=False))
                else:
                    old.append(queries(hist, as_of, old_db, work / "run", old=True))

        def med(ms: list[dict[str, Any]], key: str) -> float:
            return statistics.median(m[key] for m in ms)

        row = {
            "history_days": days,
            **shape,
            "refine_cpu_s": med(runs, "cpu_s"),
            "refine_wall_s": med(runs, "wall_s"),
            "pending_cpu_s": {"old": med(old, "pending_cpu_s"), "new": med(new, "pending_cpu_s")},
            "evict_hot_cpu_s": {"old": med(old, "evict_hot_cpu_s"), "new": med(new, "evict_hot_cpu_s")},
            "evicted": {"old": old[0]["evicted"], "new": new[0]["evicted"]},
            "stats": runs[0]["stats"],
        }
        results.append(row)
        table.add_row(
            f"{days} days",
            f"{shape['videos']:,}",
            shape["pending"],
            f"{shape['hot']:,}",
            row["refine_cpu_s"],
            row["refine_wall_s"],
            *row["pending_cpu_s"].values(),
            *row["evict_hot_cpu_s"].values(),
        )
        st = row["stats"]
        print(
            f"  {days:>3} days: refine CPU {row['refine_cpu_s']:.3f} s; refined {sum(st['refined'].values())}, "
            f"compacted {st['compacted']}, evicted {st['evicted']}",
            flush=True,
        )
    reads = lake_reads(hist, hist.start + sizes[-1] * DAY + RUN_HOUR * H, work, max(args.repeats, 3))
    table.print(
        f"one refine run, median of {args.repeats} on fresh copies; its two queries alone, old schema and new (CPU s)"
    )
    print(
        f"\nlake, one week ({reads['rows']} rows): read {reads['hour_files']} hour files "
        f"{reads['read_hour_files_cpu_s']:.3f} CPU s, {reads['day_files']} day files "
        f"{reads['read_day_files_cpu_s']:.3f} CPU s; compacting the week took {reads['compact_week_cpu_s']:.3f} CPU s"
    )
    print(f"total {time.perf_counter() - t0:.0f} s")
    return {
        **run_info(args),
        "daily_volume": args.daily_volume,
        "repeats": args.repeats,
        "runs": results,
        "lake": reads,
        "tables": {"per_history": table.rows},
        "markdown": {"per_history": table.markdown()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--histories", default="10,30,90", help="days of history before the measured run (default 10,30,90)")
    p.add_argument("--daily-volume", type=int, default=1000, help="videos per day, all domains (default 1000)")
    p.add_argument("--repeats", type=int, default=3, help="runs per measurement and size (median reported)")
    args = p.parse_args(argv)
    start(args)
    with scratch(args, "ray-topics-refine-cost-") as work:
        return finish(args, run(args, work))


if __name__ == "__main__":
    sys.exit(main())
