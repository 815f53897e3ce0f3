"""The Poisson bootstrap of ratio statistics Σ a / Σ b, from partial sums that add across batches.

The multinomial bootstrap (learning/bootstrap.py) resamples n units from one
array, so it needs every unit's terms in one place. The Poisson bootstrap gives
each unit an independent Poisson(1) count per replicate instead (Hanley &
MacGibbon 2006; Chamandy et al. 2012), so each batch of units — a Spark
partition's — adds its own Σ count·a and Σ count·b per replicate, and the sums
of all batches are the replicates: memory is R × S floats whatever n. Counts
are drawn from a generator seeded by the run's seed and the batch's first unit
and size, so the same data in the same batches gives the same interval.

The interval is BCa, as the multinomial one: the bias from the replicates,
the acceleration from the skewness of the linearised influence a_i − R b_i
(R = Σ a / Σ b), which one pass of power sums gives (for a mean it is the
jackknife's skewness exactly; for a ratio its first-order term).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from learning.bootstrap import LEVEL, REPLICATES, Interval, bca_interval

_CHUNK = 2048  # units whose counts are drawn at once: R × 2048 floats
# Poisson(1) by table look-up of a 16-bit uniform: each count's probability to within 2⁻¹⁶.
_COUNTS = np.searchsorted(
    poisson.cdf(np.arange(32), 1.0) * 65536, np.arange(65536) + 0.5, side="right"
).astype(np.float64)
# Power sums Σ a^i b^j (i + j ≤ 3) kept per statistic, for the acceleration.
_POWERS = ((1, 0), (0, 1), (2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (0, 3))


@dataclass(frozen=True)
class RatioSums:
    """S ratio statistics' sums over some units: replicates (R, S) and power sums (9, S)."""

    units: int
    replicate_a: np.ndarray
    replicate_b: np.ndarray
    powers: np.ndarray

    def __add__(self, other: RatioSums) -> RatioSums:
        return RatioSums(
            self.units + other.units,
            self.replicate_a + other.replicate_a,
            self.replicate_b + other.replicate_b,
            self.powers + other.powers,
        )

    @classmethod
    def zero(cls, statistics: int, replicates: int = REPLICATES) -> RatioSums:
        shape = (replicates, statistics)
        return cls(0, np.zeros(shape), np.zeros(shape), np.zeros((len(_POWERS), statistics)))


def batch_seed(seed: int, first_unit: str, size: int) -> int:
    digest = hashlib.blake2b(f"{seed}/{first_unit}/{size}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def ratio_sums(a: np.ndarray, b: np.ndarray, seed: int, replicates: int = REPLICATES) -> RatioSums:
    """The sums of a batch's units: `a`, `b` (n, S) float64, one column per statistic."""
    rng = np.random.default_rng(seed)
    replicate_a = np.zeros((replicates, a.shape[1]))
    replicate_b = np.zeros((replicates, a.shape[1]))
    for first in range(0, a.shape[0], _CHUNK):
        rows = slice(first, first + _CHUNK)
        size = a[rows].shape[0]
        counts = _COUNTS[rng.integers(0, 65536, (replicates, size), dtype=np.uint16)]
        replicate_a += counts @ a[rows]
        replicate_b += counts @ b[rows]
    powers = np.stack([(a**i * b**j).sum(axis=0) for i, j in _POWERS])
    return RatioSums(a.shape[0], replicate_a, replicate_b, powers)


def interval(sums: RatioSums, statistic: int, level: float = LEVEL) -> Interval:
    """Σ a / Σ b of one statistic and its BCa interval from the Poisson replicates."""
    s1a, s1b, s2a, sab, s2b, s3a, s2ab, sa2b, s3b = sums.powers[:, statistic]
    if sums.units == 0 or s1b <= 0:
        return Interval(math.nan, -math.inf, math.inf)
    value = float(s1a / s1b)
    if sums.units < 2:
        return Interval(value, -math.inf, math.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        replicas = sums.replicate_a[:, statistic] / sums.replicate_b[:, statistic]
    r = value
    spread2 = s2a - 2 * r * sab + r * r * s2b  # Σ (a - R b)²
    spread3 = s3a - 3 * r * s2ab + 3 * r * r * sa2b - r**3 * s3b  # Σ (a - R b)³
    acceleration = float(spread3 / (6 * spread2**1.5)) if spread2 > 0 else 0.0
    return bca_interval(value, replicas[np.isfinite(replicas)], acceleration, level)
