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

Each estimate carries its effective sample size (Σw)² / Σw² over the target's
importance weights and its largest weight. Under LOW_ESS (100) it is flagged:
a weighted mean then rests on the equivalent of fewer than 100 decisions, and
at the 5–15 % reward rates seen here that is under about five to fifteen
rewarded ones, which is where the bootstrap intervals are known to under-cover
(learning/bootstrap.py). An absolute count, not a share of n: a greedy target
on a uniform log of k candidates has ESS ≈ n / k whatever n, so a share would
flag a million decisions over 200 candidates (ESS 5,000) as readily as 500.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from learning.bootstrap import ratio_interval
from learning.dataset import BanditData

LOW_ESS = 100.0


@dataclass(frozen=True)
class Estimate:
    estimator: str
    value: float
    low: float
    high: float
    decisions: int
    ess: float  # effective sample size of the importance weights
    max_weight: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def low_ess(self) -> bool:
        return not self.ess >= LOW_ESS

    @property
    def computable(self) -> bool:
        """False when the data cannot give this estimate (no decisions, Σw = 0, one decision)."""
        return all(math.isfinite(x) for x in (self.value, self.low, self.high))

    def to_dict(self) -> dict:
        return {**self.__dict__, "low_ess": self.low_ess}


def effective_sample_size(weights: np.ndarray) -> float:
    squares = float(weights @ weights)
    return float(weights.sum()) ** 2 / squares if squares > 0 else 0.0


def _estimate(
    name: str, weights: np.ndarray, numerators: np.ndarray, denominators: np.ndarray | None = None
) -> Estimate:
    """Σ numerators / Σ denominators (the mean when None), with its bootstrap interval and the
    effective sample size of `weights`."""
    found = ratio_interval(numerators, denominators)
    largest = float(weights.max()) if weights.size else 0.0
    return Estimate(
        name,
        found.value,
        found.low,
        found.high,
        numerators.size,
        effective_sample_size(weights),
        largest,
    )


def importance_weights(data: BanditData, target: np.ndarray) -> np.ndarray:
    return target[data.starts + data.chosen] / data.propensity


def doubly_robust_terms(data: BanditData, target: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(n,) DR's per-decision terms; `predicted` (N,): r̂ for every logged candidate."""
    direct = np.add.reduceat(target * predicted, data.starts) if len(data) else np.zeros(0)
    logged = predicted[data.starts + data.chosen]
    return direct + importance_weights(data, target) * (data.reward - logged)


@dataclass(frozen=True)
class Terms:
    """One target's per-decision terms on a log, each (n,): every estimate is a ratio of them.

    Computed batch by batch and concatenated, they are the same arrays as on the whole log,
    so the estimates do not depend on how the log was read."""

    agreement: np.ndarray  # π(a_i|x_i)
    weights: np.ndarray  # π(a_i|x_i) / p_i
    reward: np.ndarray
    dr: np.ndarray

    @classmethod
    def of(cls, data: BanditData, target: np.ndarray, predicted: np.ndarray) -> Terms:
        agreement = target[data.starts + data.chosen]
        return cls(
            agreement,
            agreement / data.propensity,
            data.reward,
            doubly_robust_terms(data, target, predicted),
        )

    @classmethod
    def concatenate(cls, parts: list[Terms]) -> Terms:
        return cls(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in cls.__annotations__)
        )

    def estimates(self, uniform: bool) -> list[Estimate]:
        """Replay (only when the log explored uniformly), IPS, SNIPS and DR."""
        w, rewarded = self.weights, self.weights * self.reward
        found = (
            [_estimate("replay", w, self.agreement * self.reward, self.agreement)]
            if uniform
            else []
        )
        return [
            *found,
            _estimate("ips", w, rewarded),
            _estimate("snips", w, rewarded, w),
            _estimate("dr", w, self.dr),
        ]


def ips(data: BanditData, target: np.ndarray) -> Estimate:
    weights = importance_weights(data, target)
    return _estimate("ips", weights, weights * data.reward)


def snips(data: BanditData, target: np.ndarray) -> Estimate:
    weights = importance_weights(data, target)
    return _estimate("snips", weights, weights * data.reward, weights)


def doubly_robust(data: BanditData, target: np.ndarray, predicted: np.ndarray) -> Estimate:
    """`predicted` (N,): the reward model's r̂ for every logged candidate."""
    weights = importance_weights(data, target)
    return _estimate("dr", weights, doubly_robust_terms(data, target, predicted))


def is_uniform(data: BanditData) -> bool:
    return bool(len(data)) and bool(np.allclose(data.propensity, 1.0 / data.counts, rtol=1e-5))


def replay(data: BanditData, target: np.ndarray) -> Estimate | None:
    """None unless the log explored uniformly."""
    if not is_uniform(data):
        return None
    agreement = target[data.starts + data.chosen]
    weights = importance_weights(data, target)
    return _estimate("replay", weights, agreement * data.reward, agreement)


def estimate_all(data: BanditData, target: np.ndarray, predicted: np.ndarray) -> list[Estimate]:
    return Terms.of(data, target, predicted).estimates(is_uniform(data))


def logged_value(reward: np.ndarray) -> Estimate:
    """The logging policy's own mean reward (on-policy; every weight 1)."""
    return _estimate("logged", np.ones(reward.size), reward)
