"""A small seeded OBP `bandit_feedback` (the arrays obp_import.py reads), shared by the OBP tests."""

from __future__ import annotations

from typing import Any

import numpy as np


def obp_feedback(n: int, actions: int, seed: int) -> dict[str, Any]:  # Any: see obp_export.py
    rng = np.random.default_rng(seed)
    return {
        "n_rounds": np.array(n),
        "n_actions": np.array(actions),
        "action": rng.integers(0, actions, n),
        "reward": rng.integers(0, 2, n).astype(np.float64),
        "pscore": np.full(n, 1 / actions),
        "context": rng.random((n, 3)),
        "action_context": rng.random((actions, 2)),
        "position": rng.integers(0, 3, n),
    }
