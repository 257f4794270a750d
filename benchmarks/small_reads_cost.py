"""The small reads that run every few seconds or after every job run, on years of job history: this tree beside
an earlier one's.

Four reads over tables that grow by rows per job run: each domain's newest model
version (every DomainModel replica polls it every ``serve.model_poll_seconds``),
a job's runs of a window and its newest success (after every run that pushes
metrics; the story view), and the echo births (the daily echo check). Before
session 35 they read every version ever published and every run or event of
the job; they now read by key (``ix_runs_job_end``, ``ix_events_type_at``, a
walk of ``model_versions``' primary key). Since session 36 the echo check reads
the echo births of its reach only (``ray_topics.tiers.echo.echo_reach``, timed
on the day after the history): its answer is the newest of the baseline's.

A store is seeded directly with ``--years`` of history for ``--domains``
domains: an hourly refine run and a daily stories run, and per domain a daily,
weekly and monthly run, ``--versions-per-day`` published model versions and
``--events-per-day`` lineage events (one birth in ten an echo). The baseline
tree reads it first, without the indexes this tree adds (dropped; that tree
does not know them); this tree's store open then creates them (not timed).
Each read is timed in a fresh process per tree, median of ``--repeats`` after a
warm-up.

Usage, from the repository root::

    git worktree add /tmp/before e02f236
    .venv/bin/python -m benchmarks.small_reads_cost --baseline-tree /tmp/before
    .venv/bin/python -m benchmarks.small_reads_cost --baseline-tree /tmp/before \\
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, Table, in_tree, main_of, parser, run_info, scratch
from benchmarks.health_cost import pg_schema

START = datetime(2025, 1, 1, tzinfo=UTC)
NEW_INDEXES = {"job_runs": "ix_runs_job_end", "topic_events": "ix_events_type_at"}  # this tree's
ECHO_SHARE = 10  # one birth in ten is an echo
BIRTH_SHARE = 30  # one event in thirty is a birth (the rest drift and health)
INSERT_CHUNK = 20_000
ECHO_READ = "echo births (topics.echoes)"  # a tree that bounds it reads the newest echoes only (its reach)


def child_main(spec_path: str) -> None:
    """In a fresh process: each read timed on the store; to ``spec["out"]``."""
    spec = json.loads(Path(spec_path).read_text())
    import ray_topics
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import open_store

    cfg = load_config(overrides=spec["overrides"], workdir=spec["workdir"])
    store = open_store(cfg)
    as_of = datetime.fromisoformat(spec["as_of"])
    reads: dict[str, Callable[[], Any]] = {
        "model poll (latest_versions)": store.models.latest_versions,
        "runs of a window (runs.ids)": lambda: store.runs.ids("refine", as_of),
        "newest success (runs.newest_success)": lambda: store.runs.newest_success("refine"),
        ECHO_READ: _echo_read(store, cfg, datetime.fromisoformat(spec["end"])),
    }
    out: dict[str, Any] = {"ray_topics": str(Path(ray_topics.__file__).resolve().parent), "reads": {}}
    for name, read in reads.items():
        answer = read()  # warm-up, and the answer both trees must give
        times = []
        for _ in range(spec["repeats"]):
            t = time.perf_counter()
            read()
            times.append(time.perf_counter() - t)
        out["reads"][name] = {"ms": 1000 * statistics.median(times), "answer": _plain(answer), "rows": _rows(answer)}
    store.dispose()
    Path(spec["out"]).write_text(json.dumps(out))


def _echo_read(store: Any, cfg: Any, end: datetime) -> Callable[[], Any]:
    """The daily echo check's read (``guests_of``) on the day after the history: since its reach where the
    tree bounds it (session 36: :func:`ray_topics.tiers.echo.echo_reach`), every echo birth before."""
    try:
        from ray_topics.tiers.echo import echo_reach
    except ImportError:
        return store.topics.echoes
    since = echo_reach(cfg, end - timedelta(days=cfg.daily.pool_window_days))
    return lambda: store.topics.echoes(since=since)


def _rows(answer: Any) -> int | None:
    return len(answer) if isinstance(answer, list | dict) else None


def _plain(answer: Any) -> Any:
    """An answer as JSON compares it: datetimes as text, sequences as lists."""
    if isinstance(answer, datetime):
        return answer.isoformat()
    if isinstance(answer, dict):
        return {k: _plain(v) for k, v in sorted(answer.items())}
    if isinstance(answer, list | tuple):
        return [_plain(v) for v in answer]
    return answer


def _history(args: argparse.Namespace, domains: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) of ``--years`` of job history."""
    days = int(365 * args.years)
    for h in range(days * 24):
        end = START + timedelta(hours=h + 1)
        yield "job_runs", _run("refine", "*", end - timedelta(hours=1), end)
    for d in range(days):
        end = START + timedelta(days=d + 1)
        yield "job_runs", _run("stories", "*", end - timedelta(days=1), end)
        for k, domain in enumerate(domains):
            yield "job_runs", _run("daily", domain, end - timedelta(days=1), end)
            if d % 7 == 6:
                yield "job_runs", _run("weekly", domain, end - timedelta(days=7), end)
            if d % 30 == 29:
                yield "job_runs", _run("monthly", domain, end - timedelta(days=30), end)
            for v in range(args.versions_per_day):
                version = d * args.versions_per_day + v + 1
                yield "model_versions", {"domain": domain, "version": version, "created_at": end, "job": "daily",
                                         "n_topics": 0, "payload": b"-"}  # fmt: skip
            for e in range(args.events_per_day):
                at = end - timedelta(minutes=e + 1)
                birth = (d * args.events_per_day + e + k) % BIRTH_SHARE == 0
                echo = birth and (d + e) % ECHO_SHARE == 0
                yield "topic_events", {"domain": domain, "topic_id": f"{domain}:{e}", "type": "birth" if birth
                                       else "drift", "at": at, "related": [], "details": {"echo_of": f"{domain}:0"}
                                       if echo else {}, "job_run_id": None}  # fmt: skip


