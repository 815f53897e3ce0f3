"""Choosing one candidate per title from the model's scores: greedy, epsilon-greedy or softmax.

Candidates arrive as one flat score vector grouped by title (`candidate_counts`
consecutive scores per title). Everything is segment-wise numpy over the flat
vector, O(N) in time and memory whatever the group sizes: padding to a
[titles, max_k] matrix would let one huge group blow a page up quadratically.

Every policy is a distribution over each title's candidates, and a choice is
one uniform draw u per title pushed through that title's inverse CDF. So the
propensity logged with a choice is, exactly, the probability the policy gave
the chosen candidate, which is what offline evaluation (IPS, SNIPS, DR)
divides by.

Where u comes from:

- by default, from the configured seed and the page id, so a logged page can
  be replayed;
- with a sticky period (`sticky_s` > 0), from a hash of (seed, viewer, title,
  time bucket). The same viewer sees the same artwork on a title for the whole
  bucket instead of a new coin flip on every page load. The propensity stays
  correct: u is still uniform on [0, 1) and independent of the scores (the
  hash keys are not inputs of the model), so each impression, on its own,
  chooses candidate i with probability p_i, even when the scores move inside
  a bucket. What changes is that repeated impressions of one viewer × title
  in a bucket are not independent draws: estimates stay unbiased, but their
  effective sample size is the number of distinct (viewer, title, bucket)
  draws, not of impressions.

A title whose candidates' scores include NaN or infinity gets no choice at
all, even when some of its scores are finite: a non-finite score means the
model overflowed for this viewer and title, its finite neighbours come out of
the same computation, and a choice among them alone would log a propensity
that offline evaluation, replaying the model over all of the title's
candidates, cannot reproduce. The title is listed in `Decisions.unscored`
(the gateway shows its default artwork); the page's other titles are chosen
as if it were not there.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

_UNIT = float(1 << 53)
_NO_TITLES = np.zeros(0, dtype=np.int64)


class Decisions(NamedTuple):
    """Per title: chosen index within its group, that candidate's score, its propensity;
    how many titles got a candidate other than the greedy best; and the titles with a NaN
    or infinite score, which got no choice (index 0, score 0, propensity 1)."""

    indices: np.ndarray  # (T,) int64
    scores: np.ndarray  # (T,) float32, finite
    propensities: np.ndarray  # (T,) float64
    explored: int = 0
    unscored: np.ndarray = _NO_TITLES  # (U,) ascending title indexes


class _Groups:
    """A flat score vector cut into consecutive per-title groups."""

    def __init__(self, scores: np.ndarray, candidate_counts: np.ndarray) -> None:
        counts = np.asarray(candidate_counts, dtype=np.int64)
        if counts.ndim != 1 or scores.ndim != 1:
            raise ValueError("scores and candidate_counts must be 1-D")
        if counts.size and counts.min() < 1:
            raise ValueError("every title needs at least one candidate")
        if counts.sum() != scores.size:
            raise ValueError(f"candidate_counts sum to {counts.sum()}, not {scores.size} scores")
        self.scores = scores
        self.counts = counts  # (T,) candidates per title
        self.starts = np.cumsum(counts) - counts  # (T,) flat index of each title's first candidate

    @cached_property
    def unscored(self) -> np.ndarray:
        """(U,) ascending indexes of the titles with a NaN or infinite score."""
        finite = np.isfinite(self.scores)
        if finite.all():
            return _NO_TITLES
        return np.flatnonzero(~np.logical_and.reduceat(finite, self.starts))

    def finite(self) -> _Groups:
        """These groups with every non-finite score as 0, so that an unscored title
        spreads no NaN through the page's running sums (`_inverse_cdf`)."""
        if not self.unscored.size:
            return self
        scores = np.where(np.isfinite(self.scores), self.scores, 0).astype(self.scores.dtype)
        return _Groups(scores, self.counts)

    @cached_property
    def best(self) -> np.ndarray:
        """(T,) index within the title of the highest score, lowest on ties; NaN never wins
        (a title whose every score is NaN gets its first candidate)."""
        if not self.counts.size:
            return np.zeros(0, dtype=np.int64)
        peak = np.fmax.reduceat(self.scores, self.starts)  # NaN only where all are NaN
        at_peak = np.flatnonzero(self.scores == np.repeat(peak, self.counts))
        if not at_peak.size:
            return np.zeros(self.counts.size, dtype=np.int64)
        # A title's first peak is the first peak position at or after its start.
        first = at_peak[np.minimum(np.searchsorted(at_peak, self.starts), at_peak.size - 1)]
        return np.where(np.isnan(peak), 0, first - self.starts)

    @cached_property
    def local(self) -> np.ndarray:
        """(N,) each candidate's index within its title."""
        return np.arange(self.scores.size) - np.repeat(self.starts, self.counts)

    @cached_property
    def ranked(self) -> np.ndarray:
        """(N,) scores as float64 with NaN as -inf (a NaN score never wins)."""
        return np.where(np.isnan(self.scores), -np.inf, self.scores).astype(np.float64)


def _page_uniforms(seed: int, page_id: str, titles: int) -> np.ndarray:
    """One uniform per title from the configured seed and a stable hash of the page id."""
    digest = hashlib.blake2b(page_id.encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "little")]).random(titles)


