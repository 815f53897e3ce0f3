"""`keyart train`: fit the bilinear model from bandit logs, check it offline, export ONNX + card.

The newest decisions (`--holdout`, by time) are kept out of the fit and used
to estimate the new model's greedy policy with IPS, SNIPS and DR; the DR
estimate is the card's `offline_estimate`, which the ranker compares with the
serving model's before it swaps (RANKER_MODEL_SWAP) and can require
(RANKER_MIN_OFFLINE_ESTIMATE).

An estimate needs explored decisions: ones logged with propensity < 1, where
the policy could have shown another candidate. A log without them (exploration
off) says nothing about the candidates not shown, so training refuses unless
at least MIN_EXPLORED_HOLDOUT of the held-out decisions are explored;
`--allow-unexplored` writes the model anyway, with no offline estimate on its
card (null), so the ranker's default swap rule never prefers it to a model
that has one.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from common import addresses
from common.features import ARTWORK_DIM, CONTEXT_DIM, SCHEMA_VERSION, VIEWER_DIM
from common.model_contract import (
    RecipeWeights,
    build_model,
    model_version,
    save_model,
    write_card,
)
from common.storage import Location
from learning import bilinear, engines, targets
from learning.dataset import BanditData, load
from learning.estimators import Estimate, estimate_all
from learning.parquet_layout import DatasetInfo, read_info
from learning.parquet_reader import load_dataset

MIN_DECISIONS = 10
MIN_EXPLORED_HOLDOUT = 10
# float32 propensities from the wire: a decision at 1 - 6e-8 was not explored either.
EXPLORED_BELOW = 1 - 1e-6


class TrainingRefused(Exception):
    """The log cannot train a model worth serving; the message says why, in one line."""


def explored(data: BanditData) -> int:
    """Decisions logged with propensity < 1: the only ones that tell about other candidates."""
    return int((data.propensity < EXPLORED_BELOW).sum())


def split(data: BanditData, holdout: float) -> tuple[BanditData, BanditData]:
    """(train, holdout): the newest `holdout` share of decisions held out."""
    order = np.argsort(data.time_ms, kind="stable")
    cut = round(len(data) * (1 - holdout))
    keep = np.zeros(len(data), dtype=bool)
    keep[order[:cut]] = True
    return data.subset(keep), data.subset(~keep)


@dataclass(frozen=True)
class DataSummary:
    """What the model card says of the data (its `data` section, less the source)."""

    decisions: int
    train_decisions: int
    holdout_decisions: int
    explored_decisions: int
    explored_holdout_decisions: int
    from_ms: int
    to_ms: int
    mean_reward: float

    @classmethod
    def of(cls, data: BanditData, fitting: BanditData, held: BanditData) -> DataSummary:
        return cls(
            len(data),
            len(fitting),
            len(held),
            explored(data),
            explored(held),
            int(data.time_ms.min()) if len(data) else 0,
            int(data.time_ms.max()) if len(data) else 0,
            float(data.reward.mean()) if len(data) else float("nan"),
        )


def check_trainable(summary: DataSummary, source: str, allow_unexplored: bool) -> bool:
    """Whether the holdout can estimate the model; raises TrainingRefused when the data
    cannot train one worth serving."""
    if summary.decisions < MIN_DECISIONS:
        raise TrainingRefused(
            f"{source}: {summary.decisions} decisions are too few to train on "
            f"(at least {MIN_DECISIONS})"
        )
    estimable = summary.explored_holdout_decisions >= MIN_EXPLORED_HOLDOUT
    if not estimable and not allow_unexplored:
        raise TrainingRefused(
            f"{source}: {summary.explored_decisions} of {summary.decisions} decisions were "
            f"explored (propensity < 1), {summary.explored_holdout_decisions} of them among the "
            f"{summary.holdout_decisions} held out; at least "
            f"{MIN_EXPLORED_HOLDOUT} explored held-out decisions are needed to estimate a model "
            "offline. Log pages with exploration on (RANKER_EXPLORATION=epsilon_greedy or "
            "softmax), or pass --allow-unexplored to write a model with no offline estimate"
        )
    return estimable


@dataclass(frozen=True)
class Fitted:
    weights: RecipeWeights
    train_log_loss: float
    holdout_log_loss: float
    holdout_estimates: list[Estimate]  # of the weights' greedy policy


def write_trained(
    out: Path,
    fitted: Fitted,
    settings: bilinear.FitSettings,
    source: str,
    summary: DataSummary,
    estimable: bool,
) -> dict:
    """Writes the model card, then the model (a watcher finds both); returns the card."""
    model = build_model(fitted.weights, name="learned")
    dr = next(e for e in fitted.holdout_estimates if e.estimator == "dr")
    card = {
        "model_version": model_version(model),
        "created_at_ms": int(time.time() * 1000),
        "feature_schema": SCHEMA_VERSION,
        "model": "bilinear: sigmoid(artwork · (viewer Wv + context Wc + q) + bias)",
        "data": {"source": source, **asdict(summary)},
        "training": {
            "objective": ("importance-weighted " if settings.weighted else "")
            + "logistic regression",
            **settings.__dict__,
            "train_log_loss": fitted.train_log_loss,
            "holdout_log_loss": fitted.holdout_log_loss,
        },
        "holdout_estimates": [e.to_dict() for e in fitted.holdout_estimates],
        "offline_estimate": (
            {"estimator": "dr", "value": dr.value, "low": dr.low, "high": dr.high}
            if estimable
            else None
        ),
    }
    write_card(out, card)
    save_model(model, out)
    return card


def servable_info(root: Location) -> DatasetInfo:
    """The dataset's info, if a model trained on it can serve (keyart's own features)."""
    info = read_info(root)
    keyart = (SCHEMA_VERSION, VIEWER_DIM, CONTEXT_DIM, ARTWORK_DIM)
    found = (info.feature_schema, info.viewer_dim, info.context_dim, info.action_dim)
    if found != keyart:
        raise TrainingRefused(
            f"{root}: a servable keyart model needs keyart's feature schema {SCHEMA_VERSION} "
            f"(viewer {VIEWER_DIM}, context {CONTEXT_DIM}, artwork {ARTWORK_DIM} wide); "
            f"this dataset has feature schema {info.feature_schema} (viewer {info.viewer_dim}, "
            f"context {info.context_dim}, action {info.action_dim} wide)"
        )
    return info


def training_data(args: argparse.Namespace, root: Location | None) -> tuple[BanditData, str]:
    """The decisions of the dataset at `root`, else of `--log`, and that name (the card's
    data.source)."""
    window_s = args.reward_window_min * 60
    if root is not None:
        servable_info(root)
        return load_dataset(root, window_s), str(root)
    return load(args.log, window_s, args.artwork_target), str(args.log)


def train(
    data: BanditData,
    out: Path,
    settings: bilinear.FitSettings,
    holdout: float,
    source: str,
    allow_unexplored: bool = False,
    predictions: np.ndarray | None = None,
) -> dict:
    """Fits on all but the holdout, estimates on it, writes card and model; returns the card.

    `predictions`: DR's r̂ on the holdout, when the caller has them already (`keyart loop`
    estimates the serving model with the same ones)."""
    fitting, held = split(data, holdout)
    summary = DataSummary.of(data, fitting, held)
    estimable = check_trainable(summary, source, allow_unexplored)
    weights = bilinear.fit(fitting, settings)
    estimates = estimate_all(
        held,
        targets.greedy(bilinear.candidate_scores(weights, held), held),
        targets.reward_predictions(held, settings.seed) if predictions is None else predictions,
    )
    fitted = Fitted(
        weights,
        bilinear.log_loss(weights, fitting, settings.clip),
        bilinear.log_loss(weights, held, settings.clip),
        estimates,
    )
    return write_trained(out, fitted, settings, source, summary, estimable)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--log", type=Path, help="log directory or bandit-log file")
    source.add_argument(
        "--dataset",
        help="a Parquet dataset (docs/dataset.md) of keyart's features: a directory or a "
        "filesystem URL (s3://bucket/prefix, …)",
    )
    engines.add_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--reward-window-min", type=float, default=30.0)
    parser.add_argument(
        "--artwork-target",
        default=os.environ.get("ARTWORK_TARGET", addresses.ARTWORK),
        help="artwork service for catalog snapshots the log directory lacks",
    )
    parser.add_argument(
        "--holdout", type=float, default=0.2, help="share of newest decisions held out"
    )
    parser.add_argument(
        "--max-iterations", type=int, default=bilinear.FitSettings.max_iterations, help="L-BFGS"
    )
    parser.add_argument("--clip", type=float, default=bilinear.FitSettings.clip)
    parser.add_argument("--l2", type=float, default=bilinear.FitSettings.l2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--allow-unexplored",
        action="store_true",
        help=f"train even when fewer than {MIN_EXPLORED_HOLDOUT} held-out decisions were "
        "explored; the card then has no offline estimate",
    )


def run(args: argparse.Namespace) -> int:
    settings = bilinear.FitSettings(
        max_iterations=args.max_iterations, clip=args.clip, l2=args.l2, seed=args.seed
    )
    root = engines.dataset_root(args)
    if engines.spark_requested(args):
        assert root is not None  # spark_requested refuses it without --dataset
        card = engines.train(args, root, settings)
    else:
        data, source = training_data(args, root)
        card = train(data, args.out, settings, args.holdout, source, args.allow_unexplored)
    estimate = card["offline_estimate"]
    print(
        f"model {card['model_version']} written to {args.out} "
        f"({card['data']['train_decisions']} decisions); holdout DR estimate "
        + (
            f"{estimate['value']:.4f} [{estimate['low']:.4f}, {estimate['high']:.4f}]"
            if estimate is not None
            else "none: too few explored decisions (the card has no offline estimate)"
        )
    )
    return 0
