"""structlog configured for JSON lines on stdout, with the request id bound per call."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

import structlog

from common.config import env_choice, env_float

REQUEST_ID_METADATA_KEY = "x-request-id"


LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(service: str) -> None:
    """One JSON object per line, each carrying the service name and any bound context.

    The level comes from KEYART_LOG_LEVEL (default info; debug adds a line per RPC), the
    interval of `log_bad_input` from KEYART_LOG_BAD_INPUT_EVERY_S (default 10).
    """
    level = env_choice("KEYART_LOG_LEVEL", "info", LOG_LEVELS)
    BAD_INPUT.interval_s = env_float(
        "KEYART_LOG_BAD_INPUT_EVERY_S", DEFAULT_BAD_INPUT_EVERY_S, minimum=0.0, maximum=86_400.0
    )
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # One write per line, so lines from several processes sharing a terminal never interleave.
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)


class RateLimiter:
    """At most one admitted event per kind per `interval_s`, counting the ones turned away."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def admit(self, kind: str) -> int | None:
        """None when an event of `kind` was admitted less than `interval_s` ago (it is counted);
        otherwise how many of that kind were turned away since the last admitted one."""
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval_s:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return None
            self._last[kind] = now
            return self._suppressed.pop(kind, 0)


DEFAULT_BAD_INPUT_EVERY_S = 10.0
# Shared by everything in the process that logs input from outside (refused calls, bad HTTP).
BAD_INPUT = RateLimiter(DEFAULT_BAD_INPUT_EVERY_S)


def log_bad_input(
    logger: structlog.typing.FilteringBoundLogger, kind: str, event: str, **fields: object
) -> None:
    """A warning about bad input from outside: one JSON line per `kind` per interval at most,
    saying how many of that kind went unlogged since the last (`suppressed`), so that no
    client can fill the log."""
    suppressed = BAD_INPUT.admit(kind)
    if suppressed is not None:
        logger.warning(event, kind=kind, suppressed=suppressed, **fields)
