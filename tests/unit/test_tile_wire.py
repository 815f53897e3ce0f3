"""The hand-framed tiles parse as the same RenderPageResponse protobuf builds field by field."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from google.protobuf import wrappers_pb2
from keyart.gateway.v1 import gateway_service_pb2 as pb

from gateway.backends import Ranking, TitleCandidates
from gateway.page_request import PageRequest
from gateway.render import (
    Degradation,
    FallbackReason,
    RenderedPage,
    TitleGroup,
    assemble_rows,
    default_tiles,
    ranked_tiles,
)
from gateway.servicer import encode_page
from gateway.tile_wire import varint


def title(rng: random.Random, n: int) -> TitleCandidates:
    # Ids and URLs of all lengths (varint lengths of one and two bytes) and non-ASCII text.
    title_id = f"tïtle-{n}-" + "x" * rng.randrange(0, 150)
    count = rng.randrange(1, 9)
    artwork_ids = tuple(f"{title_id}/art-{i}" for i in range(count))
    urls = tuple(f"http://img/{'p' * rng.randrange(0, 300)}/{i}.jpg" for i in range(count))
    return TitleCandidates(title_id, rng.choice(artwork_ids), artwork_ids, urls, "v1", 8 * n)


def expected_tile(
    candidates: TitleCandidates, index: int, score: float, propensity: float, reason: FallbackReason
) -> pb.Tile:
    return pb.Tile(
        title_id=candidates.title_id,
        artwork_id=candidates.artwork_ids[index],
        image_url=candidates.image_urls[index],
        personalized=reason is FallbackReason.NONE,
        score=score,
        propensity=propensity,
        fallback_reason=pb.FallbackReason.Name(reason.value),
    )


@pytest.mark.parametrize("seed", range(20))
def test_a_random_page_parses_as_the_field_by_field_message(seed: int) -> None:
    rng = random.Random(seed)
    titles = [title(rng, n) for n in range(rng.randrange(1, 60))]
    ranked, defaulted = titles[: len(titles) // 2], titles[len(titles) // 2 :]
    ranking = Ranking(
        np.array([rng.randrange(len(t.artwork_ids)) for t in ranked], dtype="<u4"),
        np.array([rng.uniform(-5, 5) for _ in ranked], dtype="<f4"),
        np.array([rng.random() for _ in ranked], dtype="<f4"),
        "model-1",
    )
    reason = rng.choice(
        [FallbackReason.NONE, FallbackReason.COLD_START, FallbackReason.PROFILE_UNAVAILABLE]
    )
    unknown = [f"unknown-{i}" for i in range(rng.randrange(0, 4))]
    shown = [t.title_id for t in titles] + unknown
    rows = tuple(
        (f"row-{r}", tuple(rng.sample(shown, rng.randrange(1, len(shown) + 1))))
        for r in range(rng.randrange(1, 6))
    )
    page = PageRequest("viewer", rows, None, 200)  # type: ignore[arg-type]

    group, unranked = TitleGroup.of("cat-1", ranked), TitleGroup.of("cat-1", defaulted)
    fallbacks: Counter[FallbackReason] = Counter()
    encoded = assemble_rows(
        page,
        [group, unranked],
        [ranked_tiles(group, ranking, reason), default_tiles(unranked)],
        FallbackReason.CATALOG_UNAVAILABLE,
        fallbacks,
    )
    degradation = Degradation("ranker", "UNAVAILABLE", "down")
    response = pb.RenderPageResponse.FromString(
        encode_page(RenderedPage("page-1", encoded, fallbacks, [degradation], "model-1"))
    )

    by_title = {
        t.title_id: expected_tile(t, i, s, p, reason)
        for t, i, s, p in zip(
            ranked,
            ranking.chosen_indices.tolist(),
            ranking.scores.tolist(),
            ranking.propensities.tolist(),
            strict=True,
        )
    }
    for t in defaulted:
        default = t.artwork_ids.index(t.default_artwork_id)
        by_title[t.title_id] = expected_tile(
            t, default, 0.0, 1.0, FallbackReason.RANKER_UNAVAILABLE
        )
    for title_id in unknown:
        by_title[title_id] = pb.Tile(
            title_id=title_id,
            propensity=1.0,
            fallback_reason=pb.FallbackReason.Name(FallbackReason.CATALOG_UNAVAILABLE.value),
        )
    expected = pb.RenderPageResponse(
        page_id="page-1",
        model_version="model-1",
        rows=[pb.Row(row_id=row_id, tiles=[by_title[t] for t in ids]) for row_id, ids in rows],
        degradations=[
            pb.Degradation(
                dependency=pb.DEPENDENCY_RANKER, status_code="UNAVAILABLE", detail="down"
            )
        ],
    )
    assert response == expected
    assert fallbacks[FallbackReason.CATALOG_UNAVAILABLE] == len(
        {t for _, ids in rows for t in ids if t in unknown}
    )


@pytest.mark.parametrize("seed", range(10))
def test_a_page_showing_each_title_once_in_order_parses_as_the_field_by_field_message(
    seed: int,
) -> None:
    rng = random.Random(seed)
    titles = [title(rng, n) for n in range(rng.randrange(1, 80))]
    ranking = Ranking(
        np.array([rng.randrange(len(t.artwork_ids)) for t in titles], dtype="<u4"),
        np.array([rng.uniform(-5, 5) for _ in titles], dtype="<f4"),
        np.array([rng.random() for _ in titles], dtype="<f4"),
        "model-1",
    )
    cuts = sorted(rng.sample(range(1, len(titles)), rng.randrange(0, min(5, len(titles)))))
    spans = list(zip([0, *cuts], [*cuts, len(titles)], strict=True))
    rows = tuple(
        (f"row-{r}", tuple(t.title_id for t in titles[a:b])) for r, (a, b) in enumerate(spans)
    )
    page = PageRequest("viewer", rows, None, 200)  # type: ignore[arg-type]
    group = TitleGroup.of("cat-1", titles)
    fallbacks: Counter[FallbackReason] = Counter()
    encoded = assemble_rows(
        page,
        [group],
        [ranked_tiles(group, ranking, FallbackReason.NONE)],
        FallbackReason.UNKNOWN_TITLE,
        fallbacks,
    )
    expected = [
        expected_tile(t, i, s, p, FallbackReason.NONE)
        for t, i, s, p in zip(
            titles,
            ranking.chosen_indices.tolist(),
            ranking.scores.tolist(),
            ranking.propensities.tolist(),
            strict=True,
        )
    ]
    response = pb.RenderPageResponse.FromString(b"".join(encoded))
    assert response == pb.RenderPageResponse(
        rows=[
            pb.Row(row_id=row_id, tiles=expected[a:b])
            for (row_id, _), (a, b) in zip(rows, spans, strict=True)
        ]
    )
    assert not fallbacks


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16_383, 16_384, 2**31])
def test_varint_matches_protobuf(value: int) -> None:
    # A uint64 field's encoding is its tag byte (field 1, varint) followed by the value's varint.
    encoded = wrappers_pb2.UInt64Value(value=value).SerializeToString()
    assert encoded == (b"\x08" + varint(value) if value else b"")
