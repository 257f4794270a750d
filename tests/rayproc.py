"""Ray clusters a test starts as processes of its own, and planted stores the tiers run on there.

A cluster here never meets the session's shared local Ray (``ray_local``): its
environment holds none of this process's Ray settings, its temp dir is its own
(``RAY_TMPDIR`` too, so it never writes the machine's ``/tmp/ray/ray_current_cluster``)
and it is stopped by ending the processes that name that dir, never by ``ray stop``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import psutil

from ray_topics.execution.runtime import Runtime
from ray_topics.streams.planted import PlantedTopic, StreamSpec
from ray_topics.streams.synthetic import generate
from tests.conftest import make_config

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STOP_TIMEOUT_S = 5  # then what is left is killed: Ray's own graceful stop takes ~15 s


def ray_env(token: str, temp_dir: str, **extra: str) -> dict[str, str]:
    """This process's environment without any Ray setting (the shared Ray's included), plus our cluster's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, RAY_TMPDIR=temp_dir, **extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    Path(temp_dir, "ray").mkdir(parents=True, exist_ok=True)  # Ray writes its address file under $RAY_TMPDIR/ray
    return env


def processes_naming(temp_dir: str) -> list[int]:
    """Processes whose command line names ``temp_dir``: only the cluster the test started."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if temp_dir.encode() in (p / "cmdline").read_bytes():
                    pids.append(int(p.name))
            except OSError:
                continue
    return pids


def stop_cluster(proc: subprocess.Popen | None, temp_dir: str) -> None:
    """End the cluster: ``proc`` (a ``ray start --block``, when given) and every process naming ``temp_dir``."""
    tree: list[psutil.Process] = []
    if proc is not None:
        try:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
    for pid in processes_naming(temp_dir):
        if pid not in {p.pid for p in tree}:
            try:
                tree.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue
    if proc is not None:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
    else:
        for p in tree:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
    _gone, alive = psutil.wait_procs(tree, timeout=STOP_TIMEOUT_S)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=STOP_TIMEOUT_S)


def job_stats(logs: str) -> dict:
    """The JSON summary a job prints (``ray-topics`` prints it on stdout, from a line holding only ``{``)."""
    lines = logs.splitlines()
    start = next(i for i, line in enumerate(lines) if line in ("{", "{}"))
    return json.JSONDecoder().raw_decode("\n".join(lines[start:]))[0]


def job_args(job: str, as_of: datetime, workdir: Path, overrides: tuple[str, ...], *extra: str) -> list[str]:
    """A tier's ``jobs/{job}.py`` command line, as ``ray job submit`` or a scheduler runs it."""
    args = ["python", str(REPO / "jobs" / f"{job}.py"), "--as-of", as_of.strftime("%Y-%m-%dT%H:%M:%SZ")]
    return [*args, "--workdir", str(workdir), *(a for ov in overrides for a in ("--set", ov)), *extra]


def copy_workdir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst


def topics_of(workdir: Path, overrides: tuple[str, ...]) -> list[tuple]:
    """Every topic of a workdir's store: (id, status, size, first keywords), sorted."""
    rt = Runtime(make_config(workdir, *overrides))
    try:
        return sorted((t.topic_id, t.status, t.size, tuple(t.keywords[:5])) for t in rt.store.topics.list())
    finally:
        rt.store.dispose()


def planted_store(
    workdir: Path, overrides: tuple[str, ...], domains: tuple[str, ...], end: datetime, *, newborn_rate: float = 0
) -> None:
    """Two days of a planted stream before ``end``, stored by Tier 1; no job has run yet.

    Each domain has two topics seeded in its model (30 videos a day each) and,
    with ``newborn_rate``, a third one unknown to it: its videos are misfits
    until the daily job gives birth to it.
    """
    from ray_topics.core.router import DomainRouter
    from ray_topics.core.validation import VideoIn
    from ray_topics.tiers.realtime import DomainClassifier, RealtimeClassifier
    from tests.test_tiers import _seed_topic

    start = end - timedelta(days=2)
    seeded = [PlantedTopic(f"{d}/{k}", d, rate=30) for d in domains for k in "ab"]
    newborn = [PlantedTopic(f"{d}/new", d, rate=newborn_rate) for d in domains] if newborn_rate else []
    stream = generate(StreamSpec(topics=seeded + newborn, days=2, start=start, noise_rate=6.0, seed=11))
    rt = Runtime(make_config(workdir, *overrides))
    words = dict(zip(stream.topics["name"], stream.topics["words"], strict=True))
    for i, t in enumerate(seeded):
        _seed_topic(rt, t.domain, i % 2, stream.centers[t.name], start, keywords=list(words[t.name][:5]))
    videos = [
        VideoIn(
            video_id=r.video_id,
            channel_id=r.channel_id,
            published_at=r.published_at.to_pydatetime(),
            title=r.title,
            description=r.description,
            tags=list(r.tags),
            domain=r.domain,
        )
        for r in stream.videos.itertuples()
    ]
    models = DomainClassifier(rt.registry, rt.confidence)
    models.refresh()
    tier1 = RealtimeClassifier(DomainRouter(rt.cfg.domains.names, {}, {}), models, store=rt.store)
    tier1.classify_and_store(videos, stream.embeddings, at=end)
    rt.store.dispose()
