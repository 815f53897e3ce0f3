"""A stopping server refuses new calls UNAVAILABLE and waits for the ones in flight."""

from __future__ import annotations

import asyncio

import pytest

from common.errors import Unavailable
from common.interceptors import Drain


def test_refuses_new_calls_and_waits_for_the_call_in_flight() -> None:
    async def scenario() -> list[str]:
        drain, events = Drain(), []

        async def call(name: str, seconds: float) -> None:
            with drain.track(True):
                await asyncio.sleep(seconds)
                events.append(f"{name} done")

        in_flight = asyncio.create_task(call("first", 0.2))
        await asyncio.sleep(0.01)
        stopping = asyncio.create_task(drain.refuse_and_wait(5.0))
        await asyncio.sleep(0.01)
        with pytest.raises(Unavailable, match="shutting down"):
            await call("second", 0)
        with drain.track(False):  # a health check is still answered
            events.append("health answered")
        await stopping
        events.append("drained")
        await in_flight
        return events

    assert asyncio.run(scenario()) == ["health answered", "first done", "drained"]


def test_gives_up_waiting_after_the_timeout() -> None:
    async def scenario() -> float:
        drain = Drain()
        with drain.track(True):
            loop = asyncio.get_running_loop()
            started = loop.time()
            await drain.refuse_and_wait(0.1)
            return loop.time() - started

    assert 0.1 <= asyncio.run(scenario()) < 2.0
