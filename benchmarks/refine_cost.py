"""CPU cost of one hourly refine run as the store's history grows: before and after the refine indexes.

For each history size (``--histories``, days of ~``--daily-volume`` synthetic
videos from :func:`ray_topics.streams.synthetic.default_scenario`), the store holds
what it holds in steady state just before the run at ``as_of`` = day H, 13:00
UTC:

* every video published before ``as_of`` with its classification: ``refined``,
  except the last hour's (~``daily_volume / 24``), still ``preliminary``;
* hot embeddings of the last ``refine.hot_retention_days`` days plus one hour,
  compacted except the last hour (older ones were evicted by earlier runs);
* one model version per domain (a topic per planted topic);
* a lake holding the two closed days before (hour files in the *old* layout,
  one day file per domain in the *new* one) and today's closed hours.

Then ``run_refine`` runs once, exactly as ``ray-topics refine`` runs it (one
hour: refine ~40 videos, compact the hour, evict the hour that left the
retention window), on a fresh copy of that store, in two variants:

* **old**: the schema before this change (``ix_class_status (status, domain)``,
  no ``ix_class_pending``, no ``ix_embeddings_published``), the previous
  ``evict_hot`` statement (``video_id IN (all refined classifications)``, kept
  below as :func:`old_evict_hot`), and no day compaction;
* **new**: the code as it is.

Both run in this process, alternating, ``--repeats`` times each; the table
shows the median CPU seconds (``time.process_time``: SQLite runs in-process, so
its query work is included) with the share spent in ``Store.pending`` and
``Store.evict_hot``. The set-up (bulk inserts, lake files) is not timed.

Last, the lake's read side: one week (what the weekly tier reads) of hour
files against the same week compacted into day files.

Usage (timing runs hold the benchmark lock so they do not overlap)::

    flock /tmp/ray-topics-bench.lock .venv/bin/python benchmarks/refine_cost.py
    .venv/bin/python benchmarks/refine_cost.py --histories 5,10 --repeats 1   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ray_topics.config import load_config  # noqa: E402
from ray_topics.core.lifecycle import make_topic  # noqa: E402
from ray_topics.core.timeutil import floor_hour
from ray_topics.core.types import ClassificationStatus  # noqa: E402
from ray_topics.execution.runtime import Runtime  # noqa: E402
from ray_topics.storage.lake import Lake  # noqa: E402
from ray_topics.storage.schema import pack  # noqa: E402
from ray_topics.storage.store import Store  # noqa: E402
from ray_topics.streams.synthetic import default_scenario, generate  # noqa: E402
from ray_topics.tiers.refine import run_refine  # noqa: E402

H = timedelta(hours=1)
DAY = timedelta(days=1)
RUN_HOUR = 13  # the measured run: as_of = day H at 13:00 UTC
INSERT_CHUNK = 20_000
NS = 1_000_000_000


def old_evict_hot(self: Store, before: datetime) -> int:
    """``Store.evict_hot`` before this change: driven by every refined classification in the store."""
    e, c = self.table("embeddings"), self.table("classifications")
    refined = select(c.c.video_id).where(c.c.status == ClassificationStatus.REFINED)
    with self.engine.begin() as conn:
        res = conn.execute(
            e.delete().where(
                e.c.compacted_at.is_not(None),
                e.c.published_at < to_naive_utc(before),
                e.c.video_id.in_(refined),
            )
        )
        return int(res.rowcount or 0)


def _no_day_compaction(self: Lake, days: Any, domains: Any = None) -> list[str]:
    return []


def to_old_schema(db: Path) -> None:
    """The indexes the store had before this change."""
    s = Store(f"sqlite:///{db}", create=False)
    with s.begin() as conn:
        conn.execute(text("DROP INDEX ix_class_pending"))
        conn.execute(text("DROP INDEX ix_embeddings_published"))
        conn.execute(text("CREATE INDEX ix_class_status ON classifications (status, domain)"))
    _close(s)


def _close(s: Store) -> None:
    with s.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    s.dispose()


@contextlib.contextmanager
def _patched(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in patches]
    for owner, name, fn in patches:
        setattr(owner, name, fn)
    try:
        yield
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def _cpu_timer(fn: Callable[..., Any], key: str, acc: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        c0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[key] += time.process_time() - c0

    return timed


# ----------------------------------------------------------------------------- set-up (not timed)


class History:
    """One store that grows from checkpoint to checkpoint, with a lake template per checkpoint."""

    def __init__(self, workdir: Path, days: int, daily_volume: int, seed: int) -> None:
        self.workdir = workdir
        spec = replace(default_scenario(days=days + 1, daily_volume=daily_volume, seed=seed), with_text=False)
        stream = generate(spec)
        self.videos, self.emb = stream.videos, stream.embeddings
        self.start = spec.start.astimezone(UTC)
        self.pub_ns = self.videos["published_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("int64")
        self.vid, self.dom = self.videos["video_id"].tolist(), self.videos["domain"].tolist()
        self.chan, self.views = self.videos["channel_id"].tolist(), self.videos["views"].astype("int64").tolist()
        self.cfg = self.config(workdir / "base.db", workdir / "unused-lake")
        self.db = workdir / "base.db"
        self.store = Store(f"sqlite:///{self.db}")
        self.loaded = 0  # rows of ``videos`` already in the store
        self._publish_models(stream)

    def config(self, db: Path, lake: Path) -> Any:
        return load_config(overrides=[f"store.url=sqlite:///{db}", f"lake.root={lake}"], workdir=str(self.workdir))

    def _index(self, t: datetime) -> int:
        return int(np.searchsorted(self.pub_ns, int(to_naive_utc(t).timestamp()) * NS, "left"))

    def _naive(self, i: int) -> datetime:
        return datetime.fromtimestamp(self.pub_ns[i] / NS, UTC).replace(tzinfo=None)

    def _publish_models(self, stream: Any) -> None:
        from ray_topics.storage.registry import ModelRegistry

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
        """Bring the store to its state just before the refine run at ``as_of``."""
        s = self.store
        hour0 = as_of - H
        lo, hi, cut = self.loaded, self._index(as_of), self._index(hour0)
        with s.begin() as conn:
            conn.execute(s.table("classifications").update().values(status=ClassificationStatus.REFINED))
            conn.execute(s.table("embeddings").delete())
        for a in range(lo, hi, INSERT_CHUNK):
            idx = range(a, min(a + INSERT_CHUNK, hi))
            pub = [self._naive(i) for i in idx]
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
                         "status": ClassificationStatus.PRELIMINARY if i >= cut else ClassificationStatus.REFINED, "model_version": f"{self.dom[i]}@v1",
                         "classified_at": p + (timedelta(0) if i >= cut else H)}
                        for i, p in zip(idx, pub, strict=True)
                    ],
                )  # fmt: skip
        hot_lo = self._index(hour0 - timedelta(days=self.cfg.refine.hot_retention_days))
        with s.begin() as conn:
            conn.execute(
                s.table("embeddings").insert(),
                [
                    {"video_id": self.vid[i], "domain": self.dom[i], "published_at": self._naive(i),
                     "vector": pack(self.emb[i]),
                     "compacted_at": None if i >= cut else to_naive_utc(hour0)}
                    for i in range(hot_lo, hi)
                ],
            )  # fmt: skip
        self.loaded = hi
        _close(s)
        self.store = Store(f"sqlite:///{self.db}")
        return {"videos": hi, "pending": hi - cut, "hot": hi - hot_lo}

    def lake_template(self, as_of: datetime, root: Path) -> None:
        """Hour files of the two days before ``as_of``'s day and of its closed hours."""
        lake = Lake(str(root), self.cfg.embedding.dim)
        day0 = floor_hour(as_of).replace(hour=0) - 2 * DAY
        self.write_hours(lake, day0, as_of - H)

    def write_hours(self, lake: Lake, start: datetime, end: datetime) -> int:
        files = 0
        h = start
        while h < end:
            lo, hi = self._index(h), self._index(h + H)
            for domain in sorted(set(self.dom[lo:hi])):
                rows = [
                    {"video_id": self.vid[i], "published_at": self._naive(i), "channel_id": self.chan[i],
                     "views": self.views[i], "vector": self.emb[i]}
                    for i in range(lo, hi)
                    if self.dom[i] == domain
                ]  # fmt: skip
                lake.write_hour(domain, h, rows)
                files += 1
            h += H
        return files


