"""What every benchmark script shares: machine info, CPU/wall timing, peak RSS, the common options, figures out.

The scripts run from the repository root as modules, so that ``benchmarks`` is
importable in them and in every process they spawn::

    .venv/bin/python -m benchmarks.quality --days 12 --daily-volume 300 --out q.json

Each script builds its options on :func:`parser` (``--seed``, ``--set``,
``--keep``, ``--out``), works in :func:`scratch`, records :func:`run_info`
in its figures, prints :class:`Figures` (figure | goal | ours | baseline |
status) and ends with :func:`finish`; a script that only parses, runs and
finishes takes its ``main`` from :func:`main_of`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_PG_URL",
    "PG_URL",
    "ROOT",
    "Figures",
    "Table",
    "Timing",
    "corpus_parser",
    "cpu_now",
    "describe",
    "domains_arg",
    "finish",
    "floats",
    "fmt",
    "frame_texts",
    "in_fresh_process",
    "in_tree",
    "ints",
    "machine",
    "main_of",
    "medians_in_turns",
    "parser",
    "peak_rss_mb",
    "reap_loky",
    "run_info",
    "scratch",
    "start",
    "timed",
    "timed_call",
    "write_figures",
    "write_results_section",
]

ROOT = Path(__file__).resolve().parent.parent
KIB_PER_MIB = 1024.0
# the project's PostgreSQL server (every machine runs one); RAY_TOPICS_TEST_PG points the tests' and
# benchmarks' stores elsewhere
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("RAY_TOPICS_TEST_PG", DEFAULT_PG_URL)


# ----------------------------------------------------------------------------- machine


def _first_line(path: str, prefix: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return None


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip()


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, Python and Ray versions, and the git commit the figures were measured at."""
    mem = _first_line("/proc/meminfo", "MemTotal")
    try:
        ray_version: str | None = metadata.version("ray")
    except metadata.PackageNotFoundError:
        ray_version = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "cpu_model": _first_line("/proc/cpuinfo", "model name") or platform.processor() or None,
        "memory_gib": round(int(mem.split()[0]) / KIB_PER_MIB**2, 1) if mem else None,
        "python": platform.python_version(),
        "ray": ray_version,
        "commit": _git("rev-parse", "--short=12", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def describe(m: dict[str, Any]) -> str:
    """One line of :func:`machine`'s answer."""
    mem = f", {m['memory_gib']:.0f} GiB" if m.get("memory_gib") else ""
    model = f" ({m['cpu_model']})" if m.get("cpu_model") else ""
    commit = f", commit {m['commit']}{' (modified)' if m.get('dirty') else ''}" if m.get("commit") else ""
    return f"{m['arch']} {m['cores']} cores{model}{mem}, Python {m['python']}, Ray {m['ray']}{commit}"


# ----------------------------------------------------------------------------- timing and memory


def cpu_now() -> float:
    """CPU seconds of this process and of its reaped children (joblib/loky workers)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


@dataclass
class Timing:
    """CPU and wall seconds of a :func:`timed` block (filled when the block ends)."""

    cpu_s: float = 0.0
    wall_s: float = 0.0


@contextlib.contextmanager
def timed() -> Iterator[Timing]:
    """CPU (:func:`cpu_now`) and wall seconds of the ``with`` block."""
    t = Timing()
    c0, w0 = cpu_now(), time.perf_counter()
    try:
        yield t
    finally:
        t.cpu_s, t.wall_s = cpu_now() - c0, time.perf_counter() - w0


def timed_call(fn: Callable[[], Any]) -> tuple[Any, Timing]:
    """``fn()`` and the :class:`Timing` of the call."""
    with timed() as t:
        out = fn()
    return out, t


def medians_in_turns(fns: Sequence[Callable[[], Any]], repeats: int) -> list[float]:
    """Median wall seconds of each ``fn()`` over ``repeats`` repetitions, the functions taking turns within
    each repetition, so that a change of load on the machine falls on all of them alike."""
    walls: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for wall, fn in zip(walls, fns, strict=True):
            t0 = time.perf_counter()
            fn()
            wall.append(time.perf_counter() - t0)
    return [statistics.median(w) for w in walls]


def peak_rss_mb() -> float:
    """Peak RSS (MiB) of this process image: ``VmHWM`` of ``/proc/self/status``.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux that value survives
    fork + exec, so a spawned child starts with its parent's RSS at the time
    of the spawn as its "peak" (a 1.5 GiB parent gives every child 1.5 GiB).
    Falls back to ``ru_maxrss`` where ``/proc`` is missing.
    """
    hwm = status_mib("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB


def status_mib(field_name: str) -> float | None:
    """A memory field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ...) in MiB; None where it is missing."""
    value = _first_line("/proc/self/status", field_name + ":")
    return int(value.split()[0]) / KIB_PER_MIB if value else None


def reap_loky() -> None:
    """Shut down joblib's reusable loky executor if one was started, so that its CPU is counted."""
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:  # pragma: no cover
        return
    # loky has no public "is one running?": its module keeps the executor (get_reusable_executor would start one)
    ex = getattr(reusable_executor, "_executor", None)
    if ex is not None:
        ex.shutdown(wait=True)


