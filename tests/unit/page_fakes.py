"""In-process stand-ins for the gateway's backends, and a renderer over them, for the
unit tests of the page path (the end-to-end tests use the real services)."""

from __future__ import annotations

import asyncio

from keyart.gateway.v1 import gateway_service_pb2 as pb

from common import features
from gateway.backends import Ranking, TitleCandidates, ViewerFeatures
from gateway.breaker import CircuitBreaker, dependency_breakers
from gateway.catalog_cache import CatalogCache
from gateway.config import PageLimits
from gateway.render import PageRenderer

LIMITS = PageLimits(
    max_rows=100,
    max_titles_per_row=100,
    max_titles_per_page=4000,
    default_budget_ms=250,
    max_budget_ms=10_000,
)
TITLES = {
    "gwh": TitleCandidates("gwh", "gwh/b", ("gwh/a", "gwh/b"), ("u/a", "u/b"), "cat-1", 0),
    "pf": TitleCandidates(
        "pf", "pf/a", ("pf/a", "pf/b", "pf/c"), ("u/1", "u/2", "u/3"), "cat-1", 2
    ),
}


def page_request(*rows: tuple[str, list[str]], user_id: str = "viewer") -> pb.RenderPageRequest:
    return pb.RenderPageRequest(
        user_id=user_id,
        rows=[pb.RowRequest(row_id=row_id, title_ids=titles) for row_id, titles in rows],
        context=pb.Context(device_type=pb.DEVICE_TYPE_TV, country="US", local_hour=21),
        budget_ms=200,
    )


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


class OneRanking:
    """Backends whose profile answers at once (the viewer `known` or not) and whose ranker
    answers `reply`."""

    def __init__(self, reply: Ranking | Exception, *, known: bool = True) -> None:
        self._reply = reply
        self._known = known

    async def viewer_features(
        self, user_id: str, timeout: float, request_id: str
    ) -> ViewerFeatures:
        packed = features.pack(features.cold_start_vector())
        return ViewerFeatures(self._known, features.SCHEMA_VERSION, packed)

    @staticmethod
    def rank_request(**request: object) -> dict[str, object]:
        return request

    async def rank(self, request: dict[str, object], viewer: bytes, *args: object) -> Ranking:
        if isinstance(self._reply, Exception):
            raise self._reply
        return self._reply


def renderer(
    backends: SlowProfile | OneRanking, profile_breaker: CircuitBreaker | None = None
) -> PageRenderer:
    """A renderer over `backends` whose catalog cache holds TITLES."""
    cache = CatalogCache(10)
    cache.store(TITLES)
    breakers = dependency_breakers(failure_threshold=5, open_s=1.0)
    if profile_breaker is not None:
        breakers[pb.DEPENDENCY_PROFILE] = profile_breaker
    return PageRenderer(backends, cache, breakers, LIMITS)  # type: ignore[arg-type]  # a stand-in for Backends
