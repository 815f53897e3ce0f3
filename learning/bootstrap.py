"""BCa bootstrap intervals for ratio statistics Σ a / Σ b over independent units.

Every off-policy estimator here is such a ratio: IPS and DR are means (b = 1),
SNIPS and replay divide by the summed weights. Their per-decision terms are
heavy-tailed (a rare explored decision the target agrees with carries a weight
of k/ε), so the sampling distribution is skewed and the normal approximation
under-covers. BCa (Efron 1987) moves the percentiles of the bootstrap
distribution by its median bias z0 and by the skewness of the jackknife
influence values (the acceleration), which is what a rare heavy term causes.

What no resampling interval can do: show mass it never observed. When the
target's value rests on only a handful of rewarded heavy-weight decisions
(fewer than about five), every interval, this one included, is too narrow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

REPLICATES = 1000
LEVEL = 0.95
_CHUNK_CELLS = 1 << 21  # indices drawn per chunk: bounds memory whatever n


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


def ratio_interval(
    numerators: np.ndarray,
    denominators: np.ndarray | None = None,
    *,
    level: float = LEVEL,
    replicates: int = REPLICATES,
    seed: int = 0,
) -> Interval:
    """Σ a / Σ b (b = 1 when None) and its BCa interval, resampling the n units with replacement.

    Seeded, so the same input gives the same interval; replicates whose Σ b is 0 are dropped.
    """
    a = np.asarray(numerators, dtype=np.float64)
    b = None if denominators is None else np.asarray(denominators, dtype=np.float64)
    n = a.size
    total_b = float(n if b is None else b.sum())
    if n == 0 or total_b <= 0:
        return Interval(math.nan, -math.inf, math.inf)
    value = float(a.sum()) / total_b
    if n < 2:
        return Interval(value, -math.inf, math.inf)
    replicas = _replicates(a, b, replicates, seed)
    return bca_interval(value, replicas, _acceleration(a, b), level)


def bca_interval(value: float, replicas: np.ndarray, acceleration: float, level: float) -> Interval:
    """The BCa interval of `value` from its bootstrap `replicas` (finite) and acceleration."""
    if replicas.size == 0:
        return Interval(value, -math.inf, math.inf)
    if np.ptp(replicas) == 0:
        return Interval(value, value, value)
    below = np.count_nonzero(replicas < value) + 0.5 * np.count_nonzero(replicas == value)
    edge = 0.5 / replicas.size
    bias = norm.ppf(np.clip(below / replicas.size, edge, 1 - edge))
    tails = norm.ppf([(1 - level) / 2, (1 + level) / 2])
    shifted = bias + tails
    quantiles = norm.cdf(bias + shifted / (1 - acceleration * shifted))
    low, high = np.quantile(replicas, quantiles)
    return Interval(value, float(low), float(high))


def _acceleration(a: np.ndarray, b: np.ndarray | None) -> float:
    """BCa's acceleration: the skewness of the jackknife values (unit i left out of both sums,
    in closed form) over 6."""
    left = a.size - 1.0 if b is None else b.sum() - b
    with np.errstate(divide="ignore", invalid="ignore"):
        jackknife = (a.sum() - a) / left
    jackknife = jackknife[np.isfinite(jackknife)]
    spread = jackknife.mean() - jackknife
    squares = float((spread**2).sum())
    return float((spread**3).sum()) / (6 * squares**1.5) if squares > 0 else 0.0


def _replicates(a: np.ndarray, b: np.ndarray | None, replicates: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = a.size
    chunk = max(1, _CHUNK_CELLS // n)
    out = []
    for first in range(0, replicates, chunk):
        picks = rng.integers(0, n, (min(chunk, replicates - first), n))
        totals = n if b is None else b[picks].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(a[picks].sum(axis=1) / totals)
    replicas = np.concatenate(out)
    return replicas[np.isfinite(replicas)]
