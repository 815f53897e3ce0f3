"""The dataset an import writes: a new one (an import into one that holds decisions would mix logs)."""

from __future__ import annotations

from common.storage import Location
from learning.parquet_layout import DECISIONS, DatasetError, DatasetInfo, create, parts


def new_dataset(root: Location, info: DatasetInfo) -> None:
    if parts(root, DECISIONS):
        raise DatasetError(f"{root}: already holds decisions; import into a new directory")
    create(root, info)
