"""RankerService in-process over a real channel, and the process refusing a bad model."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from keyart.ranker.v1 import ranker_service_pb2, ranker_service_pb2_grpc

from common import ranking_wire
from common.features import (
    ARTWORK_DIM,
    CONTEXT_DIM,
    VIEWER_DIM,
    artwork_vector,
    cold_start_vector,
    context_vector,
    pack,
    unpack,
    viewer_vector,
)
from common.model_contract import build_model, save_model
from services.ranker.config import RankerConfig
from services.ranker.model import RankingModel
from services.ranker.model_recipe import bundled_weights
from services.ranker.policy import Policy
from services.ranker.server import SERVICE_NAME, build_server, load_model

REPO = Path(__file__).resolve().parents[2]
Stub = ranker_service_pb2_grpc.RankerServiceStub
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
T = TypeVar("T")


def with_server(config: RankerConfig, talk: Callable[[grpc.aio.Channel], Awaitable[T]]) -> T:
    """Starts the ranker on port 0 with its model loaded, runs `talk`, stops it."""

    async def run() -> T:
        server, servicer = build_server(config)
        port = await server.start()
        try:
            await load_model(config, servicer)
            await server.mark_serving()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await talk(channel)
        finally:
            await server.stop()

    return asyncio.run(run())


def page_request(**overrides: Any) -> ranker_service_pb2.RankPageRequest:
    """Good Will Hunting (romance still, comedy still) and Pulp Fiction (Uma, Travolta, neither)."""
    artwork = np.stack(
        [
            artwork_vector(["romance", "drama"], ["Matt Damon", "Minnie Driver"], 0.6, 0.5),
            artwork_vector(["comedy"], ["Robin Williams"], 0.9, 0.8),
            artwork_vector(["crime"], ["Uma Thurman"], 0.6, 0.6),
            artwork_vector(["crime"], ["John Travolta"], 0.6, 0.6),
            artwork_vector(["crime"], [], 0.95, 0.9),
        ]
    )
    fields: dict[str, Any] = {
        "viewer_features": pack(viewer_vector({"romance": 1.0}, {"Uma Thurman": 1.0})),
        "context_features": pack(context_vector(device_type=1, local_hour=20, day_of_week=5)),
        "artwork_features": pack(artwork),
        "candidate_counts": [2, 3],
        "page_id": "page-1",
    }
    fields.update(overrides)
    return ranker_service_pb2.RankPageRequest(**fields)


def direct_scores(model: RankingModel, request: ranker_service_pb2.RankPageRequest) -> np.ndarray:
    return model.score(
        unpack(request.viewer_features, VIEWER_DIM, field="viewer_features"),
        unpack(request.context_features, CONTEXT_DIM, field="context_features"),
        unpack(request.artwork_features, ARTWORK_DIM, field="artwork_features"),
    )


def decisions(response: ranker_service_pb2.RankPageResponse) -> ranking_wire.RankedArrays:
    return ranking_wire.unpack(response.chosen_indices, response.scores, response.propensities)


def rank(
    config: RankerConfig, request: ranker_service_pb2.RankPageRequest
) -> ranker_service_pb2.RankPageResponse:
    return with_server(config, lambda channel: Stub(channel).RankPage(request, timeout=10))


def test_rank_page_personalizes_each_title(ranker_config: RankerConfig) -> None:
    request = page_request()
    response = rank(ranker_config, request)

    model = RankingModel(ranker_config.model_path)
    expected = direct_scores(model, request)
    decided = decisions(response)
    assert decided.chosen.tolist() == [0, 0]  # the romance still; Uma Thurman
    np.testing.assert_allclose(decided.scores, expected[[0, 2]], rtol=1e-6)
    assert decided.propensities.tolist() == [1.0, 1.0]
    assert response.model_version == model.version


def test_cold_start_viewer_gets_the_most_aesthetic_candidates(ranker_config: RankerConfig) -> None:
    response = rank(ranker_config, page_request(viewer_features=pack(cold_start_vector())))
    assert decisions(response).chosen.tolist() == [1, 2]


def test_exploring_ranker_answers_with_the_policy_decisions(ranker_config: RankerConfig) -> None:
    exploring = replace(ranker_config, exploration="epsilon_greedy", epsilon=0.5, seed=9)
    request = page_request(page_id="explore")
    response = rank(exploring, request)

    scores = direct_scores(RankingModel(ranker_config.model_path), request)
    expected = Policy(epsilon=0.5, seed=9).choose(scores, np.array([2, 3]), "explore")
    decided = decisions(response)
    assert decided.chosen.tolist() == expected.indices.tolist()
    np.testing.assert_allclose(decided.propensities, expected.propensities, rtol=1e-6)
    assert set(np.round(decided.propensities, 6)[:1]) <= {0.75, 0.25}


def test_exploration_replays_for_the_same_page(ranker_config: RankerConfig) -> None:
    exploring = replace(ranker_config, exploration="epsilon_greedy", epsilon=0.9, seed=1)
    request = page_request(
        artwork_features=pack(np.tile(np.eye(1, ARTWORK_DIM, VIEWER_DIM, np.float32), (60, 1))),
        candidate_counts=[3] * 20,
    )

    async def twice(
        channel: grpc.aio.Channel,
    ) -> tuple[ranker_service_pb2.RankPageResponse, ranker_service_pb2.RankPageResponse]:
        stub = Stub(channel)
        return await stub.RankPage(request, timeout=10), await stub.RankPage(request, timeout=10)

    first, second = (decisions(response) for response in with_server(exploring, twice))
    assert first.chosen.tolist() == second.chosen.tolist()
    assert set(first.chosen.tolist()) == {0, 1, 2}
    assert set(np.round(first.propensities, 6)) <= {np.float32(0.4), np.float32(0.3)}


SIX_FLOATS = pack(np.zeros(6, np.float32))


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"viewer_features": SIX_FLOATS}, "viewer_features"),
        ({"viewer_features": pack(np.zeros((2, VIEWER_DIM)))}, "viewer_features"),
        ({"viewer_features": b""}, "viewer_features"),
        ({"context_features": b"\x00" * 3}, "context_features"),
        ({"artwork_features": SIX_FLOATS}, "artwork_features"),
        ({"artwork_features": pack(np.full((5, ARTWORK_DIM), np.nan))}, "artwork_features"),
        ({"artwork_features": pack(np.zeros((101, ARTWORK_DIM)))}, "artwork_features"),
        ({"candidate_counts": [2, 2]}, "candidate_counts"),
        ({"candidate_counts": [2, 3, 0]}, "candidate_counts"),
        ({"candidate_counts": [5, 0]}, "candidate_counts"),
        ({"title_ids": ["only-one"]}, "title_ids"),
        ({"viewer_features": pack(np.full((1, VIEWER_DIM), 3e38))}, "viewer_features"),
        ({"context_features": pack(np.full((1, CONTEXT_DIM), -3e38))}, "context_features"),
        ({"viewer_features": pack(np.full((1, VIEWER_DIM), 1.5e6))}, "viewer_features"),
        ({"artwork_features": pack(np.full((5, ARTWORK_DIM), 2e6))}, "artwork_features"),
    ],
)
def test_malformed_request_is_invalid_argument_naming_the_field(
    ranker_config: RankerConfig, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        rank(ranker_config, page_request(**overrides))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith(f"{field}: ")


def test_features_at_the_bound_are_ranked_with_finite_scores(ranker_config: RankerConfig) -> None:
    response = rank(
        ranker_config, page_request(viewer_features=pack(np.full((1, VIEWER_DIM), 1e6)))
    )
    assert np.isfinite(decisions(response).scores).all()


def unscored(response: ranker_service_pb2.RankPageResponse) -> list[int]:
    return ranking_wire.unpack_unscored(
        response.unscored_titles, len(response.scores) // 4
    ).tolist()


def overflowing(config: RankerConfig, tmp_path: Path, column: slice) -> RankerConfig:
    """The ranker serving a model whose viewer weights on artwork `column` overflow float32
    for a viewer at the feature bound, yet are finite on the loader's probe."""
    weights = bundled_weights()
    wv = weights.wv.copy()
    wv[:, column] *= np.float32(1e33)
    path = save_model(build_model(replace(weights, wv=wv)), tmp_path / "huge.onnx")
    return replace(config, model_path=path)


