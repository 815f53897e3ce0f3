"""Two real ranker processes watching one models location, a local directory or an S3 bucket
on a real S3-compatible server: publish, rollback, a broken model."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from keyart.ranker.v1 import ranker_service_pb2
from keyart.ranker.v1.ranker_service_pb2_grpc import RankerServiceStub

from cli.run import ensure_model
from common.models_pointer import Pointer, read_pointer
from common.storage import Location
from tests.e2e.replicas import running_replicas
from tests.unit.test_model_watch import other_model
from tests.unit.test_ranker_service import page_request

POLL_S = 0.1


def keyart_model(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "model", *argv],
        check=False,  # the exit status is what the tests look at
        capture_output=True,
        text=True,
        timeout=60,
    )


def served(address: str) -> tuple[str, str]:
    """(ListModels' production version, the version a RankPage was scored with)."""
    with grpc.insecure_channel(address) as channel:
        stub = RankerServiceStub(channel)
        listed = stub.ListModels(ranker_service_pb2.ListModelsRequest(), timeout=10)
        ranked = stub.RankPage(page_request(), timeout=10)
    return listed.production_model_version, ranked.model_version


def wait_until_served(addresses: list[str], version: str, timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while (seen := [served(address) for address in addresses]) != [(version, version)] * len(
        addresses
    ):
        assert time.monotonic() < end, f"rankers serve {seen}, not {version}, after {timeout_s} s"
        time.sleep(POLL_S)


def ranker_env(bundled: Path, models: Path | str) -> dict[str, str]:
    """Rankers serving `bundled` until something is published in `models`, which they watch."""
    return {
        "RANKER_MODEL_PATH": str(bundled),
        "RANKER_MODEL_DIR": str(models),
        "RANKER_MODEL_POLL_S": str(POLL_S),
        "RANKER_CATALOG_WAIT_S": "0",  # no artwork service here: pages carry their features
        "RANKER_CATALOG_POLL_S": "60",
    }


@pytest.fixture(params=["local", "s3"])
def models_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The models location as `--models` and RANKER_MODEL_DIR take it."""
    if request.param == "local":
        return str(tmp_path / "models")
    return str(request.getfixturevalue("s3_server").url("models"))


def test_every_ranker_serves_what_is_published_and_rolled_back(
    tmp_path: Path, models_location: str
) -> None:
    bundled = tmp_path / "image" / "bundled.onnx"
    bundled.parent.mkdir()
    ensure_model(bundled)
    models, shown = models_location, Location.parse(models_location)
    built = tmp_path / "built"
    built.mkdir()
    first = other_model(built / "first.onnx", -2.0, estimate=0.10)
    second = other_model(built / "second.onnx", -2.5, estimate=0.12)
    (built / "broken.onnx").write_bytes(b"not an onnx model")
    env = ranker_env(bundled, models)
    published = keyart_model("publish", str(built / "first.onnx"), "--models", models)
    assert published.returncode == 0, published.stderr
    with running_replicas("ranker", env, tmp_path) as rankers:
        # Replicas starting on a published location serve its current model once SERVING.
        assert [served(address) for address in rankers] == [(first, first)] * 2

        published = keyart_model("publish", str(built / "second.onnx"), "--models", models)
        assert published.returncode == 0, published.stderr
        assert published.stdout == f"published {second} to {shown} (was {first})\n"
        wait_until_served(rankers, second)

        rolled = keyart_model("rollback", "--models", models)
        assert rolled.returncode == 0, rolled.stderr
        assert rolled.stdout == f"rolled back {shown} from {second} to {first}\n"
        wait_until_served(rankers, first)

        broken = keyart_model("publish", str(built / "broken.onnx"), "--models", models)
        assert broken.returncode == 2
        assert broken.stderr.count("\n") == 1 and "cannot be loaded" in broken.stderr
        assert "Traceback" not in broken.stderr
        assert read_pointer(shown) == Pointer(first)
        time.sleep(10 * POLL_S)  # ten polls: nothing may move
        assert [served(address) for address in rankers] == [(first, first)] * 2

        listed = keyart_model(
            "list", "--models", models, "--ranker", rankers[0], "--ranker", rankers[1]
        )
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[-2:] == [f"ranker {address} serves {first}" for address in rankers]
        states = {line.split()[0]: line.split()[3:] for line in lines[1:-2]}
        assert states == {first: ["current"], second: []}
