"""One batch of decisions → every estimate's per-decision terms: what each engine sums.

`keyart evaluate` and `train`'s holdout check estimate S ratio statistics,
Σ a / Σ b over decisions: for every target policy replay, IPS, SNIPS and DR
(learning/estimators.py's terms), and the logged policy's own mean reward.
Any engine that gets a dataset's batches to this function and adds up what it
returns computes the same point estimates: numpy over learning/parquet_reader's
batches (learning/numpy_engine.py), Spark over its partitions
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
from learning.dataset import BanditData
from learning.estimators import (
    Estimate,
    dr_terms,
    ips_terms,
    is_uniform,
    replay_terms,
    snips_terms,
)

LOGGED = ("logged policy", "logged")
PER_POLICY = ("replay", "ips", "snips", "dr")

Report = dict[str, list[Estimate]]


@dataclass(frozen=True)
class Policies:
    """The target policies of one evaluation, by name in report order."""

    random: bool = True  # uniform over each decision's candidates
    default: bool = True  # the catalog default: only on keyart's features (its quality slots)
    models: tuple[Path, ...] = ()  # ONNX models' greedy policies
    fitted: tuple[tuple[str, RecipeWeights], ...] = ()  # greedy policies of bilinear weights

    def targets(self, data: BanditData) -> dict[str, np.ndarray]:
        """Policy name → its probabilities (N,) over `data`'s candidates."""
        found = {"random": targets.uniform(data)} if self.random else {}
        if self.default:
            found["default"] = targets.catalog_default(data)
        for path in self.models:
            version, scores = targets.model_scores(path, data)
            found[f"{version} ({path.name})"] = targets.greedy(scores, data)
        for name, weights in self.fitted:
            found[name] = targets.greedy(bilinear.candidate_scores(weights, data), data)
        return found


@dataclass(frozen=True)
class Terms:
    labels: list[tuple[str, str]]  # (policy, estimator) of each column
    a: np.ndarray  # (n, S) numerators
    b: np.ndarray  # (n, S) denominators (1 for a mean)
    uniform: bool  # the batch was logged uniformly (replay is defined)


def batch_terms(data: BanditData, policies: Policies, predicted: np.ndarray) -> Terms:
    """`predicted`: DR's r̂ (N,) for every candidate (learning/reward_model.py)."""
    labels, numerators, denominators = [], [], []
    ones = np.ones(len(data))
    for name, target in policies.targets(data).items():
        for estimator, (a, b) in zip(
            PER_POLICY,
            (
                replay_terms(data, target),
                ips_terms(data, target),
                snips_terms(data, target),
                dr_terms(data, target, predicted),
            ),
            strict=True,
        ):
            labels.append((name, estimator))
            numerators.append(a)
            denominators.append(ones if b is None else b)
    labels.append(LOGGED)
    numerators.append(data.reward)
    denominators.append(ones)
    return Terms(
        labels, np.stack(numerators, axis=1), np.stack(denominators, axis=1), is_uniform(data)
    )


def report(
    labels: list[tuple[str, str]],
    uniform: bool,
    decisions: int,
    interval_of: Callable[[int], Interval],
) -> Report:
    """The estimates by policy, replay only when every batch was logged uniformly."""
    found: Report = {}
    for column, (policy, estimator) in enumerate(labels):
        if estimator == "replay" and not uniform:
            continue
        at = interval_of(column)
        found.setdefault(policy, []).append(
            Estimate(estimator, at.value, at.low, at.high, decisions)
        )
    return found
