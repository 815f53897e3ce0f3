"""The gateway's experiments watcher: a good file swaps in; a bad one is refused, logged and
counted, and the experiments in effect stay; deleting the file ends them."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import grpc
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from gateway.experiments_watch import ExperimentsWatcher
from tests.unit.test_experiments import experiment, with_cell

HELD = {"bundled-1", "learned-1"}


def refused_count() -> float:
    return REGISTRY.get_sample_value("keyart_gateway_experiments_refused_total") or 0.0


class Ranker:
    """Answers ListModels with HELD, or fails like a ranker that is down."""

    def __init__(self) -> None:
        self.down = False

    async def held_models(self, timeout: float) -> set[str]:
        if self.down:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata()
            )
        return HELD


def write(path: Path, document: object, stamp: int) -> None:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    os.utime(path, ns=(stamp, stamp))  # clear of timestamp granularity


def test_bad_files_are_refused_and_the_experiments_in_effect_stay(tmp_path: Path) -> None:
    path = tmp_path / "experiments.json"
    ranker = Ranker()
    watcher = ExperimentsWatcher(path, ranker.held_models)

    async def scenario() -> None:
        assert not await watcher.check_once()  # no file: production for everyone
        write(path, {"experiments": [experiment()]}, 10**18)
        assert await watcher.check_once()
        assert [e.name for e in watcher.current.experiments] == ["new-model"]
        good = watcher.current
        bad_files = [
            {"experiments": [with_cell(1, weight=0.2)]},
            {"experiments": [with_cell(1, policy={"model_version": "learned-9"})]},
            {"experiments": [experiment("a", [0.0, 0.6]), experiment("b", [0.5, 1.0])]},
            {"experiments": [experiment(end="2026-11-01T00:00:00Z")]},
            {"experiments": [with_cell(2, policy="thompson")]},
            "{not json",
        ]
        for at, bad in enumerate(bad_files, start=1):
            before = refused_count()
            write(path, bad, 10**18 + at * 10**9)
            with capture_logs() as logs:
                assert not await watcher.check_once()
            assert watcher.current is good
            assert refused_count() == before + 1
            assert logs[0]["event"] == "experiments file refused"
            assert logs[0]["reason"].startswith(f"{path}: ")
            assert logs[0]["in_effect"] == ["new-model"]
            assert not await watcher.check_once()  # not tried again until it changes
            assert refused_count() == before + 1

        ranker.down = True
        write(path, {"experiments": [experiment("second")]}, 10**18 + 100 * 10**9)
        assert not await watcher.check_once()  # cannot check the models yet: retried
        assert watcher.current is good
        ranker.down = False
        assert await watcher.check_once()
        assert [e.name for e in watcher.current.experiments] == ["second"]

        path.unlink()
        assert await watcher.check_once()
        assert watcher.current.experiments == ()

    asyncio.run(scenario())
