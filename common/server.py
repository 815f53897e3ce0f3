"""Bootstrap shared by every server: options, health, reflection, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common.config import ConfigError, env_bool, env_float, env_int, env_str
from common.interceptors import Drain, ErrorMappingInterceptor
from common.logging import configure_logging, get_logger
from common.metrics import start_metrics_server
from common.tls import ServerTls, server_tls_from_env

log = get_logger(__name__)
ConfigT = TypeVar("ConfigT")

DEFAULT_MAX_IN_FLIGHT = 1000
# Calls that gRPC core has received but the server has not yet picked up. Core's defaults
# (a soft limit of 1,000, past which it drops calls at random, and a hard limit of 3,000)
# answered a burst of 10,000 calls CANCELLED, health checks included, with nothing logged:
# a status clients cannot tell from their own cancellation. With room for such a burst,
# every call reaches the interceptor, which refuses the excess RESOURCE_EXHAUSTED at once.
MAX_PENDING_CALLS = 50_000


@dataclass(frozen=True)
class ServerSettings:
    """What every server needs to listen."""

    address: str
    max_receive_bytes: int
    max_send_bytes: int
    grace_s: float = 5.0
    # host:port of the Prometheus /metrics endpoint; empty turns it off.
    metrics_address: str = ""
    # Let several worker processes listen on the same port (SO_REUSEPORT).
    reuse_port: bool = False
    tls: ServerTls | None = None
    reflection: bool = True
    # Clients reconnect (and re-resolve DNS, finding new replicas) at least this often.
    max_connection_age_s: float = 300.0
    # A plaintext port serving health checks only: Kubernetes' gRPC probes cannot speak TLS.
    health_address: str = ""
    # Calls beyond this many in flight are refused RESOURCE_EXHAUSTED by gRPC itself, before any
    # Python work (0: no limit). Health checks on `address` count too.
    max_concurrent_rpcs: int = 0
    # Calls beyond this many in flight are refused RESOURCE_EXHAUSTED by the interceptor, health
    # and reflection exempt (0: no limit). See MAX_PENDING_CALLS for why a default is needed.
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT


def settings_from_env(prefix: str, default_address: str, default_max_bytes: int) -> ServerSettings:
    """`<PREFIX>_` + ADDRESS, MAX_MESSAGE_BYTES, GRACE_S, METRICS_ADDRESS, REUSE_PORT,
    TLS_CERT/TLS_KEY/TLS_CLIENT_CA, REFLECTION, MAX_CONNECTION_AGE_S, HEALTH_ADDRESS,
    MAX_CONCURRENT_RPCS, MAX_IN_FLIGHT."""
    max_bytes = env_int(
        f"{prefix}_MAX_MESSAGE_BYTES", default_max_bytes, minimum=1024, maximum=1 << 30
    )
    return ServerSettings(
        address=env_str(f"{prefix}_ADDRESS", default_address),
        max_receive_bytes=max_bytes,
        max_send_bytes=max_bytes,
        grace_s=env_float(f"{prefix}_GRACE_S", 5.0, minimum=0.0, maximum=300.0),
        metrics_address=env_str(f"{prefix}_METRICS_ADDRESS", ""),
        reuse_port=env_bool(f"{prefix}_REUSE_PORT", False),
        tls=server_tls_from_env(prefix),
        reflection=env_bool(f"{prefix}_REFLECTION", True),
        max_connection_age_s=env_float(
            f"{prefix}_MAX_CONNECTION_AGE_S", 300.0, minimum=1.0, maximum=86_400.0
        ),
        health_address=env_str(f"{prefix}_HEALTH_ADDRESS", ""),
        max_concurrent_rpcs=env_int(f"{prefix}_MAX_CONCURRENT_RPCS", 0, minimum=0),
        max_in_flight=env_int(
            f"{prefix}_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT, minimum=0, maximum=MAX_PENDING_CALLS
        ),
    )


def server_options(settings: ServerSettings) -> list[tuple[str, int]]:
    age_ms = int(settings.max_connection_age_s * 1000)
    return [
        ("grpc.max_receive_message_length", settings.max_receive_bytes),
        ("grpc.max_send_message_length", settings.max_send_bytes),
        ("grpc.so_reuseport", int(settings.reuse_port)),
        ("grpc.max_connection_age_ms", age_ms),
        ("grpc.max_connection_age_grace_ms", max(int(settings.grace_s * 1000), 1000)),
        ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
        ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
    ]


class ServingServer:
    """A grpc.aio server with the stock health and (unless switched off) reflection services.

    Health is NOT_SERVING until `mark_serving()`, and again as soon as SIGTERM
    arrives, before in-flight calls are given `grace_s` to finish. With TLS
    settings it serves TLS only (mTLS when they name a client CA).
    `interceptors` run before the error mapping (the gateway's auth does).
    """

    def __init__(
        self,
        settings: ServerSettings,
        service_names: Sequence[str],
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self.settings = settings
        self._drain = Drain(settings.max_in_flight)
        self.server = grpc.aio.server(
            options=server_options(settings),
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs or None,
            interceptors=[*interceptors, ErrorMappingInterceptor(self._drain)],
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._health_server: grpc.aio.Server | None = None
        if settings.health_address:
            self._health_server = grpc.aio.server(options=server_options(settings))
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self._health_server)
        self._service_names = tuple(service_names)
        if settings.reflection:
            reflection.enable_server_reflection(
                (*self._service_names, reflection.SERVICE_NAME, health.SERVICE_NAME), self.server
            )
        self.port = 0

    async def start(self) -> int:
        """Binds and starts; returns the bound port (useful with port 0)."""
        tls = self.settings.tls
        self.port = (
            self.server.add_secure_port(self.settings.address, tls.credentials())
            if tls
            else self.server.add_insecure_port(self.settings.address)
        )
        if self.port == 0:
            raise OSError(f"could not bind {self.settings.address}")
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.start()
        if self._health_server is not None:
            if self._health_server.add_insecure_port(self.settings.health_address) == 0:
                raise OSError(f"could not bind {self.settings.health_address}")
            await self._health_server.start()
        return self.port

    async def mark_serving(self) -> None:
        await self._set_all(health_pb2.HealthCheckResponse.SERVING)

    async def _set_all(self, status: int) -> None:
        await self.health.set("", status)
        for name in self._service_names:
            await self.health.set(name, status)

    async def stop(self) -> None:
        """NOT_SERVING; new calls refused UNAVAILABLE while in-flight ones finish; then stop."""
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        loop = asyncio.get_running_loop()
        drained_by = loop.time() + self.settings.grace_s
        await self._drain.refuse_and_wait(self.settings.grace_s)
        await self.server.stop(max(drained_by - loop.time(), 0.0))
        if self._health_server is not None:
            await self._health_server.stop(self.settings.grace_s)


async def run_until_signalled(
    server: ServingServer,
    *,
    service: str,
    on_started: Callable[[], Awaitable[None]] | None = None,
    on_stopped: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Starts `server`, runs `on_started` (then reports SERVING), and waits for SIGTERM/SIGINT."""
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)
    port = await server.start()
    log.info(
        "listening",
        service=service,
        port=port,
        address=server.settings.address,
        tls=server.settings.tls is not None,
        mtls=bool(server.settings.tls and server.settings.tls.client_ca),
        reflection=server.settings.reflection,
    )
    start_metrics_server(server.settings.metrics_address)
    try:
        if on_started is not None:
            await on_started()
        await server.mark_serving()
        log.info("serving", service=service)
        await stop_requested.wait()
        log.info("stopping", service=service, grace_s=server.settings.grace_s)
    finally:
        await server.stop()
        if on_stopped is not None:
            await on_stopped()
        log.info("stopped", service=service)


def run_service(
    service: str,
    load_config: Callable[[], ConfigT],
    serve: Callable[[ConfigT], Coroutine[Any, Any, None]],
    fatal: tuple[type[Exception], ...] = (),
) -> None:
    """Process entry point: JSON logging, config read once, then serve.

    A bad configuration, or one of the `fatal` errors (say, a model that does
    not load), is logged as "cannot start" and exits with status 1.
    """
    cannot_start: tuple[type[Exception], ...] = (ConfigError, *fatal)
    try:
        configure_logging(service)
        asyncio.run(serve(load_config()))
    except cannot_start as error:
        log.error("cannot start", service=service, error=str(error))
        raise SystemExit(1) from None
