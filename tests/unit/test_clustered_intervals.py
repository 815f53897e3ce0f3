"""The report's intervals cover the truth about 95 % of the time on clustered data, where
per-impression intervals do not.

Synthetic experiments: each viewer has their own take rate p = 0.5 · Beta(1, 4) (mean 0.1,
from 0 to 0.5) and 1 + Poisson(30) impressions, independent of p; treatment multiplies
every viewer's rate by 1.2. So the true take rates are 0.1 and 0.12 and the true lift is
exactly 0.2, while a viewer's impressions are correlated through their own p.
Run with -s to see the coverage printed.
"""

from __future__ import annotations

import math

import numpy as np

from learning.clustered import Z95, Estimate, lift, take_rate

EXPERIMENTS = 2000
VIEWERS = 200  # per cell
MEAN_IMPRESSIONS = 30
TRUE_RATE = 0.1
TRUE_LIFT = 0.2


def cell(rng: np.random.Generator, multiplier: float) -> tuple[np.ndarray, np.ndarray]:
    rates = 0.5 * rng.beta(1.0, 4.0, VIEWERS) * multiplier
    impressions = 1 + rng.poisson(MEAN_IMPRESSIONS, VIEWERS)
    return rng.binomial(impressions, rates).astype(float), impressions.astype(float)


def naive_rate(plays: np.ndarray, impressions: np.ndarray) -> tuple[float, float]:
    """The take rate and its binomial standard error, as if impressions were independent."""
    rate = plays.sum() / impressions.sum()
    return rate, math.sqrt(rate * (1 - rate) / impressions.sum())


def naive_lift(treatment: tuple, control: tuple) -> Estimate:
    (rate_t, se_t), (rate_c, se_c) = naive_rate(*treatment), naive_rate(*control)
    spread = Z95 * math.hypot(se_t / rate_t, se_c / rate_c)
    centre = math.log(rate_t / rate_c)
    return Estimate(
        rate_t / rate_c - 1, math.exp(centre - spread) - 1, math.exp(centre + spread) - 1
    )


def test_the_clustered_intervals_cover_and_per_impression_ones_do_not() -> None:
    rng = np.random.default_rng(19)
    covered = {"lift": 0, "take_rate": 0, "naive_lift": 0, "naive_take_rate": 0}
    for _ in range(EXPERIMENTS):
        control, treatment = cell(rng, 1.0), cell(rng, 1 + TRUE_LIFT)
        covered["lift"] += lift(treatment, control).contains(TRUE_LIFT)
        covered["take_rate"] += take_rate(*control).contains(TRUE_RATE)
        covered["naive_lift"] += naive_lift(treatment, control).contains(TRUE_LIFT)
        rate, error = naive_rate(*control)
        covered["naive_take_rate"] += abs(rate - TRUE_RATE) <= Z95 * error
    coverage = {name: hits / EXPERIMENTS for name, hits in covered.items()}
    print(
        f"coverage over {EXPERIMENTS} experiments of {VIEWERS} viewers a cell: "
        + " ".join(f"{name}={value:.3f}" for name, value in coverage.items())
    )
    assert 0.92 <= coverage["lift"] <= 0.98
    assert 0.92 <= coverage["take_rate"] <= 0.98
    assert coverage["naive_lift"] < 0.85  # too narrow: it takes 6,200 impressions as independent
    assert coverage["naive_take_rate"] < 0.85
