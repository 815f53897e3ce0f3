"""The artwork feature rows of each catalog version a log names, for the offline tools.

The gateway snapshots every catalog version its impression log names
(`catalog-<version>.npy` beside the segments, common/catalog_snapshot.py).
For a log written without those (by an older gateway, or copied without them),
a missing snapshot is taken from the artwork service when that version is still
the one it serves; decisions under a version with no snapshot and no longer
served cannot be resolved.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from keyart.artwork.v1 import artwork_service_pb2 as artwork_pb
from keyart.artwork.v1 import artwork_service_pb2_grpc as artwork_grpc

from common.catalog_snapshot import load_snapshot, save_snapshot
from common.catalog_stream import stream_features
from common.channels import backend_channel

MAX_MESSAGE_BYTES = 64 << 20


async def _served(artwork_target: str, wanted: set[str]) -> tuple[str, np.ndarray] | None:
    """The artwork service's current version and its rows, if it is one of `wanted`."""
    channel = backend_channel(artwork_target, MAX_MESSAGE_BYTES, None)
    try:
        artwork = artwork_grpc.ArtworkServiceStub(channel)
        info = await artwork.GetCatalogInfo(artwork_pb.GetCatalogInfoRequest(), timeout=5)
        if info.catalog_version not in wanted:
            return None
        matrix = await stream_features(artwork, info.catalog_version)
        return None if matrix is None else (info.catalog_version, matrix)
    finally:
        await channel.close()


def catalog_matrices(
    directory: Path, versions: set[str], artwork_target: str | None
) -> dict[str, np.ndarray]:
    """The feature matrix of each version that has a snapshot or is served at `artwork_target`."""
    found = {}
    for version in versions:
        matrix = load_snapshot(directory, version)
        if matrix is not None:
            found[version] = matrix
    missing = versions - set(found)
    if missing and artwork_target:
        current = asyncio.run(_served(artwork_target, missing))
        if current is not None:
            save_snapshot(directory, *current)
            found[current[0]] = current[1]
    return found
