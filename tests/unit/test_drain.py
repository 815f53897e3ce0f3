"""Admission of calls: a stopping server refuses new calls UNAVAILABLE and waits for the ones
in flight; calls past the in-flight limit are refused RESOURCE_EXHAUSTED, health exempt."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from common.errors import ResourceExhausted, Unavailable
from common.interceptors import Drain
from common.server import ServerSettings, ServingServer


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


def _refused_total() -> float:
    return REGISTRY.get_sample_value("keyart_rpc_refused_total") or 0.0


def test_calls_past_the_limit_are_refused_resource_exhausted_and_counted() -> None:
    refused_before = _refused_total()

    async def scenario() -> list[str]:
        drain, events = Drain(max_in_flight=2), []

        async def call(name: str) -> None:
            try:
                with drain.track(True):
                    await asyncio.sleep(0.05)
                    events.append(f"{name} done")
            except ResourceExhausted as error:
                events.append(f"{name}: {error}")

        await asyncio.gather(*(call(name) for name in ("a", "b", "c")))
        with drain.track(False):  # health and reflection are not limited
            events.append("health answered")
        await call("d")  # room again once the first two finished
        return events

    assert asyncio.run(scenario()) == [
        "c: 2 calls in flight (limit 2); retry with backoff",
        "a done",
        "b done",
        "health answered",
        "d done",
    ]
    assert _refused_total() - refused_before == 1


def test_refusals_are_logged_once_per_interval(capsys: pytest.CaptureFixture[str]) -> None:
    drain = Drain(max_in_flight=1, log_interval_s=3600)
    with drain.track(True):
        for _ in range(50):
            with pytest.raises(ResourceExhausted), drain.track(True):
                pass
    logged = [line for line in capsys.readouterr().out.splitlines() if "calls refused" in line]
    assert len(logged) == 1


def test_a_server_refuses_the_excess_with_a_message_and_health_still_answers() -> None:
    """The real interceptor on an aio server: 20 calls at once, a limit of 5."""

    async def slow(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await asyncio.sleep(0.3)
        return b"ok"

    async def scenario() -> tuple[Counter[str], set[str], int]:
        server = ServingServer(ServerSettings("127.0.0.1:0", 1 << 20, 1 << 20, max_in_flight=5), [])
        server.server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "t.Slow", {"Call": grpc.unary_unary_rpc_method_handler(slow)}
                ),
            )
        )
        port = await server.start()
        await server.mark_serving()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                    "/t.Slow/Call"
                )

                async def one() -> tuple[str, str]:
                    try:
                        await call(b"", timeout=10)
                        return "OK", ""
                    except grpc.aio.AioRpcError as error:
                        return error.code().name, error.details() or ""

                async def health() -> int:
                    await asyncio.sleep(0.1)
                    stub = health_pb2_grpc.HealthStub(channel)
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                    return reply.status

                calls = asyncio.gather(*(one() for _ in range(20)))
                outcomes, status = await asyncio.gather(calls, health())
        finally:
            await server.stop()
        return Counter(code for code, _ in outcomes), {d for _, d in outcomes if d}, status

    codes, details, status = asyncio.run(scenario())
    assert codes == {"OK": 5, "RESOURCE_EXHAUSTED": 15}
    assert details == {"5 calls in flight (limit 5); retry with backoff"}
    assert status == health_pb2.HealthCheckResponse.SERVING
