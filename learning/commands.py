"""`keyart train`, `keyart evaluate`, `keyart simulate [--experiment]`: the learning loop's subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from common.config import ConfigError
from common.log_schema import LogFormatError
from common.segment_log import CorruptSegment
from common.storage import StorageError
from learning import evaluate, simulate, simulate_experiment, train
from learning.evaluation import EvaluationRefused
from learning.parquet_layout import DatasetError
from learning.policy_probabilities import ProbabilitiesRefused
from learning.spark_session import EngineUnavailable

Handler = Callable[[argparse.Namespace], int]


def refusing(name: str, handler: Handler) -> Handler:
    """`handler`, with a log it cannot use answered by one line and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (
            train.TrainingRefused,
            LogFormatError,
            DatasetError,
            CorruptSegment,
            FileNotFoundError,
            EvaluationRefused,
            ProbabilitiesRefused,
            EngineUnavailable,
            ConfigError,
            StorageError,
        ) as error:
            print(f"keyart {name}: {error}", file=sys.stderr)
            return 2

    return run


def _simulate(args: argparse.Namespace) -> int:
    return (simulate_experiment.run if args.experiment else simulate.run)(args)


def _simulate_arguments(parser: argparse.ArgumentParser) -> None:
    simulate.add_arguments(parser)
    simulate_experiment.add_arguments(parser)


def add_commands(commands: argparse._SubParsersAction) -> None:
    for name, add_arguments, handler, summary in (
        (
            "train",
            train.add_arguments,
            train.run,
            "learn a ranking model from bandit logs; ONNX + model card",
        ),
        (
            "evaluate",
            evaluate.add_arguments,
            evaluate.run,
            "estimate models and baselines offline (replay, IPS, SNIPS, DR)",
        ),
        (
            "simulate",
            _simulate_arguments,
            _simulate,
            "prove the loop learns (or, with --experiment, an online experiment reads right): "
            "synthetic viewers against the real suite",
        ),
    ):
        sub = commands.add_parser(name, help=summary)
        add_arguments(sub)
        sub.set_defaults(handler=refusing(name, handler))
