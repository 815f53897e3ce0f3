"""The ranker holds the experiment cells' models beside the production one, each swapped on
its own when its file changes; a request names the model and exploration its cell uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from keyart.ranker.v1 import ranker_service_pb2, ranker_service_pb2_grpc

from common.config import ConfigError
from services.ranker.cell_models import CellModels
from services.ranker.config import RankerConfig
from services.ranker.server import build_server, load_model
from tests.unit.test_model_watch import other_model
from tests.unit.test_ranker_service import page_request

Stub = ranker_service_pb2_grpc.RankerServiceStub
T = TypeVar("T")


def with_cells(config: RankerConfig, cells: CellModels, talk: Callable[[Stub], Awaitable[T]]) -> T:
    async def run() -> T:
        server, servicer = build_server(config, cell_models=cells)
        port = await server.start()
        try:
            await load_model(config, servicer)
            await cells.check_once()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await talk(Stub(channel))
        finally:
            await server.stop()

    return asyncio.run(run())


async def scores(stub: Stub, model_version: str = "") -> tuple[str, bytes]:
    response = await stub.RankPage(page_request(model_version=model_version))
    return response.model_version, response.scores


def test_swapping_one_cells_model_leaves_the_other_cells_scores_unchanged(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    cell_dir = tmp_path / "cells"
    cell_dir.mkdir()
    first = other_model(cell_dir / "treatment-a.onnx", -2.0)
    second = other_model(cell_dir / "treatment-b.onnx", -1.0)
    cells = CellModels(cell_dir, intra_op_threads=1)

    async def talk(stub: Stub) -> None:
        held = await stub.ListModels(ranker_service_pb2.ListModelsRequest())
        production = held.production_model_version
        assert sorted(held.model_versions) == sorted([production, first, second])
        before = {v: await scores(stub, v) for v in ("", first, second)}
        assert before[""][0] == production and before[first][0] == first
        assert len({s for _, s in before.values()}) == 3  # three models, three sets of scores

        replaced = other_model(cell_dir / "treatment-a.onnx", -2.5)
        assert await cells.check_once()
        after = await stub.ListModels(ranker_service_pb2.ListModelsRequest())
        assert sorted(after.model_versions) == sorted([production, replaced, second])
        assert await scores(stub, second) == before[second]  # untouched, to the bit
        assert await scores(stub, "") == before[""]
        new_version, new_scores = await scores(stub, replaced)
        assert new_version == replaced and new_scores != before[first][1]
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await scores(stub, first)
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND
        assert gone.value.details() == f"model_version: {first!r} is not held by this ranker"

        (cell_dir / "treatment-b.onnx").unlink()
        assert await cells.check_once()
        assert (
            second
            not in (await stub.ListModels(ranker_service_pb2.ListModelsRequest())).model_versions
        )

    with_cells(ranker_config, cells, talk)


def test_a_cells_exploration_settings_choose_and_are_named(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    async def talk(stub: Stub) -> None:
        explored = await stub.RankPage(
            page_request(exploration=ranker_service_pb2.Exploration(epsilon=0.5))
        )
        assert explored.policy == "epsilon_greedy(epsilon=0.5)"
        assert (await stub.RankPage(page_request())).policy == "greedy"
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.RankPage(
                page_request(exploration=ranker_service_pb2.Exploration(epsilon=0.1, temperature=1))
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad.value.details() == "exploration: choose epsilon-greedy or softmax, not both"

    with_cells(ranker_config, CellModels(tmp_path / "no-cells", intra_op_threads=1), talk)


def test_the_cell_model_directory_may_not_be_the_production_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RANKER_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("RANKER_CELL_MODEL_DIR", str(tmp_path) + "/")
    with pytest.raises(ConfigError, match="RANKER_CELL_MODEL_DIR: must not be RANKER_MODEL_DIR"):
        RankerConfig.from_env()
    monkeypatch.setenv("RANKER_CELL_MODEL_DIR", str(tmp_path / "cells"))
    assert RankerConfig.from_env().cell_model_dir == tmp_path / "cells"
