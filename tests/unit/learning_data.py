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
        viewer, context, artwork, counts, chosen, probabilities[flat], reward,
        np.arange(decisions, dtype=np.int64),
    )
    return data, truth


def true_value(target: np.ndarray, truth: np.ndarray, counts: np.ndarray) -> float:
    """Exact expected reward of a target policy: mean over decisions of Σ_a π(a|x) P(r=1|x,a)."""
    starts = np.cumsum(counts) - counts
    return float(np.add.reduceat(target * truth, starts).mean())
