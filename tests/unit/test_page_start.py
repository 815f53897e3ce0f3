"""The profile call goes out before the page's rows are read, and never outlives the page."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common import features
from gateway.backends import ViewerFeatures
from gateway.breaker import CircuitBreaker, dependency_breakers
from gateway.catalog_cache import CatalogCache
from gateway.config import PageLimits
from gateway.fallbacks import Degradation
from gateway.page_request import PageContext, PageHead
from gateway.render import PageRenderer

HEAD = PageHead("viewer", PageContext(1, "US", 21, 5), 200)
LIMITS = PageLimits(100, 100, 4000, 250, 10_000)


class SlowProfile:
    """A profile that answers after `delay_s`, recording whether its call began and how it ended."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.began = False
        self.cancelled = False

    async def viewer_features(
        self, user_id: str, timeout: float, request_id: str
    ) -> ViewerFeatures:
        self.began = True
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return ViewerFeatures(True, features.SCHEMA_VERSION, b"")


def renderer(profile: SlowProfile, breaker: CircuitBreaker | None = None) -> PageRenderer:
    breakers = dependency_breakers(failure_threshold=5, open_s=1.0)
    if breaker is not None:
        breakers[pb.DEPENDENCY_PROFILE] = breaker
    return PageRenderer(profile, CatalogCache(10), breakers, LIMITS)  # type: ignore[arg-type]


def test_the_profile_call_is_under_way_before_the_rows_are_read() -> None:
    profile = SlowProfile(0.05)

    async def main() -> ViewerFeatures | Degradation:
        async with renderer(profile).start(HEAD, budget_s=1.0, request_id="r") as started:
            assert profile.began  # before any further await: the rows are read now
            return await started.viewer

    viewer = asyncio.run(main())
    assert viewer == ViewerFeatures(True, features.SCHEMA_VERSION, b"")
    assert not profile.cancelled


def test_a_page_that_fails_while_its_rows_are_read_cancels_the_profile_call() -> None:
    profile = SlowProfile(5.0)

    async def main() -> None:
        async with renderer(profile).start(HEAD, budget_s=1.0, request_id="r"):
            raise ValueError("rows[3].title_ids: must hold at least one title")

    with pytest.raises(ValueError, match="rows"):
        asyncio.run(main())
    assert profile.cancelled


def test_an_open_breaker_answers_at_once_without_a_call() -> None:
    profile = SlowProfile(0.0)
    breaker = CircuitBreaker("profile", failure_threshold=1, open_s=60)
    breaker.record(grpc.StatusCode.UNAVAILABLE)

    async def main() -> ViewerFeatures | Degradation:
        async with renderer(profile, breaker).start(HEAD, budget_s=1.0, request_id="r") as started:
            return await started.viewer

    viewer = asyncio.run(main())
    assert viewer == Degradation(
        pb.DEPENDENCY_PROFILE, "UNAVAILABLE", "circuit breaker open: failing fast"
    )
    assert not profile.began
