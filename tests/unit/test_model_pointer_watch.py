"""The ranker following a published directory's current.json: swaps, rollbacks, refusals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from structlog.testing import capture_logs

from common.models_pointer import POINTER_NAME, Pointer, write_pointer
from common.storage import Location
from services.ranker.config import RankerConfig
from services.ranker.model_watch import ModelWatcher
from tests.unit.test_model_watch import Stub, other_model, run_with_watcher
from tests.unit.test_ranker_service import page_request


def published(models: Path, bias: float, estimate: float | None = None) -> str:
    """A valid model written as `<version>.onnx` (its card beside it); returns the version."""
    staging = models / ".staging.onnx"
    version = other_model(staging, bias, estimate)
    staging.rename(models / f"{version}.onnx")
    if estimate is not None:
        (models / ".staging.card.json").rename(models / f"{version}.card.json")
    return version


def test_the_ranker_serves_what_the_pointer_names_even_a_worse_model_on_rollback(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()

    async def scenario(stub: Stub, watcher: ModelWatcher) -> list[str]:
        served = []
        better = published(models, -2.0, estimate=0.2)
        worse = published(models, -2.5, estimate=0.05)
        for pointer in (Pointer(worse), Pointer(better, (worse,)), Pointer(worse)):
            write_pointer(Location.local(models), pointer)
            assert await watcher.check_once()
            assert not await watcher.check_once()  # unchanged pointer: nothing to do
            served.append((await stub.RankPage(page_request())).model_version)
        return [*served, better, worse]

    first, second, third, better, worse = run_with_watcher(
        replace(ranker_config, model_dir=Location.local(models)), scenario
    )
    assert (first, second, third) == (worse, better, worse)  # no swap rule under a pointer


def test_a_pointer_to_a_missing_or_invalid_model_keeps_the_serving_one_and_says_why(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()

    async def scenario(stub: Stub, watcher: ModelWatcher) -> tuple[list[str], list[str], str]:
        good = published(models, -2.0)
        write_pointer(Location.local(models), Pointer(good))
        assert await watcher.check_once()
        impostor = published(models, -2.5)
        (models / f"{impostor}.onnx").rename(models / "learned-claimed.onnx")
        (models / "broken.onnx").write_bytes(b"not an onnx model")
        reasons = []
        for bad in ("missing-1", "broken", "learned-claimed"):
            write_pointer(Location.local(models), Pointer(bad, (good,)))
            with capture_logs() as logs:
                assert not await watcher.check_once()
                assert not await watcher.check_once()  # logged once, not retried
            assert len(logs) == 1 and logs[0]["event"] == "model rejected; still serving"
            reasons.append(logs[0]["reason"])
        (models / POINTER_NAME).write_text("{not json")
        with capture_logs() as logs:
            assert not await watcher.check_once()
            assert not await watcher.check_once()
        answered = (await stub.RankPage(page_request())).model_version
        assert answered == good
        return reasons, [entry["reason"] for entry in logs], good

    reasons, pointer_logs, _ = run_with_watcher(
        replace(ranker_config, model_dir=Location.local(models)), scenario
    )
    assert "missing-1.onnx does not exist" in reasons[0]
    assert "cannot be loaded" in reasons[1]
    assert "not the 'learned-claimed' its name and current.json give" in reasons[2]
    assert len(pointer_logs) == 1 and "current.json:1: current.json: not JSON" in pointer_logs[0]


def test_without_a_pointer_the_newest_file_rule_still_applies(
    ranker_config: RankerConfig, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()

    async def scenario(stub: Stub, watcher: ModelWatcher) -> tuple[str, str]:
        newest = other_model(models / "learned.onnx", -2.0)
        assert await watcher.check_once()
        return newest, (await stub.RankPage(page_request())).model_version

    newest, answered = run_with_watcher(
        replace(ranker_config, model_dir=Location.local(models)), scenario
    )
    assert answered == newest
