"""An outside policy given as its action probabilities per decision: read, checked, looked up.

Two sources, both keyed to the dataset's decisions:
- a file (`keyart evaluate --policy-probabilities FILE`): JSON lines
  `{"decision_id": "…", "probabilities": [p_0, …, p_{k-1}]}`, or Parquet with
  those two columns (a list of floats); any other suffix than `.parquet` is
  read as JSON lines. It is held in memory, 8 bytes a probability
  plus a few hundred bytes a decision.
- the decisions table's optional `target_probabilities` column, given for
  every decision or for none.

Each list is the probability of the decision's candidates in its action
set's order: as long as the action set, each number in [0, 1], finite, not a
string, summing to 1 within SUM_TOLERANCE. A file must give every decision of
the dataset once and no other. Anything else is refused with one line,
`FILE:N: field: problem` (N the line, or for Parquet the 1-based row).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from common.storage import Location
from learning.parquet_layout import DECISIONS, TARGET_PROBABILITIES, part_file, parts
from learning.parquet_reader import DecisionBatch

SUM_TOLERANCE = 1e-6
FILE_FIELDS = ("decision_id", "probabilities")
COLUMN_POLICY = "target_probabilities column"  # its row in a report, in either engine


class ProbabilitiesRefused(ValueError):
    """Probabilities that cannot be used; the message is one line naming where and what."""


def checked(where: str, field: str, values: object) -> np.ndarray:
    """`values` as a probability vector, or ProbabilitiesRefused naming `where` and `field`."""
    if not isinstance(values, list) or not values:
        raise ProbabilitiesRefused(f"{where}: {field}: expected a non-empty list of numbers")
    for index, p in enumerate(values):
        if isinstance(p, bool) or not isinstance(p, int | float):
            raise ProbabilitiesRefused(
                f"{where}: {field}[{index}]: {p!r} is not a number (numbers are not given as strings)"
            )
        if not math.isfinite(p) or not 0.0 <= p <= 1.0:
            raise ProbabilitiesRefused(f"{where}: {field}[{index}]: {p} is not in [0, 1]")
    vector = np.array(values, dtype=np.float64)
    total = float(vector.sum())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ProbabilitiesRefused(
            f"{where}: {field}: sums to {total!r}, not 1 (within {SUM_TOLERANCE})"
        )
    return vector


def fit_to(where: str, field: str, vector: np.ndarray, decision: str, size: int) -> np.ndarray:
    if vector.size != size:
        raise ProbabilitiesRefused(
            f"{where}: {field}: {vector.size} probabilities, but decision {decision!r} "
            f"has {size} candidates"
        )
    return vector


def _json_lines(path: Path) -> Iterator[tuple[int, object, object]]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except ValueError as error:
                raise ProbabilitiesRefused(
                    f"{path}:{number}: not a JSON object ({error})"
                ) from None
            if not isinstance(record, dict):
                raise ProbabilitiesRefused(f"{path}:{number}: not a JSON object")
            yield number, record.get("decision_id"), record.get("probabilities")


def _parquet_rows(path: Path) -> Iterator[tuple[int, object, object]]:
    try:
        file = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as error:
        raise ProbabilitiesRefused(f"{path}: not a readable Parquet file ({error})") from None
    for field in FILE_FIELDS:
        if field not in file.schema_arrow.names:
            raise ProbabilitiesRefused(f"{path}: {field}: no such column")
    number = 0
    for batch in file.iter_batches(columns=list(FILE_FIELDS)):
        for decision, values in zip(
            batch.column("decision_id").to_pylist(),
            batch.column("probabilities").to_pylist(),
            strict=True,
        ):
            number += 1
            yield number, decision, values


class PolicyFile:
    """The probabilities of a file, by decision id, each with the line it came from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.by_id: dict[str, tuple[int, np.ndarray]] = {}
        self.used = 0
        rows = _parquet_rows(path) if path.suffix == ".parquet" else _json_lines(path)
        try:
            for number, decision, values in rows:
                where = f"{path}:{number}"
                if not isinstance(decision, str) or not decision:
                    raise ProbabilitiesRefused(f"{where}: decision_id: expected a non-empty string")
                if decision in self.by_id:
                    first = self.by_id[decision][0]
                    raise ProbabilitiesRefused(
                        f"{where}: decision_id: {decision!r} given again (first on {first})"
                    )
                self.by_id[decision] = (number, checked(where, "probabilities", values))
        except OSError as error:
            raise ProbabilitiesRefused(f"{path}: unreadable ({error})") from None
        if not self.by_id:
            raise ProbabilitiesRefused(f"{path}: no decisions in the file")

    @property
    def name(self) -> str:
        """Its row in a report, in either engine."""
        return f"policy file ({self.path.name})"

    def target(self, batch: DecisionBatch) -> np.ndarray:
        """(N,) the file's probabilities for the batch's candidates."""
        vectors = []
        for i, decision in enumerate(batch.decision_ids):
            found = self.by_id.get(decision)
            if found is None:
                raise ProbabilitiesRefused(
                    f"{self.path}: decision_id: {decision!r} (row {batch.first_row + i + 1} "
                    f"of {batch.path}) is missing; every decision of the dataset needs one"
                )
            number, vector = found
            size = int(batch.data.counts[i])
            vectors.append(fit_to(f"{self.path}:{number}", "probabilities", vector, decision, size))
        self.used += len(vectors)
        return np.concatenate(vectors) if vectors else np.zeros(0)

    def check_all_used(self, decisions: int | None = None) -> None:
        """After every batch: a file that names decisions the dataset lacks is refused too.
        `decisions`: how many were looked up, when that happened elsewhere (Spark's executors);
        every one was found, or target() refused it."""
        used = self.used if decisions is None else decisions
        if used < len(self.by_id):
            raise ProbabilitiesRefused(
                f"{self.path}: decision_id: {len(self.by_id) - used} of its decisions "
                "are not in the dataset"
            )


def column_target(batch: DecisionBatch) -> np.ndarray:
    """(N,) the batch's `target_probabilities` column, every row checked."""
    field = TARGET_PROBABILITIES.name
    values = [] if batch.target_probabilities is None else batch.target_probabilities.to_pylist()
    vectors = []
    for i, decision in enumerate(batch.decision_ids):
        where = f"{batch.path}:{batch.first_row + i + 1}"
        given = values[i] if values else None
        if given is None:
            raise ProbabilitiesRefused(
                f"{where}: {field}: null, but other decisions have one (give it for every "
                "decision or for none)"
            )
        vector = checked(where, field, given)
        vectors.append(fit_to(where, field, vector, decision, int(batch.data.counts[i])))
    return np.concatenate(vectors) if vectors else np.zeros(0)


def dataset_has_column(root: Location) -> bool:
    """Whether any decision carries `target_probabilities` (reads that column alone)."""
    field = TARGET_PROBABILITIES.name
    for path in parts(root, DECISIONS):
        file = part_file(path)
        if field not in file.schema_arrow.names:
            continue
        for batch in file.iter_batches(columns=[field]):
            if batch.column(field).null_count < batch.num_rows:
                return True
    return False
