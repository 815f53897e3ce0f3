"""A/A coverage of the report's lift interval on the simulator's own data, over many experiments.

`keyart simulate --experiment` serves 20 A/A experiments through the suite; each
is fixed by the seed and made again here exactly, without the suite
(learning/aa_replay.py), so that --reads of them can be scored: the share whose
95 % lift interval holds 0, for the report's interval (delta method clustered by
viewer) and, for comparison, a viewer-level percentile bootstrap (each cell's
viewers resampled with replacement, --resamples times). Reads 0–19 are the
suite's; every 20 consecutive reads are scored as one run of the check "at
least 18 of 20". Last line:
`summary: reads=… delta_coverage=… bootstrap_coverage=… runs_of_20_passing=… …`.

    python -m bench.aa_coverage [--seed 0 --reads 2000 --resamples 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from learning.aa_replay import AAReplay, Cell
from learning.clustered import Estimate
from learning.sim_world import World

LEVEL = 0.95
RUN = 20  # A/A experiments in one `keyart simulate --experiment`
PASSING = 18  # the check: at least this many of RUN hold 0


def bootstrap_lift(
    read_control: Cell, read_treatment: Cell, resamples: int, rng: np.random.Generator
) -> Estimate:
    """The percentile interval of the lift over viewer resamples of each cell."""

    def rates(cell: Cell) -> np.ndarray:
        plays, impressions = cell
        weights = rng.multinomial(plays.size, np.full(plays.size, 1 / plays.size), resamples)
        return (weights @ plays) / (weights @ impressions)

    lifts = rates(read_treatment) / rates(read_control) - 1.0
    low, high = np.quantile(lifts, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    value = read_treatment[0].sum() / read_treatment[1].sum()
    value /= read_control[0].sum() / read_control[1].sum()
    return Estimate(float(value - 1.0), float(low), float(high))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="the simulator's --seed")
    parser.add_argument("--viewers", type=int, default=300, help="the simulator's --viewers")
    parser.add_argument("--titles-per-page", type=int, default=20)
    parser.add_argument("--aa-impressions", type=int, default=10_000, help="per A/A experiment")
    parser.add_argument("--reads", type=int, default=2000, help="A/A experiments scored")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples a cell")
    args = parser.parse_args()
    started = time.monotonic()
    replay = AAReplay(World(args.viewers, args.seed), args.seed, args.titles_per_page)
    pages = args.aa_impressions // args.titles_per_page
    rng = np.random.default_rng(args.seed)
    delta, bootstrap, widths = [], [], []
    for aa_seed in range(args.reads):
        read = replay.read(aa_seed, pages)
        by_delta = read.lift()
        by_bootstrap = bootstrap_lift(read.control, read.treatment, args.resamples, rng)
        delta.append(by_delta.contains(0.0))
        bootstrap.append(by_bootstrap.contains(0.0))
        widths.append((by_delta.high - by_delta.low, by_bootstrap.high - by_bootstrap.low))
        if aa_seed < RUN:
            print(
                f"A/A {aa_seed}: lift {by_delta.value:+.4f} [{by_delta.low:+.4f}, "
                f"{by_delta.high:+.4f}] contains 0: {int(by_delta.contains(0.0))}; bootstrap "
                f"[{by_bootstrap.low:+.4f}, {by_bootstrap.high:+.4f}]",
                flush=True,
            )
    held = np.array(delta, dtype=float)
    runs = held[: held.size // RUN * RUN].reshape(-1, RUN).sum(axis=1)
    width = np.array(widths).mean(axis=0)
    coverage = held.mean()
    print(
        f"{args.reads} reads of {pages} pages in {time.monotonic() - started:.0f} s; "
        f"delta-method coverage {coverage:.4f} (standard error "
        f"{np.sqrt(coverage * (1 - coverage) / held.size):.4f}); runs of {RUN} with at least "
        f"{PASSING} covered: {int((runs >= PASSING).sum())} of {runs.size}"
    )
    print(
        f"summary: reads={args.reads} delta_coverage={coverage:.4f} "
        f"bootstrap_coverage={np.mean(bootstrap):.4f} "
        f"runs_of_20_passing={np.mean(runs >= PASSING) if runs.size else float('nan'):.3f} "
        f"first_run_covered={int(held[:RUN].sum())} "
        f"width_delta={width[0]:.4f} width_bootstrap={width[1]:.4f}"
    )


if __name__ == "__main__":
    main()
