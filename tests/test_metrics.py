"""The tiers' metrics: each job run's gauges, in a node_exporter textfile and pushed to a Pushgateway."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ray_topics.cli import main
from ray_topics.core.types import ClassificationStatus, EventType, TopicEvent
from ray_topics.execution.runtime import Runtime
from ray_topics.ops.metrics import JobMetrics
from tests.conftest import make_config

AS_OF = datetime(2026, 3, 2, tzinfo=UTC)


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _ingest(rt: Runtime, n: int, domain: str, at: datetime) -> None:
    rng = np.random.default_rng(0)
    ids = [f"{domain}-{i}" for i in range(n)]
    videos = [{"video_id": v, "domain": domain, "channel_id": "c", "published_at": at, "views": 1} for v in ids]
    classes = [
        {"video_id": v, "domain": domain, "published_at": at, "topic_id": None, "confidence": 0.1,
         "status": ClassificationStatus.PRELIMINARY, "model_version": f"{domain}@v0", "classified_at": at}
        for v in ids
    ]  # fmt: skip
    rt.store.videos.ingest(videos, rng.standard_normal((n, rt.cfg.embedding.dim)).astype(np.float32), classes)


def test_lineage_events_of_the_run_are_counted_by_domain_and_type(runtime: Runtime) -> None:
    """Only the events written by the job's runs for that window count; other runs' do not."""
    runs = runtime.store.runs
    mine = [runs.start("daily", d, AS_OF - timedelta(days=1), AS_OF, at=AS_OF) for d in ("gaming", "tech")]
    other = runs.start("daily", "gaming", AS_OF - timedelta(days=2), AS_OF - timedelta(days=1), at=AS_OF)

    def event(topic: str, kind: EventType, at: datetime) -> TopicEvent:
        return TopicEvent(topic.split(":")[0], topic, kind, at)

    t = runtime.store.topics
    t.add_events(
        [event("gaming:1", EventType.BIRTH, AS_OF), event("gaming:2", EventType.BIRTH, AS_OF)], job_run_id=mine[0]
    )
    t.add_events([event("tech:4", EventType.DEATH, AS_OF)], job_run_id=mine[1])
    t.add_events([event("gaming:0", EventType.BIRTH, AS_OF - timedelta(days=1))], job_run_id=other)
    reg = JobMetrics(None, None).registry(runtime.store, "daily", AS_OF, {"gaming": {"births": 2}}, 1.5)
    got = {
        (s.labels["domain"], s.labels["type"]): s.value
        for fam in reg.collect()
        for s in fam.samples
        if s.name == "ray_topics_job_lineage_events"
    }
    assert got == {("gaming", "birth"): 2, ("tech", "death"): 1}


def test_a_job_run_writes_what_it_did_to_the_textfile(tmp_path: Path) -> None:
    """refine over 7 queued rows: the textfile says success, 7 refined, the window; a run that raises says 0."""
    cfg = make_config(tmp_path)
    _ingest(Runtime(cfg), 7, "gaming", AS_OF - timedelta(hours=3))
    assert main(["refine", "--workdir", str(tmp_path), "--as-of", AS_OF.isoformat()]) == 0
    text = (tmp_path / "metrics" / "ray_topics_refine.prom").read_text()
    got = _samples(text)
    job = ("tier", "refine")
    assert got[("ray_topics_job_success", frozenset({job}))] == 1
    assert got[("ray_topics_job_rows", frozenset({job, ("kind", "refined")}))] == 7
    assert got[("ray_topics_job_window_end_timestamp_seconds", frozenset({job}))] == AS_OF.timestamp()
    assert got[("ray_topics_job_failed_domains", frozenset({job}))] == 0


def test_a_failed_run_is_written_as_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray_topics.tiers.refine as refine

    def broken(*_a, **_k):
        raise RuntimeError("lake unreachable")

    monkeypatch.setattr(refine, "run_refine", broken)
    with pytest.raises(RuntimeError, match="lake unreachable"):
        main(["refine", "--workdir", str(tmp_path), "--as-of", AS_OF.isoformat()])
    got = _samples((tmp_path / "metrics" / "ray_topics_refine.prom").read_text())
    assert got[("ray_topics_job_success", frozenset({("tier", "refine")}))] == 0
    assert ("ray_topics_job_last_success_timestamp_seconds", frozenset({("tier", "refine")})) not in got


def test_a_failed_run_keeps_the_newest_finished_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Alerting on the age of the last success needs it to survive the failures that follow."""
    import ray_topics.tiers.refine as refine

    assert main(["refine", "--workdir", str(tmp_path), "--as-of", AS_OF.isoformat()]) == 0

    def broken(*_a, **_k):
        raise RuntimeError("lake unreachable")

    monkeypatch.setattr(refine, "run_refine", broken)
    later = AS_OF + timedelta(hours=1)
    with pytest.raises(RuntimeError):
        main(["refine", "--workdir", str(tmp_path), "--as-of", later.isoformat()])
    got = _samples((tmp_path / "metrics" / "ray_topics_refine.prom").read_text())
    job = frozenset({("tier", "refine")})
    assert got[("ray_topics_job_success", job)] == 0
    assert got[("ray_topics_job_last_success_window_end_timestamp_seconds", job)] == AS_OF.timestamp()


