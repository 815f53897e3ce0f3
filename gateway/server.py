"""Gateway server: wiring and lifecycle, in one process or several workers on one port."""

from __future__ import annotations

import asyncio
import sys

import grpc
from keyart.gateway.v1 import gateway_service_pb2

from common.config import ConfigError
from common.experiments import Experiments
from common.logging import configure_logging, get_logger
from common.server import ServingServer, run_service, run_until_signalled
from common.workers import run_workers
from gateway.auth import BearerAuthInterceptor
from gateway.backends import Backends
from gateway.breaker import dependency_breakers
from gateway.catalog_cache import CatalogCache
from gateway.config import GatewayConfig
from gateway.events import EventReporter
from gateway.experiments_watch import ExperimentsWatcher
from gateway.impressions import LearningLogConfig
from gateway.log_sink import open_learning_logs
from gateway.render import PageRenderer
from gateway.servicer import PageServicer

PAGE_SERVICE = gateway_service_pb2.DESCRIPTOR.services_by_name["PageService"]
SERVICE_NAME = PAGE_SERVICE.full_name

log = get_logger(__name__)


def send_as_encoded(response: bytes) -> bytes:
    """The response serializer of a method whose servicer returns the encoded message."""
    return response


def page_handlers(servicer: PageServicer) -> dict[str, grpc.RpcMethodHandler]:
    """PageService's handlers as protoc generates them, except that RenderPage's
    response is encoded by the servicer (gateway/tile_wire.py) and sent as it is:
    parsing 150 KB of tiles into a message only for gRPC to serialize it again
    cost a quarter of a millisecond a page. tests/unit/test_page_handlers.py
    checks this table against the proto's service."""
    return {
        "RenderPage": grpc.unary_unary_rpc_method_handler(
            servicer.RenderPage,
            request_deserializer=gateway_service_pb2.RenderPageRequest.FromString,
            response_serializer=send_as_encoded,
        ),
        "ReportEvent": grpc.unary_unary_rpc_method_handler(
            servicer.ReportEvent,
            request_deserializer=gateway_service_pb2.ReportEventRequest.FromString,
            response_serializer=gateway_service_pb2.ReportEventResponse.SerializeToString,
        ),
    }


def add_page_service(servicer: PageServicer, server: grpc.aio.Server) -> None:
    handlers = page_handlers(servicer)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


async def serve(config: GatewayConfig) -> None:
    backends = Backends(config)
    cache = CatalogCache(config.catalog_cache_titles)
    breakers = dependency_breakers(
        failure_threshold=config.breaker_failures, open_s=config.breaker_open_s
    )
    logs = open_learning_logs(LearningLogConfig.from_env(), backends.catalog_features)
    watcher = (
        None
        if config.experiments_file is None
        else ExperimentsWatcher(config.experiments_file, backends.held_models)
    )
    renderer = PageRenderer(
        backends,
        cache,
        breakers,
        config.limits,
        Experiments if watcher is None else watcher.experiments,
    )
    servicer = PageServicer(
        renderer,
        EventReporter(backends, config.event_timeout_ms / 1000),
        config.max_concurrent_pages,
        logs,
    )
    auth = [BearerAuthInterceptor(config.auth)] if config.auth else []
    server = ServingServer(config.server, [SERVICE_NAME], interceptors=auth)
    add_page_service(servicer, server.server)
    refresher: asyncio.Task[None] | None = None
    stop_watching = asyncio.Event()
    watching: list[asyncio.Task[None]] = []

    async def started() -> None:
        nonlocal refresher
        refresher = asyncio.create_task(cache.keep_fresh(backends, config.catalog_poll_s))
        if watcher is not None:
            watching.append(
                asyncio.create_task(watcher.run(config.experiments_poll_s, stop_watching))
            )

    async def stopped() -> None:
        if refresher is not None:
            refresher.cancel()
        stop_watching.set()
        await asyncio.gather(*watching)
        await backends.close()
        await logs.close()

    logs.start()
    await run_until_signalled(server, service="gateway", on_started=started, on_stopped=stopped)


def main() -> None:
    try:
        configure_logging("gateway")
        config = GatewayConfig.from_env()
    except ConfigError as error:
        log.error("cannot start", service="gateway", error=str(error))
        raise SystemExit(1) from None
    if config.workers > 1:
        sys.exit(
            run_workers("gateway.server", "GATEWAY", config.workers, config.server.metrics_address)
        )
    run_service("gateway", GatewayConfig.from_env, serve)


if __name__ == "__main__":
    main()
