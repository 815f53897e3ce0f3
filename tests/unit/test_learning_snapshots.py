"""The gateway's catalog snapshots: each catalog version its log names is kept beside the
segments, once, from the real artwork service (in-process)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1.artwork_service_pb2_grpc import ArtworkServiceStub
from structlog.testing import capture_logs

from common.catalog_snapshot import load_snapshot
from common.catalog_stream import stream_features
from common.server import ServerSettings
from demo.catalog import demo_titles
from gateway.impressions import CatalogSnapshots
from services.artwork.catalog import Catalog
from services.artwork.config import ArtworkConfig
from services.artwork.server import build_server as build_artwork

IMAGES = "http://img.test"


def with_artwork(scenario: Callable[[ArtworkServiceStub, str], Awaitable[Any]]) -> Any:
    """Runs `scenario(stub, served catalog version)` against an in-process artwork service."""

    async def run() -> Any:
        settings = ServerSettings("127.0.0.1:0", 64 << 20, 64 << 20, grace_s=0.1)
        server, artwork = build_artwork(ArtworkConfig(settings, Path("unused.db"), IMAGES, 1))
        artwork.serve(Catalog(demo_titles(), IMAGES))
        port = await server.start()
        options = [("grpc.max_receive_message_length", 64 << 20)]
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
                stub = ArtworkServiceStub(channel)
                info = await stub.GetCatalogInfo(pb.GetCatalogInfoRequest(), timeout=5)
                return await scenario(stub, info.catalog_version)
        finally:
            await server.stop()

    return asyncio.run(run())


async def until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not condition():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.02)


def test_each_logged_catalog_version_is_snapshotted_once(tmp_path: Path) -> None:
    fetched: list[str] = []

    async def scenario(stub: ArtworkServiceStub, version: str) -> tuple[np.ndarray, np.ndarray]:
        async def fetch(wanted: str) -> np.ndarray | None:
            fetched.append(wanted)
            return await stream_features(stub, wanted)

        snapshots = CatalogSnapshots(tmp_path, fetch)
        for _ in range(5):  # five pages under the version, one snapshot
            snapshots.note([version])
            await asyncio.sleep(0)
        await until(lambda: load_snapshot(tmp_path, version) is not None)
        snapshots.note([version])
        await snapshots.close()
        served = await stream_features(stub, version)
        assert served is not None
        snapshot = load_snapshot(tmp_path, version)
        assert snapshot is not None
        return snapshot, served

    snapshot, served = with_artwork(scenario)
    np.testing.assert_array_equal(snapshot, served)
    assert len(fetched) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files


def test_a_version_no_longer_served_is_reported_once_and_not_written(tmp_path: Path) -> None:
    async def scenario(stub: ArtworkServiceStub, version: str) -> list[Any]:
        snapshots = CatalogSnapshots(tmp_path, lambda wanted: stream_features(stub, wanted))
        with capture_logs() as logs:
            snapshots.note(["replaced-1"])
            await until(lambda: any(entry["log_level"] == "error" for entry in logs))
            snapshots.note(["replaced-1"])  # settled: not fetched again
            await snapshots.close()
        return logs

    logs = with_artwork(scenario)
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert [entry["catalog_version"] for entry in errors] == ["replaced-1"]
    assert "cannot be resolved offline" in errors[0]["event"]
    assert list(tmp_path.iterdir()) == []
