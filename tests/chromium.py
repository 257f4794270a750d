"""Open a page in headless Chromium and report what it drew: a tiny DevTools-protocol client over a pipe.

Not ``--dump-dom``: its console log does not tell an error from a log line,
and it cannot see the requests a page makes. Over ``--remote-debugging-pipe``
(NUL-separated JSON on fds 3 and 4) the page's console errors, uncaught
exceptions, failed loads and every request come back as events, and a probe
script runs in the page once it has loaded.

Chromium is Debian's ``chromium`` (``make test`` installs it when missing).
Without it a test skips locally and fails in CI (``CI=true``), like the
PostgreSQL tests.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

__all__ = ["Page", "open_page", "require_chromium"]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # no name resolves: a page that needs the network shows it as a failed load
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def require_chromium() -> str:
    """The Chromium binary; skip without one locally, fail in CI."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    msg = "chromium not found (Debian: apt-get install -y chromium; `make test` installs it)"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


@dataclass
class Page:
    """What a page did: the probe's answer, its errors and the requests that left the file."""

    probe: Any
    errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)


class _Pipe:
    """Requests and replies over Chromium's debugging pipe; events are handed to ``on_event``."""

    def __init__(self, write_fd: int, read_fd: int, on_event: Any, deadline: float) -> None:
        self.write_fd, self.read_fd, self.on_event, self.deadline = write_fd, read_fd, on_event, deadline
        self.buffer = b""
        self.next_id = 0

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.write_fd, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self.receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def wait_for(self, event: str) -> None:
        while self.receive().get("method") != event:
            pass

    def receive(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise ConnectionError("chromium closed the pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        msg = json.loads(raw)
        if "method" in msg:
            self.on_event(msg)
        return msg


def open_page(chromium: str, path: Path, probe: str, *, timeout: float = 60.0, width: int = 1400) -> Page:
    """Load ``path``, wait for its load event, then evaluate ``probe`` (a JS expression; a promise is awaited).

    Returns:
        The probe's value, the console errors, uncaught exceptions and failed
        loads (as text), and every request for something not in the file.
    """
    page = Page(probe=None)

    def on_event(msg: dict[str, Any]) -> None:
        method, p = msg["method"], msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            page.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            page.errors.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            page.errors.append(p["entry"]["text"])
        elif method == "Network.requestWillBeSent" and not p["request"]["url"].startswith(LOCAL_SCHEMES):
            page.external_requests.append(p["request"]["url"])

    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()

    def child_fds() -> None:  # Chromium reads commands on fd 3 and writes replies on fd 4
        # first above 4 (a pipe may itself be fd 3 or 4), then onto 3 and 4, inheritable
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5) for fd in (to_chrome_r, from_chrome_w)]
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)

    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},1000",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # the pipes' other fds are not inheritable (PEP 446); only 3 and 4 pass
            preexec_fn=child_fds,
        )  # fmt: skip
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        try:
            cdp = _Pipe(to_chrome_w, from_chrome_r, on_event, time.monotonic() + timeout)
            target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                cdp.call(f"{domain}.enable", session=session)
            cdp.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
            cdp.wait_for("Page.loadEventFired")
            result = cdp.call(
                "Runtime.evaluate",
                {"expression": probe, "awaitPromise": True, "returnByValue": True},
                session=session,
            )
            if "exceptionDetails" in result:
                raise RuntimeError(f"probe failed: {result['exceptionDetails']}")
            page.probe = result["result"].get("value")
            try:
                cdp.call("Browser.close")
            except (ConnectionError, TimeoutError):
                pass
        finally:
            os.close(to_chrome_w)
            os.close(from_chrome_r)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return page
