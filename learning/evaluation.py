"""Every target policy's estimates on a log read in batches, in memory bounded by the batch.

Two passes over the batches: the first draws the reward model's bounded sample
and fits it (learning/reward_model.py); the second computes, per batch, each
target's per-decision terms (learning/estimators.Terms: n-length arrays, never
the (N,) candidate arrays of the whole log), which are then concatenated and
estimated. So the memory is one batch's candidates plus a few floats a
decision per target, and the estimates are those of the whole log at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from learning import reward_model
from learning.estimators import Estimate, Terms, is_uniform, logged_value
from learning.parquet_reader import DecisionBatch

Target = Callable[[DecisionBatch], np.ndarray]  # a batch → its candidates' probabilities (N,)
LOGGED = "logged policy"


class EvaluationRefused(ValueError):
    """The log cannot be evaluated; the message says why, in one line."""


@dataclass(frozen=True)
class LeftOut:
    policy: str
    estimator: str | None  # None: every estimate of the policy
    reason: str

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class Report:
    decisions: int
    policies: dict[str, list[Estimate]] = field(default_factory=dict)
    left_out: list[LeftOut] = field(default_factory=list)


def evaluate_batches(
    batches: Callable[[], Iterable[DecisionBatch]],
    decisions: int,
    policies: dict[str, Target],
    left_out: list[LeftOut],
    seed: int = 0,
) -> Report:
    """`batches()` gives the log's `decisions` decisions in the same order each time it is called."""
    if decisions == 0:
        raise EvaluationRefused("the log holds no decisions")
    model = reward_model.fit((batch.data for batch in batches()), decisions, seed)
    terms: dict[str, list[Terms]] = {name: [] for name in policies}
    rewards: list[np.ndarray] = []
    uniform, first = True, 0
    for batch in batches():
        predicted = model.predict(batch.data, first)
        for name, target in policies.items():
            terms[name].append(Terms.of(batch.data, target(batch), predicted))
        rewards.append(batch.data.reward)
        uniform = uniform and is_uniform(batch.data)
        first += len(batch.data)
    if first != decisions:
        raise EvaluationRefused(f"read {first} decisions, not the {decisions} counted before")
    report = Report(decisions, left_out=list(left_out))
    for name, found in terms.items():
        estimates = Terms.concatenate(found).estimates(uniform)
        report.policies[name] = [e for e in estimates if e.computable]
        report.left_out.extend(
            LeftOut(name, e.estimator, why_not(e)) for e in estimates if not e.computable
        )
    report.policies[LOGGED] = [logged_value(np.concatenate(rewards))]
    return report


def why_not(estimate: Estimate) -> str:
    if estimate.decisions < 2:
        return "fewer than 2 decisions: no interval"
    return "the target never agrees with a logged choice (the weights sum to 0)"
