"""The gateway's bounded cache of titles' candidates, refreshed in the background.

A page asks the artwork service only for the titles it misses here, so a warm
page needs no catalog call at all, and a late or dead artwork service costs
only the titles never seen. Entries carry the catalog version they came from;
when the artwork service reports a new version, the cached titles are
re-fetched in the background and swapped in at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import Protocol

import grpc

from common.logging import get_logger
from gateway.backends import TitleCandidates

log = get_logger(__name__)

REFRESH_BATCH = 2000


class CatalogSource(Protocol):
    """What the cache asks of the artwork service (gateway/backends.py's Backends)."""

    async def catalog_version(self, timeout: float) -> str: ...

    async def candidates(
        self, title_ids: list[str], timeout: float, request_id: str
    ) -> dict[str, TitleCandidates]: ...


class CatalogCache:
    def __init__(self, max_titles: int) -> None:
        self._max_titles = max_titles
        self._titles: OrderedDict[str, TitleCandidates] = OrderedDict()
        self.version = ""  # the artwork service's version as of the last refresh
        self._stale = asyncio.Event()

    def __len__(self) -> int:
        return len(self._titles)

    def lookup(self, title_ids: list[str]) -> tuple[list[TitleCandidates | None], list[str]]:
        """Per id its cached entry or None, and the ids to fetch, both in request order.

        Hits become most recently used once the cache is three quarters full. Below
        that nothing is near eviction, so a page skips reordering its 1,600 titles;
        the order then is the order titles came in.
        """
        titles = self._titles
        entries = list(map(titles.get, title_ids))
        missing = (
            []
            if all(entries)
            else [t for t, e in zip(title_ids, entries, strict=True) if e is None]
        )
        if len(titles) * 4 >= self._max_titles * 3:
            for title_id, entry in zip(title_ids, entries, strict=True):
                if entry is not None:
                    titles.move_to_end(title_id)
        return entries, missing

    def store(self, titles: dict[str, TitleCandidates]) -> None:
        """Adds fetched titles, evicting the least recently used beyond the bound."""
        self._titles.update(titles)
        while len(self._titles) > self._max_titles:
            self._titles.popitem(last=False)

    async def refresh(self, backends: CatalogSource, timeout_s: float) -> None:
        """Re-fetches every cached title when the artwork service has a new catalog version."""
        version = await backends.catalog_version(timeout_s)
        if version == self.version:
            return
        ids = list(self._titles)
        fresh: OrderedDict[str, TitleCandidates] = OrderedDict()
        for start in range(0, len(ids), REFRESH_BATCH):
            fresh.update(
                await backends.candidates(ids[start : start + REFRESH_BATCH], timeout_s, "")
            )
        if any(entry.catalog_version != version for entry in fresh.values()):
            return  # the catalog changed again meanwhile; the next round catches up
        self._titles = fresh
        log.info("catalog cache refreshed", old=self.version, new=version, titles=len(fresh))
        self.version = version

    def mark_stale(self) -> None:
        """Asks for a refresh now (the ranker no longer knows a cached version)."""
        self._stale.set()

    async def keep_fresh(self, backends: CatalogSource, poll_s: float) -> None:
        """Refreshes every `poll_s`, or as soon as `mark_stale` is called."""
        while True:
            self._stale.clear()
            try:
                await self.refresh(backends, timeout_s=max(poll_s, 1.0))
            except grpc.aio.AioRpcError as error:
                log.warning("catalog cache not refreshed", code=error.code().name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stale.wait(), poll_s)
