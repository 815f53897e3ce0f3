"""DR's reward model r̂ on a dataset of any size: a cross-fitted bilinear fit on a bounded sample.

learning/targets.reward_predictions fits two models on halves of the data in
memory. A dataset may not fit in memory, and a cluster has no order of rows
to draw halves from, so here a decision's fold and its membership of the
sample are functions of its decision id (a hash): every engine, whatever its
batches or partitions, gets the same folds, the same sample (sorted by
decision id, so the fit's input is the same array) and hence the same fit.

At most SAMPLE_DECISIONS decisions are fitted on (only their logged choice's
features are kept, about 1 KB a decision). Model f is fitted on the sampled
decisions of the other fold, and predicts the decisions of fold f: no
decision is predicted by a model that saw its own reward, sampled or not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from common.model_contract import RecipeWeights
from learning import bilinear
from learning.dataset import BanditData
from learning.parquet_reader import DecisionBatch, concatenate

SAMPLE_DECISIONS = 50_000


def decision_hashes(decision_ids: list[str]) -> np.ndarray:
    """(n,) uint64: a stable hash of each decision id."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(), "little")
            for i in decision_ids
        ],
        dtype=np.uint64,
    )


def folds(hashes: np.ndarray) -> np.ndarray:
    """(n,) 0 or 1: each decision's fold."""
    return (hashes & np.uint64(1)).astype(np.int64)


def sample_rate(decisions: int) -> float:
    return min(1.0, SAMPLE_DECISIONS / decisions) if decisions else 1.0


def sampled(hashes: np.ndarray, rate: float) -> np.ndarray:
    """(n,) bool: the decisions in the fitting sample (a share `rate` of all, by hash)."""
    return (hashes >> np.uint64(11)).astype(np.float64) * 2.0**-53 < rate


def chosen_only(data: BanditData) -> BanditData:
    """`data` with each decision's candidates cut to its logged choice: all a fit reads."""
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


Sample = tuple[BanditData, list[str]]  # chosen_only decisions and their ids


def sample_of(batches: Iterable[DecisionBatch], rate: float) -> Sample | None:
    """The sampled decisions of `batches` (None when there are no batches)."""
    pieces: list[BanditData] = []
    ids: list[str] = []
    for batch in batches:
        keep = sampled(decision_hashes(batch.decision_ids), rate)
        pieces.append(chosen_only(batch.data).subset(keep))
        ids.extend(i for i, kept in zip(batch.decision_ids, keep, strict=True) if kept)
    return (concatenate(pieces), ids) if pieces else None


@dataclass(frozen=True)
class CrossFit:
    by_fold: tuple[RecipeWeights, RecipeWeights]  # model f predicts the decisions of fold f

    @classmethod
    def fit(cls, samples: list[Sample], seed: int = 0) -> CrossFit:
        """From the sampled decisions (sample_of's, of one batch or many), in any order."""
        sample = concatenate([data for data, _ in samples])
        sample_ids = [i for _, ids in samples for i in ids]
        order = np.argsort(np.array(sample_ids, dtype=object), kind="stable")
        data = _take(sample, order)
        fold = folds(decision_hashes([sample_ids[i] for i in order]))
        settings = bilinear.FitSettings(weighted=False, seed=seed)
        models = []
        for f in (0, 1):
            others = fold != f
            models.append(bilinear.fit(data.subset(others) if others.any() else data, settings))
        return cls((models[0], models[1]))

    def predict(self, data: BanditData, decision_ids: list[str]) -> np.ndarray:
        """r̂ (N,) for every logged candidate of `data`."""
        fold = np.repeat(folds(decision_hashes(decision_ids)), data.counts)
        return np.where(
            fold == 0,
            bilinear.candidate_scores(self.by_fold[0], data),
            bilinear.candidate_scores(self.by_fold[1], data),
        )


def _take(data: BanditData, order: np.ndarray) -> BanditData:
    """The decisions of a chosen_only BanditData in `order`."""
    return BanditData(
        *(getattr(data, name)[order] for name in BanditData.__dataclass_fields__),
    )
