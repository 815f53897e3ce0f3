"""The ranker holding the catalog's feature rows: pages name rows instead of sending features."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from keyart.ranker.v1 import ranker_service_pb2 as pb
from keyart.ranker.v1 import ranker_service_pb2_grpc

from common import ranking_wire
from common.features import ARTWORK_DIM, CONTEXT_DIM, cold_start_vector, pack, viewer_vector
from common.server import ServerSettings
from demo.catalog import demo_titles
from services.artwork.catalog import Catalog
from services.artwork.config import ArtworkConfig
from services.artwork.server import build_server as build_artwork
from services.ranker.catalog_features import WHOLE_CATALOG_SHARE, CandidateRows, CatalogFeatures
from services.ranker.config import RankerConfig
from services.ranker.model import RankingModel
from services.ranker.model_recipe import build_model, bundled_weights, save_model
from services.ranker.server import build_server as build_ranker
from services.ranker.server import load_model

TITLES = ["pulp-fiction", "title-00010", "good-will-hunting"]


def scenario(
    ranker_config: RankerConfig, requests: list[pb.RankPageRequest]
) -> list[pb.RankPageResponse | grpc.aio.AioRpcError]:
    """Artwork and ranker in-process; the ranker loads the catalog rows, then answers `requests`."""
    catalog = Catalog(demo_titles(), "http://img.test")

    async def run() -> list[pb.RankPageResponse | grpc.aio.AioRpcError]:
        artwork_server, artwork = build_artwork(
            ArtworkConfig(
                server=ServerSettings("127.0.0.1:0", 64 << 20, 64 << 20, grace_s=0.1),
                db_path=Path("unused.db"),
                image_base_url="http://img.test",
                max_titles_per_request=100,
            )
        )
        artwork.serve(catalog)
        artwork_port = await artwork_server.start()
        features = CatalogFeatures(f"127.0.0.1:{artwork_port}", 64 << 20)
        ranker_server, ranker = build_ranker(ranker_config, features)
        ranker_port = await ranker_server.start()
        try:
            await load_model(ranker_config, ranker)
            await features.refresh()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{ranker_port}") as channel:
                stub = ranker_service_pb2_grpc.RankerServiceStub(channel)
                results: list[pb.RankPageResponse | grpc.aio.AioRpcError] = []
                for request in requests:
                    try:
                        results.append(await stub.RankPage(request, timeout=10))
                    except grpc.aio.AioRpcError as error:
                        results.append(error)
                return results
        finally:
            await ranker_server.stop()
            await features.close()
            await artwork_server.stop()

    return asyncio.run(run())


def by_rows(catalog: Catalog, **overrides: Any) -> pb.RankPageRequest:
    entries, _ = catalog.titles(TITLES)
    fields: dict[str, Any] = {
        "viewer_features": pack(viewer_vector({"crime": 1.0}, {"Uma Thurman": 1.0})),
        "context_features": pack(np.zeros(CONTEXT_DIM, dtype=np.float32)),
        "candidate_counts": [len(entry.artwork_ids) for entry in entries],
        "first_rows": [entry.rows.start for entry in entries],
        "catalog_version": catalog.version,
        "page_id": "p",
    }
    fields.update(overrides)
    return pb.RankPageRequest(**fields)


def test_rows_rank_exactly_like_inline_features(ranker_config: RankerConfig) -> None:
    catalog = Catalog(demo_titles(), "http://img.test")
    rows_request = by_rows(catalog)
    inline = pb.RankPageRequest()
    inline.CopyFrom(rows_request)
    inline.ClearField("catalog_version")
    inline.ClearField("first_rows")
    inline.artwork_features = catalog.candidates(TITLES)[1]

    by_row, by_value = scenario(ranker_config, [rows_request, inline])
    assert isinstance(by_row, pb.RankPageResponse) and isinstance(by_value, pb.RankPageResponse)
    assert by_row.chosen_indices == by_value.chosen_indices
    assert by_row.scores == by_value.scores
    chosen = ranking_wire.unpack(by_row.chosen_indices, by_row.scores, by_row.propensities).chosen
    assert chosen[0] == 0  # pulp-fiction/uma-thurman for an Uma fan


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        (
            {"catalog_version": "not-a-version"},
            grpc.StatusCode.FAILED_PRECONDITION,
            "catalog_version",
        ),
        ({"first_rows": [0, 1]}, grpc.StatusCode.INVALID_ARGUMENT, "first_rows"),
        ({"first_rows": [10**6, 0, 0]}, grpc.StatusCode.INVALID_ARGUMENT, "first_rows"),
        (
            {"artwork_features": pack(cold_start_vector())},
            grpc.StatusCode.INVALID_ARGUMENT,
            "artwork_features",
        ),
    ],
)
def test_bad_rows_are_refused_naming_the_field(
    ranker_config: RankerConfig, overrides: dict[str, Any], code: grpc.StatusCode, field: str
) -> None:
    (error,) = scenario(
        ranker_config, [by_rows(Catalog(demo_titles(), "http://img.test"), **overrides)]
    )
    assert isinstance(error, grpc.aio.AioRpcError)
    assert error.code() == code
    assert (error.details() or "").startswith(f"{field}:")


def test_whole_catalog_scoring_picks_the_same_scores_as_a_gather(tmp_path: Path) -> None:
    model = RankingModel(save_model(build_model(bundled_weights()), tmp_path / "m.onnx"))
    matrix = np.random.default_rng(0).random((400, ARTWORK_DIM), dtype=np.float32)
    viewer = viewer_vector({"crime": 1.0}, {"Uma Thurman": 1.0})[None, :]
    context = np.zeros((1, CONTEXT_DIM), dtype=np.float32)
    expected = model.score(viewer, context, matrix)
    few = np.array([5, 6, 7, 300])  # under WHOLE_CATALOG_SHARE: rows gathered, then scored
    many = np.arange(10, 10 + int(WHOLE_CATALOG_SHARE * 400) + 1)  # whole catalog scored
    for index in (few, many):
        np.testing.assert_allclose(
            CandidateRows(matrix, index).score(model, viewer, context), expected[index], rtol=1e-6
        )
    np.testing.assert_allclose(
        CandidateRows(matrix).score(model, viewer, context), expected, rtol=1e-6
    )
