"""Gateway server: wiring and lifecycle."""

from __future__ import annotations

from common.server import ServingServer, run_service, run_until_signalled
from gateway.backends import Backends
from gateway.config import GatewayConfig
from gateway.events import EventReporter
from gateway.render import PageRenderer
from gateway.servicer import PageServicer
from keyart.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc

SERVICE_NAME = gateway_service_pb2.DESCRIPTOR.services_by_name["PageService"].full_name


async def serve(config: GatewayConfig) -> None:
    backends = Backends(config)
    servicer = PageServicer(
        PageRenderer(backends),
        EventReporter(backends, config.event_timeout_ms / 1000),
        config.limits,
    )
    server = ServingServer(config.server, [SERVICE_NAME])
    gateway_service_pb2_grpc.add_PageServiceServicer_to_server(servicer, server.server)
    await run_until_signalled(server, service="gateway", on_stopped=backends.close)


def main() -> None:
    run_service("gateway", GatewayConfig.from_env, serve)


if __name__ == "__main__":
    main()
