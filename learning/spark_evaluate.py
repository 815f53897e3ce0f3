"""`keyart evaluate --engine spark`: the dataset's estimates summed over Spark partitions.

What is computed where:
- driver: the dataset's info, its action sets and feedback plays (read once,
  broadcast: each action set is stored once, so they are small beside the
  decisions), the reward model's fit on its bounded sample
  (learning/reward_model.py, broadcast), and the intervals from the summed
  replicates;
- executors (mapInArrow over the decisions table): each record batch becomes
  BanditData with the same reward join and candidate gather as the numpy
  engine (parquet_reader.decision_batch), then every estimate's terms
  (learning/decision_terms.py), and per partition the Poisson bootstrap's sums
  (learning/poisson_bootstrap.py): one small row per partition goes back.

The point estimates are the numpy engine's sums in another order (equal to
within float rounding); the intervals are Poisson-bootstrap BCa intervals,
not the numpy engine's multinomial ones (docs/spark.md gives their coverage).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints

from common.storage import Location
from learning import reward_model
from learning.bootstrap import REPLICATES
from learning.dataset import DEFAULT_REWARD_WINDOW_S, BanditData
from learning.decision_terms import Policies, WeightSums, batch_terms, report
from learning.evaluation import Report
from learning.parquet_layout import (
    DECISIONS,
    DatasetError,
    DatasetInfo,
    decisions_schema,
    part_file,
    parts,
)
from learning.parquet_layout import read_info as read_dataset_info
from learning.parquet_reader import ActionSets, DecisionBatch, Plays, concatenate, decision_batch
from learning.poisson_bootstrap import RatioSums, batch_seed, interval, ratio_sums
from learning.policy_probabilities import dataset_has_column
from learning.reward_model import CrossFitted, chosen_only
from learning.spark_session import local_dataset

_PICKLED = "value binary"  # mapInArrow's output: one pickled value a row


@dataclass(frozen=True)
class DatasetReading:
    """What an executor needs to turn the dataset's record batches into BanditData, and each
    decision's position in the numpy engine's reading order (the reward model's folds)."""

    root: Location
    info: DatasetInfo
    sets: ActionSets
    plays: Plays
    reward_window_s: float
    first_positions: dict[str, int]  # part file path → the position of its first decision
    decisions: int  # in the whole dataset
    column: bool  # the decisions carry target_probabilities (an outside policy)

    @classmethod
    def of(
        cls,
        root: Location,
        reward_window_s: float = DEFAULT_REWARD_WINDOW_S,
        column: bool | None = None,
    ) -> DatasetReading:
        """`column`: whether the decisions carry target_probabilities, when the caller has
        read that already (None: read it here; it scans that column of every part)."""
        info = read_dataset_info(root)
        files = parts(root, DECISIONS)
        if not files:
            raise DatasetError(f"{root}: the dataset holds no decisions")
        counts = [part_file(path).metadata.num_rows for path in files]
        starts = np.cumsum([0, *counts[:-1]])
        return cls(
            root,
            info,
            ActionSets.read(root, info),
            Plays(root),
            reward_window_s,
            {_resolved(path): int(first) for path, first in zip(files, starts, strict=True)},
            int(sum(counts)),
            dataset_has_column(root) if column is None else column,
        )

    def batches(self, arrow_batches: Iterable[pa.RecordBatch]) -> Iterator[PositionedBatch]:
        """Each run of one part file's rows in `arrow_batches` (decisions(…)'s columns)."""
        schema = decisions_schema(self.info, target_probabilities=self.column)
        for batch in arrow_batches:
            files = batch.column(_FILE).to_numpy(zero_copy_only=False)
            rows = batch.column(_ROW).to_numpy()
            edges = [0, *(np.flatnonzero(files[1:] != files[:-1]) + 1), batch.num_rows]
            for begin, end in pairwise(edges):
                if begin == end:
                    continue
                path = Location.local(Path(urlparse(files[begin]).path))
                found = decision_batch(
                    path,
                    int(rows[begin]),
                    batch.slice(begin, end - begin).select(schema.names).cast(schema),
                    self.info,
                    self.sets,
                    self.plays,
                    self.reward_window_s,
                )
                first = self.first_positions[_resolved(path)]
                yield PositionedBatch(found, first + rows[begin:end])


@dataclass(frozen=True)
class PositionedBatch:
    batch: DecisionBatch
    positions: np.ndarray  # (n,) each decision's position in the dataset's reading order


_FILE, _ROW = "part_file", "part_row"


def _resolved(part: Location) -> str:
    """A local part's absolute path, as Spark names the file a row came from."""
    return str(Path(part.path).resolve())


def decisions(spark: Any, root: Location, where: str | None = None, column: bool = False) -> Any:
    """The decisions table as a DataFrame, its columns as in the layout (with `column`, the
    optional target_probabilities too) plus each row's part file and row within it (no
    partition column)."""
    # Parts written without the optional column: merged in as nulls.
    frame = spark.read.option("mergeSchema", str(column).lower()).parquet(
        str(local_dataset(root) / DECISIONS)
    )
    frame = frame.select(
        *decisions_schema(read_dataset_info(root), target_probabilities=column).names,
        frame["_metadata.file_path"].alias(_FILE),
        frame["_metadata.row_index"].alias(_ROW),
    )
    return frame if where is None else frame.where(where)


def pickled_map(frame: Any, per_partition: Callable[[Iterator[pa.RecordBatch]], Any]) -> list:
    """per_partition(batches) on every partition; the values that are not None."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        found = per_partition(batches)
        if found is not None:
            yield pa.RecordBatch.from_pydict({"value": [pickle.dumps(found)]})

    return [pickle.loads(row.value) for row in frame.mapInArrow(run, _PICKLED).collect()]


def fit_reward_model(reading: Any, frame: Any, seed: int) -> CrossFitted:
    """The numpy engine's cross-fitted r̂ (learning/reward_model.py): the same sample, by
    position, gathered from the partitions and put back in reading order."""
    sampled = reward_model.sample_mask(reading.value.decisions, seed, reward_model.SAMPLE_LIMIT)

    def sample(batches: Iterator[pa.RecordBatch]) -> tuple[np.ndarray, BanditData] | None:
        pieces = []
        for found in reading.value.batches(batches):
            keep = sampled[found.positions]
            pieces.append((found.positions[keep], chosen_only(found.batch.data).subset(keep)))
        if not pieces:
            return None
        return np.concatenate([p for p, _ in pieces]), concatenate([d for _, d in pieces])

    found = pickled_map(frame, sample)
    if not found:
        raise DatasetError(f"{reading.value.root}: no decisions to evaluate")
    positions = np.concatenate([p for p, _ in found])
    data = reward_model.take(concatenate([d for _, d in found]), np.argsort(positions))
    within = np.zeros(sampled.size, dtype=bool)  # the sample of the decisions `frame` holds
    within[positions] = True
    return reward_model.fit_sample(data, within, seed)


@dataclass(frozen=True)
class PartitionSums:
    labels: list[tuple[str, str]]
    sums: RatioSums
    weights: WeightSums
    uniform: bool

    def __add__(self, other: PartitionSums) -> PartitionSums:
        return PartitionSums(
            self.labels,
            self.sums + other.sums,
            self.weights + other.weights,
            self.uniform and other.uniform,
        )


def partition_sums(
    batches: Iterable[PositionedBatch],
    policies: Policies,
    model: CrossFitted,
    seed: int,
    replicates: int = REPLICATES,
) -> PartitionSums | None:
    """The Poisson-bootstrap sums of every estimate over `batches` (None when there are none)."""
    total: PartitionSums | None = None
    for found in batches:
        batch = found.batch
        terms = batch_terms(batch, policies, model.predict_at(batch.data, found.positions))
        sums = PartitionSums(
            terms.labels,
            ratio_sums(
                terms.a,
                terms.b,
                batch_seed(seed, batch.decision_ids[0], len(batch.data)),
                replicates,
            ),
            WeightSums.of(terms.weights),
            terms.uniform,
        )
        total = sums if total is None else total + sums
    return total


def evaluate(
    spark: Any,
    root: Location,
    policies: Policies,
    seed: int = 0,
    where: str | None = None,
    replicates: int = REPLICATES,
    reward_window_s: float = DEFAULT_REWARD_WINDOW_S,
) -> Report:
    """The estimates of `policies` on the dataset's decisions (those matching the SQL condition
    `where`, when given)."""
    reading = spark.sparkContext.broadcast(
        DatasetReading.of(root, reward_window_s, column=policies.column)
    )
    frame = decisions(spark, root, where, reading.value.column)
    model = spark.sparkContext.broadcast(fit_reward_model(reading, frame, seed))

    def sums(batches: Iterator[pa.RecordBatch]) -> PartitionSums | None:
        return partition_sums(
            reading.value.batches(batches), policies, model.value, seed, replicates
        )

    found = pickled_map(frame, sums)
    total = found[0]
    for more in found[1:]:
        total = total + more
    return report(
        total.labels,
        total.uniform,
        total.sums.units,
        lambda c: interval(total.sums, c),
        total.weights,
    )