# ----------------------------------------------------------------------------- measurement


def measure(hist: History, as_of: datetime, variant: str, db_src: Path, lake_src: Path, scratch: Path) -> dict:
    """One refine run on fresh copies of the store and lake; CPU seconds, total and by step."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    db, lake_root = scratch / "store.db", scratch / "lake"
    shutil.copyfile(db_src, db)
    shutil.copytree(lake_src, lake_root)
    rt = Runtime(hist.config(db, lake_root))
    if variant == "old":  # open without create(): it would add the new indexes back
        rt.__dict__["store"] = Store(f"sqlite:///{db}", create=False)
    _ = rt.store, rt.lake
    acc: dict[str, float] = defaultdict(float)
    evict = old_evict_hot if variant == "old" else Store.evict_hot
    patches = [
        (Store, "pending", _cpu_timer(Store.pending, "pending", acc)),
        (Store, "evict_hot", _cpu_timer(evict, "evict_hot", acc)),
        (Lake, "compact_days", _cpu_timer(_no_day_compaction if variant == "old" else Lake.compact_days, "days", acc)),
    ]
    with _patched(patches):
        w0, c0 = time.perf_counter(), time.process_time()
        stats = run_refine(rt, as_of)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    rt.store.dispose()
    return {"cpu_s": cpu, "wall_s": wall, **{f"{k}_cpu_s": v for k, v in acc.items()}, "stats": stats}


def lake_reads(hist: History, as_of: datetime, scratch: Path, repeats: int) -> dict[str, Any]:
    """A week of hour files read whole, then the same week after day compaction."""
    lake = Lake(str(scratch / "week-lake"), hist.cfg.embedding.dim)
    end = floor_hour(as_of).replace(hour=0)
    start = end - 7 * DAY
    files = hist.write_hours(lake, start, end)

    def timed_read() -> tuple[float, int]:
        cpu = []
        for _ in range(repeats):
            c0 = time.process_time()
            ids, _vecs = lake.read(start, end)
            cpu.append(time.process_time() - c0)
        return statistics.median(cpu), len(ids)

    hour_cpu, n = timed_read()
    c0 = time.process_time()
    day_files = lake.compact_days([(start + i * DAY).date() for i in range(7)])
    compact_cpu = time.process_time() - c0
    day_cpu, n2 = timed_read()
    assert n == n2
    return {
        "rows": n,
        "hour_files": files,
        "day_files": len(day_files),
        "read_hour_files_cpu_s": hour_cpu,
        "read_day_files_cpu_s": day_cpu,
        "compact_week_cpu_s": compact_cpu,
    }


def _machine() -> str:
    mem = ""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    return f"{platform.machine()} {os.cpu_count()} CPU{mem}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", default="10,30,90", help="days of history before the measured run")
    ap.add_argument("--daily-volume", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3, help="runs per variant and size (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="kept when given; a temporary folder otherwise")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    sizes = sorted(int(x) for x in args.histories.split(","))
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="refine-cost-")
    workdir = Path(args.workdir or tmp.name)  # type: ignore[union-attr]
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"machine: {_machine()}; SQLite store, local lake; {args.daily_volume} videos/day, seed {args.seed}")
    hist = History(workdir, sizes[-1] + 1, args.daily_volume, args.seed)
    print(f"stream: {len(hist.videos)} videos over {sizes[-1] + 2} days (set-up {time.perf_counter() - t0:.0f} s)")
    results: list[dict[str, Any]] = []
    header = (
        f"{'history':>8} {'videos':>7} {'pending':>7} {'hot':>5} | {'variant':>7} {'refine CPU s':>12} "
        f"{'pending()':>9} {'evict_hot()':>11} {'day files':>9} | stats of the run"
    )
    print(header)
    print("-" * len(header))
    for days in sizes:
        as_of = hist.start + days * DAY + RUN_HOUR * H
        shape = hist.advance(as_of)
        base_lake = workdir / f"lake-{days}"
        hist.lake_template(as_of, base_lake / "old")
        shutil.copytree(base_lake / "old", base_lake / "new")
        Lake(str(base_lake / "new"), hist.cfg.embedding.dim).compact_days(
            [(floor_hour(as_of).replace(hour=0) - i * DAY).date() for i in (1, 2)]
        )
        old_db = workdir / f"old-{days}.db"
        shutil.copyfile(hist.db, old_db)
        to_old_schema(old_db)
        runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
        for r in range(args.repeats):
            for variant in ("old", "new") if r % 2 == 0 else ("new", "old"):
                src = old_db if variant == "old" else hist.db
                runs[variant].append(measure(hist, as_of, variant, src, base_lake / variant, workdir / "run"))
        for variant in ("old", "new"):
            ms = runs[variant]
            row = {
                "history_days": days,
                **shape,
                "variant": variant,
                **{k: statistics.median(m.get(k, 0.0) for m in ms) for k in ("cpu_s", "wall_s")},
                **{k: statistics.median(m.get(k, 0.0) for m in ms) for k in ("pending_cpu_s", "evict_hot_cpu_s")},
                "days_cpu_s": statistics.median(m.get("days_cpu_s", 0.0) for m in ms),
                "stats": ms[0]["stats"],
            }
            results.append(row)
            st = row["stats"]
            print(
                f"{days:>7}d {shape['videos']:>7} {shape['pending']:>7} {shape['hot']:>5} | {variant:>7} "
                f"{row['cpu_s']:>12.3f} {row['pending_cpu_s']:>9.3f} {row['evict_hot_cpu_s']:>11.3f} "
                f"{row['days_cpu_s']:>9.3f} | refined {sum(st['refined'].values())}, compacted {st['compacted']}, "
                f"evicted {st['evicted']}"
            )
    reads = lake_reads(hist, hist.start + sizes[-1] * DAY + RUN_HOUR * H, workdir, max(args.repeats, 3))
    print(
        f"\nlake, one week ({reads['rows']} rows): read {reads['hour_files']} hour files "
        f"{reads['read_hour_files_cpu_s']:.3f} CPU s, {reads['day_files']} day files "
        f"{reads['read_day_files_cpu_s']:.3f} CPU s; compacting the week took {reads['compact_week_cpu_s']:.3f} CPU s"
    )
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": _machine(), "runs": results, "lake": reads}, indent=2))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
