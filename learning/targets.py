"""Target policies as probabilities (N,) over every logged candidate; DR's reward model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.features import COMPOSITION_SLOT, VISUAL_QUALITY_SLOT, aesthetic_score
from learning import bilinear, reward_model
from learning.dataset import BanditData
from services.ranker.model import RankingModel
from services.ranker.policy import Policy

_GREEDY = Policy()


def greedy(scores: np.ndarray, data: BanditData) -> np.ndarray:
    """All probability on each decision's best-scoring candidate (the ranker's greedy policy)."""
    return _GREEDY.distribution(scores.astype(np.float32), data.counts)


def uniform(data: BanditData) -> np.ndarray:
    return np.repeat(1.0 / data.counts, data.counts)


def catalog_default(data: BanditData) -> np.ndarray:
    """The best non-personalized choice: each title's highest aesthetic score, as in the catalog."""
    quality = aesthetic_score(
        data.artwork[:, VISUAL_QUALITY_SLOT], data.artwork[:, COMPOSITION_SLOT]
    )
    return greedy(quality, data)


def model_scores(path: Path, data: BanditData) -> tuple[str, np.ndarray]:
    """A model file's version and its scores (N,) for every logged candidate, via onnxruntime."""
    model = RankingModel(path)
    return model.version, scores_of(model, data)


def scores_of(model: RankingModel, data: BanditData) -> np.ndarray:
    """A loaded model's scores (N,) for every logged candidate."""
    scores = np.empty(data.artwork.shape[0], dtype=np.float32)
    for i, start in enumerate(data.starts):
        end = start + data.counts[i]
        scores[start:end] = model.score(
            data.viewer[i : i + 1], data.context[i : i + 1], data.artwork[start:end]
        )
    return scores


def reward_predictions(data: BanditData, seed: int = 0) -> np.ndarray:
    """r̂ (N,) for DR: an unweighted bilinear fit, cross-fitted on two halves so no decision
    is predicted by a model that saw its own reward."""
    fold = reward_model.folds(len(data), seed)
    predicted = np.empty(data.artwork.shape[0])
    settings = bilinear.FitSettings(weighted=False, seed=seed)
    for held_out in (fold, ~fold):
        if not held_out.any() or held_out.all():
            weights = bilinear.fit(data, settings)
        else:
            weights = bilinear.fit(data.subset(~held_out), settings)
        rows = np.repeat(held_out, data.counts)
        predicted[rows] = bilinear.candidate_scores(weights, data.subset(held_out))
    return predicted
