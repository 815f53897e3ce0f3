"""DR's reward model r̂ for a log read in batches: fitted on a bounded sample, cross-fitted.

Every decision gets a fold (seeded, by its position in reading order, the
same draw as learning/targets.reward_predictions). Two bilinear fits (plain,
unweighted regression, as there) are made on at most SAMPLE_LIMIT decisions
drawn without replacement: one on the sample's fold-A decisions, which then
predicts every fold-B decision of the whole log, and one the other way round.
So no decision is predicted by a model that saw its own reward, and r̂ stays
independent of the reward it corrects, which is what keeps DR unbiased when
r̂ is wrong. A fit needs only each decision's chosen candidate, so the sample
holds one feature row per decision, not its whole action set: memory is
bounded by SAMPLE_LIMIT, whatever the log's size. At or under the limit the
sample is the whole log and r̂ equals reward_predictions' exactly.

On features of other widths than keyart's (imported logs) the bilinear model
cannot be fitted; the cross-fit is the same with learning/linear_reward.py's
logistic regression instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from common.features import ARTWORK_DIM, CONTEXT_DIM, VIEWER_DIM
from common.model_contract import RecipeWeights
from learning import bilinear, linear_reward
from learning.dataset import BanditData
from learning.linear_reward import LinearWeights
from learning.parquet_reader import concatenate

SAMPLE_LIMIT = 50_000


def folds(decisions: int, seed: int) -> np.ndarray:
    """(n,) bool: each decision's cross-fitting fold."""
    return np.random.default_rng(seed).random(decisions) < 0.5


def chosen_only(data: BanditData) -> BanditData:
    """`data` with each decision's candidates cut to the chosen one (all a fit reads)."""
    n = len(data)
    return BanditData(
        data.viewer,
        data.context,
        data.chosen_rows(),
        np.ones(n, np.int64),
        np.zeros(n, np.int64),
        data.propensity,
        data.reward,
        data.time_ms,
    )


Fitted = RecipeWeights | LinearWeights


def keyart_widths(data: BanditData) -> bool:
    """Whether `data` has keyart's feature widths, which the bilinear model needs."""
    widths = (data.viewer.shape[1], data.context.shape[1], data.artwork.shape[1])
    return widths == (VIEWER_DIM, CONTEXT_DIM, ARTWORK_DIM)


def family(data: BanditData) -> str:
    """The reward model a report names for `data`."""
    return "bilinear" if keyart_widths(data) else "linear logistic (features of other widths)"


def _fit(sample: BanditData, seed: int) -> Fitted:
    if keyart_widths(sample):
        return bilinear.fit(sample, bilinear.FitSettings(weighted=False, seed=seed))
    return linear_reward.fit(sample)


def _scores(model: Fitted, data: BanditData) -> np.ndarray:
    if isinstance(model, LinearWeights):
        return model.scores(data)
    return bilinear.candidate_scores(model, data)


@dataclass(frozen=True)
class CrossFitted:
    fold: np.ndarray  # (n,) bool over the log's decisions in reading order
    for_fold: Fitted  # fitted on the other fold: predicts decisions where fold is true
    for_other: Fitted

    def predict(self, data: BanditData, first: int) -> np.ndarray:
        """r̂ (N,) for every candidate of `data`, the log's decisions first … first + len - 1."""
        return self.predict_at(data, np.arange(first, first + len(data)))

    def predict_at(self, data: BanditData, positions: np.ndarray) -> np.ndarray:
        """r̂ (N,) for every candidate of `data`, whose decisions are at `positions` (n,) of the
        log's reading order (a Spark partition's rows need not be consecutive)."""
        held = self.fold[positions]
        for_fold, for_other = self.for_fold, self.for_other
        if isinstance(for_fold, LinearWeights) or isinstance(for_other, LinearWeights):
            rows = np.repeat(held, data.counts)
            return np.where(rows, _scores(for_fold, data), _scores(for_other, data))
        effects = np.where(
            held[:, None],
            bilinear.decision_effects(for_fold, data),
            bilinear.decision_effects(for_other, data),
        )
        bias = np.where(held, np.float32(for_fold.bias), np.float32(for_other.bias))
        return bilinear.scores_from_effects(effects, bias.astype(np.float32), data)


def sample_mask(decisions: int, seed: int, limit: int) -> np.ndarray:
    if decisions <= limit:
        return np.ones(decisions, dtype=bool)
    keep = np.zeros(decisions, dtype=bool)
    keep[np.random.default_rng(seed + 1).choice(decisions, limit, replace=False)] = True
    return keep


def fit(
    batches: Iterable[BanditData], decisions: int, seed: int = 0, limit: int = SAMPLE_LIMIT
) -> CrossFitted:
    """Reads `batches` (the log's `decisions` decisions, in order) once to draw the sample."""
    sampled = sample_mask(decisions, seed, limit)
    pieces, first = [], 0
    for data in batches:
        pieces.append(chosen_only(data).subset(sampled[first : first + len(data)]))
        first += len(data)
    return fit_sample(concatenate(pieces), sampled, seed)


def fit_sample(sample: BanditData, sampled: np.ndarray, seed: int = 0) -> CrossFitted:
    """The cross-fit on `sample`: chosen_only decisions of the log where `sampled` (its
    sample_mask) is true, in reading order."""
    fold = folds(sampled.size, seed)
    in_fold = fold[sampled]
    if not in_fold.any() or in_fold.all():
        both = _fit(sample, seed)
        return CrossFitted(fold, both, both)
    return CrossFitted(
        fold, _fit(sample.subset(~in_fold), seed), _fit(sample.subset(in_fold), seed)
    )


def take(data: BanditData, order: np.ndarray) -> BanditData:
    """The decisions of a chosen_only BanditData in `order`."""
    return BanditData(*(getattr(data, name)[order] for name in BanditData.__dataclass_fields__))
