"""`--dataset DIR --engine numpy|spark [--master URL]` for `keyart train` and `keyart evaluate`.

numpy (the default) reads the dataset in batches on this machine
(learning/numpy_engine.py, learning/train.py); spark runs the same estimators
and the same fit on a Spark cluster, `local[N]` unless `--master` names one
(learning/spark_evaluate.py, learning/spark_train.py; docs/spark.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common.features import SCHEMA_VERSION
from learning import bilinear, numpy_engine
from learning import train as numpy_train  # a cycle: train.run calls train() here
from learning.decision_terms import Policies, Report
from learning.parquet_layout import read_info
from learning.parquet_reader import load_dataset
from learning.spark_session import DEFAULT_MASTER, EngineUnavailable, session

ENGINES = ("numpy", "spark")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", type=Path, help="a Parquet dataset directory (instead of --log)"
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="numpy",
        help="numpy on this machine, or Apache Spark (with --dataset; docs/spark.md)",
    )
    parser.add_argument(
        "--master",
        default=DEFAULT_MASTER,
        help=f"Spark master URL for --engine spark (default {DEFAULT_MASTER})",
    )


def reads_dataset(args: argparse.Namespace) -> bool:
    """True for --dataset; refuses a command line that names both sources, or neither, or
    asks Spark to read gateway segments."""
    if (args.log is None) == (args.dataset is None):
        raise EngineUnavailable("give exactly one of --log DIR and --dataset DIR")
    if args.engine == "spark" and args.dataset is None:
        raise EngineUnavailable("--engine spark reads a dataset: give --dataset DIR")
    return args.dataset is not None


@contextmanager
def _spark(master: str, app: str) -> Iterator[Any]:
    spark = session(master, app)
    try:
        yield spark
    finally:
        spark.stop()


def evaluate(args: argparse.Namespace, seed: int = 0) -> tuple[Report, int]:
    """The dataset's estimates by the chosen engine, and the decisions they rest on."""
    policies = Policies(
        default=read_info(args.dataset).feature_schema == SCHEMA_VERSION,
        models=tuple(args.model),
    )
    if args.engine == "numpy":
        return numpy_engine.evaluate(args.dataset, policies, seed)
    from learning import spark_evaluate

    with _spark(args.master, "keyart evaluate") as spark:
        return spark_evaluate.evaluate(spark, args.dataset, policies, seed)


def train(args: argparse.Namespace, settings: bilinear.FitSettings) -> dict:
    """The model card of a model trained on the dataset by the chosen engine."""
    found = read_info(args.dataset).feature_schema
    if found != SCHEMA_VERSION:
        raise numpy_train.TrainingRefused(
            f"{args.dataset}: features of schema {found!r}; a servable keyart model needs "
            f"keyart's feature schema {SCHEMA_VERSION!r}"
        )
    if args.engine == "numpy":
        data = load_dataset(args.dataset, args.reward_window_min * 60)
        return numpy_train.train(
            data, args.out, settings, args.holdout, str(args.dataset), args.allow_unexplored
        )
    from learning import spark_train

    with _spark(args.master, "keyart train") as spark:
        return spark_train.train(
            spark, args.dataset, args.out, settings, args.holdout, args.allow_unexplored
        )
