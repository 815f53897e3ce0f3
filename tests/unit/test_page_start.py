"""The profile call goes out before the page's rows are read, and never outlives the page."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common import features
from common.errors import InvalidArgument
from gateway.backends import ViewerFeatures
from gateway.breaker import CircuitBreaker
from gateway.fallbacks import Degradation
from gateway.page_request import PageContext, PageHead
from tests.unit.page_fakes import SlowProfile, page_request, renderer

HEAD = PageHead("viewer", PageContext(1, "US", 21, 5), 200)


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


def test_render_sends_the_profile_call_before_it_reads_the_rows() -> None:
    """A page whose second row is empty: the profile was already asked when the rows
    were read and refused, and its call is cancelled with the page."""
    profile = SlowProfile(5.0)
    request = page_request(("row-a", ["gwh"]), ("row-b", []))

    async def main() -> None:
        await renderer(profile).render(request, client_left_s=None, request_id="r")

    with pytest.raises(InvalidArgument) as refused:
        asyncio.run(main())
    assert (refused.value.field, profile.began, profile.cancelled) == (
        "rows[1].title_ids",
        True,
        True,
    )


def test_a_bad_head_is_refused_before_the_profile_is_asked() -> None:
    profile = SlowProfile(0.0)
    request = page_request(("row-a", ["gwh"]), user_id="")

    async def main() -> None:
        await renderer(profile).render(request, client_left_s=None, request_id="r")

    with pytest.raises(InvalidArgument) as refused:
        asyncio.run(main())
    assert (refused.value.field, profile.began) == ("user_id", False)


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
