"""The dataset an import writes: a new one (an import into one that holds decisions would mix logs)."""

from __future__ import annotations

from pathlib import Path

from learning.parquet_layout import DECISIONS, DatasetError, DatasetInfo, create, parts


def new_dataset(root: Path, info: DatasetInfo) -> None:
    if parts(root, DECISIONS):
        raise DatasetError(f"{root}: already holds decisions; import into a new directory")
    create(root, info)
