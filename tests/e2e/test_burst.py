"""A burst of concurrent calls far past the in-flight limit, against the real gateway
process with its default settings: the excess is refused with a status clients retry,
nothing is CANCELLED, and health checks keep answering during the burst."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from keyart.gateway.v1 import gateway_service_pb2 as pb
from keyart.gateway.v1 import gateway_service_pb2_grpc

from suite.supervisor import Suite, SuiteConfig

BURST = 6_000
CHANNELS = 4
RETRYABLE = {"OK", "RESOURCE_EXHAUSTED", "UNAVAILABLE"}


async def _burst(address: str) -> tuple[Counter[str], int, float]:
    # Separate connections (no shared subchannel), as separate clients would open.
    channels = [
        grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(CHANNELS)
    ]
    stubs = [gateway_service_pb2_grpc.PageServiceStub(channel) for channel in channels]
    event = pb.ReportEventRequest(
        event_id="evt-burst",
        user_id="burst-viewer",
        title_id="good-will-hunting",
        kind=pb.EVENT_KIND_IMPRESSION_SEEN,
    )
    try:
        await stubs[0].ReportEvent(event, timeout=10)  # retries of one event: cheap to apply

        async def report(stub: gateway_service_pb2_grpc.PageServiceStub) -> str:
            try:
                await stub.ReportEvent(event, timeout=30)
                return "OK"
            except grpc.aio.AioRpcError as error:
                return error.code().name

        async def health_during_burst() -> int:
            await asyncio.sleep(0.5)
            health = health_pb2_grpc.HealthStub(channels[1])
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            return reply.status

        started = time.monotonic()
        reports = asyncio.gather(*(report(stubs[i % CHANNELS]) for i in range(BURST)))
        codes, health_status = await asyncio.gather(reports, health_during_burst())
        return Counter(codes), health_status, time.monotonic() - started
    finally:
        for channel in channels:
            await channel.close()


def test_a_burst_past_the_limit_is_refused_retryably_and_health_keeps_answering(
    suite: Suite, suite_config: SuiteConfig
) -> None:
    codes, health_status, seconds = asyncio.run(_burst(suite_config.addresses["gateway"]))
    assert codes["CANCELLED"] == 0, codes
    assert set(codes) <= RETRYABLE, codes
    assert codes["OK"] > 0, codes
    assert health_status == health_pb2.HealthCheckResponse.SERVING
    assert seconds < 45, (seconds, codes)
