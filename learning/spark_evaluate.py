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
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints

from learning.bootstrap import REPLICATES
from learning.dataset import DEFAULT_REWARD_WINDOW_S
from learning.decision_terms import Policies, Report, batch_terms, report
from learning.parquet_layout import DECISIONS, DatasetError, DatasetInfo, decisions_schema, parts
from learning.parquet_layout import read_info as read_dataset_info
from learning.parquet_reader import ActionSets, DecisionBatch, Plays, decision_batch
from learning.poisson_bootstrap import RatioSums, batch_seed, interval, ratio_sums
from learning.reward_model import CrossFit, Sample, sample_of, sample_rate

_PICKLED = "value binary"  # mapInArrow's output: one pickled value a row


@dataclass(frozen=True)
class DatasetReading:
    """What an executor needs to turn the dataset's record batches into BanditData."""

    root: Path
    info: DatasetInfo
    sets: ActionSets
    plays: Plays
    reward_window_s: float

    @classmethod
    def of(cls, root: Path, reward_window_s: float = DEFAULT_REWARD_WINDOW_S) -> DatasetReading:
        info = read_dataset_info(root)
        if not parts(root, DECISIONS):
            raise DatasetError(f"{root}: the dataset holds no decisions")
        return cls(root, info, ActionSets.read(root, info), Plays(root), reward_window_s)

    def batches(self, arrow_batches: Iterable[pa.RecordBatch]) -> Iterator[DecisionBatch]:
        schema = decisions_schema(self.info)
        for batch in arrow_batches:
            if batch.num_rows:
                yield decision_batch(
                    self.root / DECISIONS,
                    batch.select(schema.names).cast(schema),
                    self.info,
                    self.sets,
                    self.plays,
                    self.reward_window_s,
                )


def decisions(spark: Any, root: Path, where: str | None = None) -> Any:
    """The decisions table as a DataFrame, its columns as in the layout (no partition column)."""
    frame = spark.read.parquet(str(root / DECISIONS))
    frame = frame.select(*decisions_schema(read_dataset_info(root)).names)
    return frame if where is None else frame.where(where)


def pickled_map(frame: Any, per_partition: Callable[[Iterator[pa.RecordBatch]], Any]) -> list:
    """per_partition(batches) on every partition; the values that are not None."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        found = per_partition(batches)
        if found is not None:
            yield pa.RecordBatch.from_pydict({"value": [pickle.dumps(found)]})

    return [pickle.loads(row.value) for row in frame.mapInArrow(run, _PICKLED).collect()]


def fit_reward_model(spark: Any, reading: Any, frame: Any, seed: int) -> CrossFit:
    """The cross-fitted r̂ from the sample the numpy engine takes (by decision-id hash)."""
    rate = sample_rate(frame.count())

    def sample(batches: Iterator[pa.RecordBatch]) -> Sample | None:
        return sample_of(reading.value.batches(batches), rate)

    found = pickled_map(frame, sample)
    if not found:
        raise DatasetError(f"{reading.value.root}: no decisions to evaluate")
    return CrossFit.fit(found, seed)


@dataclass(frozen=True)
class PartitionSums:
    labels: list[tuple[str, str]]
    sums: RatioSums
    uniform: bool

    def __add__(self, other: PartitionSums) -> PartitionSums:
        return PartitionSums(self.labels, self.sums + other.sums, self.uniform and other.uniform)


def partition_sums(
    batches: Iterable[DecisionBatch],
    policies: Policies,
    reward_model: CrossFit,
    seed: int,
    replicates: int = REPLICATES,
) -> PartitionSums | None:
    """The Poisson-bootstrap sums of every estimate over `batches` (None when there are none)."""
    total: PartitionSums | None = None
    for batch in batches:
        terms = batch_terms(
            batch.data, policies, reward_model.predict(batch.data, batch.decision_ids)
        )
        found = PartitionSums(
            terms.labels,
            ratio_sums(
                terms.a,
                terms.b,
                batch_seed(seed, batch.decision_ids[0], len(batch.data)),
                replicates,
            ),
            terms.uniform,
        )
        total = found if total is None else total + found
    return total


def evaluate(
    spark: Any,
    root: Path,
    policies: Policies,
    seed: int = 0,
    where: str | None = None,
    replicates: int = REPLICATES,
) -> tuple[Report, int]:
    """The estimates of `policies` on the dataset's decisions (those matching the SQL condition
    `where`, when given), and how many decisions they rest on."""
    reading = spark.sparkContext.broadcast(DatasetReading.of(root))
    frame = decisions(spark, root, where)
    reward_model = spark.sparkContext.broadcast(fit_reward_model(spark, reading, frame, seed))

    def sums(batches: Iterator[pa.RecordBatch]) -> PartitionSums | None:
        return partition_sums(
            reading.value.batches(batches), policies, reward_model.value, seed, replicates
        )

    found = pickled_map(frame, sums)
    total = found[0]
    for more in found[1:]:
        total = total + more
    decisions_seen = total.sums.units
    return (
        report(total.labels, total.uniform, decisions_seen, lambda c: interval(total.sums, c)),
        decisions_seen,
    )
