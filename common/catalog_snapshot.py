"""Catalog snapshots: a catalog version's artwork feature rows, kept beside the learning
logs as `catalog-<version>.npy` (a numpy float32 matrix, ARTWORK_DIM columns).

Impressions name their candidates' rows in a catalog version, not their
features; a version's rows never change, so one snapshot resolves every
decision made under it, long after the artwork service has moved on. The
gateway writes one for each version its impression log names
(gateway/impressions.py); the offline tools read them (learning/dataset.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.atomic_files import write_file_atomically
from common.features import ARTWORK_DIM


def snapshot_path(directory: Path, version: str) -> Path:
    return directory / f"catalog-{version}.npy"


def save_snapshot(directory: Path, version: str, matrix: np.ndarray) -> Path:
    """Atomically and durably: a reader sees no file or the whole matrix, and it survives
    a crash once this returns."""
    rows = np.ascontiguousarray(matrix, dtype=np.float32)
    return write_file_atomically(snapshot_path(directory, version), lambda out: np.save(out, rows))


def load_snapshot(directory: Path, version: str) -> np.ndarray | None:
    """The version's feature rows, or None when there is no snapshot of it."""
    path = snapshot_path(directory, version)
    if not path.exists():
        return None
    return np.load(path).reshape(-1, ARTWORK_DIM)
