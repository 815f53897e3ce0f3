"""Hot swap: a good model replaces the serving one with no failed RPC; bad files are rejected."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import onnx
from keyart.ranker.v1 import ranker_service_pb2_grpc
from structlog.testing import capture_logs

from services.ranker.config import RankerConfig
from services.ranker.model_recipe import build_model, bundled_weights, save_model
from services.ranker.model_watch import ModelWatcher, card_path
from services.ranker.server import build_server, load_model, model_watcher
from tests.unit.test_ranker_service import page_request

Stub = ranker_service_pb2_grpc.RankerServiceStub


def other_model(path: Path, bias: float, estimate: float | None = None) -> str:
    """A valid model with other weights (and a card if `estimate`); returns its version."""
    model = build_model(replace(bundled_weights(), bias=bias), name="learned")
    if estimate is not None:
        card_path(path).write_text(json.dumps({"offline_estimate": {"value": estimate}}))
    save_model(model, path)
    return next(p.value for p in model.metadata_props if p.key == "version")


def run_with_watcher(
    config: RankerConfig, scenario: Callable[[Stub, ModelWatcher], Awaitable[Any]]
) -> Any:
    async def run() -> object:
        server, servicer = build_server(config)
        port = await server.start()
        try:
            await load_model(config, servicer)
            watcher = model_watcher(config, servicer)
            assert watcher is not None
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await scenario(Stub(channel), watcher)
        finally:
            await server.stop()

    return asyncio.run(run())


def test_good_model_swaps_in_while_rpcs_are_in_flight_and_none_fails(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    watching = replace(ranker_config, model_dir=models, model_poll_s=0.05)

    async def scenario(stub: Stub, watcher: ModelWatcher) -> tuple[list[str], ...]:
        seen: list[str] = []
        failures: list[str] = []
        stop = asyncio.Event()

        async def caller() -> None:
            while not stop.is_set():
                try:
                    seen.append((await stub.RankPage(page_request(), timeout=10)).model_version)
                except grpc.aio.AioRpcError as error:
                    failures.append(error.code().name)

        callers = [asyncio.create_task(caller()) for _ in range(4)]
        versions = []
        for bias in (-2.0, -2.5, -1.5):
            await asyncio.sleep(0.2)
            versions.append(other_model(models / f"model{bias}.onnx", bias))
            assert await watcher.check_once()
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*callers)
        return seen, failures, versions

    seen, failures, versions = run_with_watcher(watching, scenario)
    assert failures == []
    assert len(seen) > 40
    assert seen[-1] == versions[-1]
    assert set(versions) <= set(seen)  # every swapped-in model answered while calls ran


def test_bad_files_are_rejected_with_a_reason_and_the_old_model_keeps_serving(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    watching = replace(ranker_config, model_dir=models, min_offline_estimate=0.05)

    async def scenario(stub: Stub, watcher: ModelWatcher) -> list[tuple[bool, str]]:
        before = (await stub.RankPage(page_request())).model_version
        outcomes = []
        (models / "truncated.onnx").write_bytes(b"not an onnx model")
        wrong_schema = build_model(bundled_weights(), name="learned")
        onnx.helper.set_model_props(
            wrong_schema, {"version": "x-1", "feature_schema": "features-v0"}
        )
        save_model(wrong_schema, models / "wrong-schema.onnx")
        other_model(models / "low-estimate.onnx", -2.0, estimate=0.01)
        other_model(models / "no-card.onnx", -2.2)
        for _ in range(4):
            with capture_logs() as logs:
                swapped = await watcher.check_once()
            outcomes.append((swapped, logs[0]["reason"]))
            assert (await stub.RankPage(page_request())).model_version == before
        good = other_model(models / "good.onnx", -2.0, estimate=0.2)
        assert await watcher.check_once()
        assert (await stub.RankPage(page_request())).model_version == good
        assert not await watcher.check_once()  # nothing new: the rejected files are not retried
        return outcomes

    outcomes = run_with_watcher(watching, scenario)
    assert [swapped for swapped, _ in outcomes] == [False] * 4
    reasons = " | ".join(reason for _, reason in sorted(outcomes, key=lambda o: o[1]))
    assert "cannot be loaded" in reasons
    assert "feature schema 'features-v0'" in reasons
    assert "offline estimate 0.01000 < minimum 0.05000" in reasons
    assert "has no offline estimate" in reasons
