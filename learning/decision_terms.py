"""One batch of decisions → every estimate's per-decision terms: what each engine sums.

`keyart evaluate` and `train`'s holdout check estimate S ratio statistics,
Σ a / Σ b over decisions: for every target policy replay, IPS, SNIPS and DR
(learning/estimators.py's terms), and the logged policy's own mean reward.
Any engine that gets a dataset's batches to this function and adds up what it
returns computes the same point estimates: numpy over learning/parquet_reader's
batches (learning/evaluation.py uses Terms itself), Spark over its partitions
(learning/spark_evaluate.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.model_contract import RecipeWeights
from learning import bilinear, targets
from learning.bootstrap import Interval
from learning.estimators import Estimate, Terms, is_uniform
from learning.evaluation import LOGGED, LeftOut, Report, why_not
from learning.parquet_reader import DecisionBatch
from learning.policy_probabilities import COLUMN_POLICY, PolicyFile, column_target


@dataclass(frozen=True)
class Policies:
    """The target policies of one evaluation, by name in report order."""

    random: bool = True  # uniform over each decision's candidates
    default: bool = True  # the catalog default: only on keyart's features (its quality slots)
    models: tuple[Path, ...] = ()  # ONNX models' greedy policies
    fitted: tuple[tuple[str, RecipeWeights], ...] = ()  # greedy policies of bilinear weights
    outside: PolicyFile | None = None  # an outside policy's probabilities by decision id
    column: bool = False  # the decisions' target_probabilities column, an outside policy

    def targets(self, batch: DecisionBatch) -> dict[str, np.ndarray]:
        """Policy name → its probabilities (N,) over the batch's candidates."""
        data = batch.data
        found = {"random": targets.uniform(data)} if self.random else {}
        if self.default:
            found["default"] = targets.catalog_default(data)
        for path in self.models:
            version, scores = targets.model_scores(path, data)
            found[f"{version} ({path.name})"] = targets.greedy(scores, data)
        for name, weights in self.fitted:
            found[name] = targets.greedy(bilinear.candidate_scores(weights, data), data)
        if self.outside is not None:
            found[self.outside.name] = self.outside.target(batch)
        if self.column:
            found[COLUMN_POLICY] = column_target(batch)
        return found


@dataclass(frozen=True)
class BatchTerms:
    labels: list[tuple[str, str]]  # (policy, estimator) of each column
    a: np.ndarray  # (n, S) numerators
    b: np.ndarray  # (n, S) denominators (1 for a mean)
    weights: np.ndarray  # (n, S) the column's importance weights (1 for the logged mean)
    uniform: bool  # the batch was logged uniformly (replay is defined)


def ratio_columns(terms: Terms) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Estimator → its (numerators, denominators): the ratios Terms.estimates takes."""
    ones = np.ones(terms.weights.size)
    rewarded = terms.weights * terms.reward
    return {
        "replay": (terms.agreement * terms.reward, terms.agreement),
        "ips": (rewarded, ones),
        "snips": (rewarded, terms.weights),
        "dr": (terms.dr, ones),
    }


def batch_terms(batch: DecisionBatch, policies: Policies, predicted: np.ndarray) -> BatchTerms:
    """`predicted`: DR's r̂ (N,) for every candidate (learning/reward_model.py). The columns
    are the ratios learning/estimators.Terms.estimates takes, so both engines share them."""
    data = batch.data
    labels, numerators, denominators, weights = [], [], [], []
    ones = np.ones(len(data))
    for name, target in policies.targets(batch).items():
        terms = Terms.of(data, target, predicted)
        for estimator, (a, b) in ratio_columns(terms).items():
            labels.append((name, estimator))
            numerators.append(a)
            denominators.append(b)
            weights.append(terms.weights)
    labels.append((LOGGED, "logged"))
    numerators.append(data.reward)
    denominators.append(ones)
    weights.append(ones)
    return BatchTerms(
        labels,
        np.stack(numerators, axis=1),
        np.stack(denominators, axis=1),
        np.stack(weights, axis=1),
        is_uniform(data),
    )


@dataclass(frozen=True)
class WeightSums:
    """Σw, Σw² and max w of each column: its effective sample size and largest weight."""

    total: np.ndarray  # (S,)
    squares: np.ndarray
    largest: np.ndarray

    @classmethod
    def of(cls, weights: np.ndarray) -> WeightSums:
        return cls(weights.sum(axis=0), (weights**2).sum(axis=0), weights.max(axis=0))

    def __add__(self, other: WeightSums) -> WeightSums:
        return WeightSums(
            self.total + other.total,
            self.squares + other.squares,
            np.maximum(self.largest, other.largest),
        )

    def ess(self, column: int) -> float:
        squares = float(self.squares[column])
        return float(self.total[column]) ** 2 / squares if squares > 0 else 0.0


def report(
    labels: list[tuple[str, str]],
    uniform: bool,
    decisions: int,
    interval_of: Callable[[int], Interval],
    weights: WeightSums,
) -> Report:
    """The estimates by policy, replay only when every batch was logged uniformly; an estimate
    the data cannot give (learning/estimators.Estimate.computable) is left out with its note."""
    found = Report(decisions)
    for column, (policy, estimator) in enumerate(labels):
        if estimator == "replay" and not uniform:
            continue
        at = interval_of(column)
        estimate = Estimate(
            estimator,
            at.value,
            at.low,
            at.high,
            decisions,
            weights.ess(column),
            float(weights.largest[column]),
        )
        if estimate.computable:
            found.policies.setdefault(policy, []).append(estimate)
        else:
            found.left_out.append(LeftOut(policy, estimator, why_not(estimate)))
    return found
