"""Backend channels balance each request across every address the target resolves to."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc

from common.channels import backend_channel, retry_service_config

METHOD = "/keyart.test.Who/Am"


async def start_server(
    answer: Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]],
) -> tuple[grpc.aio.Server, int]:
    """A loopback server answering METHOD with `answer`, and its port."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "keyart.test.Who", {"Am": grpc.unary_unary_rpc_method_handler(answer)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def start_named_server(name: bytes) -> tuple[grpc.aio.Server, int]:
    async def answer(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return name

    return await start_server(answer)


def test_requests_on_one_channel_reach_every_backend() -> None:
    async def scenario() -> list[bytes]:
        servers = [await start_named_server(name) for name in (b"a", b"b")]
        target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for _, port in servers)
        channel = backend_channel(target, 1 << 20, tls=None)
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(METHOD)
        try:
            await asyncio.wait_for(channel.channel_ready(), 5)
            await asyncio.sleep(0.2)  # round_robin connects to every address; give the second time
            return [await call(b"", timeout=5) for _ in range(20)]
        finally:
            await channel.close()
            for server, _ in servers:
                await server.stop(None)

    answers = asyncio.run(scenario())
    # One channel, pick_first would send all 20 to one server; round_robin alternates.
    assert answers.count(b"a") >= 5 and answers.count(b"b") >= 5


def test_the_retry_policy_resends_calls_refused_as_overloaded_unavailable_or_cancelled() -> None:
    """A server that refuses RESOURCE_EXHAUSTED, UNAVAILABLE, then CANCELLED (a stopping
    server's answer to calls it never ran), then answers: one call, OK."""
    refusals = [
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
    ]

    async def answer(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if refusals:
            await context.abort(refusals.pop(0), "busy; retry")
        return b"served"

    async def scenario() -> bytes:
        server, port = await start_server(answer)
        options = [("grpc.service_config", retry_service_config("keyart.test.Who"))]
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
                call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(METHOD)
                return await call(b"", timeout=10)
        finally:
            await server.stop(None)

    assert asyncio.run(scenario()) == b"served"
    assert refusals == []
