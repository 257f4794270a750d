"""Ports for listeners that another process binds later (Serve's proxies, a Ray node's services).

A port found free now is bound seconds later by HAProxy or a Ray process.
``bind(0)`` hands out a port from the kernel's ephemeral range, the range
every outgoing connection takes its local port from: in between, one of the
connections Ray's many processes open can take it, and the listener fails
with "Address already in use" (seen once in a test run: HAProxy's stats
port). So :func:`free_port` picks a port outside that range and outside
the ranges Ray and Serve hand out themselves, checks that it binds, and
never hands out the same port twice in one process.
"""

from __future__ import annotations

import os
import random
import socket
from contextlib import suppress
from pathlib import Path

__all__ = ["FALLBACK_PORT_ENV", "HAPROXY_PORT_ENV", "LISTEN_PORTS", "free_port", "own_ports"]

# Serve's machine-wide listeners besides the app's own port: the fallback proxy HAProxy hands requests
# to while no Ingress replica is up (bound with SO_REUSEPORT: a second Serve on the machine, on the
# same port, takes some of them and answers 404 "Path not found", which no client retries), and
# HAProxy's metrics and stats. Ray's defaults are fixed ports (8500, 9500, 9101, 8404).
FALLBACK_PORT_ENV = ("RAY_SERVE_FALLBACK_PROXY_HTTP_PORT", "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT")
HAPROXY_PORT_ENV = ("RAY_SERVE_HAPROXY_METRICS_PORT", "RAY_SERVE_HAPROXY_STATS_PORT")
# where free_port looks: above the worker ports `ray start` gives (min/max_worker_port: 10002-19999),
# below the ports Serve's replicas listen on in direct-ingress mode, which HAProxy mode turns on
# (RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT: 30000-31000; gRPC 40000-41000) and below Linux's default
# ephemeral range (32768-60999); a machine whose ephemeral range overlaps it loses the overlap
LISTEN_PORTS = (20000, 29999)
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
TRIES = 100  # random candidates checked before falling back to a port the kernel picks
_given: set[int] = set()  # ports this process has handed out: each goes to one listener


def _ephemeral() -> tuple[int, int]:
    with suppress(OSError, ValueError):
        low, high = (int(x) for x in EPHEMERAL_RANGE.read_text().split())
        return low, high
    return 32768, 60999  # Linux's default; elsewhere (macOS: 49152-65535) the listen range is apart too


def _binds(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("", port))  # every address, as the listeners bind
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port nothing listens on now, outside the kernel's ephemeral range (module docstring)."""
    low, high = _ephemeral()
    pool = [p for p in range(LISTEN_PORTS[0], LISTEN_PORTS[1] + 1) if not low <= p <= high and p not in _given]
    port = next((p for p in random.sample(pool, min(TRIES, len(pool))) if _binds(p)), None)
    if port is None:  # everything tried is taken: the kernel's pick, racy as it is
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
    _given.add(port)
    return port


def own_ports(names: tuple[str, ...]) -> None:
    """Free ports for these Serve listeners (before Ray starts), unless the environment names them already."""
    for name in names:
        if not os.environ.get(name):
            os.environ[name] = str(free_port())
