"""Synthetic bandit logs whose true values are known, shared by the learning tests."""

from __future__ import annotations

import numpy as np

from common.features import ARTWORK_DIM, CONTEXT_DIM, VIEWER_DIM
from learning.dataset import BanditData


def synthetic(
    decisions: int, k: int, seed: int, logging: str = "uniform"
) -> tuple[BanditData, np.ndarray]:
    """A log and the true reward probability (N,) of every candidate.

    Reward probability is sigmoid(2·(viewer ⊙ artwork taste match) − 2 + quality); the logging
    policy is uniform, or ε-greedy (ε = 0.5) on quality alone.
    """
    rng = np.random.default_rng(seed)
    viewer = (rng.random((decisions, VIEWER_DIM)) < 0.1).astype(np.float32)
    context = np.zeros((decisions, CONTEXT_DIM), np.float32)
    context[:, 1] = 1.0
    artwork = np.zeros((decisions * k, ARTWORK_DIM), np.float32)
    artwork[np.arange(decisions * k), rng.integers(0, VIEWER_DIM, decisions * k)] = 1.0
    artwork[:, VIEWER_DIM:] = rng.random((decisions * k, 2))
    owner = np.repeat(np.arange(decisions), k)
    match = (viewer[owner] * artwork[:, :VIEWER_DIM]).sum(axis=1)
    truth = 1.0 / (1.0 + np.exp(-(4.0 * match - 2.5 + artwork[:, VIEWER_DIM])))
    counts = np.full(decisions, k)
    if logging == "uniform":
        probabilities = np.full(decisions * k, 1.0 / k)
    else:
        best = artwork[:, VIEWER_DIM].reshape(decisions, k).argmax(axis=1)
        probabilities = np.full((decisions, k), 0.5 / k)
        probabilities[np.arange(decisions), best] += 0.5
        probabilities = probabilities.ravel()
    chosen = np.array(
        [rng.choice(k, p=probabilities[i * k : (i + 1) * k]) for i in range(decisions)]
    )
    flat = np.arange(decisions) * k + chosen
    reward = (rng.random(decisions) < truth[flat]).astype(np.float64)
    data = BanditData(
        viewer,
        context,
        artwork,
        counts,
        chosen,
        probabilities[flat],
        reward,
        np.arange(decisions, dtype=np.int64),
    )
    return data, truth


def true_value(target: np.ndarray, truth: np.ndarray, counts: np.ndarray) -> float:
    """Exact expected reward of a target policy: mean over decisions of Σ_a π(a|x) P(r=1|x,a)."""
    starts = np.cumsum(counts) - counts
    return float(np.add.reduceat(target * truth, starts).mean())


def epsilon_greedy_log(
    rng: np.random.Generator, decisions: int, k: int, epsilon: float, agree: float, base: float
) -> tuple[BanditData, np.ndarray, np.ndarray]:
    """A log of ε-greedy choices, a deterministic target policy, and a reward model; the
    target's true value is exactly `base`.

    Each decision's reward probabilities are drawn uniform on [0, 2·base], independently of
    the logging policy's greedy candidate and of the target's, so the target's expected reward
    is `base`. The target picks the logging policy's greedy candidate with probability `agree`,
    else another one, which only ε/k of the traffic explores: its weight is then k/ε.
    Returns (log, target probabilities (N,), reward model r̂ (N,): half right, half constant).
    """
    rows = np.arange(decisions)
    reward_probability = rng.random((decisions, k)) * 2 * base
    greedy = rng.integers(0, k, decisions)
    other = (greedy + rng.integers(1, k, decisions)) % k
    target_choice = np.where(rng.random(decisions) < agree, greedy, other)
    logging = np.full((decisions, k), epsilon / k)
    logging[rows, greedy] += 1 - epsilon
    passed = logging.cumsum(axis=1) <= rng.random(decisions)[:, None]
    chosen = np.minimum(passed.sum(axis=1), k - 1)
    reward = (rng.random(decisions) < reward_probability[rows, chosen]).astype(np.float64)
    target = np.zeros((decisions, k))
    target[rows, target_choice] = 1.0
    data = BanditData(
        np.zeros((decisions, VIEWER_DIM), np.float32),
        np.zeros((decisions, CONTEXT_DIM), np.float32),
        np.zeros((decisions * k, ARTWORK_DIM), np.float32),
        np.full(decisions, k),
        chosen,
        logging[rows, chosen],
        reward,
        np.zeros(decisions, np.int64),
    )
    return data, target.ravel(), (0.5 * reward_probability + 0.5 * base).ravel()
