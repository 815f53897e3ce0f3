"""A circuit breaker per dependency, so a dead dependency costs no page budget.

Closed: calls go through; `failure_threshold` failures in a row open it.
Open: calls are refused at once for `open_s`. Then one probe call is let
through (half-open): success closes the breaker, failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common.logging import get_logger
from common.metrics import BREAKER_OPEN
from gateway.fallbacks import DEPENDENCIES, DEPENDENCY_LABELS

log = get_logger(__name__)

# Statuses that say the dependency is unwell. Others (bad input, not found,
# not ready for this catalog version, cancelled by our client) do not count.
FAILURE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        open_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._threshold = failure_threshold
        self._open_s = open_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._probing else "open"

    def allow(self) -> bool:
        """Whether a call may go out now (claims the probe when half-open)."""
        if self._opened_at is None:
            return True
        if self._probing or self._clock() < self._opened_at + self._open_s:
            return False
        self._probing = True
        return True

    def record(self, code: grpc.StatusCode) -> None:
        """The outcome of an allowed call. CANCELLED (our caller gave up) says nothing."""
        if code == grpc.StatusCode.CANCELLED:
            self._probing = False
        elif code in FAILURE_CODES:
            self._record_failure(code)
        else:
            self._record_success()

    def _record_success(self) -> None:
        if self._opened_at is not None:
            log.info("breaker closed", dependency=self.name)
            BREAKER_OPEN.labels(self.name).set(0)
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def _record_failure(self, code: grpc.StatusCode) -> None:
        self._failures += 1
        if self._probing or (self._opened_at is None and self._failures >= self._threshold):
            if self._opened_at is None:
                log.warning("breaker opened", dependency=self.name, code=code.name)
                BREAKER_OPEN.labels(self.name).set(1)
            self._opened_at = self._clock()
            self._probing = False


def dependency_breakers(
    *, failure_threshold: int, open_s: float
) -> dict[pb.Dependency, CircuitBreaker]:
    """One breaker per dependency the proto names, each named by its metric label."""
    return {
        dependency: CircuitBreaker(
            DEPENDENCY_LABELS[dependency], failure_threshold=failure_threshold, open_s=open_s
        )
        for dependency in DEPENDENCIES
    }