def _run(job: str, domain: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {"job": job, "domain": domain, "window_start": start, "window_end": end, "status": "succeeded",
            "started_at": end, "finished_at": end, "stats": {}}  # fmt: skip


def seed(store: Any, args: argparse.Namespace, domains: list[str]) -> dict[str, int]:
    """Write the history in chunks; how many rows each table got."""
    from sqlalchemy import insert

    counts: dict[str, int] = {}
    batch: dict[str, list[dict[str, Any]]] = {}

    def flush(table: str) -> None:
        with store.begin() as conn:
            conn.execute(insert(store.table(table)), batch.pop(table))

    for table, row in _history(args, domains):
        batch.setdefault(table, []).append(row)
        counts[table] = counts.get(table, 0) + 1
        if len(batch[table]) >= INSERT_CHUNK:
            flush(table)
    for table in list(batch):
        flush(table)
    return counts


def drop_new_indexes(store: Any) -> None:
    from sqlalchemy import text

    prefix = f'"{store.schema}".' if store.schema else ""
    with store.begin() as conn:
        for name in NEW_INDEXES.values():
            conn.execute(text(f"DROP INDEX IF EXISTS {prefix}{name}"))


def analyze(store: Any) -> None:
    """PostgreSQL's statistics, as a live database has them (SQLite's planner needs none here)."""
    from sqlalchemy import text

    if store.engine.dialect.name == "postgresql":
        with store.begin() as conn:
            for table in ("job_runs", "topic_events", "model_versions"):
                conn.execute(text(f'ANALYZE "{store.schema}".{table}'))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import open_store

    trees = [("before", Path(args.baseline_tree).resolve())] if args.baseline_tree else []
    trees.append(("this tree", ROOT))
    heads = ["read", "tree", "rows read", "median ms", "ratio to before"]
    table = Table(["read", "tree", "rows", "ms", "ratio"], heads, right=True)
    rows: list[dict[str, Any]] = []
    with scratch(args, "small-reads-") as workdir, pg_schema(args, "small_reads") as pg:
        overrides = [*args.set, *pg]
        cfg = load_config(overrides=overrides, workdir=str(workdir))
        store = open_store(cfg)
        t = time.perf_counter()
        counts = seed(store, args, [f"domain{k:02d}" for k in range(args.domains)])
        print(f"seeded {counts} in {time.perf_counter() - t:.0f} s")
        as_of = START + timedelta(days=int(365 * args.years) // 2, hours=5)
        end = START + timedelta(days=int(365 * args.years))
        spec = {"workdir": str(workdir), "overrides": overrides, "repeats": args.repeats, "as_of": as_of.isoformat(),
                "end": end.isoformat()}  # fmt: skip
        answers: dict[str, Any] = {}
        base: dict[str, float] = {}
        for name, tree in trees:
            if name == "before":
                drop_new_indexes(store)
            else:  # this tree's open creates them (not timed)
                open_store(cfg).dispose()
            analyze(store)
            got = in_tree(tree, "benchmarks.small_reads_cost:child_main", spec)
            print(f"  {name}: ray_topics from {got['ray_topics']}")
            for read, r in got["reads"].items():
                first = answers.setdefault(read, r["answer"])
                if r["answer"] != (first[len(first) - len(r["answer"]) :] if read == ECHO_READ else first):
                    raise SystemExit(f"{read}: the trees' answers differ")  # the reach's echoes are the newest
                if name == "before":
                    base[read] = r["ms"]
                table.add_row(read, name, r["rows"], r["ms"], r["ms"] / base[read] if read in base else None)
                rows.append({"read": read, "tree": name, "ms": r["ms"], "rows": r["rows"]})
        store.dispose()
    table.print(f"{args.years:g} year(s) of job history, {args.domains} domains ({counts}): medians")
    return {**run_info(args), "counts": counts, "rows": rows, "tables": {"small_reads_cost": table.rows}}


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__)
    p.add_argument("--years", type=float, default=1.0, help="years of job history seeded (default 1)")
    p.add_argument("--domains", type=int, default=10, help="domains (default 10)")
    p.add_argument("--versions-per-day", type=int, default=2, help="model versions a domain publishes a day")
    p.add_argument("--events-per-day", type=int, default=30, help="lineage events a domain records a day")
    p.add_argument("--repeats", type=int, default=20, help="timed reads per tree (default 20)")
    p.add_argument("--baseline-tree", help="a checkout of an earlier commit, measured first on the same store")
    p.add_argument("--pg-url", help="seed a PostgreSQL store there instead (schema small_reads, dropped)")
    return p


main = main_of(build_parser, run)

if __name__ == "__main__":
    raise SystemExit(main())