AT_THE_BOUND = pack(np.full((1, VIEWER_DIM), 1e6))


def test_titles_a_model_scores_nan_are_marked_with_finite_placeholders(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    """No NaN on the wire and no failed call: every title is marked unscored, with index 0,
    score 0 and propensity 1 (the gateway shows its default artwork)."""
    broken = overflowing(ranker_config, tmp_path, slice(None))
    response = rank(broken, page_request(viewer_features=AT_THE_BOUND))
    decided = decisions(response)
    assert unscored(response) == [0, 1]
    assert decided.chosen.tolist() == [0, 0]
    assert decided.scores.tolist() == [0.0, 0.0]
    assert decided.propensities.tolist() == [1.0, 1.0]


def test_only_the_title_with_a_nan_score_is_unscored_the_rest_are_ranked(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    """Artwork feature 0 overflows to infinity: a candidate with 0 there scores NaN
    (0 × inf), one with 0.5 scores sigmoid(inf) = 1. Title 1 has one NaN candidate among
    finite ones, and falls back whole; titles 0 and 2 are chosen by the policy as usual."""
    broken = replace(
        overflowing(ranker_config, tmp_path, slice(0, 1)),
        exploration="epsilon_greedy",
        epsilon=0.5,
    )
    artwork = np.full((7, ARTWORK_DIM), 0.5, np.float32)
    artwork[3, 0] = 0.0  # title 1's second candidate
    request = page_request(
        viewer_features=AT_THE_BOUND, artwork_features=pack(artwork), candidate_counts=[2, 3, 2]
    )
    response = rank(broken, request)
    decided = decisions(response)
    assert unscored(response) == [1]
    assert decided.scores.tolist() == [1.0, 0.0, 1.0]
    assert decided.chosen[1] == 0
    assert decided.propensities[1] == 1.0
    # Greedy's first of the tie, or the other with ε/2: the policy chose for titles 0 and 2.
    assert set(np.round(decided.propensities[[0, 2]], 6).tolist()) <= {0.75, 0.25}


def test_not_serving_and_unavailable_until_the_model_has_loaded(
    ranker_config: RankerConfig,
) -> None:
    async def run() -> None:
        server, servicer = build_server(ranker_config)
        port = await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)
                check = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
                assert (await health.Check(check)).status == NOT_SERVING
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await Stub(channel).RankPage(page_request(), timeout=10)
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

                await load_model(ranker_config, servicer)
                await server.mark_serving()
                assert (await health.Check(check)).status == SERVING
                response = await Stub(channel).RankPage(page_request())
                assert decisions(response).chosen.size == 2
        finally:
            await server.stop()

    asyncio.run(run())


def test_process_with_a_missing_model_exits_non_zero_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.onnx"
    env = {**os.environ, "RANKER_MODEL_PATH": str(missing), "RANKER_ADDRESS": "127.0.0.1:0"}
    done = subprocess.run(
        [sys.executable, "-m", "services.ranker.server"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,  # the exit status is what is tested
    )
    assert done.returncode != 0
    assert str(missing) in done.stdout


def test_sticky_softmax_ranker_repeats_a_viewers_choice_across_pages(
    ranker_config: RankerConfig,
) -> None:
    # A period of 10^9 s: its next boundary is in 2033, so no run straddles one.
    sticky = replace(ranker_config, exploration="softmax", temperature=5.0, sticky_s=10**9, seed=2)
    titles = ["good-will-hunting", "pulp-fiction"]

    async def pages(channel: grpc.aio.Channel) -> list[ranker_service_pb2.RankPageResponse]:
        stub = Stub(channel)
        return [
            await stub.RankPage(
                page_request(page_id=f"page-{i}", user_id="romance-fan", title_ids=titles),
                timeout=10,
            )
            for i in range(20)
        ]

    responses = with_server(sticky, pages)
    assert len({r.chosen_indices for r in responses}) == 1
    assert {r.policy for r in responses} == {"softmax(temperature=5)"}
    assert all(0 < p < 1 for p in decisions(responses[0]).propensities)  # a hot softmax explores
