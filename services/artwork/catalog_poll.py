"""Serves what other writers committed: checks the store's revision every poll interval.

A version poll rather than PostgreSQL's LISTEN/NOTIFY: a notification sent while a replica
is disconnected (a database restart, a network blip) is lost and would need a poll to
recover anyway, and the poll is one indexed one-row read, works the same on SQLite and
through connection poolers (PgBouncer in transaction mode drops LISTEN).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from common.errors import Unavailable
from common.logging import RateLimiter, get_logger
from services.artwork.catalog import Catalog

log = get_logger(__name__)

# A failing poll is logged at most this often; the next line counts the ones left out.
FAILURE_LOG_EVERY_S = 30.0


async def poll_catalog(
    refresh: Callable[[], Awaitable[Catalog | None]],
    poll_s: float,
    stop: asyncio.Event,
    failure_log_every_s: float = FAILURE_LOG_EVERY_S,
) -> None:
    """Calls `refresh` (which serves a changed catalog) every `poll_s` until `stop` is set.

    A store that cannot be reached keeps the catalog held being served, and is retried at the
    next poll.
    """
    failures = RateLimiter(failure_log_every_s)
    failing = False
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)
        if stop.is_set():
            return
        try:
            catalog = await refresh()
        except Unavailable as error:
            failing = True
            suppressed = failures.admit("refresh")
            if suppressed is not None:
                log.warning(
                    "catalog not refreshed; serving the catalog held",
                    error=str(error),
                    suppressed=suppressed,
                )
            continue
        if failing:
            failing = False
            log.info("catalog store reachable again")
        if catalog is not None:
            log.info(
                "catalog refreshed",
                titles=len(catalog),
                artworks=catalog.artwork_count,
                catalog_version=catalog.version,
            )
