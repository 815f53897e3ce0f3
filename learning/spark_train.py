"""`keyart train --engine spark`: the same bilinear fit, its loss summed over Spark partitions.

The fit reads only each decision's logged choice (learning/bilinear.Design), so
the decisions are first cut to that (viewer, context, the chosen candidate's
features, propensity, reward) and cached by Spark. Each L-BFGS step on the
driver (scipy, as numpy's fit) then broadcasts θ in its closure and gets back
one partial Σ weight·loss and Σ weight·gradient per partition
(bilinear.data_loss_gradient on each record batch): their sum is what the
numpy fit computes on one array, in another order.

The holdout is the newest `--holdout` share by time: every decision logged at
or after the cut's timestamp (ties at the cut go to the holdout, where numpy
breaks them by position). Its estimates are the Spark evaluate engine's on
the learned model's greedy policy (learning/spark_evaluate.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints

from common.model_contract import RecipeWeights
from common.storage import Location
from learning import bilinear, spark_evaluate
from learning.dataset import DEFAULT_REWARD_WINDOW_S, BanditData
from learning.decision_terms import Policies
from learning.parquet_layout import DatasetInfo, read_info
from learning.reward_model import chosen_only
from learning.train import (
    EXPLORED_BELOW,
    DataSummary,
    Fitted,
    check_trainable,
    write_trained,
)

_CHOSEN = (
    "viewer array<float>, context array<float>, artwork array<float>, "
    "propensity double, reward double, time_ms long"
)


def _lists(matrix: np.ndarray) -> pa.ListArray:
    rows, width = matrix.shape
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.ravel(), pa.float32()))


def _matrix(column: pa.Array, width: int) -> np.ndarray:
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)


def chosen_frame(spark: Any, root: Location, reward_window_s: float) -> Any:
    """The dataset's decisions cut to their logged choice (the fit's input), as a DataFrame."""
    reading = spark.sparkContext.broadcast(spark_evaluate.DatasetReading.of(root, reward_window_s))

    def cut(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for found in reading.value.batches(batches):
            data = chosen_only(found.batch.data)
            yield pa.RecordBatch.from_pydict(
                {
                    "viewer": _lists(data.viewer),
                    "context": _lists(data.context),
                    "artwork": _lists(data.artwork),
                    "propensity": data.propensity,
                    "reward": data.reward,
                    "time_ms": data.time_ms,
                }
            )

    frame = spark_evaluate.decisions(spark, root, column=reading.value.column)
    return frame.mapInArrow(cut, _CHOSEN)


def _total(frame: Any, info: DatasetInfo, of_batch: Callable[[BanditData], np.ndarray]) -> Any:
    """Σ of_batch(each record batch of a chosen_frame, as BanditData) over the whole frame."""

    def per_partition(batches: Iterator[pa.RecordBatch]) -> np.ndarray | None:
        total = None
        for batch in batches:
            n = batch.num_rows
            data = BanditData(
                _matrix(batch.column("viewer"), info.viewer_dim),
                _matrix(batch.column("context"), info.context_dim),
                _matrix(batch.column("artwork"), info.action_dim),
                np.ones(n, np.int64),
                np.zeros(n, np.int64),
                batch.column("propensity").to_numpy(),
                batch.column("reward").to_numpy(),
                batch.column("time_ms").to_numpy(),
            )
            found = of_batch(data)
            total = found if total is None else total + found
        return total

    found = spark_evaluate.pickled_map(frame, per_partition)
    return sum(found[1:], found[0]) if found else None


def fit(frame: Any, info: DatasetInfo, settings: bilinear.FitSettings) -> RecipeWeights:
    """bilinear.fit on the decisions of a chosen_frame, its data loss summed by Spark."""
    total_weight = _total(frame, info, lambda d: bilinear.Design.of(d, settings).weight.sum())

    def data_objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        def of_batch(data: BanditData) -> np.ndarray:
            loss, gradient = bilinear.data_loss_gradient(theta, bilinear.Design.of(data, settings))
            return np.concatenate([[loss], gradient])

        summed = _total(frame, info, of_batch)
        return float(summed[0]), summed[1:]

    return bilinear.fit_objective(data_objective, float(total_weight or 1.0), settings)


def log_loss(frame: Any, info: DatasetInfo, weights: RecipeWeights, clip: float) -> float:
    """bilinear.log_loss over the frame: per batch, Σ weight·loss and Σ weight, summed."""

    def of_batch(data: BanditData) -> np.ndarray:
        weight = float(np.minimum(1.0 / data.propensity, clip).sum())
        return np.array([bilinear.log_loss(weights, data, clip) * weight, weight])

    summed = _total(frame, info, of_batch)
    return float(summed[0] / summed[1]) if summed is not None and summed[1] else float("nan")


def holdout_cut(times_ms: np.ndarray, holdout: float) -> int:
    """The first timestamp held out: the newest `holdout` share of decisions is at or after it."""
    cut = round(times_ms.size * (1 - holdout))
    ordered = np.sort(times_ms)
    return int(ordered[cut]) if cut < ordered.size else int(ordered[-1]) + 1


def summary(frame: Any, cut_ms: int) -> DataSummary:
    row = frame.selectExpr(
        "count(*) AS decisions",
        f"count_if(time_ms < {cut_ms}) AS train_decisions",
        f"count_if(time_ms >= {cut_ms}) AS holdout_decisions",
        f"count_if(propensity < {EXPLORED_BELOW!r}) AS explored_decisions",
        f"count_if(propensity < {EXPLORED_BELOW!r} AND time_ms >= {cut_ms})"
        " AS explored_holdout_decisions",
        "coalesce(min(time_ms), 0) AS from_ms",
        "coalesce(max(time_ms), 0) AS to_ms",
        "coalesce(avg(reward), double('NaN')) AS mean_reward",
    ).first()
    return DataSummary(**row.asDict())


def train(
    spark: Any,
    root: Location,
    out: Path,
    settings: bilinear.FitSettings,
    holdout: float,
    allow_unexplored: bool = False,
    reward_window_s: float = DEFAULT_REWARD_WINDOW_S,
) -> dict:
    """numpy's train (learning/train.py) on the dataset at `root`, computed by Spark."""
    info = read_info(root)
    times = spark_evaluate.decisions(spark, root).select("time_ms").toArrow().column(0)
    cut_ms = holdout_cut(np.asarray(times.to_numpy()), holdout)
    chosen = chosen_frame(spark, root, reward_window_s).cache()
    try:
        found = summary(chosen, cut_ms)
        estimable = check_trainable(found, str(root), allow_unexplored)
        fitting, held = chosen.where(f"time_ms < {cut_ms}"), chosen.where(f"time_ms >= {cut_ms}")
        weights = fit(fitting, info, settings)
        report = spark_evaluate.evaluate(
            spark,
            root,
            Policies(random=False, default=False, fitted=(("learned", weights),)),
            settings.seed,
            where=f"time_ms >= {cut_ms}",
            reward_window_s=reward_window_s,
        )
        fitted = Fitted(
            weights,
            log_loss(fitting, info, weights, settings.clip),
            log_loss(held, info, weights, settings.clip),
            report.policies["learned"],
        )
    finally:
        chosen.unpersist()
    return write_trained(out, fitted, settings, str(root), found, estimable)
