"""Off-policy estimates of a target policy's mean reward from logged decisions, with 95% CIs.

A target policy is given as its probability (N,) of choosing each logged
candidate (each decision's probabilities sum to 1). With w_i = π(a_i|x_i) / p_i
(the logged choice's target probability over its propensity):

- IPS:    mean(w r);                  unbiased when every p_i > 0 where π > 0.
- SNIPS:  Σ w r / Σ w;                slightly biased, much lower variance.
- DR:     mean(Σ_a π(a|x) r̂(x,a) + w (r - r̂(x,a_i))); unbiased if either the
          propensities or the reward model r̂ are right.
- replay: for logs explored uniformly (p_i = 1/k_i): the reward of the logged
          decisions the target agrees with, weighted by π(a_i|x_i) (Li et al.);
          on other logs it is not defined.

Intervals are normal approximations (mean ± 1.96 standard errors of the
per-decision terms; the delta method for the ratio estimators).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from learning.dataset import BanditData

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    estimator: str
    value: float
    low: float
    high: float
    decisions: int

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def _mean(name: str, terms: np.ndarray) -> Estimate:
    n = terms.size
    value = float(terms.mean()) if n else math.nan
    half = Z95 * float(terms.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return Estimate(name, value, value - half, value + half, n)


def _ratio(name: str, weights: np.ndarray, rewards: np.ndarray) -> Estimate:
    n = weights.size
    total = float(weights.sum())
    if n == 0 or total <= 0:
        return Estimate(name, math.nan, -math.inf, math.inf, n)
    value = float((weights * rewards).sum()) / total
    influence = weights * (rewards - value) / (total / n)
    half = Z95 * float(influence.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return Estimate(name, value, value - half, value + half, n)


def importance_weights(data: BanditData, target: np.ndarray) -> np.ndarray:
    return target[data.starts + data.chosen] / data.propensity


def ips(data: BanditData, target: np.ndarray) -> Estimate:
    return _mean("ips", importance_weights(data, target) * data.reward)


def snips(data: BanditData, target: np.ndarray) -> Estimate:
    return _ratio("snips", importance_weights(data, target), data.reward)


def doubly_robust(data: BanditData, target: np.ndarray, predicted: np.ndarray) -> Estimate:
    """`predicted` (N,): the reward model's r̂ for every logged candidate."""
    direct = np.add.reduceat(target * predicted, data.starts) if len(data) else np.zeros(0)
    logged = predicted[data.starts + data.chosen]
    correction = importance_weights(data, target) * (data.reward - logged)
    return _mean("dr", direct + correction)


def is_uniform(data: BanditData) -> bool:
    return bool(len(data)) and bool(np.allclose(data.propensity, 1.0 / data.counts, rtol=1e-5))


def replay(data: BanditData, target: np.ndarray) -> Estimate | None:
    """None unless the log explored uniformly."""
    if not is_uniform(data):
        return None
    return _ratio("replay", target[data.starts + data.chosen], data.reward)


def estimate_all(data: BanditData, target: np.ndarray, predicted: np.ndarray) -> list[Estimate]:
    found = [replay(data, target), ips(data, target), snips(data, target)]
    found.append(doubly_robust(data, target, predicted))
    return [estimate for estimate in found if estimate is not None]


def logged_value(data: BanditData) -> Estimate:
    """The logging policy's own mean reward (on-policy)."""
    return _mean("logged", data.reward)
