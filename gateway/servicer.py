"""PageService: proto in → page renderer / event reporter → proto out."""

from __future__ import annotations

import asyncio
import time

import grpc
import structlog
from keyart.gateway.v1 import gateway_service_pb2 as pb
from keyart.gateway.v1 import gateway_service_pb2_grpc

from common.errors import ResourceExhausted
from common.metrics import EXPERIMENT_IMPRESSIONS, SHED_PAGES
from gateway.events import EventReporter, parse_event
from gateway.fallbacks import record_fallbacks
from gateway.log_sink import LogSink
from gateway.render import PageRenderer, ServedPage


def _request_id() -> str:
    return str(structlog.contextvars.get_contextvars().get("request_id", ""))


class PageServicer(gateway_service_pb2_grpc.PageServiceServicer):
    def __init__(
        self,
        renderer: PageRenderer,
        reporter: EventReporter,
        max_concurrent_pages: int,
        logs: LogSink | None = None,
    ) -> None:
        self._renderer = renderer
        self._reporter = reporter
        self._max_in_flight = max_concurrent_pages
        self._in_flight = 0
        self._logs = logs

    async def RenderPage(
        self, request: pb.RenderPageRequest, context: grpc.aio.ServicerContext
    ) -> bytes:
        """The encoded RenderPageResponse (gateway/server.py sends it as it is)."""
        if self._in_flight >= self._max_in_flight:
            SHED_PAGES.inc()
            raise ResourceExhausted(
                f"{self._in_flight} pages in flight (limit {self._max_in_flight}); retry with backoff"
            )
        self._in_flight += 1
        try:
            served = await self._renderer.render(
                request, client_left_s=context.time_remaining(), request_id=_request_id()
            )
        finally:
            self._in_flight -= 1
        # Once the response is on its way: neither the page nor its budget waits for these.
        asyncio.get_running_loop().call_soon(self._after_page, served)
        return served.response

    def _after_page(self, served: ServedPage) -> None:
        rendered = served.rendered
        record_fallbacks(rendered.page_id, rendered.degradations, rendered.fallbacks)
        if rendered.assignment is not None and rendered.inputs is not None:
            EXPERIMENT_IMPRESSIONS.labels(
                rendered.assignment.experiment, rendered.assignment.cell.name
            ).inc(sum(len(group.titles) for group, _ in rendered.inputs.groups))
        if self._logs is not None:
            self._logs.log_page(served.page, rendered)

    async def ReportEvent(
        self, request: pb.ReportEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportEventResponse:
        # Parsed once, so the profile and the feedback log see the same event and time.
        event = parse_event(request, int(time.time() * 1000))
        duplicate = await self._reporter.report(event, _request_id())
        if self._logs is not None:
            await self._logs.log_feedback(event)  # duplicates too: the log is at-least-once
        return pb.ReportEventResponse(duplicate=duplicate)
