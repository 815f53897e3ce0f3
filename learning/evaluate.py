"""`keyart evaluate`: each model's greedy policy and the baselines, estimated from a log."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from common import addresses
from learning import engines, targets
from learning.dataset import BanditData, load
from learning.estimators import Estimate, estimate_all, logged_value

Report = dict[str, list[Estimate]]


def evaluate(data: BanditData, models: list[Path], seed: int = 0) -> Report:
    """Policy name → its estimates (replay only on uniformly explored logs)."""
    predicted = targets.reward_predictions(data, seed)
    policies: dict[str, np.ndarray] = {
        "random": targets.uniform(data),
        "default": targets.catalog_default(data),
    }
    for path in models:
        version, scores = targets.model_scores(path, data)
        policies[f"{version} ({path.name})"] = targets.greedy(scores, data)
    report = {name: estimate_all(data, target, predicted) for name, target in policies.items()}
    report["logged policy"] = [logged_value(data)]
    return report


def format_report(report: Report, decisions: int) -> str:
    lines = [f"{decisions} decisions; estimated mean reward, 95% CI in brackets"]
    for name, estimates in report.items():
        cells = "  ".join(
            f"{e.estimator}={e.value:.4f} [{e.low:.4f}, {e.high:.4f}]" for e in estimates
        )
        lines.append(f"{name:<40} {cells}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log", type=Path, help="log directory or bandit-log file")
    engines.add_arguments(parser)
    parser.add_argument(
        "--model", type=Path, action="append", default=[], help="ONNX model (repeatable)"
    )
    parser.add_argument("--reward-window-min", type=float, default=30.0)
    parser.add_argument(
        "--artwork-target",
        default=os.environ.get("ARTWORK_TARGET", addresses.ARTWORK),
        help="artwork service for catalog snapshots the log directory lacks",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    if engines.reads_dataset(args):
        report, decisions = engines.evaluate(args)
    else:
        data = load(args.log, args.reward_window_min * 60, args.artwork_target)
        report, decisions = evaluate(data, args.model), len(data)
    if args.json:
        print(json.dumps({name: [e.to_dict() for e in found] for name, found in report.items()}))
    else:
        print(format_report(report, decisions))
    return 0
