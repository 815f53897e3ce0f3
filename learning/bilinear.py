"""The ranker's bilinear model in numpy: score, fit from bandit logs, export as the ranker's ONNX.

    logit = artwork · (viewer Wv + context Wc + q) + bias,   score = sigmoid(logit)

the same function and parameters as the model contract (common/model_contract.py), so
a fitted model is exported with the contract's own ONNX builder and serves
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
risk minimization's weighting; clipping bounds the variance). The loss plus
L2 is convex in the parameters, so it is minimised to convergence, full
batch, with L-BFGS: the result is the optimum for the data, not wherever a
stochastic optimiser stopped (mini-batch Adam's last step left the served
greedy policy measurably worse). The weights start at zero, not at the
bundled model's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from common.features import ARTWORK_DIM, CAST_BLOCK, CONTEXT_DIM, GENRE_BLOCK, VIEWER_DIM
from common.model_contract import RecipeWeights
from learning.dataset import BanditData


@dataclass(frozen=True)
class FitSettings:
    max_iterations: int = 500  # L-BFGS cap; `keyart simulate`'s fits converge in under 100
    l2: float = 1e-3
    l2_slot: float = 1e-2  # pulls each slot's weight toward its block's shared weight
    clip: float = 10.0
    seed: int = 0  # the DR reward model's cross-fitting folds (learning/targets.py)
    weighted: bool = True  # False: plain regression (the direct method's reward model)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def candidate_scores(weights: RecipeWeights, data: BanditData) -> np.ndarray:
    """(N,) the model's score for every logged candidate."""
    return scores_from_effects(decision_effects(weights, data), np.float32(weights.bias), data)


def decision_effects(weights: RecipeWeights, data: BanditData) -> np.ndarray:
    """(n, A) what each decision's candidates are scored against: viewer Wv + context Wc + q."""
    return data.viewer @ weights.wv + data.context @ weights.wc + weights.q


def scores_from_effects(
    effects: np.ndarray, bias: np.float32 | np.ndarray, data: BanditData
) -> np.ndarray:
    """(N,) sigmoid(artwork · effect + bias); `bias` one float32, or one per decision (n,)."""
    logits = np.einsum("na,na->n", data.artwork, np.repeat(effects, data.counts, axis=0))
    return _sigmoid(logits + (bias if np.ndim(bias) == 0 else np.repeat(bias, data.counts)))


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


_PARAMETERS = (  # name → shape, in the order they are packed into L-BFGS's flat vector
    ("tied", (2,)),
    ("slot", (VIEWER_DIM,)),
    ("wc", (CONTEXT_DIM, ARTWORK_DIM)),
    ("q", (ARTWORK_DIM,)),
    ("bias", (1,)),
)


def _unpack(theta: np.ndarray) -> dict[str, np.ndarray]:
    params, offset = {}, 0
    for name, shape in _PARAMETERS:
        size = int(np.prod(shape))
        params[name] = theta[offset : offset + size].reshape(shape)
        offset += size
    return params


def fit(data: BanditData, settings: FitSettings = FitSettings()) -> RecipeWeights:
    context = data.context.astype(np.float64)
    artwork = data.chosen_rows().astype(np.float64)
    match = data.viewer.astype(np.float64) * artwork[:, :VIEWER_DIM]  # viewer ⊙ artwork tags
    blocks = _blocks()
    reward = data.reward
    weight = np.minimum(1.0 / data.propensity, settings.clip)
    if not settings.weighted:
        weight = np.ones(len(data))
    weight = weight / weight.sum() if len(data) else weight
    l2 = {"tied": 0.0, "slot": settings.l2_slot, "wc": settings.l2, "q": settings.l2, "bias": 0.0}

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = _unpack(theta)
        diagonal = blocks @ params["tied"] + params["slot"]
        logit = (
            match @ diagonal
            + np.einsum("na,na->n", artwork, context @ params["wc"])
            + artwork @ params["q"]
            + params["bias"][0]
        )
        loss = float(weight @ (np.logaddexp(0.0, logit) - reward * logit))
        g = weight * (_sigmoid(logit) - reward)
        g_diagonal = g @ match
        grads = {
            "tied": blocks.T @ g_diagonal,
            "slot": g_diagonal,
            "wc": (context * g[:, None]).T @ artwork,
            "q": g @ artwork,
            "bias": np.array([g.sum()]),
        }
        for name, value in params.items():
            loss += 0.5 * l2[name] * float(np.sum(value * value))
            grads[name] = grads[name] + l2[name] * value
        return loss, np.concatenate([grads[name].ravel() for name, _ in _PARAMETERS])

    size = sum(int(np.prod(shape)) for _, shape in _PARAMETERS)
    result = optimize.minimize(
        loss_and_gradient,
        np.zeros(size),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": settings.max_iterations},
    )
    params = _unpack(result.x)
    wv = np.zeros((VIEWER_DIM, ARTWORK_DIM))
    wv[:, :VIEWER_DIM] = np.diag(blocks @ params["tied"] + params["slot"])
    return RecipeWeights(
        wv=wv.astype(np.float32),
        wc=params["wc"].astype(np.float32),
        q=params["q"][None, :].astype(np.float32),
        bias=float(params["bias"][0]),
    )
