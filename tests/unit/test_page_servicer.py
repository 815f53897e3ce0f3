"""RenderPage answers first; the page's metrics and impression record follow on the
next turn of the event loop, so neither the page nor its budget waits for them."""

from __future__ import annotations

import asyncio
from typing import cast

import grpc
import numpy as np
from keyart.gateway.v1 import gateway_service_pb2 as pb
from prometheus_client import REGISTRY

from gateway.backends import Ranking
from gateway.events import EventReporter
from gateway.page_request import PageRequest
from gateway.render import RenderedPage
from gateway.servicer import PageServicer
from tests.unit.page_fakes import OneRanking, page_request, renderer


class NoDeadline:
    """The one part of a ServicerContext RenderPage reads: the client set no deadline."""

    @staticmethod
    def time_remaining() -> None:
        return None


class PageLog:
    """Records the pages handed to the impression log."""

    def __init__(self) -> None:
        self.pages: list[tuple[str, str]] = []

    def log_page(self, page: PageRequest, rendered: RenderedPage) -> None:
        self.pages.append((page.user_id, rendered.page_id))


def cold_start_tiles() -> float:
    value = REGISTRY.get_sample_value(
        "keyart_gateway_fallback_tiles_total", {"reason": "cold_start"}
    )
    return value or 0.0


def test_the_response_is_returned_before_the_metrics_and_the_log_are_written() -> None:
    ranking = OneRanking(
        Ranking(np.array([0, 2], "<u4"), np.ones(2, "<f4"), np.ones(2, "<f4"), "m"), known=False
    )
    log = PageLog()
    servicer = PageServicer(
        renderer(ranking),
        EventReporter(ranking, 1.0),  # type: ignore[arg-type]  # RenderPage reports no event
        max_concurrent_pages=4,
        logs=log,  # type: ignore[arg-type]  # records what LearningLogs would queue
    )
    before = cold_start_tiles()

    async def main() -> tuple[bytes, tuple[float, int], tuple[float, int]]:
        request = page_request(("row", ["gwh", "pf"]), user_id="newcomer")
        # RenderPage reads only the context's time_remaining.
        context = cast(grpc.aio.ServicerContext, NoDeadline())
        response = await servicer.RenderPage(request, context)
        at_response = (cold_start_tiles(), len(log.pages))
        await asyncio.sleep(0)
        return response, at_response, (cold_start_tiles(), len(log.pages))

    response, at_response, next_turn = asyncio.run(main())
    page = pb.RenderPageResponse.FromString(response)
    assert [tile.fallback_reason for tile in page.rows[0].tiles] == [
        pb.FALLBACK_REASON_COLD_START
    ] * 2
    assert at_response == (before, 0)
    assert next_turn == (before + 2, 1)
    assert log.pages == [("newcomer", page.page_id)]
