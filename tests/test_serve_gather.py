"""The ingress gathers a domain's concurrent requests into one DomainModel call (no Ray: a fake handle)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from ray_topics.config import load_config
from serve.app import Ingress, PartFailed

AT = datetime(2026, 1, 1, tzinfo=UTC)


class FakeModel:
    """Stands for the DomainModel handle: records each call's parts; the test answers them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[Any, ...]], asyncio.Future]] = []

    def options(self, method_name: str, multiplexed_model_id: str) -> Any:
        assert method_name == "classify"
        model = self

        class Handle:
            def remote(self, parts: list[tuple[Any, ...]]) -> asyncio.Future:
                answer = asyncio.get_running_loop().create_future()
                model.calls.append((multiplexed_model_id, parts, answer))
                return answer

        return Handle()


def _ingress(*overrides: str) -> tuple[Any, FakeModel]:
    # the class as written (Serve's ingress wrapper subclasses it): only the gathering state, no store, no Serve
    ours = next(c for c in Ingress.func_or_class.__mro__[1:] if c.__name__ == "Ingress")
    ingress = object.__new__(ours)
    ingress.cfg = load_config(overrides=list(overrides))
    ingress.model = FakeModel()
    ingress._classify_handles, ingress._waiting, ingress._in_flight = {}, {}, {}
    return ingress, ingress.model


def _request(ingress: Any, domain: str, n: int, tag: str) -> asyncio.Task:
    records = [{"video_id": f"{tag}-{k}", "domain": domain} for k in range(n)]
    return asyncio.ensure_future(ingress._to_domain(domain, records, np.zeros((n, 4), np.float32), AT))


async def _tick() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def _ids(parts: list[tuple[Any, ...]]) -> list[list[str]]:
    return [[r["video_id"] for r in records] for records, _vectors, _at in parts]


def test_a_lone_request_goes_at_once_and_requests_arriving_meanwhile_share_the_next_call() -> None:
    async def scenario() -> None:
        ingress, model = _ingress()
        first = _request(ingress, "gaming", 1, "a")
        await _tick()
        assert [_ids(p) for _d, p, _f in model.calls] == [[["a-0"]]]  # sent without waiting for company
        later = [_request(ingress, "gaming", 1, t) for t in ("b", "c", "d")]
        other = _request(ingress, "cooking", 2, "e")  # another domain has its own call
        await _tick()
        assert [(d, _ids(p)) for d, p, _f in model.calls] == [("gaming", [["a-0"]]), ("cooking", [["e-0", "e-1"]])]
        model.calls[0][2].set_result([["answer a"]])
        await _tick()
        assert await first == ["answer a"]
        assert _ids(model.calls[2][1]) == [["b-0"], ["c-0"], ["d-0"]]  # one call, each request a part
        failed = PartFailed(True, "OperationalError")
        model.calls[2][2].set_result([["answer b"], failed, ["answer d"]])
        model.calls[1][2].set_result([["answer e0", "answer e1"]])
        assert await later[0] == ["answer b"] and await later[2] == ["answer d"]
        with pytest.raises(PartFailed) as err:  # one part failing fails only its own request
            await later[1]
        assert err.value.retryable
        assert await other == ["answer e0", "answer e1"]
        assert ingress._in_flight == {"gaming": 0, "cooking": 0} and not any(ingress._waiting.values())

    asyncio.run(scenario())


def test_a_call_carries_at_most_max_batch_videos_and_a_failed_call_fails_its_parts_retryably() -> None:
    async def scenario() -> None:
        ingress, model = _ingress("serve.max_batch=5")
        blocker = _request(ingress, "tech", 1, "x")
        await _tick()
        waiting = [_request(ingress, "tech", 3, t) for t in ("p", "q", "r")]
        await _tick()
        model.calls[0][2].set_exception(ConnectionError("replica died"))
        with pytest.raises(ConnectionError):
            await blocker
        await _tick()
        assert _ids(model.calls[1][1]) == [["p-0", "p-1", "p-2"]]  # 3 + 3 > 5: the next part waits
        model.calls[1][2].set_result([["p"]])
        await _tick()
        assert _ids(model.calls[2][1]) == [["q-0", "q-1", "q-2"]]
        model.calls[2][2].set_result([["q"]])
        await _tick()
        model.calls[3][2].set_result([["r"]])
        assert [await w for w in waiting] == [["p"], ["q"], ["r"]]

    asyncio.run(scenario())


def test_part_failed_travels_as_a_value_with_only_whether_to_retry() -> None:
    import pickle

    from sqlalchemy.exc import OperationalError

    locked = PartFailed.of(OperationalError("INSERT ...", {"secret": 1}, Exception("database is locked")))
    assert locked.retryable and locked.kind == "OperationalError" and "secret" not in str(locked)
    bad = pickle.loads(pickle.dumps(PartFailed.of(ValueError("bad row"))))
    assert isinstance(bad, PartFailed) and not bad.retryable and bad.kind == "ValueError"


def test_a_call_refused_before_it_leaves_fails_its_parts_and_frees_the_domain() -> None:
    async def scenario() -> None:
        ingress, model = _ingress()
        real = model.options

        def refusing(method_name: str, multiplexed_model_id: str) -> Any:
            handle = real(method_name, multiplexed_model_id)
            if not model.calls and not getattr(model, "refused", False):
                model.refused = True

                class Refusing:
                    def remote(self, parts: list[tuple[Any, ...]]) -> Any:
                        raise ConnectionError("no replica")

                return Refusing()
            return handle

        model.options = refusing
        with pytest.raises(ConnectionError):
            await _request(ingress, "news", 1, "n")
        assert ingress._in_flight == {"news": 0}
        ingress._classify_handles.clear()  # the next call gets a working handle
        after = _request(ingress, "news", 1, "m")
        await _tick()
        model.calls[0][2].set_result([["m"]])
        assert await after == ["m"]

    asyncio.run(scenario())
