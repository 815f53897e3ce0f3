"""`keyart evaluate`: each model's greedy policy, the baselines and outside policies, estimated
from a log (`--log`, in memory) or from the Parquet dataset (`--dataset`, in batches)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from common import addresses
from common.features import (
    COMPOSITION_SLOT,
    SCHEMA_VERSION,
    VISUAL_QUALITY_SLOT,
)
from common.storage import Location
from learning import engines, targets
from learning.dataset import DEFAULT_REWARD_WINDOW_S, BanditData, load
from learning.estimators import LOW_ESS, Estimate
from learning.evaluation import EvaluationRefused, LeftOut, Report, Target, evaluate_batches
from learning.parquet_layout import DECISIONS, part_file, parts, read_info
from learning.parquet_reader import DEFAULT_BATCH, DecisionBatch, read_batches
from learning.policy_probabilities import (
    COLUMN_POLICY,
    PolicyFile,
    column_target,
    dataset_has_column,
)
from services.ranker.model import RankingModel


def _greedy(model: RankingModel) -> Target:
    return lambda batch: targets.greedy(targets.scores_of(model, batch.data), batch.data)


def built_in_policies(
    default_left_out: str | None, models: list[Path]
) -> tuple[dict[str, Target], list[LeftOut]]:
    """Uniform random, the catalog default (unless `default_left_out` says why not), and each
    model's greedy policy."""
    policies: dict[str, Target] = {"random": lambda batch: targets.uniform(batch.data)}
    left_out = []
    if default_left_out is None:
        policies["default"] = lambda batch: targets.catalog_default(batch.data)
    else:
        left_out.append(LeftOut("default", None, default_left_out))
    for path in models:
        model = RankingModel(path)
        policies[f"{model.version} ({path.name})"] = _greedy(model)
    return policies, left_out


def evaluate(data: BanditData, models: list[Path], seed: int = 0) -> Report:
    """A log in memory, as one batch."""
    quality = data.artwork[:, [VISUAL_QUALITY_SLOT, COMPOSITION_SLOT]]
    flat = len(data) > 0 and bool((np.ptp(quality, axis=0) == 0).all())
    note = "every candidate has the same quality features: nothing to choose by" if flat else None
    policies, left_out = built_in_policies(note, models)
    return evaluate_batches(lambda: [DecisionBatch(data, [])], len(data), policies, left_out, seed)


def evaluate_dataset(
    root: Location,
    models: list[Path],
    policy_file: Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    reward_window_s: float = DEFAULT_REWARD_WINDOW_S,
    seed: int = 0,
) -> Report:
    """The dataset at `root`, `batch_size` decisions at a time."""
    info = read_info(root)
    keyart_features = info.feature_schema == SCHEMA_VERSION
    if models and not keyart_features:
        raise EvaluationRefused(
            f"{root}: --model needs keyart's feature schema {SCHEMA_VERSION}; the dataset's "
            f"features are {info.feature_schema!r}"
        )
    note = (
        None
        if keyart_features
        else f"the dataset's features are not keyart's (feature_schema {info.feature_schema!r}): "
        "no quality features to choose by"
    )
    policies, left_out = built_in_policies(note, models)
    outside = None if policy_file is None else PolicyFile(policy_file)
    if outside is not None:
        policies[outside.name] = outside.target
    if dataset_has_column(root):
        policies[COLUMN_POLICY] = column_target
    decisions = sum(part_file(path).metadata.num_rows for path in parts(root, DECISIONS))
    report = evaluate_batches(
        lambda: read_batches(root, batch_size, reward_window_s),
        decisions,
        policies,
        left_out,
        seed,
    )
    if outside is not None:
        outside.check_all_used()
    return report


def _cell(e: Estimate) -> str:
    flag = "*" if e.low_ess else ""
    return (
        f"{e.estimator}={e.value:.4f} [{e.low:.4f}, {e.high:.4f}] "
        f"ess={e.ess:.0f} max_w={e.max_weight:.4g}{flag}"
    )


def format_report(report: Report) -> str:
    lines = [f"{report.decisions} decisions; estimated mean reward, 95% CI in brackets"]
    for name, estimates in report.policies.items():
        lines.append(f"{name:<40} " + "  ".join(_cell(e) for e in estimates))
    if any(e.low_ess for found in report.policies.values() for e in found):
        lines.append(
            f"* effective sample size under {LOW_ESS:.0f}: the estimate rests on a few heavily "
            "weighted decisions and its interval is likely too narrow; do not trust it"
        )
    for gone in report.left_out:
        what = gone.policy if gone.estimator is None else f"{gone.policy} {gone.estimator}"
        lines.append(f"left out: {what}: {gone.reason}")
    return "\n".join(lines)


def report_json(report: Report) -> str:
    return json.dumps(
        {
            "decisions": report.decisions,
            "low_ess_below": LOW_ESS,
            "policies": {
                name: [e.to_dict() for e in found] for name, found in report.policies.items()
            },
            "left_out": [gone.to_dict() for gone in report.left_out],
        }
    )


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--log", type=Path, help="log directory or bandit-log file")
    source.add_argument(
        "--dataset",
        help="Parquet dataset (keyart-dataset/1): a directory or a filesystem URL (s3://…)",
    )
    engines.add_arguments(parser)
    parser.add_argument(
        "--model", type=Path, action="append", default=[], help="ONNX model (repeatable)"
    )
    parser.add_argument(
        "--policy-probabilities",
        type=Path,
        help="an outside policy's probabilities per decision id (JSON lines or .parquet; "
        "with --dataset)",
    )
    parser.add_argument(
        "--batch-size", type=_positive, default=DEFAULT_BATCH, help="decisions read at a time"
    )
    parser.add_argument("--reward-window-min", type=float, default=30.0)
    parser.add_argument(
        "--artwork-target",
        default=os.environ.get("ARTWORK_TARGET", addresses.ARTWORK),
        help="artwork service for catalog snapshots the log directory lacks",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    window_s = args.reward_window_min * 60
    root = engines.dataset_root(args)
    if engines.spark_requested(args):
        assert root is not None  # spark_requested refuses it without --dataset
        report = engines.evaluate(args, root)
    elif root is not None:
        report = evaluate_dataset(
            root, args.model, args.policy_probabilities, args.batch_size, window_s
        )
    elif args.policy_probabilities is not None:
        raise EvaluationRefused(
            "--policy-probabilities needs --dataset (it is keyed by decision id)"
        )
    else:
        report = evaluate(load(args.log, window_s, args.artwork_target), args.model)
    print(report_json(report) if args.json else format_report(report))
    return 0
