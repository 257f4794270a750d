"""``ray-topics`` command line: every tier as a command, replay, demo, inspection, serving.

Every command takes ``--config FILE``, ``--set key=value`` (repeatable) and
``--workdir DIR``; the jobs take ``--as-of`` (event time, never the wall clock).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ray_topics.console import CountProgress, ReplayProgress, say, use_bar
from ray_topics.core.schedule import EXIT_BUSY  # 75, EX_TEMPFAIL: a job found its lease busy; try again later

__all__ = ["main", "parse_as_of"]

log = logging.getLogger("ray_topics")

EXIT_PARTIAL = 1  # a job finished, but some domains failed (named under "failed" in its summary)
_SHOWN_REJECTED = 5  # rows a replay refused, printed with their reason (all of them: the summary's count)


def parse_as_of(value: str) -> datetime:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO timestamp; naive times are UTC."""
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--as-of {value!r} is not a date (YYYY-MM-DD) or ISO timestamp") from exc
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def positive_int(value: str) -> int:
    """A whole number of at least 1 (a count of days, say).

    Example:
        >>> positive_int("7")
        7
        >>> positive_int("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: '0': give 1 or more
    """
    try:
        n = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from exc
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: give 1 or more")
    return n


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--config", help="YAML config (layered over configs/default.yaml)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set daily.min_cluster_size=20",
    )
    p.add_argument("--workdir", help="folder of the embedded store, lake and caches")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar: plain log lines, as when piped")
    return p


def _runtime(args: argparse.Namespace, default_config: str | None = None) -> Any:
    from ray_topics.config import load_config
    from ray_topics.execution.runtime import Runtime

    cfg = load_config(args.config or default_config, args.overrides, workdir=args.workdir)
    return Runtime(cfg)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


# ---------------------------------------------------------------- commands


def cmd_job(args: argparse.Namespace) -> int:
    from ray_topics.tiers.archive import run_archive
    from ray_topics.tiers.daily import run_daily
    from ray_topics.tiers.monthly import run_monthly
    from ray_topics.tiers.refine import run_refine
    from ray_topics.tiers.stories import run_stories
    from ray_topics.tiers.weekly import run_weekly

    fn = {
        "refine": run_refine,
        "daily": run_daily,
        "weekly": run_weekly,
        "monthly": run_monthly,
        "stories": run_stories,
        "archive": run_archive,
    }[args.job]
    from ray_topics.ops.metrics import JobMetrics
    from ray_topics.storage.leases import LeaseBusy

    rt = _runtime(args)
    if getattr(args, "engine", None):
        rt.cfg.execution.engine = args.engine
    metrics = JobMetrics(rt.cfg.metrics.pushgateway, rt.cfg.metrics_textfile_dir, rt.cfg.domains.names)
    started = time.monotonic()
    summary = None
    try:
        summary = fn(rt, args.as_of, force=args.force)
    finally:  # a run that raised is written too (success 0), unless another run holds the lease
        if not isinstance(sys.exc_info()[1], LeaseBusy):
            metrics.write(rt.store, args.job, args.as_of, summary, time.monotonic() - started)
    _print_json(summary)
    if summary.get("failed"):  # some domains failed, the rest went on: the scheduler must see it
        print(f"ray-topics {args.command}: failed for {', '.join(summary['failed'])}", file=sys.stderr)
        return EXIT_PARTIAL
    return 0


def _known_domain(rt: Any, domain: str | None) -> None:
    """A ``--domain`` of the configuration's, or a clear error (a typo must not print an empty list)."""
    from ray_topics.streams.loader import InputError

    if domain is not None and domain not in rt.cfg.domains.names:
        raise InputError(f"--domain {domain!r} is no domain of this configuration: {', '.join(rt.cfg.domains.names)}")


