"""Titles the model scored NaN or infinity (the ranker's unscored_titles): each shows its
default artwork for FALLBACK_REASON_MODEL_SCORE_INVALID, the rest of the page is ranked,
and nothing degrades."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import numpy as np
import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common import ranking_wire
from gateway.backends import Ranking
from gateway.impressions import decision_columns
from gateway.render import ServedPage, TitleGroup
from tests.unit.page_fakes import OneRanking, page_request, renderer

# gwh's default is its second candidate (gwh/b), pf's its first (pf/a).
PAGE = page_request(("row", ["gwh", "pf"]), ("more", ["pf"]))
INVALID = pb.FALLBACK_REASON_MODEL_SCORE_INVALID


def served(unscored: list[int], *, known: bool = True) -> ServedPage:
    """The page ranked gwh → gwh/a, pf → pf/c, with `unscored` titles marked as the ranker
    marks them (index 0, score 0, propensity 1)."""
    chosen, scores, propensities = [0, 2], [0.8, 0.6], [0.75, 0.5]
    for title in unscored:
        chosen[title], scores[title], propensities[title] = 0, 0.0, 1.0
    reply = Ranking(
        np.array(chosen, "<u4"),
        np.array(scores, "<f4"),
        np.array(propensities, "<f4"),
        "m",
        unscored=np.array(unscored, "<u4"),
    )
    page = renderer(OneRanking(reply, known=known))
    return asyncio.run(page.render(PAGE, client_left_s=None, request_id="r"))


def tiles(page: ServedPage) -> list[pb.Tile]:
    response = pb.RenderPageResponse.FromString(page.response)
    return [tile for row in response.rows for tile in row.tiles]


def test_an_unscored_title_shows_its_default_for_model_score_invalid_the_rest_is_ranked() -> None:
    page = served([0])
    gwh, pf, pf_again = tiles(page)
    assert (gwh.artwork_id, gwh.personalized, gwh.fallback_reason) == ("gwh/b", False, INVALID)
    assert (gwh.score, gwh.propensity) == (0.0, 1.0)
    for tile in (pf, pf_again):  # ranked as usual
        assert (tile.artwork_id, tile.personalized, tile.fallback_reason) == (
            "pf/c",
            True,
            pb.FALLBACK_REASON_UNSPECIFIED,
        )
        assert (tile.score, tile.propensity) == (pytest.approx(0.6), 0.5)
    assert page.rendered.degradations == []
    assert page.rendered.fallbacks == Counter({INVALID: 1})
    assert page.rendered.model_version == "m"


def test_every_title_unscored_shows_every_default_and_still_degrades_nothing() -> None:
    page = served([0, 1], known=False)
    assert [(t.artwork_id, t.fallback_reason) for t in tiles(page)] == [
        ("gwh/b", INVALID),
        ("pf/a", INVALID),
        ("pf/a", INVALID),
    ]
    assert all(math.isfinite(t.score) and t.propensity == 1.0 for t in tiles(page))
    assert page.rendered.degradations == []
    assert page.rendered.fallbacks == Counter({INVALID: 2})


def test_the_impression_log_records_an_unscored_title_as_its_default_unranked() -> None:
    inputs = served([0]).rendered.inputs
    assert inputs is not None

    def number_titles(group: TitleGroup) -> tuple[np.ndarray, dict]:
        return np.arange(len(group.titles)), {}

    columns = decision_columns(inputs, number_titles)
    assert np.asarray(columns.chosen).tolist() == [1, 2]  # gwh's default, pf's choice
    assert np.asarray(columns.propensities).tolist() == [1.0, 0.5]
    assert np.asarray(columns.scores)[0] == 0.0
    assert np.asarray(columns.ranked).tolist() == [False, True]
    assert np.asarray(columns.personalized).tolist() == [False, True]


@pytest.mark.parametrize(
    "unscored",
    [
        b"\x01\x00\x00",  # not whole values
        np.array([2], "<u4").tobytes(),  # beyond the page's 2 titles
        np.array([1, 0], "<u4").tobytes(),  # not ascending
        np.array([1, 1], "<u4").tobytes(),  # a title twice
    ],
)
def test_unscored_titles_that_are_not_ascending_titles_of_the_page_are_refused(
    unscored: bytes,
) -> None:
    with pytest.raises(ValueError, match=r"^unscored_titles: "):
        ranking_wire.unpack_unscored(unscored, 2)


def test_unscored_titles_round_trip() -> None:
    packed = ranking_wire.pack_unscored(np.array([0, 2]))
    assert ranking_wire.unpack_unscored(packed, 3).tolist() == [0, 2]
