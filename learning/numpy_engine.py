"""`keyart evaluate --dataset` on one machine: the dataset's batches through numpy.

Two passes over the decisions (learning/parquet_reader.read_batches, bounded
by the batch): the first collects the reward model's sample and fits it
(learning/reward_model.py), the second sums every estimate's terms
(learning/decision_terms.py). The per-decision terms, S floats a decision,
are kept for the multinomial BCa bootstrap (learning/bootstrap.py), so memory
grows with the decisions by that much (about 300 B a decision for 4 policies).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints

from learning.bootstrap import ratio_interval
from learning.decision_terms import Policies, Report, batch_terms, report
from learning.parquet_layout import DECISIONS, DatasetError, parts
from learning.parquet_reader import DEFAULT_BATCH, read_batches
from learning.reward_model import CrossFit, sample_of, sample_rate


def decision_count(root: Path) -> int:
    return sum(pq.ParquetFile(path).metadata.num_rows for path in parts(root, DECISIONS))


def fit_reward_model(root: Path, seed: int, batch_size: int = DEFAULT_BATCH) -> CrossFit:
    found = sample_of(read_batches(root, batch_size), sample_rate(decision_count(root)))
    if found is None:
        raise DatasetError(f"{root}: the dataset holds no decisions")
    return CrossFit.fit([found], seed)


def evaluate(
    root: Path, policies: Policies, seed: int = 0, batch_size: int = DEFAULT_BATCH
) -> tuple[Report, int]:
    """The estimates of `policies` on the dataset at `root`, and its number of decisions."""
    reward_model = fit_reward_model(root, seed, batch_size)
    a, b, uniform, labels = [], [], True, []
    for batch in read_batches(root, batch_size):
        terms = batch_terms(
            batch.data, policies, reward_model.predict(batch.data, batch.decision_ids)
        )
        a.append(terms.a)
        b.append(terms.b)
        uniform = uniform and terms.uniform
        labels = terms.labels
    numerators, denominators = np.concatenate(a), np.concatenate(b)
    found = report(
        labels,
        uniform,
        len(numerators),
        lambda column: ratio_interval(numerators[:, column], denominators[:, column], seed=seed),
    )
    return found, len(numerators)
