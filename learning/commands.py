"""`keyart train`, `keyart evaluate`, `keyart simulate`: the learning loop's subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from common.log_schema import LogFormatError
from learning import evaluate, simulate, train

Handler = Callable[[argparse.Namespace], int]


def refusing(name: str, handler: Handler) -> Handler:
    """`handler`, with a log it cannot use answered by one line and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (train.TrainingRefused, LogFormatError) as error:
            print(f"keyart {name}: {error}", file=sys.stderr)
            return 2

    return run


def add_commands(commands: argparse._SubParsersAction) -> None:
    for name, module, summary in (
        ("train", train, "learn a ranking model from bandit logs; ONNX + model card"),
        ("evaluate", evaluate, "estimate models and baselines offline (replay, IPS, SNIPS, DR)"),
        ("simulate", simulate, "prove the loop learns: synthetic viewers against the real suite"),
    ):
        sub = commands.add_parser(name, help=summary)
        module.add_arguments(sub)
        sub.set_defaults(handler=refusing(name, module.run))
