"""`keyart train`: fit the bilinear model from bandit logs, check it offline, export ONNX + card.

The newest decisions (`--holdout`, by time) are kept out of the fit and used
to estimate the new model's greedy policy with IPS, SNIPS and DR; the DR
estimate is the card's `offline_estimate`, which the ranker can require
(RANKER_MIN_OFFLINE_ESTIMATE) before it serves the model.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from common.features import SCHEMA_VERSION
from learning import bilinear, targets
from learning.dataset import BanditData, load
from learning.estimators import estimate_all
from services.ranker.model_recipe import build_model, save_model
from services.ranker.model_watch import card_path


def split(data: BanditData, holdout: float) -> tuple[BanditData, BanditData]:
    """(train, holdout): the newest `holdout` share of decisions held out."""
    order = np.argsort(data.time_ms, kind="stable")
    cut = int(round(len(data) * (1 - holdout)))
    keep = np.zeros(len(data), dtype=bool)
    keep[order[:cut]] = True
    return data.subset(keep), data.subset(~keep)


def train(
    data: BanditData, out: Path, settings: bilinear.FitSettings, holdout: float, source: str
) -> dict:
    """Fits, writes the model card, then the model (a watcher finds both); returns the card."""
    if len(data) < 10:
        raise ValueError(f"{len(data)} decisions are too few to train on")
    fitting, held = split(data, holdout)
    weights = bilinear.fit(fitting, settings)
    model = build_model(weights, name="learned")
    version = next(prop.value for prop in model.metadata_props if prop.key == "version")
    estimates = estimate_all(
        held,
        targets.greedy(bilinear.candidate_scores(weights, held), held),
        targets.reward_predictions(held, settings.seed),
    )
    dr = next(e for e in estimates if e.estimator == "dr")
    card = {
        "model_version": version,
        "created_at_ms": int(time.time() * 1000),
        "feature_schema": SCHEMA_VERSION,
        "model": "bilinear: sigmoid(artwork · (viewer Wv + context Wc + q) + bias)",
        "data": {
            "source": source,
            "decisions": len(data),
            "train_decisions": len(fitting),
            "holdout_decisions": len(held),
            "from_ms": int(data.time_ms.min()),
            "to_ms": int(data.time_ms.max()),
            "mean_reward": float(data.reward.mean()),
        },
        "training": {
            "objective": ("importance-weighted " if settings.weighted else "")
            + "logistic regression",
            **settings.__dict__,
            "train_log_loss": bilinear.log_loss(weights, fitting, settings.clip),
            "holdout_log_loss": bilinear.log_loss(weights, held, settings.clip),
        },
        "holdout_estimates": [e.to_dict() for e in estimates],
        "offline_estimate": {"estimator": "dr", "value": dr.value, "low": dr.low, "high": dr.high},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    card_file = card_path(out)
    temp = card_file.with_name(f".{card_file.name}.tmp")
    temp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(temp, card_file)
    save_model(model, out)
    return card


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log", type=Path, required=True, help="log directory or bandit-log file")
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--reward-window-min", type=float, default=30.0)
    parser.add_argument(
        "--artwork-target",
        default=os.environ.get("ARTWORK_TARGET", "127.0.0.1:50053"),
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


def run(args: argparse.Namespace) -> int:
    data = load(args.log, args.reward_window_min * 60, args.artwork_target)
    settings = bilinear.FitSettings(
        max_iterations=args.max_iterations, clip=args.clip, l2=args.l2, seed=args.seed
    )
    card = train(data, args.out, settings, args.holdout, str(args.log))
    estimate = card["offline_estimate"]
    print(
        f"model {card['model_version']} written to {args.out} "
        f"({card['data']['train_decisions']} decisions); holdout DR estimate "
        f"{estimate['value']:.4f} [{estimate['low']:.4f}, {estimate['high']:.4f}]"
    )
    return 0
