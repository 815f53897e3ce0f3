"""`keyart loop`: the scheduled learning job (docs/loop.md).

One run: (with `--logs`, compact those gateway segments into the dataset first)
→ train a candidate on the dataset's last `--days` days → judge it against the
serving model on one holdout (learning/loop.py) → publish it to the models
location with `keyart model publish`'s code when the rule says so. It prints one
line per run with both estimates and the decision. `--once` (the CronJob's
form, and the default) runs once; `--every S` runs every S seconds until SIGTERM
or SIGINT, which let a run in progress finish (nothing half-published: the
pointer moves atomically, after the model is in place).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from cli.models import ModelsRefused, publish_file
from common.config import ConfigError, env_float, env_str
from common.models_pointer import PointerError
from common.storage import Location, StorageError
from learning import bilinear
from learning.compact import compact
from learning.loop import LoopSettings, judge
from learning.parquet_layout import DatasetError
from learning.train import TrainingRefused
from services.ranker.model import ModelError

REFUSALS = (
    TrainingRefused,
    DatasetError,
    FileNotFoundError,
    ModelsRefused,
    PointerError,
    ModelError,
    ConfigError,
    StorageError,
)


def _settings(args: argparse.Namespace) -> LoopSettings:
    dataset = args.dataset or env_str("LOOP_DATASET", "")
    if not dataset:
        raise ConfigError(
            "--dataset (or LOOP_DATASET): the dataset to train on, a directory or a filesystem URL"
        )
    days = args.days if args.days is not None else env_float("LOOP_DAYS", 7.0, minimum=0.0)
    if not days > 0:
        raise ConfigError(f"--days: expected a positive number of days, got {days:g}")
    if not 0 < args.holdout < 1:
        raise ConfigError(f"--holdout: expected a share between 0 and 1, got {args.holdout:g}")
    models = args.models or env_str("LOOP_MODELS", env_str("RANKER_MODEL_DIR", "var/models"))
    return LoopSettings(
        dataset=Location.parse(dataset),
        models=Location.parse(models),
        days=days,
        holdout=args.holdout,
        reward_window_s=args.reward_window_min * 60,
        ranker_model=Path(env_str("RANKER_MODEL_PATH", "var/models/bundled.onnx")),
        fit=bilinear.FitSettings(seed=args.seed),
    )


def run_once(settings: LoopSettings, logs: Path | None, min_offline_estimate: float) -> None:
    """One run of the job; raises one of REFUSALS when it cannot train or publish."""
    if logs is not None:
        print(f"loop: {compact(logs, settings.dataset).line()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="keyart-loop-") as staging:
        candidate = Path(staging) / "candidate.onnx"
        verdict = judge(settings, candidate)
        print(verdict.line(), flush=True)
        if verdict.publish:
            # The loop's rule decided; the ranker's swap rule must not undo it.
            done = publish_file(candidate, settings.models, "newest", min_offline_estimate)
            print(f"loop: {done}", flush=True)


def _every(seconds: float, run: Callable[[], None]) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set():
        try:
            run()
        except REFUSALS as error:
            print(f"keyart loop: {error}", file=sys.stderr, flush=True)
        stop.wait(seconds)


def _run(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        every = (
            args.every if args.every is not None else env_float("LOOP_EVERY_S", 0.0, minimum=0.0)
        )
        minimum = env_float("RANKER_MIN_OFFLINE_ESTIMATE", 0.0, minimum=0.0)
        if args.once or every == 0:
            run_once(settings, args.logs, minimum)
        else:
            _every(every, lambda: run_once(settings, args.logs, minimum))
    except REFUSALS as error:
        print(f"keyart loop: {error}", file=sys.stderr)
        return 2
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    loop = commands.add_parser(
        "loop", help="train on the dataset's last days; publish the model only if it wins"
    )
    loop.add_argument(
        "--dataset",
        help="the Parquet dataset, a directory or a filesystem URL (s3://bucket/prefix, …; "
        "default: $LOOP_DATASET)",
    )
    loop.add_argument(
        "--models",
        help="the models directory or filesystem URL, such as s3://bucket/models "
        "(default: $LOOP_MODELS, else $RANKER_MODEL_DIR, else var/models)",
    )
    loop.add_argument(
        "--days",
        type=float,
        help="train on the last N days of decisions (default: $LOOP_DAYS or 7)",
    )
    loop.add_argument(
        "--logs", type=Path, help="gateway segment logs to compact into the dataset first"
    )
    loop.add_argument(
        "--holdout", type=float, default=0.2, help="share of newest decisions held out"
    )
    loop.add_argument("--reward-window-min", type=float, default=30.0)
    loop.add_argument("--seed", type=int, default=0)
    mode = loop.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run once, then exit (the default)")
    mode.add_argument(
        "--every",
        type=float,
        metavar="SECONDS",
        help="run every SECONDS until SIGTERM/SIGINT (default: $LOOP_EVERY_S; 0: once)",
    )
    loop.set_defaults(handler=_run)
