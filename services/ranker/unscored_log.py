"""Saying that the serving model scores titles NaN or infinity, without filling the log."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from common.logging import RateLimiter, get_logger

log = get_logger(__name__)

UNSCORED_LOG_EVERY_S = 60.0


class Warns(Protocol):
    def warning(self, event: str, **fields: Any) -> Any: ...


class UnscoredLog:
    """A warning the first time a model version leaves titles unscored, then at most one per
    `interval_s` for that version, each counting the pages and titles since the last."""

    def __init__(
        self,
        interval_s: float = UNSCORED_LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        logger: Warns = log,
    ) -> None:
        self._limiter = RateLimiter(interval_s, clock)
        self._log = logger
        self._unscored: Counter[str] = Counter()  # per version, since its last line
        self._titles: Counter[str] = Counter()

    def record(self, model_version: str, unscored: int, titles: int) -> None:
        """A page of `titles` titles on which `model_version` left `unscored` unscored."""
        self._unscored[model_version] += unscored
        self._titles[model_version] += titles
        suppressed = self._limiter.admit(model_version)
        if suppressed is None:
            return
        self._log.warning(
            "model scored titles NaN or infinity",
            model_version=model_version,
            pages=suppressed + 1,
            unscored_titles=self._unscored.pop(model_version),
            of_titles=self._titles.pop(model_version),
        )
