"""Driving one unary gRPC method at a fixed concurrency, recording each call's latency and status.

Requests are serialized once and responses are not parsed, so the load
generator spends its CPU on gRPC, not on protobuf: the server is measured,
not the client.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import grpc

from common.channels import retry_service_config

# gRPC retries a call only until the server's first response bytes arrive: a server killed
# while it sends a response fails the call UNAVAILABLE ("Stream removed") past gRPC's retry.
# Callers of idempotent methods (retry=True) send such a call again, as a page renderer would.
RESENDS = 3


@dataclass
class CallRecord:
    latency_s: float
    code: str  # gRPC status code name, "OK" on success
    detail: str = ""
    response: bytes = b""  # kept only when the plan asks (keep_responses)
    started_s: float = 0.0  # since the run started


@dataclass
class LoadResult:
    records: list[CallRecord] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def latencies_ok(self) -> list[float]:
        return [record.latency_s for record in self.records if record.code == "OK"]

    @property
    def ok_per_s(self) -> float:
        """Successful calls per second of wall time: the capacity, when the load saturates."""
        return len(self.latencies_ok) / self.wall_s if self.wall_s else 0.0

    def latencies(self, code: str) -> list[float]:
        return [record.latency_s for record in self.records if record.code == code]

    @property
    def errors(self) -> int:
        return sum(record.code != "OK" for record in self.records)


@dataclass(frozen=True)
class LoadPlan:
    target: str
    method: str  # "/package.Service/Method"
    request: bytes
    concurrency: int = 1
    total: int | None = 200  # stop after this many calls…
    duration_s: float | None = None  # …or after this long, whichever comes first
    timeout_s: float = 20.0
    metadata: tuple[tuple[str, str], ...] = ()
    max_message_bytes: int = 64 << 20
    credentials: grpc.ChannelCredentials | None = None  # None: plaintext
    server_name: str = ""  # TLS name to verify instead of the host's (ghz's cname)
    # Calls started per second (open loop, `concurrency` ignored); None: closed loop.
    rate_per_s: float | None = None
    # Retry on UNAVAILABLE or RESOURCE_EXHAUSTED and wait for a restarting server
    # (common.channels.retry_service_config),
    # and send a call again (up to RESENDS times) that failed UNAVAILABLE all the same.
    retry: bool = False
    keep_responses: bool = False


async def run_load(plan: LoadPlan) -> LoadResult:
    """Runs `plan`: `concurrency` workers share the call budget; bounded in count or time."""
    if plan.total is None and plan.duration_s is None:
        raise ValueError("a load plan needs a total, a duration or both")
    result = LoadResult()
    options: list[tuple[str, int | str]] = [
        ("grpc.max_receive_message_length", plan.max_message_bytes)
    ]
    if plan.server_name:
        options.append(("grpc.ssl_target_name_override", plan.server_name))
    if plan.retry:
        service = plan.method.strip("/").split("/")[0]
        options.append(("grpc.service_config", retry_service_config(service)))
    channel = (
        grpc.aio.secure_channel(plan.target, plan.credentials, options=options)
        if plan.credentials
        else grpc.aio.insecure_channel(plan.target, options=options)
    )
    async with channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(plan.method)
        await channel.channel_ready()
        remaining = [plan.total if plan.total is not None else -1]
        loop = asyncio.get_running_loop()
        started = loop.time()
        end = started + plan.duration_s if plan.duration_s is not None else float("inf")

        async def one_call() -> None:
            t0 = time.perf_counter()
            at = loop.time() - started
            for attempt in range(1 + (RESENDS if plan.retry else 0)):
                left = plan.timeout_s - (time.perf_counter() - t0)
                try:
                    response = await call(plan.request, timeout=left, metadata=plan.metadata)
                except grpc.aio.AioRpcError as error:
                    if (
                        plan.retry
                        and error.code() == grpc.StatusCode.UNAVAILABLE
                        and attempt < RESENDS
                    ):
                        continue
                    detail = error.details() or ""
                    result.records.append(
                        CallRecord(time.perf_counter() - t0, error.code().name, detail, b"", at)
                    )
                    return
                kept = response if plan.keep_responses else b""
                result.records.append(CallRecord(time.perf_counter() - t0, "OK", "", kept, at))
                return

        async def worker() -> None:
            while loop.time() < end and remaining[0] != 0:
                remaining[0] -= 1
                await one_call()

        async def open_loop(rate: float) -> None:
            calls: set[asyncio.Task[None]] = set()
            sent = 0
            while loop.time() < end and remaining[0] != 0:
                remaining[0] -= 1
                task = asyncio.create_task(one_call())
                calls.add(task)
                task.add_done_callback(calls.discard)
                sent += 1
                await asyncio.sleep(max(0.0, started + sent / rate - loop.time()))
            await asyncio.gather(*calls)

        if plan.rate_per_s is not None:
            await open_loop(plan.rate_per_s)
        else:
            await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
        result.wall_s = loop.time() - started
    return result


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (as ghz reports them); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil(n * pct / 100)
    return ordered[int(rank) - 1]
