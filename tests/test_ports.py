"""Ports picked for listeners bound later: outside the range outgoing connections take theirs from."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from serve import ports
from serve.ports import LISTEN_PORTS, free_port, own_ports


def test_a_free_port_binds_and_lies_outside_the_ephemeral_range() -> None:
    low, high = ports._ephemeral()
    picked = [free_port() for _ in range(50)]
    assert all(LISTEN_PORTS[0] <= p <= LISTEN_PORTS[1] and not low <= p <= high for p in picked)
    assert len(set(picked)) == len(picked)  # never the same port twice: each goes to one listener
    with socket.socket() as s:
        s.bind(("", picked[0]))


def _two_free_ports() -> int:
    """A port p such that p and p + 1 both bind now."""
    for _ in range(20):
        p = free_port()
        if p < LISTEN_PORTS[1] and ports._binds(p + 1):
            return p
    pytest.fail("no two neighbouring ports free")


def test_a_taken_port_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    p = _two_free_ports()
    monkeypatch.setattr(ports, "LISTEN_PORTS", (p, p + 1))
    monkeypatch.setattr(ports, "_given", set())
    with socket.socket() as s:
        s.bind(("", p))
        s.listen()
        assert free_port() == p + 1


def test_a_range_overlapping_the_ephemeral_one_keeps_only_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "range").write_text(f"{LISTEN_PORTS[0]}\t{LISTEN_PORTS[1] - 3}\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", tmp_path / "range")
    monkeypatch.setattr(ports, "_given", set())
    picked = {free_port() for _ in range(3)}
    assert picked <= set(range(LISTEN_PORTS[1] - 2, LISTEN_PORTS[1] + 1))


def test_own_ports_keeps_a_port_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RT_TEST_A", "8123")
    monkeypatch.setenv("RT_TEST_B", "")  # unset, as own_ports reads it; monkeypatch restores it
    own_ports(("RT_TEST_A", "RT_TEST_B"))
    assert os.environ["RT_TEST_A"] == "8123" and LISTEN_PORTS[0] <= int(os.environ["RT_TEST_B"]) <= LISTEN_PORTS[1]
