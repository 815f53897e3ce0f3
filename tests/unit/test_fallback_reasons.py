"""Fallback reasons shown to a person (keyart page, the preview) are the proto enum's names."""

from __future__ import annotations

import pytest
from keyart.gateway.v1 import gateway_service_pb2 as pb

from cli.render import describe_tile
from common.fallback_reasons import reason_words


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (pb.FALLBACK_REASON_COLD_START, "cold start"),
        (pb.FALLBACK_REASON_RANKER_UNAVAILABLE, "ranker unavailable"),
        (pb.FALLBACK_REASON_MODEL_SCORE_INVALID, "model score invalid"),
        (99, "reason 99"),  # newer than these stubs
    ],
)
def test_a_not_personalized_tile_says_its_reason_by_the_enums_name(reason: int, words: str) -> None:
    assert reason_words(reason) == words
    tile = pb.Tile(title_id="gwh", artwork_id="gwh/b", fallback_reason=reason)  # type: ignore[arg-type]  # 99: a value these stubs lack
    assert describe_tile(tile).endswith(f"not personalized ({words})")
