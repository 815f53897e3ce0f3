"""The gateway's catalog cache: bounded LRU, and a background refresh that swaps versions."""

from __future__ import annotations

import asyncio

from gateway.backends import Backends, TitleCandidates
from gateway.catalog_cache import CatalogCache


def entry(title_id: str, version: str = "v1", first_row: int = 0) -> TitleCandidates:
    return TitleCandidates(
        title_id, f"{title_id}/a1", (f"{title_id}/a1",), ("u",), version, first_row
    )


class FakeArtwork(Backends):
    """The two calls the cache makes, answering from a dict of the current catalog (no
    channels: Backends.__init__ is not called)."""

    def __init__(self, version: str, rows: dict[str, int]) -> None:
        self.version = version
        self.rows = rows
        self.fetched: list[list[str]] = []

    async def catalog_version(self, timeout: float) -> str:
        return self.version

    async def candidates(
        self, title_ids: list[str], timeout: float, request_id: str
    ) -> dict[str, TitleCandidates]:
        self.fetched.append(list(title_ids))
        return {t: entry(t, self.version, self.rows[t]) for t in title_ids if t in self.rows}


def test_lookup_gives_each_id_its_entry_or_none_and_the_misses_in_request_order() -> None:
    cache = CatalogCache(max_titles=10)
    cache.store({"a": entry("a"), "b": entry("b")})
    found, missing = cache.lookup(["b", "x", "a", "y"])
    assert [e and e.title_id for e in found] == ["b", None, "a", None]
    assert missing == ["x", "y"]


def test_least_recently_used_titles_are_evicted_beyond_the_bound() -> None:
    cache = CatalogCache(max_titles=2)
    cache.store({"a": entry("a"), "b": entry("b")})
    cache.lookup(["a"])  # b is now the least recently used
    cache.store({"c": entry("c")})
    assert len(cache) == 2
    assert cache.lookup(["a", "b", "c"])[1] == ["b"]


def test_refresh_refetches_cached_titles_when_the_version_changes() -> None:
    cache = CatalogCache(max_titles=10)
    artwork = FakeArtwork("v1", {"a": 0, "b": 1})
    cache.store({"a": entry("a", "v1", 0), "b": entry("b", "v1", 1)})
    asyncio.run(cache.refresh(artwork, 1.0))
    assert cache.version == "v1"
    artwork.fetched.clear()
    asyncio.run(cache.refresh(artwork, 1.0))
    assert artwork.fetched == []  # same version: nothing refetched

    artwork.version, artwork.rows = "v2", {"a": 5}  # b left the catalog, a moved
    asyncio.run(cache.refresh(artwork, 1.0))
    found, missing = cache.lookup(["a", "b"])
    assert cache.version == "v2"
    assert found[0] is not None and found[1] is None
    assert found[0].catalog_version == "v2" and found[0].first_row == 5
    assert missing == ["b"]
