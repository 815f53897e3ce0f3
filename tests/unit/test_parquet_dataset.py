"""The Parquet dataset: what is written is read back the same, in batches, with each action set once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.features import SCHEMA_VERSION
from common.storage import Location
from learning.parquet_layout import ACTION_SETS, DatasetError, create, read_info, table_dataset
from learning.parquet_reader import load_dataset, read_batches
from learning.parquet_writer import create_for, write_bandit_data
from tests.unit.learning_data import synthetic


def test_decisions_round_trip_in_batches(tmp_path: Path) -> None:
    data, _ = synthetic(300, 5, seed=1)
    info = create_for(Location.local(tmp_path), data, SCHEMA_VERSION)
    write_bandit_data(Location.local(tmp_path), info, data, [f"d{i}" for i in range(len(data))])
    batches = list(read_batches(Location.local(tmp_path), batch_size=64))
    assert [len(b.data) for b in batches] == [64, 64, 64, 64, 44]
    assert [i for b in batches for i in b.decision_ids] == [f"d{i}" for i in range(300)]
    back = load_dataset(Location.local(tmp_path))
    for name in ("viewer", "context", "artwork", "counts", "chosen", "propensity", "reward"):
        np.testing.assert_array_equal(getattr(back, name), getattr(data, name), err_msg=name)


def test_a_shared_action_set_is_stored_once(tmp_path: Path) -> None:
    data, _ = synthetic(50, 4, seed=2)
    shared = np.tile(data.artwork[:4], (50, 1))
    same = type(data)(**{**data.__dict__, "artwork": shared})
    info = create_for(Location.local(tmp_path), same, None)
    known = write_bandit_data(Location.local(tmp_path), info, same, [str(i) for i in range(50)])
    write_bandit_data(
        Location.local(tmp_path), info, same, [f"again-{i}" for i in range(50)], known
    )
    assert len(known) == 1
    assert table_dataset(Location.local(tmp_path), ACTION_SETS).count_rows() == 1
    assert len(load_dataset(Location.local(tmp_path))) == 100


def test_info_is_checked(tmp_path: Path) -> None:
    data, _ = synthetic(10, 3, seed=3)
    info = create_for(Location.local(tmp_path), data, SCHEMA_VERSION)
    assert read_info(Location.local(tmp_path)) == info
    with pytest.raises(DatasetError, match="holds a dataset of"):
        create(Location.local(tmp_path), type(info)(1, 2, 3, None))
    with pytest.raises(DatasetError, match="not a dataset"):
        read_info(Location.local(tmp_path / "elsewhere"))
