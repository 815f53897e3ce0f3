"""Choosing one candidate per title from the model's scores: greedy or epsilon-greedy.

Candidates arrive as one flat score vector grouped by title (`candidate_counts`
consecutive scores per title). Everything is segment-wise numpy over the flat
vector, O(N) in time and memory whatever the group sizes: padding to a
[titles, max_k] matrix would let one huge group blow a page up quadratically.

Each decision's propensity is the exact probability the policy gave the chosen
candidate, which is what offline evaluation (IPS, SNIPS, DR) divides by. The
random draws come from the configured seed and the page id, so a logged
decision can be replayed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class Decisions(NamedTuple):
    """Per title: chosen index within its group, that candidate's score, its propensity."""

    indices: np.ndarray  # (T,) int64
    scores: np.ndarray  # (T,) float32
    propensities: np.ndarray  # (T,) float64


@dataclass(frozen=True)
class _Groups:
    counts: np.ndarray  # (T,) candidates per title
    starts: np.ndarray  # (T,) flat index of each title's first candidate
    local: np.ndarray  # (N,) each candidate's index within its title
    best: np.ndarray  # (T,) index within the title of the highest score, lowest on ties


def _groups(scores: np.ndarray, candidate_counts: np.ndarray) -> _Groups:
    counts = np.asarray(candidate_counts, dtype=np.int64)
    if counts.ndim != 1 or scores.ndim != 1:
        raise ValueError("scores and candidate_counts must be 1-D")
    if counts.size and counts.min() < 1:
        raise ValueError("every title needs at least one candidate")
    if counts.sum() != scores.size:
        raise ValueError(f"candidate_counts sum to {counts.sum()}, not {scores.size} scores")
    starts = np.cumsum(counts) - counts
    local = np.arange(scores.size) - np.repeat(starts, counts)
    ranked = np.where(np.isnan(scores), -np.inf, scores)  # a NaN score never wins
    at_max = ranked == np.repeat(np.maximum.reduceat(ranked, starts), counts)
    first_at_max = np.where(at_max, local, np.iinfo(np.int64).max)
    return _Groups(counts, starts, local, np.minimum.reduceat(first_at_max, starts))


def _page_seed(seed: int, page_id: str) -> list[int]:
    """Entropy for a page's draws: the configured seed and a stable hash of the page id."""
    digest = hashlib.blake2b(page_id.encode(), digest_size=8).digest()
    return [seed, int.from_bytes(digest, "little")]


@dataclass(frozen=True)
class Policy:
    """Epsilon-greedy over each title's candidates; epsilon = 0 is greedy."""

    epsilon: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon {self.epsilon} is not in [0, 1]")
        if self.seed < 0:
            raise ValueError(f"seed {self.seed} is negative")

    def choose(self, scores: np.ndarray, candidate_counts: np.ndarray, page_id: str) -> Decisions:
        groups = _groups(scores, candidate_counts)
        chosen = groups.best
        if self.epsilon > 0.0:
            rng = np.random.default_rng(_page_seed(self.seed, page_id))
            explore = rng.random(groups.counts.size) < self.epsilon
            chosen = np.where(explore, rng.integers(0, groups.counts), groups.best)
        propensities = self._probability(chosen, groups.best, groups.counts)
        return Decisions(chosen, scores[groups.starts + chosen], propensities)

    def distribution(self, scores: np.ndarray, candidate_counts: np.ndarray) -> np.ndarray:
        """The probability (N,) of choosing each candidate; each title's probabilities sum to 1."""
        groups = _groups(scores, candidate_counts)
        best = np.repeat(groups.best, groups.counts)
        k = np.repeat(groups.counts, groups.counts)
        return self._probability(groups.local, best, k)

    def _probability(self, index: np.ndarray, best: np.ndarray, k: np.ndarray) -> np.ndarray:
        explore = self.epsilon / k
        return np.where(index == best, 1.0 - self.epsilon + explore, explore)
