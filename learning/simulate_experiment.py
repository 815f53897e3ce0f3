"""`keyart simulate --experiment`: an online experiment through the real suite, against a known truth.

1. Starts the suite as `keyart simulate` does (ε-greedy exploration), seeds the
   synthetic viewers' histories, serves `--train-rounds` rounds of
   `--impressions` with the bundled model and trains a model on that log, as
   the simulator's loop does after its first round. The model goes into the
   ranker's cell models directory, not the production one.
2. Runs the experiment: every viewer in it, half on `default` (the control:
   each title's catalog default), half on the learned model (with the
   ranker's exploration, as a model cell serves). `--experiment-impressions`
   are served and each tile played with the click model's probability, then
   `keyart experiment report`'s computation reads the gateway's log.
   The true take rate of each cell is the click model's expected plays per
   impression on the impressions that cell served (no play sampling), and the
   true lift is their ratio − 1.
3. A/A: `--aa-seeds` experiments one after the other, each with its own name
   (so its own allocation of viewers) and its own pages, two cells both on
   `default`; the coverage is the share whose lift interval holds 0.

After each experiment its accounting is printed: per cell, the impressions the
simulator was served and the report counted, the plays it drew and reported and
the report joined, and the click model's expected plays with how far the draw
fell from them (in standard deviations), and as far for each title's default
artwork drawn with the same uniforms. A report that misses or adds impressions or
plays is a broken log or join; the line before the summary counts them over all
experiments.

The last line: `summary: lift=… true_lift=… lift_ci_contains_truth=… aa_coverage=…`.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from keyart.ranker.v1 import ranker_service_pb2 as ranker_pb
from keyart.ranker.v1.ranker_service_pb2_grpc import RankerServiceStub

from common.config import ConfigError
from gateway.stream_config import FILES
from learning import bilinear
from learning.clustered import Estimate
from learning.dataset import load
from learning.experiment_log import read_experiment
from learning.experiment_report import Design, Report, build_report, report_table
from learning.report_plot import write_plot
from learning.simulate import HOLDOUT, RoundTotals, Simulation, prepare, running, suite_config
from learning.train import train

CONTROL, TREATMENT = "control", "treatment"
AA_CELLS = ("a", "b")
AA_ROUNDS = 1000  # A/A seed s draws its pages as round AA_ROUNDS + s
WAIT_S = 60.0


def experiments_document(name: str, cells: list[dict]) -> dict:
    """The experiments file putting `name` into effect now, for all viewers."""
    now = datetime.now(UTC)
    return {
        "experiments": [
            {
                "name": name,
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(days=1)).isoformat(),
                "traffic": [0.0, 1.0],
                "cells": cells,
            }
        ]
    }


def aa_experiment(seed: int, aa_seed: int) -> tuple[str, list[dict]]:
    """The name and cells of A/A experiment `aa_seed` of the run with `seed`."""
    cells = [{"name": cell, "weight": 0.5, "policy": "default"} for cell in AA_CELLS]
    return f"aa-{seed}-{aa_seed}", cells


class Experimenter:
    """Runs experiments in a running suite, one at a time, and reads them back from its logs."""

    def __init__(
        self, sim: Simulation, pool: ThreadPoolExecutor, workdir: Path, ranker: str
    ) -> None:
        self.sim, self.pool, self.ranker = sim, pool, ranker
        self.file = workdir / "experiments.json"
        self.services_log = workdir / "services.log"
        self.miscounted = 0  # impressions and plays the reports counted otherwise than served

    def wait_for_model(self, version: str) -> None:
        end = time.monotonic() + WAIT_S
        with grpc.insecure_channel(self.ranker) as channel:
            stub = RankerServiceStub(channel)
            while version not in stub.ListModels(ranker_pb.ListModelsRequest()).model_versions:
                if time.monotonic() > end:
                    raise TimeoutError(f"the ranker did not load cell model {version} in time")
                time.sleep(0.2)

    def start(self, name: str, cells: list[dict]) -> None:
        """Writes the file atomically and waits for the gateway's `experiments loaded` line."""
        temporary = self.file.with_name(f".{self.file.name}.tmp")
        temporary.write_text(json.dumps(experiments_document(name, cells)))
        temporary.replace(self.file)
        end = time.monotonic() + WAIT_S
        while time.monotonic() < end:
            for line in self.services_log.read_text(errors="replace").splitlines():
                if '"experiments file refused"' in line:
                    raise RuntimeError(f"the gateway refused the experiments file: {line}")
                if '"experiments loaded"' in line and name in json.loads(line)["experiments"]:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"the gateway did not load experiment {name} in time")

    def run(
        self, name: str, cells: list[dict], round_index: int, impressions: int
    ) -> tuple[Report, RoundTotals]:
        """Puts `name` into effect, serves `impressions` drawn as round `round_index`, and
        reports on it against its first cell, as `keyart experiment report` does."""
        self.start(name, cells)
        totals = self.sim.run_round(round_index, self.pool, impressions)
        self.sim.wait_for_log(totals.page_ids)
        weights = {cell["name"]: cell["weight"] for cell in cells}
        policies = {cell["name"]: _policy(cell["policy"]) for cell in cells}
        design = Design(weights=weights, policies=policies, control=cells[0]["name"])
        return build_report(name, read_experiment(self.sim.logs, name), design), totals

    def account(self, report: Report, totals: RoundTotals) -> str:
        """Per cell: impressions served / counted by the report, plays reported / joined, the
        click model's expected plays, how far the draw fell from them in standard deviations,
        and how far the same uniforms fell for each title's default artwork instead."""
        parts = []
        for cell in report.cells:
            served, draws = totals.cell_impressions[cell.cell], totals.cell_served[cell.cell]
            self.miscounted += abs(served - cell.impressions) + abs(draws.drawn - cell.plays)
            parts.append(
                f"{cell.cell}: impressions {served}/{cell.impressions} "
                f"plays {draws.drawn}/{cell.plays} expected {draws.expected:.1f} "
                f"(draw {draws.deviations():+.2f} sd; "
                f"defaults {totals.cell_default[cell.cell].deviations():+.2f} sd)"
            )
        return "  served/counted: " + "; ".join(parts)


