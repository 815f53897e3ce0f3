"""Off-policy estimators on logs whose answer is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from learning import targets
from learning.dataset import BanditData
from learning.estimators import doubly_robust, estimate_all, ips, is_uniform, replay, snips
from tests.unit.learning_data import synthetic, true_value

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
    assert replay(log, target).value == pytest.approx(value, abs=1e-12)


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
