"""DR's reward model on a log read in batches: a bounded sample, cross-fitted."""

from __future__ import annotations

import numpy as np

from learning import reward_model, targets
from learning.dataset import BanditData
from learning.estimators import doubly_robust
from tests.unit.learning_data import synthetic, true_value

K = 4


def in_batches(data: BanditData, size: int) -> list[BanditData]:
    edges = range(0, len(data), size)
    return [
        data.subset((np.arange(len(data)) >= e) & (np.arange(len(data)) < e + size)) for e in edges
    ]


def test_no_decision_is_predicted_by_a_model_that_saw_its_reward() -> None:
    """Flipping the rewards of fold-A decisions changes the predictions of fold B only."""
    data, _ = synthetic(1_200, K, seed=9)
    fold = reward_model.folds(len(data), seed=0)
    flipped = BanditData(
        **{**data.__dict__, "reward": np.where(fold, 1 - data.reward, data.reward)}
    )
    rows = np.repeat(fold, data.counts)
    before = reward_model.fit(in_batches(data, 500), len(data), limit=700).predict(data, 0)
    after = reward_model.fit(in_batches(flipped, 500), len(data), limit=700).predict(data, 0)
    np.testing.assert_array_equal(before[rows], after[rows])
    assert np.abs(before[~rows] - after[~rows]).max() > 0.01


def test_dr_with_a_sampled_reward_model_lands_near_the_true_value() -> None:
    """2,000 decisions, the reward model fitted on 500 of them: within 1.7 half-widths
    (a 99.9% interval) of the uniform and the catalog-default policies' true values."""
    data, truth = synthetic(2_000, K, seed=7, logging="epsilon")
    model = reward_model.fit(in_batches(data, 300), len(data), limit=500)
    predicted = np.concatenate(
        [
            model.predict(batch, first)
            for first, batch in zip(range(0, 2_000, 300), in_batches(data, 300), strict=True)
        ]
    )
    for target in (targets.uniform(data), targets.catalog_default(data)):
        estimate = doubly_robust(data, target, predicted)
        half = (estimate.high - estimate.low) / 2
        assert abs(estimate.value - true_value(target, truth, data.counts)) <= 1.7 * half
