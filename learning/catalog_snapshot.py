"""Artwork feature rows per catalog version, kept beside the logs as `catalog-<version>.npy`.

Impressions name their candidates' rows in a catalog version; a version's rows
never change, so one snapshot resolves every decision made under it. A
missing snapshot is taken from the artwork service (the same stream the ranker
loads) when that version is still the one it serves; decisions under a
version with no snapshot and no longer served cannot be resolved.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np

from common.features import ARTWORK_DIM
from services.ranker.catalog_features import CatalogFeatures

MAX_MESSAGE_BYTES = 64 << 20


def snapshot_path(directory: Path, version: str) -> Path:
    return directory / f"catalog-{version}.npy"


def save_snapshot(directory: Path, version: str, matrix: np.ndarray) -> None:
    """Atomically: a reader sees no file or the whole matrix."""
    path = snapshot_path(directory, version)
    temp = path.with_name(f".{path.name}.tmp")
    with temp.open("wb") as out:
        np.save(out, np.ascontiguousarray(matrix, dtype=np.float32))
    os.replace(temp, path)


async def _current(artwork_target: str) -> tuple[str, np.ndarray] | None:
    catalog = CatalogFeatures(artwork_target, MAX_MESSAGE_BYTES)
    try:
        await catalog.load_current()
        for version in catalog.versions:
            matrix = catalog.matrix(version)
            if matrix is not None:
                return version, matrix
        return None
    finally:
        await catalog.close()


def catalog_matrices(
    directory: Path, versions: set[str], artwork_target: str | None
) -> dict[str, np.ndarray]:
    """The feature matrix of each version that has a snapshot or is served at `artwork_target`."""
    found = {}
    for version in versions:
        path = snapshot_path(directory, version)
        if path.exists():
            found[version] = np.load(path).reshape(-1, ARTWORK_DIM)
    if versions - set(found) and artwork_target:
        current = asyncio.run(_current(artwork_target))
        if current is not None and current[0] in versions - set(found):
            save_snapshot(directory, *current)
            found[current[0]] = current[1]
    return found
