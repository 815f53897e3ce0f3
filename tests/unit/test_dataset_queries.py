"""The DuckDB queries docs/dataset.md shows, run on a compacted gateway log: they read the
dataset with no keyart code and agree with keyart's reader (rewards, explored decisions)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pytest

from common.storage import Location
from learning.compact import compact
from learning.parquet_layout import DECISIONS, table_dataset
from learning.parquet_reader import load_dataset
from learning.train import EXPLORED_BELOW
from tests.unit.gateway_log import write_gateway_log

PAGE = Path(__file__).parents[2] / "docs" / "dataset.md"


def page_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", PAGE.read_text(), re.DOTALL)


def test_the_pages_queries_agree_with_keyarts_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    take_rate, explored = page_queries()
    write_gateway_log(tmp_path / "logs")
    root = tmp_path / "var" / "dataset"  # where the page's queries look, from the cwd
    compact(tmp_path / "logs", Location.local(root))
    monkeypatch.chdir(tmp_path)
    data = load_dataset(Location.local(root))
    devices = np.array(
        table_dataset(Location.local(root), DECISIONS).to_table()["device_type"].to_pylist()
    )

    rows = duckdb.execute(take_rate).fetchall()

    assert sum(count for _, _, count, _ in rows) == len(data) == 750
    for _, device, count, rate in rows:  # one day: the log was written just now
        mine = data.reward[devices == device]
        assert (count, rate) == (mine.size, round(float(mine.mean()), 4)), device
    assert data.reward.sum() > 10  # the join has plays to find

    by_policy = {policy: rest for policy, *rest in duckdb.execute(explored).fetchall()}
    assert set(by_policy) == {"default_fallback", "epsilon_greedy(epsilon=0.3)"}
    fallback, explored_pages = (
        by_policy["default_fallback"],
        by_policy["epsilon_greedy(epsilon=0.3)"],
    )
    assert fallback[:3] == [75, 0, 0.0]  # the default, p = 1: never explored
    assert explored_pages[0] + fallback[0] == 750
    assert explored_pages[1] == int((data.propensity < EXPLORED_BELOW).sum())
    assert explored_pages[2] == round(explored_pages[1] / explored_pages[0], 4)
