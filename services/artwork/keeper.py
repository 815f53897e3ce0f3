"""The catalog store and the catalog served from it: every write is committed, then served.

Blocking (call it through asyncio.to_thread). Replicas that share one store learn of each
other's writes by polling `refresh`, which reloads only when the store's revision moved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.artwork.catalog import Catalog
from services.artwork.catalog_store import CatalogStore
from services.artwork.model import Artwork, Title


class CatalogKeeper:
    def __init__(self, open_store: Callable[[], CatalogStore], image_base_url: str) -> None:
        """`open_store` runs on first use, so a server binds before checking its database."""
        self._open_store = open_store
        self._opened: CatalogStore | None = None
        self._image_base_url = image_base_url
        self._revision: int | None = None

    @property
    def _store(self) -> CatalogStore:
        if self._opened is None:
            self._opened = self._open_store()
        return self._opened

    def load(self) -> Catalog:
        """Every title in the store (an empty store: an empty catalog)."""
        # The revision comes from the titles' own snapshot: a write committed after it moves
        # the store past the remembered one, so the next refresh reloads rather than missing it.
        self._revision, titles = self._store.load()
        return Catalog(titles, self._image_base_url)

    def refresh(self) -> Catalog | None:
        """The reloaded catalog when the store changed since the last load, else None."""
        if self._store.revision() == self._revision:
            return None
        return self.load()

    def register(self, title_id: str, artworks: Sequence[Artwork], *, replace: bool) -> Catalog:
        """AVA's RegisterArtworks: adds artworks to an existing title, all or none."""
        self._store.add_artworks(title_id, artworks, replace=replace)
        return self.load()

    def upsert(self, titles: Sequence[Title]) -> Catalog:
        """Inserts or replaces whole titles with their artworks, all or none."""
        self._store.upsert_titles(titles)
        return self.load()

    def delete(self, title_ids: Sequence[str]) -> Catalog:
        """Removes titles with their artworks, all or none."""
        self._store.delete_titles(title_ids)
        return self.load()
