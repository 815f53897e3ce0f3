"""The Parquet dataset, on a local disk and on an S3-compatible store: what is written is read
back the same, in batches, with each action set once; old date partitions are not read."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from common.features import SCHEMA_VERSION
from common.storage import Location
from learning.parquet_layout import (
    ACTION_SETS,
    DatasetError,
    create,
    date_of,
    read_info,
    table_dataset,
)
from learning.parquet_reader import decision_parts, load_dataset, read_batches
from learning.parquet_writer import create_for, write_bandit_data
from tests.unit.learning_data import synthetic


def test_decisions_round_trip_in_batches(dataset_root: Location) -> None:
    data, _ = synthetic(300, 5, seed=1)
    info = create_for(dataset_root, data, SCHEMA_VERSION)
    write_bandit_data(dataset_root, info, data, [f"d{i}" for i in range(len(data))])
    batches = list(read_batches(dataset_root, batch_size=64))
    assert [len(b.data) for b in batches] == [64, 64, 64, 64, 44]
    assert [i for b in batches for i in b.decision_ids] == [f"d{i}" for i in range(300)]
    back = load_dataset(dataset_root)
    for name in ("viewer", "context", "artwork", "counts", "chosen", "propensity", "reward"):
        np.testing.assert_array_equal(getattr(back, name), getattr(data, name), err_msg=name)


def test_a_shared_action_set_is_stored_once(dataset_root: Location) -> None:
    data, _ = synthetic(50, 4, seed=2)
    shared = np.tile(data.artwork[:4], (50, 1))
    same = type(data)(**{**data.__dict__, "artwork": shared})
    info = create_for(dataset_root, same, None)
    known = write_bandit_data(dataset_root, info, same, [str(i) for i in range(50)])
    write_bandit_data(dataset_root, info, same, [f"again-{i}" for i in range(50)], known)
    assert len(known) == 1
    assert table_dataset(dataset_root, ACTION_SETS).count_rows() == 1
    assert len(load_dataset(dataset_root)) == 100


def test_info_is_checked(dataset_root: Location) -> None:
    data, _ = synthetic(10, 3, seed=3)
    info = create_for(dataset_root, data, SCHEMA_VERSION)
    assert read_info(dataset_root) == info
    with pytest.raises(DatasetError, match="holds a dataset of"):
        create(dataset_root, type(info)(1, 2, 3, None))
    with pytest.raises(DatasetError, match="not a dataset"):
        read_info(dataset_root / "elsewhere")


def test_decisions_before_since_ms_are_not_read_and_their_partitions_not_opened(
    dataset_root: Location,
) -> None:
    data, _ = synthetic(300, 3, seed=4)
    day_ms = 86_400_000
    start_ms = 1_780_000_000_000 - 1_780_000_000_000 % day_ms  # a UTC midnight
    data = replace(data, time_ms=start_ms + np.arange(300) * (day_ms // 100))  # three days
    info = create_for(dataset_root, data, SCHEMA_VERSION)
    write_bandit_data(dataset_root, info, data, [f"d{i}" for i in range(300)])
    since_ms = start_ms + day_ms + day_ms // 2  # midday of the second day
    assert len(decision_parts(dataset_root)) == 3
    assert [part.parent().name for part in decision_parts(dataset_root, since_ms)] == [
        f"date={date_of(start_ms + day_ms)}",
        f"date={date_of(start_ms + 2 * day_ms)}",
    ]
    recent = load_dataset(dataset_root, since_ms=since_ms)
    np.testing.assert_array_equal(recent.time_ms, data.time_ms[150:])
