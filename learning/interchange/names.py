"""A dataset's feature slots by vector: the imported names, or default ones for keyart's own."""

from __future__ import annotations

from learning.interchange import slots
from learning.parquet_layout import DatasetInfo

VECTORS = ("viewer", "context", "action")


def dataset_slots(info: DatasetInfo) -> dict[str, list[slots.Slot]]:
    if info.feature_names is not None:
        return {vector: slots.from_names(info.feature_names[vector]) for vector in VECTORS}
    return {
        vector: slots.default_names(vector, width)
        for vector, width in zip(VECTORS, info.widths, strict=True)
    }
