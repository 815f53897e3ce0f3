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

Intervals are BCa bootstrap intervals over decisions (learning/bootstrap.py,
seeded): the per-decision terms are heavy-tailed, and the normal approximation
they replace was too narrow when the value rested on a few rewarded
exploratory decisions. Decisions are resampled as independent units; on the
simulator's logs resampling whole pages instead gave the same widths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from learning.bootstrap import ratio_interval
from learning.dataset import BanditData


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


def _estimate(
    name: str, numerators: np.ndarray, denominators: np.ndarray | None = None
) -> Estimate:
    """Σ numerators / Σ denominators (the mean when None), with its bootstrap interval."""
    found = ratio_interval(numerators, denominators)
    return Estimate(name, found.value, found.low, found.high, numerators.size)


Terms = tuple[np.ndarray, np.ndarray | None]  # per-decision (numerators, denominators or None)


def importance_weights(data: BanditData, target: np.ndarray) -> np.ndarray:
    return target[data.starts + data.chosen] / data.propensity


def ips_terms(data: BanditData, target: np.ndarray) -> Terms:
    return importance_weights(data, target) * data.reward, None


def snips_terms(data: BanditData, target: np.ndarray) -> Terms:
    weights = importance_weights(data, target)
    return weights * data.reward, weights


def dr_terms(data: BanditData, target: np.ndarray, predicted: np.ndarray) -> Terms:
    """`predicted` (N,): the reward model's r̂ for every logged candidate."""
    direct = np.add.reduceat(target * predicted, data.starts) if len(data) else np.zeros(0)
    logged = predicted[data.starts + data.chosen]
    correction = importance_weights(data, target) * (data.reward - logged)
    return direct + correction, None


def replay_terms(data: BanditData, target: np.ndarray) -> Terms:
    agreement = target[data.starts + data.chosen]
    return agreement * data.reward, agreement


def ips(data: BanditData, target: np.ndarray) -> Estimate:
    return _estimate("ips", *ips_terms(data, target))


def snips(data: BanditData, target: np.ndarray) -> Estimate:
    return _estimate("snips", *snips_terms(data, target))


def doubly_robust(data: BanditData, target: np.ndarray, predicted: np.ndarray) -> Estimate:
    return _estimate("dr", *dr_terms(data, target, predicted))


def is_uniform(data: BanditData) -> bool:
    return bool(len(data)) and bool(np.allclose(data.propensity, 1.0 / data.counts, rtol=1e-5))


def replay(data: BanditData, target: np.ndarray) -> Estimate | None:
    """None unless the log explored uniformly."""
    if not is_uniform(data):
        return None
    return _estimate("replay", *replay_terms(data, target))


def estimate_all(data: BanditData, target: np.ndarray, predicted: np.ndarray) -> list[Estimate]:
    found = [replay(data, target), ips(data, target), snips(data, target)]
    found.append(doubly_robust(data, target, predicted))
    return [estimate for estimate in found if estimate is not None]


def logged_value(data: BanditData) -> Estimate:
    """The logging policy's own mean reward (on-policy)."""
    return _estimate("logged", data.reward)
