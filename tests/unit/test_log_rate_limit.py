"""The shared rate limiter behind `log_bad_input`: one line per kind per interval."""

from __future__ import annotations

from common.logging import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_admitted_per_kind_per_interval_then_the_suppressed_count() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock)
    assert limiter.admit("a") == 0
    assert [limiter.admit("a") for _ in range(5)] == [None] * 5
    assert limiter.admit("b") == 0  # kinds are limited apart
    clock.now += 9.9
    assert limiter.admit("a") is None
    clock.now += 0.1
    assert limiter.admit("a") == 6
    assert limiter.admit("a") is None
    clock.now += 10.0
    assert limiter.admit("a") == 1


def test_a_zero_interval_admits_everything() -> None:
    limiter = RateLimiter(0.0, FakeClock())
    assert [limiter.admit("a") for _ in range(3)] == [0, 0, 0]
