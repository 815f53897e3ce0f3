"""`keyart dataset export --format dsjson`: the dataset as DSJSON that `vw --cb_explore_adf --dsjson` learns from.

One line a decision: `_label_cost` = −reward, `_label_probability`,
`_labelIndex` (0-based) and `_label_Action` (1-based), `EventId`,
`Timestamp` (when known), `c` with the viewer and context features as shared
namespaces and `_multi` with each candidate's features, named as imported
(learning/interchange/slots.py) or `viewer.f0…`, `context.f0…`, `action.f0…`
for keyart's own. `a` lists the chosen action first, then the others in
candidate order (VW's DSJSON parser skips a line without `a`; the logged
ranking beyond the chosen action is not kept); `p` is not written, as the
dataset keeps only the chosen candidate's probability. Decisions are read and
written in batches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from common.atomic_files import write_file_atomically
from common.storage import Location
from learning.interchange import slots
from learning.interchange.names import dataset_slots
from learning.parquet_layout import read_info
from learning.parquet_reader import DecisionBatch, read_batches


def export_dsjson(root: Location, path: Path) -> int:
    """Writes the dataset at `root` to `path`; returns the decisions written."""
    names = dataset_slots(read_info(root))
    written = 0

    def write(out: BinaryIO) -> None:
        nonlocal written
        for batch in read_batches(root):
            for line in _lines(batch, names):
                out.write(line.encode() + b"\n")
            written += len(batch.decision_ids)

    write_file_atomically(path, write)
    return written


def _lines(batch: DecisionBatch, names: dict[str, list[slots.Slot]]) -> Iterator[str]:
    data = batch.data
    for i, (start, count) in enumerate(zip(data.starts, data.counts, strict=True)):
        shared = slots.nest(names["viewer"], data.viewer[i])
        slots.nest(names["context"], data.context[i], shared)
        shared["_multi"] = [
            slots.nest(names["action"], row) for row in data.artwork[start : start + count]
        ]
        chosen = int(data.chosen[i])
        record: dict = {
            "_label_cost": -float(data.reward[i]) or 0.0,  # not -0.0
            "_label_probability": float(data.propensity[i]),
            "_label_Action": chosen + 1,
            "_labelIndex": chosen,
            "EventId": batch.decision_ids[i],
        }
        if data.time_ms[i]:
            moment = datetime.fromtimestamp(int(data.time_ms[i]) / 1000, UTC)
            record["Timestamp"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record["a"] = [chosen + 1] + [j + 1 for j in range(int(count)) if j != chosen]
        record["c"] = shared
        yield json.dumps(record, allow_nan=False)
