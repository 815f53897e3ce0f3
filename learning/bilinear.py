"""The ranker's bilinear model in numpy: score, fit from bandit logs, export as the ranker's ONNX.

    logit = artwork · (viewer Wv + context Wc + q) + bias,   score = sigmoid(logit)

the same function and parameters as services/ranker/model_recipe.py, so a
fitted model is exported with the recipe's own ONNX builder and serves
unchanged. Wc crosses request context (device, hour, weekend) with the
artwork's tags; Wv crosses taste with them, and is fitted diagonal — taste
for a genre meets that tone, taste for a cast member meets that cast member
(viewer ⊙ artwork) — with one shared weight per block (genre, cast) plus a
per-slot deviation held near it by L2. A full 80 × 82 Wv has more weights
than a few rounds of plays can pin down (it overfits: measured worse than
the bundled model after 20,000 impressions).

Fitting is importance-weighted logistic regression on the logged choices:
each decision's log-loss is weighted by min(1 / propensity, clip), so the
fit is of the reward of every candidate under the uniform mix of actions,
not of the actions the logging policy happened to favour (counterfactual
risk minimization's weighting; clipping bounds the variance). Mini-batch
Adam with L2; the weights start at zero, not at the bundled model's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.features import ARTWORK_DIM, CAST_BLOCK, CONTEXT_DIM, GENRE_BLOCK, VIEWER_DIM
from learning.dataset import BanditData
from services.ranker.model_recipe import RecipeWeights


@dataclass(frozen=True)
class FitSettings:
    epochs: int = 30
    batch: int = 2048
    learning_rate: float = 0.05
    l2: float = 1e-3
    l2_slot: float = 1e-2  # pulls each slot's weight toward its block's shared weight
    clip: float = 10.0
    seed: int = 0
    weighted: bool = True  # False: plain regression (the direct method's reward model)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def candidate_scores(weights: RecipeWeights, data: BanditData) -> np.ndarray:
    """(N,) the model's score for every logged candidate."""
    eff = data.viewer @ weights.wv + data.context @ weights.wc + weights.q  # (n, A)
    logits = np.einsum("na,na->n", data.artwork, np.repeat(eff, data.counts, axis=0))
    return _sigmoid(logits + weights.bias)


def log_loss(weights: RecipeWeights, data: BanditData, clip: float) -> float:
    """Importance-weighted log-loss of the logged choices."""
    predicted = candidate_scores(weights, data)[data.starts + data.chosen]
    w = np.minimum(1.0 / data.propensity, clip)
    p = np.clip(predicted, 1e-7, 1 - 1e-7)
    losses = -(data.reward * np.log(p) + (1 - data.reward) * np.log(1 - p))
    return float((w * losses).sum() / w.sum()) if len(data) else float("nan")


def _blocks() -> np.ndarray:
    """(VIEWER_DIM, 2) one-hot: which taste block (genre, cast) each viewer slot is in."""
    blocks = np.zeros((VIEWER_DIM, 2))
    blocks[GENRE_BLOCK, 0] = 1.0
    blocks[CAST_BLOCK, 1] = 1.0
    return blocks


def fit(data: BanditData, settings: FitSettings = FitSettings()) -> RecipeWeights:
    rng = np.random.default_rng(settings.seed)
    context = data.context.astype(np.float64)
    artwork = data.chosen_rows().astype(np.float64)
    match = data.viewer.astype(np.float64) * artwork[:, :VIEWER_DIM]  # viewer ⊙ artwork tags
    blocks = _blocks()
    reward = data.reward
    weight = np.minimum(1.0 / data.propensity, settings.clip)
    if not settings.weighted:
        weight = np.ones(len(data))
    base_rate = float(np.average(reward, weights=weight)) if len(data) else 0.5
    params = {
        "tied": np.zeros(2),
        "slot": np.zeros(VIEWER_DIM),
        "wc": np.zeros((CONTEXT_DIM, ARTWORK_DIM)),
        "q": np.zeros(ARTWORK_DIM),
        "bias": np.array([np.log(max(base_rate, 1e-4) / max(1 - base_rate, 1e-4))]),
    }
    l2 = {"tied": 0.0, "slot": settings.l2_slot, "wc": settings.l2, "q": settings.l2, "bias": 0.0}
    moments = {name: (np.zeros_like(value), np.zeros_like(value)) for name, value in params.items()}
    step = 0
    for _ in range(settings.epochs):
        order = rng.permutation(len(data))
        for begin in range(0, len(order), settings.batch):
            batch = order[begin : begin + settings.batch]
            z, c, a, w = match[batch], context[batch], artwork[batch], weight[batch]
            diagonal = blocks @ params["tied"] + params["slot"]
            logit = z @ diagonal + np.einsum("na,na->n", a, c @ params["wc"]) + a @ params["q"]
            g = w * (_sigmoid(logit + params["bias"][0]) - reward[batch]) / w.sum()
            g_diagonal = g @ z
            grads = {
                "tied": blocks.T @ g_diagonal,
                "slot": g_diagonal,
                "wc": (c * g[:, None]).T @ a,
                "q": g @ a,
                "bias": np.array([g.sum()]),
            }
            step += 1
            for name, grad in grads.items():
                grad = grad + l2[name] * params[name]
                m, s = moments[name]
                m *= 0.9
                m += 0.1 * grad
                s *= 0.999
                s += 0.001 * grad * grad
                m_hat = m / (1 - 0.9**step)
                s_hat = s / (1 - 0.999**step)
                params[name] -= settings.learning_rate * m_hat / (np.sqrt(s_hat) + 1e-8)
    wv = np.zeros((VIEWER_DIM, ARTWORK_DIM))
    wv[:, :VIEWER_DIM] = np.diag(blocks @ params["tied"] + params["slot"])
    return RecipeWeights(
        wv=wv.astype(np.float32),
        wc=params["wc"].astype(np.float32),
        q=params["q"][None, :].astype(np.float32),
        bias=float(params["bias"][0]),
    )
