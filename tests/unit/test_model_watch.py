"""Hot swap: a good model replaces the serving one with no failed RPC; bad files are rejected."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import onnx
from keyart.ranker.v1 import ranker_service_pb2_grpc
from structlog.testing import capture_logs

from common.model_contract import build_model, card_path, save_model
from common.storage import Location
from services.ranker.config import RankerConfig
from services.ranker.model_recipe import bundled_weights
from services.ranker.model_watch import ModelWatcher
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


def dated(path: Path, seconds_ago: float) -> None:
    """Sets the file's modification time (the watcher's order), clear of timestamp granularity."""
    at = time.time_ns() - int(seconds_ago * 1e9)
    os.utime(path, ns=(at, at))


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
    watching = replace(ranker_config, model_dir=Location.local(models), model_poll_s=0.05)

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
    watching = replace(ranker_config, model_dir=Location.local(models), min_offline_estimate=0.05)

    def wrong_schema(path: Path) -> None:
        model = build_model(bundled_weights(), name="learned")
        onnx.helper.set_model_props(model, {"version": "x-1", "feature_schema": "features-v0"})
        save_model(model, path)

    bad_files: dict[str, Callable[[Path], object]] = {
        "truncated.onnx": lambda path: path.write_bytes(b"not an onnx model"),
        "wrong-schema.onnx": wrong_schema,
        "low-estimate.onnx": lambda path: other_model(path, -2.0, estimate=0.01),
        "no-card.onnx": lambda path: other_model(path, -2.2),
    }

    async def scenario(stub: Stub, watcher: ModelWatcher) -> list[tuple[bool, str]]:
        before = (await stub.RankPage(page_request())).model_version
        outcomes = []
        for age, (name, write) in enumerate(bad_files.items()):  # each the newest when written
            write(models / name)
            dated(models / name, 100 - age)
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


def test_a_model_whose_card_estimates_less_than_the_serving_ones_is_not_swapped_in(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()

    async def scenario(stub: Stub, watcher: ModelWatcher) -> tuple[str, str, list[Any]]:
        serving = other_model(models / "learned.onnx", -2.0, estimate=0.12)
        dated(models / "learned.onnx", 10)
        assert await watcher.check_once()
        other_model(models / "worse.onnx", -2.5, estimate=0.05)
        with capture_logs() as logs:
            swapped = await watcher.check_once()
            assert not await watcher.check_once()  # refused once, not retried
        assert not swapped
        return serving, (await stub.RankPage(page_request())).model_version, logs

    serving, answered, logs = run_with_watcher(
        replace(ranker_config, model_dir=Location.local(models)), scenario
    )
    assert answered == serving
    assert len(logs) == 1 and logs[0]["event"] == "model not swapped in"
    assert (logs[0]["offline_estimate"], logs[0]["serving_offline_estimate"]) == (0.05, 0.12)
    assert "0.05000 is below the serving model's 0.12000" in logs[0]["reason"]


def test_with_model_swap_newest_a_worse_model_is_swapped_in(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    newest = replace(ranker_config, model_dir=Location.local(models), model_swap="newest")

    async def scenario(stub: Stub, watcher: ModelWatcher) -> tuple[str, str]:
        other_model(models / "learned.onnx", -2.0, estimate=0.12)
        dated(models / "learned.onnx", 10)
        assert await watcher.check_once()
        worse = other_model(models / "worse.onnx", -2.5, estimate=0.05)
        assert await watcher.check_once()
        return worse, (await stub.RankPage(page_request())).model_version

    worse, answered = run_with_watcher(newest, scenario)
    assert answered == worse


def test_deleting_the_serving_model_goes_back_to_the_newest_remaining_one(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()

    async def scenario(stub: Stub, watcher: ModelWatcher) -> tuple[str, ...]:
        first = other_model(models / "first.onnx", -2.0, estimate=0.1)
        dated(models / "first.onnx", 20)
        assert await watcher.check_once()
        (models / "broken.onnx").write_bytes(b"not an onnx model")
        dated(models / "broken.onnx", 15)
        assert not await watcher.check_once()
        other_model(models / "second.onnx", -2.5, estimate=0.2)
        assert await watcher.check_once()
        (models / "second.onnx").unlink()
        with capture_logs() as logs:
            assert await watcher.check_once()
        went_back = (await stub.RankPage(page_request())).model_version
        (models / "first.onnx").unlink()
        (models / "broken.onnx").unlink()
        with capture_logs() as orphaned:
            assert not await watcher.check_once()
            assert not await watcher.check_once()
        still = (await stub.RankPage(page_request())).model_version
        going_back = [e for e in logs if e["event"] == "serving model file deleted; going back"]
        assert [Path(e["to"]).name for e in going_back] == ["first.onnx"]
        assert len(orphaned) == 1 and "still serving it from memory" in orphaned[0]["event"]
        return first, went_back, still

    first, went_back, still = run_with_watcher(
        replace(ranker_config, model_dir=Location.local(models)), scenario
    )
    assert went_back == first and still == first
