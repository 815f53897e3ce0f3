"""The ranker's packed reply: decoded strictly, and a reply that cannot fit the page falls back."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common import ranking_wire
from gateway.backends import MalformedReply, Ranking
from gateway.fallbacks import Degradation
from tests.unit.page_fakes import OneRanking, page_request, renderer

PAGE = page_request(("row", ["gwh", "pf"]))


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


def render(reply: Ranking | Exception) -> tuple[pb.RenderPageResponse, list[Degradation]]:
    async def main() -> tuple[bytes, list[Degradation]]:
        served = await renderer(OneRanking(reply)).render(PAGE, client_left_s=None, request_id="r")
        return served.response, served.rendered.degradations

    response, degradations = asyncio.run(main())
    return pb.RenderPageResponse.FromString(response), degradations


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
