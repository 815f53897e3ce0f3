"""The circuit breaker's states, on a clock the test moves."""

from __future__ import annotations

import grpc

from gateway.breaker import CircuitBreaker

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("ranker", failure_threshold=3, open_s=1.0, clock=clock)


def opened(clock: Clock) -> CircuitBreaker:
    """A breaker that three failures have just opened."""
    subject = breaker(clock)
    for _ in range(3):
        subject.record(UNAVAILABLE)
    return subject


def test_opens_after_the_threshold_of_failures_in_a_row() -> None:
    clock = Clock()
    subject = breaker(clock)
    for _ in range(2):
        assert subject.allow()
        subject.record(UNAVAILABLE)
    subject.record(grpc.StatusCode.OK)  # a success resets the count
    for _ in range(3):
        assert subject.allow()
        subject.record(grpc.StatusCode.DEADLINE_EXCEEDED)
    assert subject.state == "open"
    assert not subject.allow()


def test_lets_one_probe_through_after_the_open_period_and_closes_on_success() -> None:
    clock = Clock()
    subject = opened(clock)
    clock.now += 0.99
    assert not subject.allow()
    clock.now += 0.02
    assert subject.allow()  # the probe
    assert subject.state == "half_open"
    assert not subject.allow()  # only one probe at a time
    subject.record(grpc.StatusCode.OK)
    assert subject.state == "closed"
    assert subject.allow()


def test_a_failed_probe_opens_it_again_for_a_full_period() -> None:
    clock = Clock()
    subject = opened(clock)
    clock.now += 1.5
    assert subject.allow()
    subject.record(UNAVAILABLE)
    assert subject.state == "open"
    clock.now += 0.5
    assert not subject.allow()
    clock.now += 0.6
    assert subject.allow()


def test_bad_input_and_cancellation_do_not_count_as_failures() -> None:
    clock = Clock()
    subject = breaker(clock)
    for code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.CANCELLED,
    ) * 3:
        subject.record(code)
    assert subject.state == "closed"


def test_a_cancelled_probe_frees_the_probe_slot() -> None:
    clock = Clock()
    subject = opened(clock)
    clock.now += 1.5
    assert subject.allow()
    subject.record(grpc.StatusCode.CANCELLED)
    assert subject.allow()  # another probe may go
