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

from collections.abc import Callable
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


@dataclass(frozen=True)
class Design:
    """What the fit reads of each decision: its logged choice's features, reward and weight."""

    match: np.ndarray  # (n, VIEWER_DIM) viewer ⊙ the chosen artwork's tags
    context: np.ndarray  # (n, CONTEXT_DIM)
    artwork: np.ndarray  # (n, ARTWORK_DIM) the chosen candidate's features
    reward: np.ndarray  # (n,)
    weight: np.ndarray  # (n,) min(1 / propensity, clip), or 1 when unweighted

    @classmethod
    def of(cls, data: BanditData, settings: FitSettings) -> Design:
        artwork = data.chosen_rows().astype(np.float64)
        weight = np.minimum(1.0 / data.propensity, settings.clip)
        return cls(
            data.viewer.astype(np.float64) * artwork[:, :VIEWER_DIM],
            data.context.astype(np.float64),
            artwork,
            data.reward,
            weight if settings.weighted else np.ones(len(data)),
        )


_BLOCKS = _blocks()
_L2_OF = {"tied": None, "slot": "l2_slot", "wc": "l2", "q": "l2", "bias": None}


def data_loss_gradient(theta: np.ndarray, design: Design) -> tuple[float, np.ndarray]:
    """Σ weight · log-loss over `design`'s decisions and its gradient (flat, as theta): the data
    part of the objective, a sum, so partial sums over batches add up to it."""
    params = _unpack(theta)
    diagonal = _BLOCKS @ params["tied"] + params["slot"]
    logit = (
        design.match @ diagonal
        + np.einsum("na,na->n", design.artwork, design.context @ params["wc"])
        + design.artwork @ params["q"]
        + params["bias"][0]
    )
    loss = float(design.weight @ (np.logaddexp(0.0, logit) - design.reward * logit))
    g = design.weight * (_sigmoid(logit) - design.reward)
    g_diagonal = g @ design.match
    grads = {
        "tied": _BLOCKS.T @ g_diagonal,
        "slot": g_diagonal,
        "wc": (design.context * g[:, None]).T @ design.artwork,
        "q": g @ design.artwork,
        "bias": np.array([g.sum()]),
    }
    return loss, np.concatenate([grads[name].ravel() for name, _ in _PARAMETERS])


DataObjective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def fit_objective(
    data_objective: DataObjective, total_weight: float, settings: FitSettings
) -> RecipeWeights:
    """L-BFGS on data_objective(θ) / total_weight + L2: `data_objective` may sum over one
    array (fit) or over a cluster's partitions (learning/spark_train.py)."""

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        loss, gradient = data_objective(theta)
        loss, gradient = loss / total_weight, gradient / total_weight
        params, offset = _unpack(theta), 0
        for name, shape in _PARAMETERS:
            size = int(np.prod(shape))
            setting = _L2_OF[name]
            l2 = 0.0 if setting is None else getattr(settings, setting)
            loss += 0.5 * l2 * float(np.sum(params[name] ** 2))
            gradient[offset : offset + size] += l2 * params[name].ravel()
            offset += size
        return loss, gradient

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
    wv[:, :VIEWER_DIM] = np.diag(_BLOCKS @ params["tied"] + params["slot"])
    return RecipeWeights(
        wv=wv.astype(np.float32),
        wc=params["wc"].astype(np.float32),
        q=params["q"][None, :].astype(np.float32),
        bias=float(params["bias"][0]),
    )


def fit(data: BanditData, settings: FitSettings = FitSettings()) -> RecipeWeights:
    design = Design.of(data, settings)
    return fit_objective(
        lambda theta: data_loss_gradient(theta, design),
        float(design.weight.sum()) or 1.0,  # no decisions: the L2 term alone
        settings,
    )
