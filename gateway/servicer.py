"""PageService: proto in → page renderer / event reporter → proto out."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import structlog
from keyart.gateway.v1 import gateway_service_pb2 as pb
from keyart.gateway.v1 import gateway_service_pb2_grpc

from common.errors import ResourceExhausted
from common.metrics import DEGRADATIONS, FALLBACK_TILES, SHED_PAGES
from gateway.config import PageLimits
from gateway.events import EventReporter, parse_event
from gateway.impressions import LearningLogs
from gateway.page_request import PageRequest, parse_page_head, with_rows
from gateway.render import PageRenderer, RenderedPage

log = structlog.get_logger(__name__)


def _request_id() -> str:
    return str(structlog.contextvars.get_contextvars().get("request_id", ""))


def encode_page(page: RenderedPage) -> bytes:
    """The RenderPageResponse on the wire: the page's fields, then its rows already encoded."""
    head = pb.RenderPageResponse(
        page_id=page.page_id,
        model_version=page.model_version,
        degradations=[
            pb.Degradation(
                dependency=pb.Dependency.Value(f"DEPENDENCY_{degradation.dependency.upper()}"),
                status_code=degradation.status_code,
                detail=degradation.detail,
            )
            for degradation in page.degradations
        ],
    )
    return head.SerializeToString() + b"".join(page.rows)


def record_fallbacks(page: RenderedPage) -> None:
    """Logs each degradation and counts degradations and fallback tiles in the metrics."""
    for degradation in page.degradations:
        DEGRADATIONS.labels(degradation.dependency, degradation.status_code).inc()
        log.warning(
            "degraded",
            dependency=degradation.dependency,
            status_code=degradation.status_code,
            detail=degradation.detail,
            page_id=page.page_id,
        )
    for reason, count in page.fallbacks.items():
        FALLBACK_TILES.labels(reason.name.lower()).inc(count)


class PageServicer(gateway_service_pb2_grpc.PageServiceServicer):
    def __init__(
        self,
        renderer: PageRenderer,
        reporter: EventReporter,
        limits: PageLimits,
        max_concurrent_pages: int,
        logs: LearningLogs | None = None,
    ) -> None:
        self._renderer = renderer
        self._reporter = reporter
        self._limits = limits
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
            head = parse_page_head(request, self._limits)
            budget_s = head.budget_ms / 1000
            client_left = context.time_remaining()
            if client_left is not None:
                budget_s = min(budget_s, client_left)
            request_id = _request_id()
            async with self._renderer.start(
                head, budget_s=budget_s, request_id=request_id
            ) as started:
                page = with_rows(head, request, self._limits)
                rendered = await self._renderer.finish(
                    started, page, page_id=uuid.uuid4().hex, request_id=request_id
                )
        finally:
            self._in_flight -= 1
        response = encode_page(rendered)
        loop = asyncio.get_running_loop()
        self._renderer.tail.observe(loop.time() - rendered.ranked_at)
        # Once the response is on its way: neither the page nor its budget waits for these.
        loop.call_soon(self._after_page, page, rendered)
        return response

    def _after_page(self, page: PageRequest, rendered: RenderedPage) -> None:
        record_fallbacks(rendered)
        if self._logs is not None:
            self._logs.log_page(page, rendered)

    async def ReportEvent(
        self, request: pb.ReportEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportEventResponse:
        # Parsed once, so the profile and the feedback log see the same event and time.
        event = parse_event(request, int(time.time() * 1000))
        duplicate = await self._reporter.report(event, _request_id())
        if self._logs is not None:
            await self._logs.log_feedback(event)  # duplicates too: the log is at-least-once
        return pb.ReportEventResponse(duplicate=duplicate)