def _policy(policy: str | dict) -> str:
    """As common.experiments.Cell.policy names the file's policies."""
    return policy if isinstance(policy, str) else f"model_version={policy['model_version']}"


def _lift(report: Report) -> Estimate:
    """The lift of the report's one cell besides the control."""
    lift = next(cell.lift for cell in report.cells if cell.cell != report.control)
    assert lift is not None  # only the control's is None
    return lift


def _learned_model(sim: Simulation, args: argparse.Namespace, cells_dir: Path) -> str:
    data = load(sim.logs, artwork_target=sim.artwork)
    settings = bilinear.FitSettings(seed=args.seed)
    card = train(data, cells_dir / "learned.onnx", settings, HOLDOUT, str(sim.logs))
    return str(card["model_version"])


def _treatment_experiment(
    experimenter: Experimenter, args: argparse.Namespace, version: str, plot: Path
) -> tuple[Estimate, float]:
    """The learned model against `default`: the report's lift and the true lift."""
    cells = [
        {"name": CONTROL, "weight": 0.5, "policy": "default"},
        {"name": TREATMENT, "weight": 0.5, "policy": {"model_version": version}},
    ]
    name = f"sim-{args.seed}-learned-vs-default"
    report, totals = experimenter.run(name, cells, args.train_rounds, args.experiment_impressions)
    print(report_table(report), flush=True)
    print(experimenter.account(report, totals), flush=True)
    write_plot(report, read_experiment(experimenter.sim.logs, name), plot)
    true_rates = {cell: totals.true_take_rate(cell) for cell in (CONTROL, TREATMENT)}
    lift = _lift(report)
    print(
        f"true take rates: control={true_rates[CONTROL]:.4f} "
        f"treatment={true_rates[TREATMENT]:.4f}; lift {lift.value:+.4f} "
        f"[{lift.low:+.4f}, {lift.high:+.4f}] excludes 0: {int(not lift.contains(0))}; "
        f"plot: {plot}",
        flush=True,
    )
    return lift, true_rates[TREATMENT] / true_rates[CONTROL] - 1


