"""DR's reward model for features of other widths than keyart's (imported DSJSON and OBP logs).

keyart's bilinear model reads keyart's feature layout (viewer tastes matched
against artwork tags); a log of any other widths gets this one instead: a
logistic regression of the reward on the chosen candidate's features beside
the decision's shared ones, [viewer, context, action, 1], unweighted and
L2-regularized (L2 below), fitted with L-BFGS. It has no interaction between
shared and action features, so it ranks a decision's candidates the same way
in every context; DR stays unbiased whatever r̂'s errors, and r̂ only has to
explain some of the reward's variance to narrow the interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from learning.dataset import BanditData

L2 = 1e-3  # per decision: the penalty is L2 · n · |w|² (the bias is not penalized)
MAX_ITERATIONS = 200


@dataclass(frozen=True)
class LinearWeights:
    shared: np.ndarray  # (viewer_dim + context_dim,)
    action: np.ndarray  # (action_dim,)
    bias: float

    def scores(self, data: BanditData) -> np.ndarray:
        """(N,) the predicted reward of every candidate of `data`."""
        shared = np.hstack([data.viewer, data.context]).astype(np.float64) @ self.shared
        logits = np.repeat(shared, data.counts) + data.artwork.astype(np.float64) @ self.action
        return 1.0 / (1.0 + np.exp(-(logits + self.bias)))


def fit(chosen: BanditData) -> LinearWeights:
    """Fits on `chosen`: each decision cut to its chosen candidate (reward_model.chosen_only)."""
    design = np.hstack([chosen.viewer, chosen.context, chosen.artwork]).astype(np.float64)
    n, width = design.shape
    reward = chosen.reward

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logits = design @ theta[:width] + theta[width]
        # log(1 + e^z) - r z, stably; its gradient is (σ(z) - r).
        loss = float(np.sum(np.logaddexp(0.0, logits) - reward * logits))
        residual = 1.0 / (1.0 + np.exp(-logits)) - reward
        gradient = np.append(design.T @ residual, residual.sum())
        penalty = L2 * max(n, 1)
        gradient[:width] += 2 * penalty * theta[:width]
        return loss + penalty * float(theta[:width] @ theta[:width]), gradient

    found = minimize(
        loss_and_gradient,
        np.zeros(width + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": MAX_ITERATIONS},
    )
    theta = found.x
    shared_width = chosen.viewer.shape[1] + chosen.context.shape[1]
    return LinearWeights(theta[:shared_width], theta[shared_width:width], float(theta[width]))
