"""`keyart simulate`: the whole loop against the real four services, with a known truth.

Starts the suite (exploring ranker watching a models directory, gateway
logging impressions and feedback), seeds synthetic viewers' histories through
ReportEvent, then per round: renders pages through RenderPage, reports a
qualified play for each tile the hidden click model says was played, waits
for the logs, trains on everything logged so far, and lets the ranker hot-swap
the new model in.

Each round prints the *true* CTR (expected plays per impression under the
hidden model, so not sampled) of: uniform random, the catalog default, what
the suite served (exploration included), the serving model's greedy choice,
and the oracle. For each learned model it also checks that its offline
estimates (IPS, SNIPS, DR with 95% bootstrap intervals, computed on the
held-out newest logs before the model serves, from its model card) contain the
greedy CTR it then achieves online, on the next round's fresh pages. That CTR
is exact for those pages (no play sampling), but the pages are a sample: its
standard error over pages is printed, and each side of an interval is widened
in quadrature by its 95% half-width (two independent estimates of one value
are compared). Also printed, not checked: the model's exact greedy CTR on the
held-out pages themselves, which is what the intervals estimate; it differs
from the next round's CTR by another sample of pages and by the profiles'
moves in between.
The last line:

    summary: ctr_random=… ctr_default=… ctr_learned=… ctr_oracle=… oracle_lift=…
             ope_within_ci=…   (one line)

where ctr_learned is the last serving model's greedy CTR on the last round.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import numpy as np
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common.storage import Location
from gateway.stream_config import FILES, parse_nats_url
from learning import bilinear
from learning.clustered import Z95, ratio_and_error
from learning.dataset import candidate_matrix
from learning.sim_logs import CollectedLog, PageLog, SegmentLog
from learning.sim_world import Viewer, World
from learning.train import split, train
from services.ranker.model import RankingModel
from services.ranker.policy import Policy
from suite.client import PageClient
from suite.supervisor import Suite, SuiteConfig, local_suite_config

DEVICES = (pb.DEVICE_TYPE_TV, pb.DEVICE_TYPE_MOBILE, pb.DEVICE_TYPE_TABLET, pb.DEVICE_TYPE_WEB)
DAYS = tuple(pb.DayOfWeek.keys()[1:])  # Monday … Sunday, by name
BUDGET_MS = 5_000
WORKERS = 4
HOLDOUT = 0.2  # share of the newest decisions each training run holds out for its estimates


@dataclass
class Draws:
    """Plays drawn with the pages' seeded uniforms against the click model's probabilities."""

    expected: float = 0.0  # Σ p
    variance: float = 0.0  # Σ p (1 − p)
    drawn: int = 0

    def draw(self, probability: float, uniform: float) -> bool:
        self.expected += probability
        self.variance += probability * (1.0 - probability)
        played = uniform < probability
        self.drawn += played
        return played

    def add(self, other: Draws) -> None:
        self.expected += other.expected
        self.variance += other.variance
        self.drawn += other.drawn

    def deviations(self) -> float:
        """How many standard deviations the plays drawn fell from their expectation."""
        return (self.drawn - self.expected) / math.sqrt(max(self.variance, 1e-12))


@dataclass
class RoundTotals:
    impressions: int = 0
    plays: int = 0
    random: float = 0.0
    default: float = 0.0
    served: float = 0.0
    oracle: float = 0.0
    page_ids: set[str] = field(default_factory=set)
    model_versions: set[str] = field(default_factory=set)
    # By the experiment cell the gateway named ("" outside experiments): impressions, and the
    # plays of what was served (expected: the cell's true take rate; drawn: those reported)
    # and, with the same uniforms, of each title's default artwork instead.
    cell_impressions: Counter[str] = field(default_factory=Counter)
    cell_served: defaultdict[str, Draws] = field(default_factory=lambda: defaultdict(Draws))
    cell_default: defaultdict[str, Draws] = field(default_factory=lambda: defaultdict(Draws))

    def add(self, other: RoundTotals) -> None:
        for name in ("impressions", "plays", "random", "default", "served", "oracle"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.page_ids |= other.page_ids
        self.model_versions |= other.model_versions
        self.cell_impressions.update(other.cell_impressions)
        for cell, served in other.cell_served.items():
            self.cell_served[cell].add(served)
            self.cell_default[cell].add(other.cell_default[cell])

    def true_take_rate(self, cell: str) -> float:
        return self.cell_served[cell].expected / max(self.cell_impressions[cell], 1)

    def ctr(self, name: str) -> float:
        return getattr(self, name) / max(self.impressions, 1)


@dataclass(frozen=True)
class PageDraw:
    """One simulated visit: whose, on what, which titles; `rng` then draws each tile's play."""

    viewer: Viewer
    device: int
    titles: list[str]
    context: pb.Context
    rng: random.Random


