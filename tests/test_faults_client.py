"""The fault benchmark's client without Ray: which failed answers count as retryable.

``tests/test_faults.py`` asserts that a fault under load answers only retryable errors; these
tests pin down what that means on answers made up here (httpx's mock transport): a 503 with
``Retry-After``, and Serve's proxy's own plain-text 500 only where the fault takes the Ingress
down; never the app's own (JSON) 500.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from benchmarks.faults import Batch, ClientRecord, Load

IDS = ["v-0", "v-1"]
PROXY_500 = httpx.Response(500, text="Internal Server Error", headers={"content-type": "text/plain"})
APP_500 = httpx.Response(500, json={"error": {"code": "internal", "message": "boom", "retryable": False}})
APP_503 = httpx.Response(503, json={"error": {"code": "unavailable"}}, headers={"retry-after": "0"})
OK = httpx.Response(200, json={"results": [{"video_id": v, "topic_id": 1} for v in IDS]})


def _send(first: httpx.Response, *, proxy_errors: bool) -> tuple[ClientRecord, Batch, int]:
    """Send one batch whose first attempt gets ``first`` and every later one 200; the record, batch, attempts."""
    answers: Iterator[httpx.Response] = iter([first])
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return next(answers, OK)

    load = Load(app=None, clients=1, prefix="t", proxy_errors=proxy_errors)  # type: ignore[arg-type]
    rec, batch = ClientRecord(), Batch(list(IDS), ["gaming"] * len(IDS), time.monotonic())
    with httpx.Client(base_url="http://app", transport=httpx.MockTransport(handler)) as client:
        load._send(client, rec, batch, json.dumps({"videos": IDS}).encode(), timeout_s=1.0)
    return rec, batch, attempts


@pytest.mark.parametrize("proxy_errors", [False, True])
def test_a_503_with_retry_after_is_retried_and_retryable(proxy_errors: bool) -> None:
    rec, batch, attempts = _send(APP_503, proxy_errors=proxy_errors)
    assert attempts == 2 and batch.answers is not None
    assert rec.non_retryable == [] and rec.failures == {"503 Retry-After": 1}


def test_the_proxys_500_is_retryable_where_the_fault_kills_the_ingress() -> None:
    rec, batch, attempts = _send(PROXY_500, proxy_errors=True)
    assert attempts == 2 and batch.answers is not None
    assert rec.non_retryable == [] and rec.failures == {"500 proxy": 1}


def test_the_proxys_500_is_a_failure_anywhere_else() -> None:
    rec, batch, attempts = _send(PROXY_500, proxy_errors=False)
    assert attempts == 2 and batch.answers is not None  # a client retries it all the same
    assert rec.non_retryable == ["500 proxy: Internal Server Error"]


def test_the_apps_own_500_is_always_a_failure() -> None:
    rec, _, _ = _send(APP_500, proxy_errors=True)
    assert len(rec.non_retryable) == 1 and rec.non_retryable[0].startswith("500: ")
    assert rec.failures == {"500": 1}


def test_a_4xx_is_not_retried() -> None:
    rec, batch, attempts = _send(httpx.Response(422, json={"error": {"code": "invalid"}}), proxy_errors=True)
    assert attempts == 1 and batch.answers is None
    assert rec.non_retryable and rec.non_retryable[0].startswith("422: ")