def event_loop_runner() -> asyncio.Runner:
    """An asyncio runner on uvloop where it is installed (a load generator's loop then costs less per request)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def in_fresh_process(fn: Callable[[dict[str, Any]], Any], job: dict[str, Any]) -> Any:
    """``fn(job)`` in a fresh spawned process (its CPU and peak RSS its own); ``fn`` must be importable."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as ex:
        return ex.submit(fn, job).result()


def in_tree(tree: Path, fn: str, spec: dict[str, Any]) -> Any:
    """``fn(spec_path)`` (``"module:function"``, ours) in a fresh interpreter that imports ``ray_topics`` from
    ``tree`` (a checkout of another commit, for a baseline in the same run) and everything else from here.

    The function reads its ``spec`` (JSON) from the path it is given and writes what it returns as JSON to
    ``spec["out"]``, which this returns.
    """
    module, function = fn.split(":")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "ray_topics").symlink_to(Path(tree).resolve() / "ray_topics")  # only the package
        spec = {**spec, "out": str(Path(tmp) / "out.json")}
        (Path(tmp) / "spec.json").write_text(json.dumps(spec))
        code = (
            f"import sys; sys.path[:0] = [{tmp!r}, {str(ROOT)!r}]; "
            f"from {module} import {function}; {function}({str(Path(tmp) / 'spec.json')!r})"
        )
        subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp, env={**os.environ, "PYTHONPATH": ""})
        return json.loads((Path(tmp) / "out.json").read_text())


# ----------------------------------------------------------------------------- options and workdir


