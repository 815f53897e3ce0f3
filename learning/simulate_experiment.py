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

from learning import bilinear
from learning.dataset import load
from learning.experiment_log import read_experiment
from learning.experiment_report import CellResult, Design, Report, build_report, report_table
from learning.report_plot import write_plot
from learning.simulate import HOLDOUT, WORKERS, Simulation, build_bundled, prepare, suite_config
from learning.train import train
from suite.supervisor import Suite

CONTROL, TREATMENT = "control", "treatment"
AA_CELLS = ("a", "b")
AA_ROUNDS = 1000  # A/A seed s draws its pages as round AA_ROUNDS + s
WAIT_S = 60.0


def _experiments(name: str, cells: list[dict]) -> dict:
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


class Experimenter:
    """Puts experiments into effect in a running suite and reads them back from its logs."""

    def __init__(self, sim: Simulation, workdir: Path, ranker: str) -> None:
        self.sim, self.ranker = sim, ranker
        self.file = workdir / "experiments.json"
        self.services_log = workdir / "services.log"

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
        temporary.write_text(json.dumps(_experiments(name, cells)))
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

    def report(self, name: str, cells: list[dict], control: str) -> Report:
        """The report on `name`, its `cells` as written to the file, against `control`."""
        weights = {cell["name"]: cell["weight"] for cell in cells}
        policies = {cell["name"]: _policy(cell["policy"]) for cell in cells}
        design = Design(weights=weights, policies=policies, control=control)
        return build_report(name, read_experiment(self.sim.logs, name), design)


def _policy(policy: str | dict) -> str:
    """As common.experiments.Cell.policy names the file's policies."""
    return policy if isinstance(policy, str) else f"model_version={policy['model_version']}"


def _treatment(report: Report) -> CellResult:
    return next(cell for cell in report.cells if cell.cell != report.control)


def _learned_model(sim: Simulation, args: argparse.Namespace, cells_dir: Path) -> str:
    data = load(sim.logs, artwork_target=sim.artwork)
    settings = bilinear.FitSettings(seed=args.seed)
    card = train(data, cells_dir / "learned.onnx", settings, HOLDOUT, str(sim.logs))
    return str(card["model_version"])


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
    build_bundled(config.model_path)
    with open(workdir / "services.log", "wb") as service_log, ThreadPoolExecutor(WORKERS) as pool:
        suite = Suite(config, service_log)
        suite.start()
        try:
            addresses = config.addresses
            sim = Simulation(args, workdir, addresses["gateway"], addresses["artwork"])
            experimenter = Experimenter(sim, workdir, addresses["ranker"])
            sim.seed_histories(pool)
            for round_index in range(args.train_rounds):
                sim.wait_for_log(sim.run_round(round_index, pool).page_ids)
            version = _learned_model(sim, args, cells_dir)
            experimenter.wait_for_model(version)
            print(f"trained {version} on {args.train_rounds} round(s); experiment", flush=True)

            name = f"sim-{args.seed}-learned-vs-default"
            cells = [
                {"name": CONTROL, "weight": 0.5, "policy": "default"},
                {"name": TREATMENT, "weight": 0.5, "policy": {"model_version": version}},
            ]
            experimenter.start(name, cells)
            totals = sim.run_round(args.train_rounds, pool, args.experiment_impressions)
            sim.wait_for_log(totals.page_ids)
            report = experimenter.report(name, cells, CONTROL)
            print(report_table(report), flush=True)
            write_plot(report, read_experiment(sim.logs, name), workdir / "experiment.png")
            true_rates = {cell: totals.true_take_rate(cell) for cell in (CONTROL, TREATMENT)}
            true_lift = true_rates[TREATMENT] / true_rates[CONTROL] - 1
            lift = _treatment(report).lift
            assert lift is not None
            print(
                f"true take rates: control={true_rates[CONTROL]:.4f} "
                f"treatment={true_rates[TREATMENT]:.4f}; lift {lift.value:+.4f} "
                f"[{lift.low:+.4f}, {lift.high:+.4f}] excludes 0: {int(not lift.contains(0))}; "
                f"plot: {workdir / 'experiment.png'}",
                flush=True,
            )
            covered = 0
            for seed in range(args.aa_seeds):
                aa_name = f"aa-{args.seed}-{seed}"
                aa_cells = [{"name": c, "weight": 0.5, "policy": "default"} for c in AA_CELLS]
                experimenter.start(aa_name, aa_cells)
                aa = sim.run_round(AA_ROUNDS + seed, pool, args.aa_impressions)
                sim.wait_for_log(aa.page_ids)
                aa_lift = _treatment(experimenter.report(aa_name, aa_cells, AA_CELLS[0])).lift
                assert aa_lift is not None
                covered += aa_lift.contains(0.0)
                print(
                    f"A/A {seed}: lift {aa_lift.value:+.4f} [{aa_lift.low:+.4f}, "
                    f"{aa_lift.high:+.4f}] contains 0: {int(aa_lift.contains(0.0))}",
                    flush=True,
                )
            return {
                "lift": lift.value,
                "lift_low": lift.low,
                "lift_high": lift.high,
                "true_lift": true_lift,
                "lift_ci_contains_truth": float(lift.contains(true_lift)),
                "aa_coverage": covered / max(args.aa_seeds, 1),
            }
        finally:
            suite.stop()


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
    print(summary_line(simulate_experiment(args, prepare(args))))
    return 0
