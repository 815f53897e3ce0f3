"""`keyart experiment report NAME --log DIR`: an online experiment's result per cell.

Input it cannot use (no such directory, no impressions, an unknown experiment or
cell, a bad experiments file or --weights) is answered with one line on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.experiments import ExperimentsError
from common.experiments import load as load_experiments
from common.log_schema import LogFormatError
from common.segment_log import CorruptSegment
from learning.dataset import DEFAULT_REWARD_WINDOW_S
from learning.experiment_log import ExperimentLog, read_experiment
from learning.experiment_report import (
    Design,
    ReportRefused,
    build_report,
    report_json,
    report_table,
    sample_ratio_line,
)
from learning.report_plot import write_plot

PROG = "keyart experiment report"


def _weights(text: str) -> dict[str, float]:
    """`control=0.5,treatment=0.5` → {cell: weight}; relative weights, any positive scale."""
    weights: dict[str, float] = {}
    for item in text.split(","):
        cell, equals, number = item.partition("=")
        try:
            weight = float(number)
        except ValueError:
            weight = 0.0
        if not (equals and cell.strip() and weight > 0) or cell.strip() in weights:
            raise ReportRefused(f"--weights: expected CELL=WEIGHT,… with weights > 0, got {item!r}")
        weights[cell.strip()] = weight
    return weights


def _design(args: argparse.Namespace) -> Design:
    weights: dict[str, float] | None = None
    policies: dict[str, str] | None = None
    if args.experiments is not None:
        defined = load_experiments(args.experiments).experiments
        found = [e for e in defined if e.name == args.name]
        if not found:
            names = ", ".join(e.name for e in defined) or "none"
            raise ReportRefused(
                f"unknown experiment {args.name!r}: {args.experiments} defines {names}"
            )
        weights = {cell.name: cell.weight for cell in found[0].cells}
        policies = {cell.name: cell.policy for cell in found[0].cells}
    if args.weights is not None:
        weights = _weights(args.weights)
    return Design(weights=weights, policies=policies, control=args.control)


def _read(args: argparse.Namespace) -> ExperimentLog:
    if not args.log.is_dir():
        raise ReportRefused(f"--log: {args.log} is not a directory")
    log = read_experiment(args.log, args.name, args.reward_window_min * 60)
    if log.pages == 0:
        raise ReportRefused(f"no impressions in {args.log}")
    if not log.cells:
        logged = ", ".join(sorted(name for name in log.experiments if name)) or "none"
        raise ReportRefused(
            f"unknown experiment {args.name!r}: no impressions of it in {args.log} "
            f"(experiments logged there: {logged})"
        )
    return log


def report(args: argparse.Namespace) -> int:
    design = _design(args)
    log = _read(args)
    result = build_report(args.name, log, design)
    if args.json:
        print(json.dumps(report_json(result), indent=2))
    else:
        print(report_table(result))
    if args.json and result.sample_ratio is not None and result.sample_ratio.mismatch:
        print(f"{PROG}: {sample_ratio_line(result)}", file=sys.stderr)
    if args.plot is not None:
        write_plot(result, log, args.plot)
    return 0


def _refusing(args: argparse.Namespace) -> int:
    try:
        return report(args)
    except (ReportRefused, ExperimentsError, LogFormatError, CorruptSegment) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
    except OSError as error:
        print(f"{PROG}: --plot: {args.plot}: {error.strerror or error}", file=sys.stderr)
    return 2


def add_commands(commands: argparse._SubParsersAction) -> None:
    experiment = commands.add_parser("experiment", help="read an online experiment's result")
    verbs = experiment.add_subparsers(dest="verb", required=True)
    sub = verbs.add_parser(
        "report", help="per cell: take rate and lift with 95 % intervals, sample-ratio check"
    )
    sub.add_argument("name", help="the experiment's name, as in the experiments file")
    sub.add_argument("--log", type=Path, required=True, help="the gateway's log directory")
    sub.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    sub.add_argument("--plot", type=Path, help="write a PNG of the cumulative take rate per cell")
    sub.add_argument(
        "--experiments", type=Path, help="the experiments file: the cells' weights and policies"
    )
    sub.add_argument(
        "--weights", help="the cells' weights for the sample-ratio check, e.g. a=0.5,b=0.5"
    )
    sub.add_argument("--control", help="the cell to compare against (default: the default one)")
    sub.add_argument(
        "--reward-window-min",
        type=float,
        default=DEFAULT_REWARD_WINDOW_S / 60,
        help="a qualified play counts within this many minutes of its impression",
    )
    sub.set_defaults(handler=_refusing)