def test_a_job_run_pushes_to_the_pushgateway(tmp_path: Path) -> None:
    """With metrics.pushgateway set, the run PUTs its gauges under job ray_topics_{job}."""
    received: list[tuple[str, str, bytes]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(("PUT", self.path, self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gateway = f"127.0.0.1:{server.server_address[1]}"
        args = ["archive", "--workdir", str(tmp_path), "--as-of", AS_OF.isoformat()]
        assert main([*args, "--set", f"metrics.pushgateway={gateway}", "--set", "metrics.textfile_dir=null"]) == 0
    finally:
        server.shutdown()
    ((method, path, body),) = received
    assert method == "PUT" and path == "/metrics/job/ray_topics_archive"
    assert _samples(body.decode())[("ray_topics_job_success", frozenset({("tier", "archive")}))] == 1
    assert not (tmp_path / "metrics").exists()


def test_a_mapping_of_errors_or_examples_is_no_count() -> None:
    """Refine's summary on a partial failure maps domains to errors and video ids to reasons: no ``failed 0``
    beside ``failed_domains 1``; an empty mapping is a count of 0."""
    from ray_topics.ops.metrics import summary_counts

    out = summary_counts(
        {"refined": {"b": 2}, "failed": {"a": "OperationalError: boom"}, "set_aside_examples": {"v1": "short"},
         "requeued": {}},
        ["a", "b"],
    )  # fmt: skip
    assert out == {"refined": 2.0, "requeued": 0.0}


def test_the_grafana_dashboard_reads_only_metrics_we_export(runtime: Runtime) -> None:
    """Every metric a panel queries is one the Serve app, the jobs or /metrics actually exports."""
    import json
    import re
    from datetime import UTC, datetime

    from ray_topics.ops.health import DYING_TOPIC, TopicHealth, to_prometheus

    root = Path(__file__).resolve().parents[1]
    dash = json.loads((root / "deploy" / "grafana" / "ray-topics.json").read_text())
    queried = {
        m for p in dash["panels"] for t in p.get("targets", []) for m in re.findall(r"\bray_topics_\w+", t["expr"])
    }
    # Serve: names given to ray.util.metrics, exported with Ray's "ray_" prefix (+ _total, _bucket, ...)
    serve_src = (root / "serve" / "app.py").read_text()
    serve = {f"ray_{n}" for n in re.findall(r'"(topics_[a-z_]+)"', serve_src)}
    h = TopicHealth("a:0", "a", "x", "dying", 0, 0, 0.5, 0.5, 0, 0.1, 9, 3, [DYING_TOPIC])
    health = {
        s.name for fam in text_string_to_metric_families(to_prometheus([h], datetime.now(UTC))) for s in fam.samples
    }
    reg = JobMetrics(None, None).registry(runtime.store, "refine", AS_OF, {"refined": {"a": 1}}, 1.0)
    jobs = {fam.name for fam in reg.collect()}  # families: a gauge with no sample this run is still exported

    def exported(name: str) -> bool:
        base = re.sub(r"_(total|bucket|count|sum)$", "", name)
        return name in health | jobs or base in serve

    assert queried and not {m for m in queried if not exported(m)}
    assert any(m.startswith("ray_topics_classify") for m in queried) and any("_job_" in m for m in queried)
