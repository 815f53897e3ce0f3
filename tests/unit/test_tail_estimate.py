"""The tail reserve follows the work measured after the ranker answers."""

from __future__ import annotations

import pytest

from gateway.render import TailEstimate


def test_the_reserve_moves_towards_what_is_observed() -> None:
    tail = TailEstimate(initial_s=0.005, weight=0.5)
    assert tail.reserve_s == pytest.approx(1.5 * 0.005 + 0.002)
    for _ in range(20):
        tail.observe(0.030)
    assert tail.seconds == pytest.approx(0.030, rel=1e-4)
    assert tail.reserve_s == pytest.approx(0.047, rel=1e-3)
    tail.observe(0.010)
    assert tail.seconds == pytest.approx(0.020, rel=1e-3)  # halfway with weight 0.5
