"""The ranker's packed reply: decoded strictly, and a reply that cannot fit the page falls back."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common import features, ranking_wire
from gateway.backends import MalformedReply, Ranking, TitleCandidates, ViewerFeatures
from gateway.breaker import dependency_breakers
from gateway.catalog_cache import CatalogCache
from gateway.config import PageLimits
from gateway.page_request import PageContext, PageHead, PageRequest
from gateway.render import PageRenderer

TITLES = {
    "gwh": TitleCandidates("gwh", "gwh/b", ("gwh/a", "gwh/b"), ("u/a", "u/b"), "cat-1", 0),
    "pf": TitleCandidates(
        "pf", "pf/a", ("pf/a", "pf/b", "pf/c"), ("u/1", "u/2", "u/3"), "cat-1", 2
    ),
}
PAGE = PageRequest("viewer", (("row", ("gwh", "pf")),), PageContext(1, "US", 21, 5), 200)
HEAD = PageHead(PAGE.user_id, PAGE.context, PAGE.budget_ms)


def test_packed_decisions_round_trip() -> None:
    packed = ranking_wire.pack(np.array([1, 0]), np.array([0.5, 0.25]), np.array([1.0, 0.75]))
    decided = ranking_wire.unpack(**packed)
    assert decided.chosen.tolist() == [1, 0]
    assert decided.scores.tolist() == [0.5, 0.25]
    assert decided.propensities.tolist() == [1.0, 0.75]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"chosen_indices": b"\x01\x00\x00"}, "chosen_indices: 3 bytes is not whole <u4 values"),
        ({"scores": b"\x00" * 8}, r"chosen_indices, scores, propensities: \[1, 2, 1\] values"),
    ],
)
def test_a_reply_that_is_not_whole_arrays_is_refused_naming_the_field(
    fields: dict[str, bytes], problem: str
) -> None:
    packed = {**ranking_wire.pack(np.array([0]), np.array([0.5]), np.array([1.0])), **fields}
    with pytest.raises(ValueError, match=problem):
        ranking_wire.unpack(**packed)


class OneRanking:
    """Backends whose profile knows the viewer and whose ranker answers `reply`."""

    def __init__(self, reply: Ranking | Exception) -> None:
        self._reply = reply

    async def viewer_features(
        self, user_id: str, timeout: float, request_id: str
    ) -> ViewerFeatures:
        return ViewerFeatures(
            True, features.SCHEMA_VERSION, features.pack(features.cold_start_vector())
        )

    @staticmethod
    def rank_request(**request: object) -> dict[str, object]:
        return request

    async def rank(self, request: dict[str, object], viewer: bytes, *args: object) -> Ranking:
        if isinstance(self._reply, Exception):
            raise self._reply
        return self._reply


def render(reply: Ranking | Exception) -> tuple[pb.RenderPageResponse, list]:
    async def main() -> tuple[bytes, list]:
        cache = CatalogCache(10)
        cache.store(TITLES)
        breakers = dependency_breakers(failure_threshold=5, open_s=1.0)
        limits = PageLimits(100, 100, 4000, 250, 10_000)
        renderer = PageRenderer(OneRanking(reply), cache, breakers, limits)  # type: ignore[arg-type]
        async with renderer.start(HEAD, budget_s=1.0, request_id="r") as started:
            page = await renderer.finish(started, PAGE, page_id="p", request_id="r")
        return b"".join(page.rows), page.degradations

    rows, degradations = asyncio.run(main())
    return pb.RenderPageResponse.FromString(rows), degradations


def ranking(chosen: list[int]) -> Ranking:
    n = len(chosen)
    return Ranking(np.array(chosen, "<u4"), np.ones(n, "<f4"), np.ones(n, "<f4"), "m")


def test_a_fitting_ranking_is_shown() -> None:
    response, degradations = render(ranking([0, 2]))
    assert degradations == []
    assert [tile.artwork_id for tile in response.rows[0].tiles] == ["gwh/a", "pf/c"]


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (ranking([0, 3]), "ranking does not match the candidates sent"),  # pf has 3 candidates
        (ranking([0]), "ranking does not match the candidates sent"),
        (MalformedReply("scores: 3 bytes is not whole <f4 values"), "scores: 3 bytes"),
    ],
)
def test_a_ranking_that_cannot_fit_the_page_falls_back_to_the_defaults(
    reply: Ranking | Exception, detail: str
) -> None:
    response, degradations = render(reply)
    assert [(d.dependency, d.status_code) for d in degradations] == [
        (pb.DEPENDENCY_RANKER, "INTERNAL")
    ]
    assert degradations[0].detail.startswith(detail)
    tiles = response.rows[0].tiles
    assert [tile.artwork_id for tile in tiles] == ["gwh/b", "pf/a"]  # each title's default
    assert {tile.fallback_reason for tile in tiles} == {pb.FALLBACK_REASON_RANKER_UNAVAILABLE}
