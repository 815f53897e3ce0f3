"""`keyart dataset export --format obp`: the dataset as OBP's `bandit_feedback`, an `.npz` archive.

The keys are those obp_import.py reads (`n_rounds`, `n_actions`, `action`,
`reward`, `pscore`, `context`, `action_context`, and `position` when every
decision has one). OBP's shape has one set of actions for every round, so a
dataset whose decisions offer different action sets is refused. `context`
is the viewer's features followed by the context's (padding slots left out).
The arrays are built whole, as OBP holds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from common.atomic_files import write_file_atomically
from common.storage import Location
from learning.interchange import slots
from learning.interchange.names import dataset_slots
from learning.parquet_layout import DECISIONS, DatasetError, read_info, table_dataset
from learning.parquet_reader import ActionSets, concatenate, read_batches


def export_obp(root: Location, path: Path) -> int:
    """Writes the dataset at `root` to `path`; returns the decisions written."""
    info = read_info(root)
    sets = ActionSets.read(root, info)
    if len(sets.start) != 1:
        raise DatasetError(
            f"{root}: OBP needs one action set shared by every decision; "
            f"this dataset has {len(sets.start)}"
        )
    batches = [batch.data for batch in read_batches(root)]
    if not batches:
        raise DatasetError(f"{root}: the dataset holds no decisions")
    data = concatenate(batches)
    names = dataset_slots(info)
    keep_viewer = [slot != slots.PADDING for slot in names["viewer"]]
    keep_context = [slot != slots.PADDING for slot in names["context"]]
    keep_action = [slot != slots.PADDING for slot in names["action"]]
    arrays: dict[str, Any] = {  # Any: savez's stub would take a key for its allow_pickle
        "n_rounds": np.array(len(data)),
        "n_actions": np.array(len(sets.features)),
        "action": data.chosen,
        "reward": data.reward,
        "pscore": data.propensity,
        "context": np.hstack([data.viewer[:, keep_viewer], data.context[:, keep_context]]),
        "action_context": sets.features[:, keep_action],
    }
    position = table_dataset(root, DECISIONS).to_table(columns=["position"]).column(0)
    if position.null_count == 0:
        arrays["position"] = position.to_numpy().astype(np.int64)
    write_file_atomically(path, lambda out: np.savez(out, **arrays))
    return len(data)