def _prog() -> str:
    """How this run was started: ``python -m benchmarks.NAME`` (or the script's path)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return f"python -m {spec.name}" if spec is not None else f"python {sys.argv[0]}"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A script's parser: described by its docstring's first paragraph, with the options every script has."""
    p = argparse.ArgumentParser(prog=_prog(), description=(doc or "").split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override (repeatable)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary workdir (its path is printed)")
    p.add_argument("--out", metavar="JSON", help="write every figure as JSON here")
    return p


def corpus_parser(doc: str | None) -> argparse.ArgumentParser:
    """:func:`parser` with the flags of a benchmark over the news corpus or a planted stream."""
    p = parser(doc)
    p.add_argument("--planted", action="store_true", help="a planted stream instead of the news corpus")
    p.add_argument("--days", type=int, default=14, help="planted: days of stream (default 14)")
    p.add_argument("--daily-volume", type=int, default=200, help="planted: videos per day (default 200)")
    p.add_argument("--since", default="2017-02-01", help="news: first publication date kept (as the demo)")
    p.add_argument("--results", action="store_true", help="write the figures into benchmarks/RESULTS.md")
    return p


def ints(value: str) -> list[int]:
    """An option's comma-separated integers (``--volumes 10000,50000``)."""
    return [int(v) for v in value.split(",")]


def floats(value: str) -> list[float]:
    """An option's comma-separated numbers (``--shares 1,0.1``)."""
    return [float(v) for v in value.split(",")]


def domains_arg(value: str, names: Sequence[str]) -> tuple[str, ...]:
    """``--domains``: a count (the config's first N domains) or comma-separated names."""
    if value.isdigit():
        k = int(value)
        if not 1 <= k <= len(names):
            raise SystemExit(f"--domains {k}: the config has {len(names)} domains ({', '.join(names)})")
        return tuple(names[:k])
    chosen = tuple(d.strip() for d in value.split(",") if d.strip())
    unknown = [d for d in chosen if d not in names]
    if unknown:
        raise SystemExit(f"--domains: unknown {unknown}; the config has {list(names)}")
    return chosen


@contextlib.contextmanager
def scratch(args: argparse.Namespace, prefix: str) -> Iterator[Path]:
    """A temporary workdir, removed at the end unless ``--keep``."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if args.keep:
            print(f"workdir kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------- data


def frame_texts(frame: Any, max_chars: int) -> list[str]:
    """The text of every video of a frame (``title``, ``description``, ``tags``), as the tiers embed and keyword it."""
    from ray_topics.core.text import video_text

    cols = zip(frame["title"], frame["description"], frame["tags"], strict=True)
    return [video_text(t, d, g, max_chars) for t, d, g in cols]


# ----------------------------------------------------------------------------- figures out


def start(args: argparse.Namespace) -> None:
    """Print the machine and the config overrides a run starts with."""
    print(f"machine: {describe(machine())}")
    if args.set:
        print(f"config overrides: {args.set}")


def run_info(args: argparse.Namespace) -> dict[str, Any]:
    """What a figures file records about its run: command, date, machine, seed and config overrides."""
    return {
        "command": " ".join([_prog(), *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "seed": args.seed,
        "config_overrides": list(args.set),
    }


def write_figures(path: str | Path, out: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(out, indent=2, default=str))
    print(f"figures written to {path}")


def write_results_section(name: str, body: str, results: Path = ROOT / "benchmarks" / "RESULTS.md") -> None:
    """Put ``body`` in RESULTS.md between ``<!-- name: begin -->`` and ``<!-- name: end -->``.

    The section replaces the one a previous run wrote, else goes before "## Not measured yet".
    """
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    section = f"{begin}\n{body.strip()}\n{end}"
    text = results.read_text()
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    elif "## Not measured yet" in text:
        text = text.replace("## Not measured yet", section + "\n\n## Not measured yet", 1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    results.write_text(text)
    print(f"section {name} written to {results}")


def finish(args: argparse.Namespace, out: dict[str, Any]) -> int:
    """Print the goals missed (rows of every :class:`Figures` in ``out["tables"]``), write the JSON; exit status 0."""
    goals = [r for rows in out.get("tables", {}).values() for r in rows if "status" in r]
    missed = [r["figure"] for r in goals if r["status"] == "MISSED"]
    if goals:
        print(f"\n{len(missed)} goal(s) MISSED" + (": " + "; ".join(missed) if missed else ""))
    if args.out:
        write_figures(args.out, out)
    return 0


def main_of(
    build_parser: Callable[[], argparse.ArgumentParser], run: Callable[[argparse.Namespace], dict[str, Any]]
) -> Callable[..., int]:
    """The ``main`` of a script that parses its options, prints the machine, runs and finishes.

    Example (the end of such a script)::

        main = main_of(build_parser, run)

        if __name__ == "__main__":
            raise SystemExit(main())
    """

    def main(argv: Sequence[str] | None = None) -> int:
        args = build_parser().parse_args(argv)
        start(args)
        return finish(args, run(args))

    return main


def fmt(v: Any, nd: int = 3) -> str:
    """A table cell: ``-`` for None, floats with ``nd`` decimals, anything else as text."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


class Table:
    """Rows of cells under fixed columns: printed aligned, kept as dicts (for the JSON), rendered as markdown.

    Args:
        keys: each column's key in the row dicts.
        headers: each column's printed name (the keys by default).
        nd: decimals of float cells.
        right: right-align the cells (numbers), else left.
    """

    def __init__(
        self, keys: Sequence[str], headers: Sequence[str] | None = None, *, nd: int = 3, right: bool = False
    ) -> None:
        self.keys = tuple(keys)
        self.headers = tuple(headers or keys)
        self.nd = nd
        self.right = right
        self.rows: list[dict[str, str]] = []

    def add_row(self, *cells: Any) -> None:
        self.rows.append(dict(zip(self.keys, (fmt(c, self.nd) for c in cells), strict=True)))

    def print(self, title: str) -> None:
        print(f"\n== {title}")
        if not self.rows:
            return
        lines = [list(self.headers), *([r[k] for k in self.keys] for r in self.rows)]
        w = [max(len(line[i]) for line in lines) for i in range(len(self.keys))]
        for line in lines:
            cells = (c.rjust(n) if self.right else c.ljust(n) for c, n in zip(line, w, strict=True))
            print(("  " + "  ".join(cells)).rstrip())

    def markdown(self) -> str:
        rule = "|" + ("---:|" if self.right else "---|") * len(self.keys)
        body = ["| " + " | ".join(r[k] for k in self.keys) + " |" for r in self.rows]
        return "\n".join(["| " + " | ".join(self.headers) + " |", rule, *body])


class Figures(Table):
    """figure | goal | ours | baseline | status: each figure beside its goal and its baseline from the same run.

    ``ok`` True prints ``ok``, False ``MISSED`` (counted by :func:`finish`), None nothing.

    Example:
        >>> t = Figures(ours="streaming", baseline="full retrain")
        >>> t.add("NMI vs truth", ">= 0.9", 0.93, 0.91, True)
        >>> t.rows[0]["ours"], t.rows[0]["status"]
        ('0.930', 'ok')
    """

    def __init__(self, ours: str = "ours", baseline: str = "baseline") -> None:
        super().__init__(("figure", "goal", "ours", "baseline", "status"), ("figure", "goal", ours, baseline, "status"))

    def add(self, figure: str, goal: str, ours: Any, baseline: Any = None, ok: bool | None = None) -> None:
        self.add_row(figure, goal, ours, baseline, "" if ok is None else ("ok" if ok else "MISSED"))