def cmd_topics(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    _known_domain(rt, args.domain)
    sizes: dict[str, int] = {}
    for d in rt.cfg.domains.names:
        sizes.update(rt.store.classifications.topic_sizes(d))
    bertopic = rt.store.bertopic_ids.by_topic(args.domain)  # imported topics: their BERTopic id
    linked = rt.store.global_topics.of_topics()  # topics of other domains that are the same story share it
    for t in rt.store.topics.list(args.domain):
        if args.all or t.live:
            origin = f"  [BERTopic {bertopic[t.topic_id]}]" if t.topic_id in bertopic else ""
            gid = f"g{linked[t.topic_id]}" if t.topic_id in linked else "-"
            print(
                f"{t.topic_id:<16} {t.status:<7} {sizes.get(t.topic_id, 0):>7}  {gid:<6} "
                f"{', '.join(t.keywords[:8])}{origin}"
            )
    return 0


def cmd_stories(args: argparse.Namespace) -> int:
    from ray_topics.tiers.stories import story_view

    if args.days is not None and args.days < 1:
        raise SystemExit("ray-topics stories: --days must be positive")
    if args.placed and args.all:
        raise SystemExit("ray-topics stories: --all lists every topic of the view computed here, not with --placed")
    rt = _runtime(args)
    days = args.days or rt.cfg.daily.pool_window_days
    start = args.as_of - timedelta(days=days)
    if args.placed:  # the stored placements: no embedding read (what GET /v1/stories reads)
        crossing = rt.store.stories.crossing(start, args.as_of, rt.cfg.daily.misfit_confidence)
        view = {s.topic_id: s.videos for s in crossing}
    else:
        view = story_view(rt, start, args.as_of)
    topics = {t.topic_id: t for t in rt.store.topics.list()}
    for tid, by_domain in sorted(view.items(), key=lambda kv: -sum(kv[1].values())):
        t = topics[tid]
        others = {d: n for d, n in by_domain.items() if d != t.domain}
        if others or args.all:
            elsewhere = ", ".join(f"{d} {n}" for d, n in sorted(others.items(), key=lambda x: -x[1])) or "-"
            print(
                f"{tid:<16} {t.status:<7} {sum(by_domain.values()):>7} {by_domain.get(t.domain, 0):>7}  "
                f"{elsewhere:<28} {', '.join(t.keywords[:6])}"
            )
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from ray_topics.ops.health import health_and_routing, health_summary, to_prometheus

    rt = _runtime(args)
    _known_domain(rt, args.domain)
    items, routing = health_and_routing(rt.store, args.as_of, rt.cfg, domain=args.domain)
    if args.prometheus:
        print(to_prometheus(items, args.as_of, routing))
        return 0
    for h in items:
        if h.alerts or args.all:
            print(
                f"{h.topic_id:<16} {h.videos_week:>5}/wk conf {h.avg_confidence_week or 0:.2f}  "
                f"{','.join(h.alerts) or '-':<28} {h.label}"
            )
    print(f"routing, last {routing['window_days']} days: {_route_line(routing)}")
    _print_json({**health_summary(items), "routing": routing})
    return 0


def _route_line(routing: dict[str, Any]) -> str:
    """``category 45.2 % (1,234), prototype ...``: the routes any video took, or every route when none did."""
    used = [r for r, n in routing["videos"].items() if n] or list(routing["videos"])
    return ", ".join(f"{r} {100 * routing['share'][r]:.1f} % ({routing['videos'][r]:,})" for r in used)


def cmd_report(args: argparse.Namespace) -> int:
    from ray_topics.ops.report import write_report

    rt = _runtime(args)
    out = Path(args.out or Path(rt.cfg.workdir) / "report.html")
    write_report(
        rt.store,
        out,
        args.as_of,
        health_cfg=rt.cfg.health,
        title=args.title,
        window_days=args.window_days,
        story_fit=rt.cfg.daily.misfit_confidence,
        story_days=args.window_days or rt.cfg.serve.story_days,
    )
    print(f"report written to {out}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    """Tier 1 in process: classify and store the videos of a JSON-lines file."""
    from ray_topics.core.validation import validate_videos
    from ray_topics.tiers.realtime import DomainClassifier, RealtimeClassifier

    rt = _runtime(args)
    items = _json_lines(args.file)
    now = args.now or datetime.now(UTC)
    videos, vecs = validate_videos(
        items,
        dim=rt.cfg.embedding.dim,
        now=now,
        max_future_seconds=rt.cfg.serve.max_future_seconds,
        domains=rt.cfg.domains.names,
    )
    models = DomainClassifier(rt.registry, rt.confidence)
    tier1 = RealtimeClassifier(rt.router(at=now), models, rt.store, rt.embedder, rt.cfg.embedding.max_chars)
    vecs = tier1.embed_missing(videos, vecs, rt.cfg.embedding.dim)
    _print_json({"results": tier1.classify_and_store(videos, vecs, at=now)})
    return 0


def _json_lines(path: str) -> list[Any]:
    """The JSON value of each non-blank line of ``path``, or an error naming the file and line."""
    from ray_topics.streams.loader import InputError

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {n} is not JSON: {exc}") from None
    return out


def cmd_replay(args: argparse.Namespace) -> int:
    from ray_topics.streams.loader import InputError, load_videos
    from ray_topics.streams.replay import build_summary, embed_frame

    rt = _runtime(args)
    videos, emb = load_videos(args.input, _columns(args))
    last = videos["published_at"].max().to_pydatetime()
    if args.until is not None and args.until < last:
        raise InputError(f"--until {args.until.isoformat()} is before the last video ({last.isoformat()}): "
                         "it keeps the jobs running after the stream, it does not cut it")  # fmt: skip
    if emb is not None and emb.shape[1] != rt.cfg.embedding.dim:
        raise InputError(f"column {args.embedding_col!r} (--embedding-col) holds {emb.shape[1]} values a row; "
                         f"this configuration embeds {rt.cfg.embedding.dim} (embedding.dim)")  # fmt: skip
    bar = use_bar(args.quiet)
    from_text = emb is None
    if from_text:
        say("embedding %d videos (cached in %s/cache)", len(videos), rt.cfg.workdir)
        emb = embed_frame(rt, videos, cache_name=Path(args.input).stem, progress=bar)
    result = _replay_with_progress(rt, videos, emb, args.until, bar, from_text)
    summary = build_summary(rt, result)
    _print_summary(summary)
    for r in result.rejected[:_SHOWN_REJECTED]:
        print(f"rejected {r['video_id']}: {r['error']}", file=sys.stderr)
    if args.summary_out:
        Path(args.summary_out).write_text(json.dumps(summary, indent=2, default=str))
        print(f"summary written to {args.summary_out}")
    if not result.videos and not result.already_stored:
        raise InputError(f"no video of {args.input} could be replayed ({len(result.rejected)} rejected)")
    return 0


def _replay_with_progress(
    rt: Any, videos: Any, emb: Any, until: datetime | None, bar: bool, from_text: bool = False
) -> Any:
    """Replay with a bar on a terminal, log lines otherwise (ray_topics/console.py)."""
    from ray_topics.streams.replay import Replay, replay_span

    start, end = replay_span(videos["published_at"], until)
    progress = ReplayProgress(start, end, len(videos), bar=bar)
    replay = Replay(rt, progress=progress.note)
    replay.after_boundary = lambda at: progress.reached(at, replay.result.videos)
    try:
        return replay.run(videos, emb, until=until, embedded_from_text=from_text)
    finally:
        progress.close()


def _print_stories(rt: Any, shown: int = 5) -> None:
    """The ``shown`` largest placed stories that cross domains (``GET /v1/stories``'s answer), one line each."""
    from ray_topics.ops.stories import placed_stories

    days = rt.cfg.serve.story_days
    _end, found = placed_stories(rt.store, rt.cfg.daily.misfit_confidence, days)
    print(f"\nstories across domains (the last {days} placed days): {len(found)}")
    for s in found[:shown]:
        by = ", ".join(f"{d} {n}" for d, n in s["videos"].items())
        print(f"  {s['topic_id']:<16} {by:<36} {s['label']}")


def cmd_demo(args: argparse.Namespace) -> int:
    """Replay the real news corpus through every tier and write a report."""
    from ray_topics.ops.health import health_from_config, health_summary
    from ray_topics.ops.report import write_report
    from ray_topics.streams.datasets import load_news_articles
    from ray_topics.streams.replay import build_summary, embed_frame

    default_cfg = str(Path(__file__).resolve().parent.parent / "configs" / "demo.yaml")
    rt = _runtime(args, default_config=default_cfg)
    if args.fresh:
        _reset_workdir(rt)
    videos = load_news_articles()
    videos = videos[videos["published_at"] >= args.since].reset_index(drop=True)
    print(
        f"demo: {len(videos)} news articles from {videos.published_at.min():%Y-%m-%d} to "
        f"{videos.published_at.max():%Y-%m-%d}, domains: {', '.join(rt.cfg.domains.names)}"
    )
    bar = use_bar(args.quiet)
    say("embedding with all-MiniLM-L6-v2 (cached in %s/cache)", rt.cfg.workdir)
    emb = embed_frame(rt, videos, cache_name="news_articles", progress=bar)
    result = _replay_with_progress(rt, videos, emb, None, bar)
    summary = build_summary(rt, result)
    _print_summary(summary)
    end = videos.published_at.max().to_pydatetime().replace(hour=0, minute=0, second=0) + _days(1)
    items = health_from_config(rt.store, end, rt.cfg.health)
    print("\nhealth:", json.dumps(health_summary(items)["alerts"]))
    for h in [h for h in items if h.alerts][:10]:
        print(f"  {h.topic_id:<16} {','.join(h.alerts):<30} {h.label}")
    _print_stories(rt)
    out = Path(rt.cfg.workdir) / "report.html"
    write_report(
        rt.store,
        out,
        end,
        health_cfg=rt.cfg.health,
        title="ray-topics demo: news articles 2017",
        story_fit=rt.cfg.daily.misfit_confidence,
        story_days=rt.cfg.serve.story_days,
    )
    Path(rt.cfg.workdir, "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"\nreport: {out.resolve()}\nsummary: {Path(rt.cfg.workdir, 'summary.json').resolve()}")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    """Submit each job at its boundary to a Ray cluster's Jobs API, once per window (execution/schedule.py)."""
    from ray_topics.execution.schedule import Scheduler, job_arguments

    sched = Scheduler(
        _runtime(args),
        job_arguments(args.config, args.overrides, args.workdir),
        address=args.address,
        report=lambda line: print(line, flush=True),
        wait_for_others=not args.once,  # cron's passes overlap: the next one looks again
    )
    if args.once or args.now or args.dry_run:
        return Scheduler.exit_status(sched.pass_once(args.now or datetime.now(UTC), dry_run=args.dry_run))
    sched.run_forever(lambda: datetime.now(UTC))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from serve.app import run_local

    run_local(config=args.config, overrides=args.overrides, workdir=args.workdir, port=args.port)
    return 0


def _days(n: int) -> Any:
    return timedelta(days=n)


def _reset_workdir(rt: Any) -> None:
    """Drop the store and the lake of this workdir (keeps the embedding cache)."""
    import shutil

    rt.store.drop()
    rt.store.create()
    shutil.rmtree(rt.cfg.lake_root, ignore_errors=True)


def _print_summary(summary: dict[str, Any]) -> None:
    topics = summary["topics"]
    counts: dict[str, int] = {}
    for e in summary["events"]:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    again = f", {summary['already_stored']} stored before" if summary.get("already_stored") else ""
    replayed = f"{summary['videos']} videos replayed ({summary['rejected']} rejected{again})"
    print(f"\n{replayed}; events: {json.dumps(counts)}")
    for d in summary["domains"]:
        mine = sorted((t for t in topics if t["domain"] == d), key=lambda t: -t["size"])
        print(f"\n[{d}] {sum(t['status'] in ('active', 'dying') for t in mine)} live topics of {len(mine)}")
        for t in mine[:12]:
            print(f"  {t['topic_id']:<16} {t['status']:<7} {t['size']:>6}  {', '.join(t['keywords'][:7])}")
    print(f"\nrouting: {_route_line(summary['routing'])}")
    timings = summary["timings"]
    print("timings: " + ", ".join(f"{k} {v['wall_s']:.1f}s/{v['runs']} runs" for k, v in timings.items()))


def cmd_import_bertopic(args: argparse.Namespace) -> int:
    """A fitted BERTopic model as the first model version of a domain (docs/bertopic.md)."""
    from ray_topics.interop.bertopic_import import import_bertopic, read_domain_map

    rt = _runtime(args)
    dmap = read_domain_map(args.domain_map, rt.cfg.domains.names) if args.domain_map else None
    summary = import_bertopic(
        rt, args.path, args.domain, args.as_of or datetime.now(UTC), domain_map=dmap, embeddings=args.embeddings
    )
    _print_json(summary)
    return 0


def cmd_export_bertopic(args: argparse.Namespace) -> int:
    """A domain's current model as a BERTopic model folder: BERTopic.load(OUT) reads it (docs/bertopic.md)."""
    from ray_topics.interop.bertopic_export import export_bertopic

    rt = _runtime(args)
    _print_json(export_bertopic(rt, args.domain, args.out))
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """Each domain's first model from the monthly sample of a historical dump, then the dump as history."""
    from ray_topics.streams.bootstrap import bootstrap, frame_vectors
    from ray_topics.streams.loader import load_videos

    rt = _runtime(args)
    videos, emb = load_videos(args.input, _columns(args))
    history = CountProgress(len(videos), "bootstrap: history", bar=use_bar(args.quiet))
    try:
        summary = bootstrap(
            rt, videos, frame_vectors(rt, videos, emb), as_of=args.as_of, progress=say, stored_so_far=history.update
        )
    finally:
        history.close()
    for d in summary["domains"].values():
        d["sample_ids"] = len(d["sample_ids"])  # the ids themselves are for callers, not the terminal
    _print_json(summary)
    return 0


# ---------------------------------------------------------------- parser


def _column_flags(p: argparse.ArgumentParser) -> None:
    """The input file and its column flags (replay, bootstrap): :class:`ray_topics.streams.loader.ColumnMap`."""
    p.add_argument("input")
    p.add_argument("--id-col", default="video_id")
    p.add_argument("--time-col", default="published_at")
    p.add_argument("--channel-col", default=None)
    p.add_argument("--text-col")
    p.add_argument("--title-col")
    p.add_argument("--description-col")
    p.add_argument("--tags-col")
    p.add_argument("--domain-col", help="a column that is the domain itself")
    p.add_argument("--category-col", help="a metadata category mapped to domains by the config")
    p.add_argument("--views-col")
    p.add_argument("--embedding-col", help="precomputed embeddings (list of floats per row)")
    p.add_argument("--naive-utc", action="store_true", help="timestamps without a zone are UTC (else they are refused)")


def _columns(args: argparse.Namespace) -> Any:
    """The :class:`ColumnMap` of :func:`_column_flags`' flags."""
    from ray_topics.streams.loader import ColumnMap

    names = (
        "id",
        "time",
        "channel",
        "text",
        "title",
        "description",
        "tags",
        "domain",
        "category",
        "views",
        "embedding",
    )
    return ColumnMap(**{f"{n}_col": getattr(args, f"{n}_col") for n in names}, naive_utc=args.naive_utc)


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    p = argparse.ArgumentParser(prog="ray-topics", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for job in ("refine", "daily", "weekly", "monthly"):
        j = sub.add_parser(job, parents=[common], help=f"run the {job} job for one event-time window")
        j.add_argument("--as-of", type=parse_as_of, required=True, help="end of the window (event time)")
        j.add_argument("--force", action="store_true", help="run again even if this window succeeded")
        j.add_argument("--engine", choices=["local", "ray"], help="override execution.engine")
        j.set_defaults(fn=cmd_job, job=job)
    ps = sub.add_parser(
        "place-stories",
        parents=[common],
        help="the stories job: place the days ending --as-of in the story view and store them (API, report)",
    )
    ps.add_argument("--as-of", type=parse_as_of, required=True, help="the midnight the placed days end at (event time)")
    ps.add_argument("--force", action="store_true", help="place the days again even if this midnight's were placed")
    ps.set_defaults(fn=cmd_job, job="stories")
    a = sub.add_parser(
        "archive", parents=[common], help="move every lake partition to its storage class (hot, warm, cold)"
    )
    a.add_argument("--as-of", type=parse_as_of, required=True, help="event time the partitions' ages count from")
    a.add_argument("--force", action="store_true", help="run again even if this as-of succeeded")
    a.set_defaults(fn=cmd_job, job="archive")
    t = sub.add_parser(
        "topics", parents=[common], help="list topics: id, status, videos, global topic (gN; - if unlinked), keywords"
    )
    t.add_argument("--domain")
    t.add_argument("--all", action="store_true", help="include dead and merged topics")
    t.set_defaults(fn=cmd_topics)
    st = sub.add_parser(
        "stories",
        parents=[common],
        help="the story view: topics holding videos of other domains (id, status, videos, own domain's, others')",
    )
    st.add_argument("--as-of", type=parse_as_of, required=True, help="the window's end (event time)")
    st.add_argument("--days", type=int, help="the window's days (default: daily.pool_window_days)")
    st.add_argument("--all", action="store_true", help="every topic, not only those holding other domains' videos")
    st.add_argument(
        "--placed",
        action="store_true",
        help="read the stories job's placements instead of computing the view from embeddings (fast)",
    )
    st.set_defaults(fn=cmd_stories)
    h = sub.add_parser("health", parents=[common], help="topic health and alerts")
    h.add_argument("--as-of", type=parse_as_of, required=True)
    h.add_argument("--domain")
    h.add_argument("--all", action="store_true", help="print every topic, not only alerting ones")
    h.add_argument("--prometheus", action="store_true", help="Prometheus text format")
    h.set_defaults(fn=cmd_health)
    r = sub.add_parser("report", parents=[common], help="write the HTML report")
    r.add_argument("--as-of", type=parse_as_of, required=True)
    r.add_argument("--out")
    r.add_argument(
        "--window-days", type=positive_int, help="chart (and read) only the last N days (default: all history)"
    )
    r.add_argument("--title", default="ray-topics report", help="the page's title")
    r.set_defaults(fn=cmd_report)
    c = sub.add_parser("classify", parents=[common], help="Tier 1 in process: classify a JSON-lines file")
    c.add_argument("file")
    c.add_argument("--now", type=parse_as_of, help="event time of the request (default: wall clock)")
    c.set_defaults(fn=cmd_classify)
    rp = sub.add_parser("replay", parents=[common], help="replay a CSV/Parquet/JSONL stream through every tier")
    _column_flags(rp)
    rp.add_argument("--until", type=parse_as_of, help="keep running the jobs until this event time")
    rp.add_argument("--summary-out", help="write the JSON summary here")
    rp.set_defaults(fn=cmd_replay)
    d = sub.add_parser("demo", parents=[common], help="replay the bundled real news corpus (configs/demo.yaml)")
    d.add_argument(
        "--since", type=parse_as_of, default=parse_as_of("2017-02-01"), help="skip the corpus's sparse early months"
    )
    d.add_argument("--fresh", action="store_true", help="start from an empty store (keeps the embedding cache)")
    d.set_defaults(fn=cmd_demo)
    sc = sub.add_parser(
        "schedule", parents=[common], help="submit each job at its boundary to a Ray cluster's Jobs API"
    )
    sc.add_argument("--address", help="the Jobs API, e.g. http://127.0.0.1:8265 (default schedule.jobs_api)")
    sc.add_argument("--once", action="store_true", help="one pass over the due windows, then exit (for cron)")
    sc.add_argument("--now", type=parse_as_of, help="the clock of one pass (default: the wall clock)")
    sc.add_argument("--dry-run", action="store_true", help="list the due windows and their commands; submit nothing")
    sc.set_defaults(fn=cmd_schedule)
    ib = sub.add_parser("import-bertopic", parents=[common], help="import a fitted BERTopic model as a domain's model")
    ib.add_argument("path", help="a model saved by BERTopic.save: a folder (safetensors, pytorch) or a pickle file")
    ib.add_argument("--domain", required=True, help="the domain its topics go to (unless --domain-map names another)")
    ib.add_argument("--domain-map", help="YAML/JSON file {bertopic topic id: domain}: split one model into domains")
    ib.add_argument("--embeddings", help="training documents' embeddings in fit order (.npy, .npz: embeddings, ids)")
    ib.add_argument("--as-of", type=parse_as_of, help="event time of the import (default: the wall clock)")
    ib.set_defaults(fn=cmd_import_bertopic)
    eb = sub.add_parser("export-bertopic", parents=[common], help="write a domain's model as a BERTopic model folder")
    eb.add_argument("domain")
    eb.add_argument("out", help="a new folder; BERTopic.load(out) reads it")
    eb.set_defaults(fn=cmd_export_bertopic)
    bs = sub.add_parser("bootstrap", parents=[common], help="first models from a historical dump, then it as history")
    _column_flags(bs)
    bs.add_argument("--as-of", type=parse_as_of, help="event time the tiers start from (default: after the last video)")
    bs.set_defaults(fn=cmd_bootstrap)
    s = sub.add_parser("serve", parents=[common], help="start the Ray Serve app locally")
    s.add_argument("--port", type=int, default=None)
    s.set_defaults(fn=cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ray_topics.config import ConfigError
    from ray_topics.core.validation import InvalidVideo
    from ray_topics.execution.bertopic_lib import BertopicUnavailable
    from ray_topics.interop.bertopic_files import BertopicModelError
    from ray_topics.storage.leases import LeaseBusy
    from ray_topics.streams.loader import InputError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    # progress lines (replay's job events, one line per simulated day without a bar) are always shown
    logging.getLogger("ray_topics.progress").setLevel(logging.INFO)
    try:
        return int(args.fn(args) or 0)
    except (ConfigError, InputError, InvalidVideo, BertopicModelError, BertopicUnavailable) as exc:  # the user's
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LeaseBusy as exc:  # another run of a job holds what this one writes: a scheduler retries later
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY


if __name__ == "__main__":
    sys.exit(main())
