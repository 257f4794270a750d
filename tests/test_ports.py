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
    picked = {free_port() for _ in range(50)}
    assert all(LISTEN_PORTS[0] <= p <= LISTEN_PORTS[1] and not low <= p <= high for p in picked)
    assert len(picked) > 1  # drawn at random: two runs at once rarely race for one port
    with socket.socket() as s:
        s.bind(("", picked.pop()))


def test_a_taken_port_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "LISTEN_PORTS", (LISTEN_PORTS[0], LISTEN_PORTS[0] + 1))
    with socket.socket() as s:
        s.bind(("", LISTEN_PORTS[0]))
        s.listen()
        assert {free_port() for _ in range(20)} == {LISTEN_PORTS[0] + 1}


def test_a_range_overlapping_the_ephemeral_one_keeps_only_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "range").write_text(f"{LISTEN_PORTS[0]}\t{LISTEN_PORTS[1] - 3}\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", tmp_path / "range")
    assert {free_port() for _ in range(30)} <= set(range(LISTEN_PORTS[1] - 2, LISTEN_PORTS[1] + 1))


def test_own_ports_keeps_a_port_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RT_TEST_A", "8123")
    monkeypatch.delenv("RT_TEST_B", raising=False)
    own_ports(("RT_TEST_A", "RT_TEST_B"))
    assert os.environ["RT_TEST_A"] == "8123" and LISTEN_PORTS[0] <= int(os.environ["RT_TEST_B"]) <= LISTEN_PORTS[1]