def _aa_coverage(experimenter: Experimenter, args: argparse.Namespace) -> float:
    """The share of A/A experiments whose lift interval holds 0."""
    covered = 0
    for seed in range(args.aa_seeds):
        name, cells = aa_experiment(args.seed, seed)
        report, totals = experimenter.run(name, cells, AA_ROUNDS + seed, args.aa_impressions)
        lift = _lift(report)
        covered += lift.contains(0.0)
        print(
            f"A/A {seed}: lift {lift.value:+.4f} [{lift.low:+.4f}, {lift.high:+.4f}] "
            f"contains 0: {int(lift.contains(0.0))}\n{experimenter.account(report, totals)}",
            flush=True,
        )
    return covered / max(args.aa_seeds, 1)


def simulate_experiment(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    config = suite_config(args, workdir)
    cells_dir = workdir / "cells"
    cells_dir.mkdir(exist_ok=True)
    config = replace(
        config,
        extra_env={
            **config.extra_env,
            "RANKER_CELL_MODEL_DIR": str(cells_dir),
            "GATEWAY_EXPERIMENTS_FILE": str(workdir / "experiments.json"),
            "GATEWAY_EXPERIMENTS_POLL_S": "0.2",
        },
    )
    with running(args, workdir, config) as (sim, pool):
        experimenter = Experimenter(sim, pool, workdir, config.addresses["ranker"])
        for round_index in range(args.train_rounds):
            sim.wait_for_log(sim.run_round(round_index, pool).page_ids)
        version = _learned_model(sim, args, cells_dir)
        experimenter.wait_for_model(version)
        print(f"trained {version} on {args.train_rounds} round(s); experiment", flush=True)
        lift, true_lift = _treatment_experiment(
            experimenter, args, version, workdir / "experiment.png"
        )
        coverage = _aa_coverage(experimenter, args)
        print(
            f"impressions and plays counted otherwise than served: {experimenter.miscounted}",
            flush=True,
        )
    return {
        "lift": lift.value,
        "true_lift": true_lift,
        "lift_ci_contains_truth": float(lift.contains(true_lift)),
        "aa_coverage": coverage,
    }


def summary_line(summary: dict[str, float]) -> str:
    return (
        f"summary: lift={summary['lift']:.4f} true_lift={summary['true_lift']:.4f} "
        f"lift_ci_contains_truth={int(summary['lift_ci_contains_truth'])} "
        f"aa_coverage={summary['aa_coverage']:.2f}"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--experiment",
        action="store_true",
        help="an online experiment: default against a learned model, then A/A runs",
    )
    parser.add_argument(
        "--train-rounds", type=int, default=1, help="with --experiment: rounds served to train on"
    )
    parser.add_argument(
        "--experiment-impressions",
        type=int,
        default=60_000,
        help="with --experiment: impressions served in the experiment",
    )
    parser.add_argument(
        "--aa-seeds", type=int, default=20, help="with --experiment: A/A experiments run"
    )
    parser.add_argument(
        "--aa-impressions", type=int, default=10_000, help="with --experiment: per A/A experiment"
    )


def run(args: argparse.Namespace) -> int:
    if args.sink != FILES:
        raise ConfigError("--sink: --experiment reads the gateway's segment files; leave it out")
    print(summary_line(simulate_experiment(args, prepare(args))))
    return 0
