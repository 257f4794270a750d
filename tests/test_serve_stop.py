"""`ray-topics serve` stops on SIGTERM: requests answered, nothing of Ray left behind.

SIGINT (Ctrl-C) goes to the same handler (``serve/app.py``, one loop over both signals); starting a
second Ray and Serve only to send it the other signal would cost the suite a minute.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import free_port

pytestmark = [pytest.mark.ray, pytest.mark.model, pytest.mark.slow]


def test_serve_stops_on_sigterm_and_leaves_no_process(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, RAY_ADDRESS="local", RAY_TOPICS_TOKEN="t")  # a Ray of its own, as on a host
    # HAProxy's own ports, apart from any other Serve on this machine (the test session's)
    env["RAY_SERVE_HAPROXY_METRICS_PORT"], env["RAY_SERVE_HAPROXY_STATS_PORT"] = str(free_port()), str(free_port())
    cmd = [sys.executable, "-m", "ray_topics.cli", "serve", "--workdir", str(tmp_path), "--port", str(port)]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while "ray-topics serving on" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(1)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        family = psutil.Process(proc.pid).children(recursive=True)
        assert family, "Ray's processes run under the service"
        proc.send_signal(signal.SIGTERM)  # what a platform sends
        assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
        assert "stopping" in log.read_text()
        _gone, alive = psutil.wait_procs(family, timeout=60)
        assert not alive, [p.pid for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