def draw_page(world: World, seed: int, round_index: int, page_index: int, titles: int) -> PageDraw:
    """Page `page_index` of round `round_index`: the same draw on every run of `seed`."""
    rng = random.Random(f"{seed}-{round_index}-{page_index}")
    viewer = rng.choice(world.viewers)
    device = rng.choice(DEVICES)
    chosen = rng.sample(world.choosable, titles)
    context = pb.Context(
        device_type=device, local_hour=rng.randrange(24), day_of_week=DAYS[rng.randrange(7)]
    )
    return PageDraw(viewer, device, chosen, context, rng)


class Simulation:
    def __init__(
        self, args: argparse.Namespace, workdir: Path, gateway: str, artwork: str, log: PageLog
    ) -> None:
        self.args = args
        self.world = World(args.viewers, args.seed)
        self.log = log
        self.logs = workdir / "logs"  # the segment files (the files sink)
        self.models = workdir / "models"
        self.gateway = gateway
        self.artwork = artwork
        self.users = {viewer.user_id: viewer for viewer in self.world.viewers}

    def seed_histories(self, pool: ThreadPoolExecutor) -> None:
        start = datetime.now(UTC) - timedelta(days=14)

        def seed(index: int) -> None:
            viewer = self.world.viewers[index]
            rng = random.Random(f"{self.args.seed}-history-{index}")
            with PageClient(self.gateway, timeout_s=30) as client:
                for i, title in enumerate(self.world.history(viewer, self.args.history_plays, rng)):
                    client.report_event(
                        event_id=f"{viewer.user_id}-history-{i}",
                        user_id=viewer.user_id,
                        title_id=title,
                        kind=pb.EVENT_KIND_QUALIFIED_PLAY,
                        occurred_at=start + timedelta(hours=i),
                    )

        list(pool.map(seed, range(len(self.world.viewers))))

    def serve_pages(self, round_index: int, first: int, count: int) -> RoundTotals:
        totals = RoundTotals()
        with PageClient(self.gateway, timeout_s=30) as client:
            for page_index in range(first, first + count):
                draw = draw_page(
                    self.world, self.args.seed, round_index, page_index, self.args.titles_per_page
                )
                viewer, device, rng = draw.viewer, draw.device, draw.rng
                page = client.render_page(
                    viewer.user_id,
                    [("sim", draw.titles)],
                    budget_ms=BUDGET_MS,
                    context=draw.context,
                )
                totals.page_ids.add(page.page_id)
                totals.model_versions.add(page.model_version)
                for tile in page.rows[0].tiles:
                    truth = self.world.probabilities(viewer, tile.title_id, device)
                    served = truth[tile.artwork_id]
                    totals.impressions += 1
                    totals.served += served
                    default = truth[self.world.default_artwork(tile.title_id)]
                    totals.cell_impressions[page.cell] += 1
                    totals.random += sum(truth.values()) / len(truth)
                    totals.default += default
                    totals.oracle += max(truth.values())
                    uniform = rng.random()
                    totals.cell_default[page.cell].draw(default, uniform)
                    if totals.cell_served[page.cell].draw(served, uniform):
                        totals.plays += 1
                        client.report_event(
                            event_id=f"{page.page_id}-{tile.title_id}",
                            user_id=viewer.user_id,
                            title_id=tile.title_id,
                            artwork_id=tile.artwork_id,
                            page_id=page.page_id,
                            kind=pb.EVENT_KIND_QUALIFIED_PLAY,
                        )
        return totals

    def run_round(
        self, round_index: int, pool: ThreadPoolExecutor, impressions: int | None = None
    ) -> RoundTotals:
        """`impressions` (default --impressions) over pages drawn from the round's seed."""
        pages = (impressions or self.args.impressions) // self.args.titles_per_page
        share = -(-pages // WORKERS)
        jobs = [
            pool.submit(self.serve_pages, round_index, first, min(share, pages - first))
            for first in range(0, pages, share)
        ]
        totals = RoundTotals()
        for job in jobs:
            totals.add(job.result())
        return totals

    def wait_for_log(self, page_ids: set[str], timeout_s: float = 60.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if page_ids <= self.log.page_ids():
                return
            time.sleep(0.2)
        raise TimeoutError(f"not every page reached {self.log.source} in time")

    def greedy_ctr(self, model_path: Path, page_ids: set[str]) -> tuple[float, float]:
        """True CTR of the model's greedy choice on the logged pages `page_ids`, and its
        standard error over pages (the pages are a sample of the viewers' visits)."""
        model = RankingModel(model_path)
        matrices = self.log.matrices()
        totals, tiles = [], []
        for page in self.log.pages():
            if page.page_id not in page_ids:
                continue
            counts = np.array([len(tile.candidate_ids) for tile in page.tiles])
            artwork = np.concatenate([candidate_matrix(tile, matrices) for tile in page.tiles])
            scores = model.score(page.viewer_features[None], page.context_features[None], artwork)
            chosen = Policy().choose(scores, counts, page.page_id).indices
            viewer = self.users[page.user_id]
            device = pb.DeviceType.Value(page.context["device_type"])
            totals.append(
                sum(
                    self.world.probabilities(viewer, tile.title_id, device)[tile.candidate_ids[i]]
                    for tile, i in zip(page.tiles, chosen, strict=True)
                )
            )
            tiles.append(len(page.tiles))
        return ratio_and_error(np.array(totals), np.array(tiles, dtype=np.float64))

    def pages_between(self, first_ms: int, last_ms: int) -> set[str]:
        return {p.page_id for p in self.log.pages() if first_ms <= p.time_ms <= last_ms}

    def wait_for_swap(self, version: str, timeout_s: float = 60.0) -> None:
        end = time.monotonic() + timeout_s
        with PageClient(self.gateway) as client:
            while time.monotonic() < end:
                page = client.render_page(
                    self.world.viewers[0].user_id,
                    [("probe", self.world.choosable[:1])],
                    budget_ms=BUDGET_MS,
                )
                if page.model_version == version:
                    return
                time.sleep(0.2)
        raise TimeoutError(f"the ranker did not swap to {version} in time")


@contextlib.contextmanager
def collector_process(url: str, dataset: Path, log: IO[bytes]) -> Iterator[None]:
    """`keyart collect` reading `url` into `dataset`, committing every 0.2 s, until the end."""
    collector = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "collect", "--nats", url, "--dataset", str(dataset)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLLECT_FLUSH_S": "0.2"},
    )
    try:
        yield
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(60)


def publish(model: Path, models: Path) -> None:
    """`keyart model publish`: the model into the models location the rankers watch."""
    command = ["model", "publish", str(model), "--models", str(models), "--rule", "newest"]
    subprocess.run(
        [sys.executable, "-m", "cli.main", *command], check=True, stdout=subprocess.DEVNULL
    )


def build_bundled(path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "services.ranker.model_recipe", "--out", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def suite_config(args: argparse.Namespace, workdir: Path) -> SuiteConfig:
    models = workdir / "models"
    config = local_suite_config(workdir, models / "bundled.onnx")
    return replace(
        config,
        extra_env={
            **config.extra_env,
            "GATEWAY_LOG_DIR": str(workdir / "logs"),
            "GATEWAY_LOG_SINK": args.sink,
            "RANKER_MODEL_DIR": str(models),
            "RANKER_MODEL_POLL_S": "0.2",
            # Each round's model serves so that it is measured online, even when its
            # holdout estimate falls below the last round's (the default rule's refusal).
            "RANKER_MODEL_SWAP": "newest",
            "RANKER_EXPLORATION": "epsilon_greedy",
            "RANKER_EPSILON": str(args.epsilon),
            "RANKER_SEED": str(args.seed),
            "PROFILE_SYNCHRONOUS": "normal",
        },
    )


def _ope_line(card: dict, achieved: float, achieved_se: float) -> tuple[str, bool]:
    """Each estimate against the CTR achieved online; each side of its interval widened in
    quadrature by the online CTR's own 95% half-width."""
    parts, covered = [], True
    extra = Z95 * achieved_se
    for estimate in card["holdout_estimates"]:
        value, low, high = estimate["value"], estimate["low"], estimate["high"]
        lowest = value - math.hypot(value - low, extra)
        inside = lowest <= achieved <= value + math.hypot(high - value, extra)
        covered &= inside
        parts.append(
            f"{estimate['estimator']}={value:.4f} [{low:.4f}, {high:.4f}] "
            f"width={high - low:.4f}{'' if inside else ' MISS'}"
        )
    return "  offline estimates of this model: " + "  ".join(parts), covered


@contextlib.contextmanager
def running(
    args: argparse.Namespace, workdir: Path, config: SuiteConfig
) -> Iterator[tuple[Simulation, ThreadPoolExecutor]]:
    """The suite started with `config` (and with `--sink nats://…` the collector) and the
    viewers' histories seeded; stopped on the way out."""
    build_bundled(config.model_path)
    addresses = config.addresses
    with contextlib.ExitStack() as stack:
        service_log = stack.enter_context(open(workdir / "services.log", "wb"))
        pool = stack.enter_context(ThreadPoolExecutor(WORKERS))
        suite = Suite(config, service_log)
        suite.start()
        stack.callback(suite.stop)
        log: PageLog = SegmentLog(workdir / "logs", addresses["artwork"])
        if args.sink != FILES:
            stack.enter_context(collector_process(args.sink, workdir / "dataset", service_log))
            log = CollectedLog(Location.local(workdir / "dataset"))
        sim = Simulation(args, workdir, addresses["gateway"], addresses["artwork"], log)
        sim.seed_histories(pool)
        yield sim, pool


def simulate(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    config = suite_config(args, workdir)
    with running(args, workdir, config) as (sim, pool):
        serving, card, covered_all, checked = config.model_path, None, True, 0
        held_ctr = math.nan
        for round_index in range(args.rounds):
            started = time.monotonic()
            totals = sim.run_round(round_index, pool)
            sim.wait_for_log(totals.page_ids)
            greedy, greedy_se = sim.greedy_ctr(serving, totals.page_ids)
            print(
                f"round {round_index}: impressions={totals.impressions} plays={totals.plays} "
                f"model={','.join(sorted(totals.model_versions))} "
                f"ctr_random={totals.ctr('random'):.4f} "
                f"ctr_default={totals.ctr('default'):.4f} "
                f"ctr_serving={totals.ctr('served'):.4f} ctr_greedy={greedy:.4f} "
                f"ctr_oracle={totals.ctr('oracle'):.4f} ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
            if card is not None:
                line, covered = _ope_line(card, greedy, greedy_se)
                covered_all &= covered
                checked += 1
                print(line, flush=True)
                print(
                    f"  greedy CTR online {greedy:.4f} (standard error over pages "
                    f"{greedy_se:.4f}); on the held-out pages {held_ctr:.4f}",
                    flush=True,
                )
            if round_index + 1 < args.rounds:
                trained = sim.models / f"learned-round{round_index + 1}.onnx"
                if args.sink != FILES:  # published, as a models location is in production
                    trained = workdir / "candidates" / trained.name
                settings = bilinear.FitSettings(seed=args.seed)
                data = sim.log.training_data()
                card = train(data, trained, settings, HOLDOUT, sim.log.source)
                if args.sink != FILES:
                    publish(trained, sim.models)
                serving = trained
                sim.wait_for_swap(card["model_version"])
                held = split(data, HOLDOUT)[1]
                held_pages = sim.pages_between(int(held.time_ms.min()), int(held.time_ms.max()))
                held_ctr, _ = sim.greedy_ctr(serving, held_pages)
        random_ctr = totals.ctr("random")
        lift = (greedy - random_ctr) / max(totals.ctr("oracle") - random_ctr, 1e-9)
        return {
            "ctr_random": totals.ctr("random"),
            "ctr_default": totals.ctr("default"),
            "ctr_learned": greedy,
            "ctr_oracle": totals.ctr("oracle"),
            "oracle_lift": lift,
            "ope_within_ci": float(covered_all and checked > 0),
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--impressions", type=int, default=20_000, help="per round")
    parser.add_argument("--viewers", type=int, default=300)
    parser.add_argument("--titles-per-page", type=int, default=20)
    parser.add_argument("--history-plays", type=int, default=48, help="plays seeded per viewer")
    parser.add_argument("--epsilon", type=float, default=0.2, help="exploration while serving")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a new temporary dir")
    parser.add_argument(
        "--sink",
        default=FILES,
        help="files (the gateway's segments), or nats://host:port: the gateway logs to that "
        "JetStream, `keyart collect` writes the dataset, each model is published",
    )


def prepare(args: argparse.Namespace) -> Path:
    """The run's directory (--workdir or a new temporary one), said where it is."""
    # SIGTERM unwinds like Ctrl-C, so the suite is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="keyart-simulate-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"simulating in {workdir} (service logs: {workdir / 'services.log'})", flush=True)
    return workdir


def check_sink(args: argparse.Namespace) -> None:
    """ConfigError naming --sink unless it is `files` or nats://host:port."""
    if args.sink != FILES:
        parse_nats_url(args.sink, f"--sink {args.sink!r}: neither {FILES!r} nor nats://host:port")


def run(args: argparse.Namespace) -> int:
    check_sink(args)
    summary = simulate(args, prepare(args))
    print(
        "summary: "
        + " ".join(f"{k}={v:.4f}" for k, v in summary.items() if k != "ope_within_ci")
        + f" ope_within_ci={int(summary['ope_within_ci'])}"
    )
    return 0