def sticky_uniforms(seed: int, user_id: str, titles: Sequence[str], bucket: int) -> np.ndarray:
    """One uniform per title, fixed for (seed, viewer, title, time bucket)."""
    prefix = f"{seed}\x00{user_id}\x00{bucket}\x00".encode()
    digests = (hashlib.blake2b(prefix + title.encode(), digest_size=8).digest() for title in titles)
    return np.array(
        [(int.from_bytes(digest, "little") >> 11) / _UNIT for digest in digests], dtype=np.float64
    )


@dataclass(frozen=True)
class Policy:
    """Greedy (both knobs 0), epsilon-greedy (`epsilon` > 0) or softmax (`temperature` > 0).

    Softmax gives candidate i of a title exp(s_i / T) / Σ_j exp(s_j / T) over
    that title's scores s; epsilon-greedy gives 1 - ε + ε/k to the argmax and
    ε/k to each other candidate.
    """

    epsilon: float = 0.0
    temperature: float = 0.0
    seed: int = 0
    sticky_s: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon {self.epsilon} is not in [0, 1]")
        if self.temperature < 0.0:
            raise ValueError(f"temperature {self.temperature} is negative")
        if self.epsilon and self.temperature:
            raise ValueError("choose epsilon-greedy or softmax, not both")
        if self.seed < 0:
            raise ValueError(f"seed {self.seed} is negative")
        if self.sticky_s < 0:
            raise ValueError(f"sticky period {self.sticky_s} s is negative")

    @property
    def name(self) -> str:
        """What the impression log records as the policy."""
        if self.temperature:
            return f"softmax(temperature={self.temperature:g})"
        if self.epsilon:
            return f"epsilon_greedy(epsilon={self.epsilon:g})"
        return "greedy"

    def choose(
        self,
        scores: np.ndarray,
        candidate_counts: np.ndarray,
        page_id: str,
        *,
        user_id: str = "",
        title_ids: Sequence[str] = (),
        now_s: float | None = None,
    ) -> Decisions:
        """One candidate per title, but for the unscored ones (see Decisions); sticky when
        configured and the viewer and titles are known."""
        given = _Groups(scores, candidate_counts)
        groups = given.finite()
        if not (self.epsilon or self.temperature):
            chosen = groups.best
            propensities = np.ones(groups.counts.size)
        else:
            probabilities = self._distribution(groups)
            if self.sticky_s and user_id and len(title_ids) == groups.counts.size:
                bucket = int((time.time() if now_s is None else now_s) // self.sticky_s)
                uniforms = sticky_uniforms(self.seed, user_id, title_ids, bucket)
            else:
                uniforms = _page_uniforms(self.seed, page_id, groups.counts.size)
            chosen = _inverse_cdf(probabilities, groups, uniforms)
            propensities = probabilities[groups.starts + chosen]
        explore = chosen != groups.best
        chosen_scores = groups.scores[groups.starts + chosen]
        unscored = given.unscored
        if unscored.size:
            chosen, propensities = chosen.copy(), propensities.copy()  # chosen may be `best`
            chosen[unscored], chosen_scores[unscored] = 0, 0
            propensities[unscored], explore[unscored] = 1, False
        return Decisions(
            chosen, chosen_scores, propensities, int(np.count_nonzero(explore)), unscored
        )

    def distribution(self, scores: np.ndarray, candidate_counts: np.ndarray) -> np.ndarray:
        """The probability (N,) of choosing each candidate; each title's probabilities sum to 1."""
        return self._distribution(_Groups(scores, candidate_counts))

    def _distribution(self, groups: _Groups) -> np.ndarray:
        if self.temperature:
            return _softmax(groups, self.temperature)
        best = np.repeat(groups.best, groups.counts)
        explore = self.epsilon / np.repeat(groups.counts, groups.counts)
        return np.where(groups.local == best, 1.0 - self.epsilon + explore, explore)


def _softmax(groups: _Groups, temperature: float) -> np.ndarray:
    if not groups.counts.size:
        return np.zeros(0)
    peak = np.repeat(np.maximum.reduceat(groups.ranked, groups.starts), groups.counts)
    all_nan = np.isneginf(peak)  # a title whose every score is NaN: uniform
    logits = np.where(all_nan, 0.0, (groups.ranked - np.where(all_nan, 0.0, peak)) / temperature)
    weights = np.exp(logits)
    return weights / np.repeat(np.add.reduceat(weights, groups.starts), groups.counts)


def _inverse_cdf(probabilities: np.ndarray, groups: _Groups, uniforms: np.ndarray) -> np.ndarray:
    """Per title, the first candidate whose cumulative probability exceeds u × the total."""
    if not groups.counts.size:
        return np.zeros(0, dtype=np.int64)
    cumulative = np.cumsum(probabilities)
    before = np.repeat(cumulative[groups.starts] - probabilities[groups.starts], groups.counts)
    local_cumulative = cumulative - before
    totals = np.add.reduceat(probabilities, groups.starts)
    passed = local_cumulative <= np.repeat(uniforms * totals, groups.counts)
    chosen = np.add.reduceat(passed.astype(np.int64), groups.starts)
    # Rounding can push u past the last candidate with any probability: stay on it.
    possible = np.where(probabilities > 0, groups.local, -1)
    last_possible = np.maximum.reduceat(possible, groups.starts)
    return np.minimum(chosen, last_possible)
