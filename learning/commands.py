"""`keyart train`, `keyart evaluate`, `keyart simulate`: the learning loop's subcommands."""

from __future__ import annotations

import argparse

from learning import evaluate, simulate, train


def add_commands(commands: argparse._SubParsersAction) -> None:
    for name, module, summary in (
        ("train", train, "learn a ranking model from bandit logs; ONNX + model card"),
        ("evaluate", evaluate, "estimate models and baselines offline (replay, IPS, SNIPS, DR)"),
        ("simulate", simulate, "prove the loop learns: synthetic viewers against the real suite"),
    ):
        sub = commands.add_parser(name, help=summary)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
