"""Ratios of sums over clusters, with 95 % intervals by the delta method.

A take rate is Σ plays / Σ impressions, and one viewer's impressions are
correlated (a viewer who likes the catalog plays more on every page), so the
units of the sample are the viewers, not the impressions. For clusters i with
totals y_i and sizes n_i, the ratio r = Σ y / Σ n has, to first order, the
variance

    m / (m − 1) · Σ (y_i − r · n_i)² / (Σ n)²        (m clusters)

which treats each cluster's residual as one independent draw whatever its
size. A per-impression binomial variance r (1 − r) / Σ n is too small as soon
as the viewers' own rates differ, and more so the more impressions each has
(docs/experiments.md#reading-the-result shows by how much).

The lift of a treatment over a control, r_T / r_C − 1, is estimated on the
log scale, where the two independent cells' relative variances add:
log(r_T / r_C) ± z · √((se_T / r_T)² + (se_C / r_C)²), mapped back. The
interval is asymmetric, as the sampling distribution of a ratio is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def ratio_and_error(totals: np.ndarray, sizes: np.ndarray) -> tuple[float, float]:
    """Σ totals / Σ sizes over clusters and its standard error (delta method)."""
    value = float(totals.sum() / max(sizes.sum(), 1.0))
    if totals.size < 2:
        return value, math.inf
    residuals = totals - value * sizes
    scale = math.sqrt(totals.size / (totals.size - 1)) / sizes.sum()
    return value, float(np.sqrt((residuals**2).sum()) * scale)


def take_rate(plays: np.ndarray, impressions: np.ndarray, z: float = Z95) -> Estimate:
    """Σ plays / Σ impressions, viewers as clusters; the interval clipped to [0, 1]."""
    value, error = ratio_and_error(plays, impressions)
    return Estimate(value, max(0.0, value - z * error), min(1.0, value + z * error))


def lift(
    treatment: tuple[np.ndarray, np.ndarray],
    control: tuple[np.ndarray, np.ndarray],
    z: float = Z95,
) -> Estimate:
    """r_T / r_C − 1 for (plays, impressions) per viewer of each cell; the interval is NaN
    when either cell has no plays (the log scale has no room for a rate of 0)."""
    rate_t, error_t = ratio_and_error(*treatment)
    rate_c, error_c = ratio_and_error(*control)
    if rate_c <= 0:
        return Estimate(math.nan, math.nan, math.nan)
    value = rate_t / rate_c - 1.0
    if rate_t <= 0:
        return Estimate(value, math.nan, math.nan)
    spread = z * math.hypot(error_t / rate_t, error_c / rate_c)
    centre = math.log(rate_t / rate_c)
    return Estimate(value, math.exp(centre - spread) - 1.0, math.exp(centre + spread) - 1.0)
