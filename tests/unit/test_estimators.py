"""Off-policy estimators on logs whose answer is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from learning import targets
from learning.dataset import BanditData
from learning.estimators import (
    doubly_robust,
    estimate_all,
    importance_weights,
    ips,
    is_uniform,
    replay,
    snips,
)
from tests.unit.learning_data import epsilon_greedy_log, synthetic, true_value

K = 4


def exhaustive_log(contexts: int = 50) -> tuple[BanditData, np.ndarray, np.ndarray]:
    """Every (context, action) pair logged once, uniformly (p = 1/K), with a deterministic reward.

    On such a log IPS, SNIPS, DR (with any reward model) and replay equal the target's
    true value exactly: each action's reward enters with weight K·π(a|x) · 1/K.
    """
    data, _ = synthetic(contexts, K, seed=1)
    rng = np.random.default_rng(2)
    rewards = rng.integers(0, 2, contexts * K).astype(np.float64)  # r(x, a), deterministic
    repeated = np.repeat(np.arange(contexts), K)
    log = BanditData(
        data.viewer[repeated],
        data.context[repeated],
        np.concatenate([data.artwork[x * K : (x + 1) * K] for x in repeated]),
        np.full(contexts * K, K),
        np.tile(np.arange(K), contexts),
        np.full(contexts * K, 1.0 / K),
        rewards,
        np.zeros(contexts * K, np.int64),
    )
    target = rng.dirichlet(np.ones(K), contexts)  # a stochastic policy π(a|x)
    return log, np.repeat(target, K, axis=0).ravel(), rewards


def exact(log: BanditData, target: np.ndarray, rewards: np.ndarray) -> float:
    by_context = target.reshape(-1, K, K)[:, 0, :]  # π(·|x), the same on each of x's K rows
    return float((by_context * rewards.reshape(-1, K)).sum(axis=1).mean())


def test_estimators_equal_the_true_value_on_an_exhaustive_uniform_log() -> None:
    log, target, rewards = exhaustive_log()
    value = exact(log, target, rewards)
    # A deliberately wrong reward model, but a function of (x, a): the same on x's K copies.
    per_context = np.random.default_rng(3).random((log.counts.size // K, K))
    reward_model = np.repeat(per_context, K, axis=0).ravel()
    assert ips(log, target).value == pytest.approx(value, abs=1e-12)
    assert snips(log, target).value == pytest.approx(value, abs=1e-12)
    assert doubly_robust(log, target, reward_model).value == pytest.approx(value, abs=1e-12)
    replayed = replay(log, target)
    assert replayed is not None and replayed.value == pytest.approx(value, abs=1e-12)


def test_doubly_robust_with_the_true_reward_model_has_no_variance_from_the_log() -> None:
    data, truth = synthetic(2_000, K, seed=5, logging="epsilon")
    target = targets.catalog_default(data)
    estimate = doubly_robust(data, target, truth)
    assert estimate.covers(true_value(target, truth, data.counts))


@pytest.mark.parametrize("logging", ["uniform", "epsilon"])
def test_estimates_land_near_the_true_value_of_three_policies(logging: str) -> None:
    """Within 1.7 half-widths of the 95% interval (3.3 standard errors, a 99.9% interval):
    24 seeded checks of 95% intervals would each miss 1 time in 20 by design."""
    data, truth = synthetic(20_000, K, seed=7, logging=logging)
    predicted = targets.reward_predictions(data)
    optimal = targets.greedy(truth, data)
    for target in (targets.uniform(data), targets.catalog_default(data), optimal):
        value = true_value(target, truth, data.counts)
        for estimate in estimate_all(data, target, predicted):
            half = (estimate.high - estimate.low) / 2
            assert abs(estimate.value - value) <= 1.7 * half, (estimate, value)
            assert half < 0.05


def test_replay_is_only_defined_on_uniformly_explored_logs() -> None:
    uniform_log, _ = synthetic(100, K, seed=1)
    skewed_log, _ = synthetic(100, K, seed=1, logging="epsilon")
    assert is_uniform(uniform_log) and not is_uniform(skewed_log)
    assert replay(skewed_log, targets.uniform(skewed_log)) is None


TRIALS = 200


def misses(intervals: list[tuple[float, float]], truth: float) -> tuple[float, float]:
    """The shares of (low, high) intervals that miss the truth: it is below them; above them."""
    truth_below = sum(low > truth for low, _ in intervals) / len(intervals)
    truth_above = sum(high < truth for _, high in intervals) / len(intervals)
    return truth_below, truth_above


def normal_interval(terms: np.ndarray) -> tuple[float, float]:
    """The interval the estimators used before: mean ± 1.96 standard errors."""
    half = 1.959964 * terms.std(ddof=1) / np.sqrt(terms.size)
    return terms.mean() - half, terms.mean() + half


def test_intervals_cover_the_true_value_in_about_95_percent_of_logs() -> None:
    """200 logs from one known ε-greedy policy (ε = 0.3, the target agrees with its greedy
    choice half the time): each estimator's nominal 95% interval holds the true value in at
    least 90% of them (binomial noise of 200 trials is ±1.5 points)."""
    rng = np.random.default_rng(11)
    found: dict[str, list[tuple[float, float]]] = {"ips": [], "snips": [], "dr": []}
    for _ in range(TRIALS):
        data, target, reward_model = epsilon_greedy_log(rng, 1_000, K, 0.3, 0.5, 0.15)
        for estimate in (ips(data, target), snips(data, target)):
            found[estimate.estimator].append((estimate.low, estimate.high))
        estimate = doubly_robust(data, target, reward_model)
        found["dr"].append((estimate.low, estimate.high))
    for name, intervals in found.items():
        truth_below, truth_above = misses(intervals, 0.15)
        assert 1 - truth_below - truth_above >= 0.90, (name, truth_below, truth_above)


def test_a_heavy_tailed_log_the_normal_interval_under_covers_is_covered() -> None:
    """ε = 0.1 and a target that never picks the logging policy's greedy candidate: every
    decision it agrees with weighs k/ε = 40 and about four of 1,600 are rewarded. The truth is
    above the normal interval in more than 5% of logs, twice that side's share; the bootstrap
    interval holds it in 93% or more, above it in at most 3.5%, and is not much wider."""
    rng = np.random.default_rng(12)
    normal, bootstrap = [], []
    for _ in range(TRIALS):
        data, target, _ = epsilon_greedy_log(rng, 1_600, K, 0.1, 0.0, 0.1)
        estimate = ips(data, target)
        normal.append(normal_interval(importance_weights(data, target) * data.reward))
        bootstrap.append((estimate.low, estimate.high))
    assert misses(normal, 0.1)[1] > 0.05, misses(normal, 0.1)
    truth_below, truth_above = misses(bootstrap, 0.1)
    assert 1 - truth_below - truth_above >= 0.93 and truth_above <= 0.035, misses(bootstrap, 0.1)
    widths = [np.mean([high - low for low, high in found]) for found in (bootstrap, normal)]
    assert widths[0] < 1.25 * widths[1], widths
