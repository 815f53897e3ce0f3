"""`--engine numpy|spark [--master URL]` for `keyart train` and `keyart evaluate --dataset`.

numpy (the default) is learning/evaluate.py's and learning/train.py's own code;
spark runs the same per-decision terms (learning/estimators.Terms) and the same
fit on a Spark cluster, `local[N]` unless `--master` names one
(learning/spark_evaluate.py, learning/spark_train.py; docs/spark.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from common.features import SCHEMA_VERSION
from common.storage import Location
from learning import bilinear
from learning import train as numpy_train  # a cycle: train.run calls train() here
from learning.decision_terms import Policies
from learning.evaluation import Report
from learning.parquet_layout import read_info
from learning.policy_probabilities import PolicyFile, dataset_has_column
from learning.spark_session import (
    DEFAULT_MASTER,
    EngineUnavailable,
    executor_refusals,
    local_dataset,
    session,
)

ENGINES = ("numpy", "spark")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="numpy",
        help="numpy on this machine, or Apache Spark (with a local --dataset; docs/spark.md)",
    )
    parser.add_argument(
        "--master",
        default=DEFAULT_MASTER,
        help=f"Spark master URL for --engine spark (default {DEFAULT_MASTER})",
    )


def dataset_root(args: argparse.Namespace) -> Location | None:
    """Where `--dataset` points (StorageError naming it when it cannot be
    parsed), or None without it."""
    return None if args.dataset is None else Location.parse(args.dataset)


def spark_requested(args: argparse.Namespace) -> bool:
    """True for --engine spark; refuses it without --dataset (Spark reads no gateway segments)."""
    if args.engine != "spark":
        return False
    if args.dataset is None:
        raise EngineUnavailable("--engine spark reads a dataset: give --dataset DIR")
    return True


@contextmanager
def _spark(master: str, app: str) -> Iterator[Any]:
    spark = session(master, app)
    try:
        yield spark
    finally:
        spark.stop()


def evaluate(args: argparse.Namespace, root: Location, seed: int = 0) -> Report:
    """The estimates of the dataset at `root` by Spark."""
    from learning import spark_evaluate

    local_dataset(root)  # before a session starts: refused when Spark cannot read it
    info = read_info(root)
    outside = None if args.policy_probabilities is None else PolicyFile(args.policy_probabilities)
    policies = Policies(
        default=info.feature_schema == SCHEMA_VERSION,
        models=tuple(args.model),
        outside=outside,
        column=dataset_has_column(root),
    )
    with _spark(args.master, "keyart evaluate") as spark, executor_refusals():
        report = spark_evaluate.evaluate(
            spark, root, policies, seed, reward_window_s=args.reward_window_min * 60
        )
    if outside is not None:
        outside.check_all_used(report.decisions)
    return report


def train(args: argparse.Namespace, root: Location, settings: bilinear.FitSettings) -> dict:
    """The model card of a model trained on the dataset at `root` by Spark."""
    from learning import spark_train

    local_dataset(root)
    numpy_train.servable_info(root)
    with _spark(args.master, "keyart train") as spark:
        return spark_train.train(
            spark,
            root,
            args.out,
            settings,
            args.holdout,
            args.allow_unexplored,
            args.reward_window_min * 60,
        )
