"""The catalog store and the catalog served from it: every write is committed, then served.

Blocking (call it through asyncio.to_thread). Replicas that share one store learn of each
other's writes by polling `refresh`, which reloads only when the store's revision moved.

After its own write the keeper does not read the whole store back (twelve seconds for
600,000 artworks): when the revision moved by exactly one, nobody else wrote since the
last read, so the store now holds the last read plus this write, and the keeper applies
the write to the titles it holds. Any other move means another writer: it reloads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.artwork.catalog import Catalog
from services.artwork.catalog_store import CatalogStore
from services.artwork.model import Artwork, Title


def _with_artworks(title: Title, artworks: Sequence[Artwork], *, replace: bool) -> Title:
    """`title` as the store holds it after add_artworks: new ids replace, the rest append."""
    new_ids = {artwork.artwork_id for artwork in artworks}
    kept = () if replace else tuple(a for a in title.artworks if a.artwork_id not in new_ids)
    return Title(title.title_id, title.name, title.genres, title.cast, (*kept, *artworks))


class CatalogKeeper:
    def __init__(self, open_store: Callable[[], CatalogStore], image_base_url: str) -> None:
        """`open_store` runs on first use, so a server binds before checking its database."""
        self._open_store = open_store
        self._opened: CatalogStore | None = None
        self._image_base_url = image_base_url
        self._revision: int | None = None
        self._titles: dict[str, Title] = {}
        self._catalog: Catalog | None = None

    @property
    def _store(self) -> CatalogStore:
        if self._opened is None:
            self._opened = self._open_store()
        return self._opened

    def load(self) -> Catalog:
        """Every title in the store (an empty store: an empty catalog)."""
        # The revision comes from the titles' own snapshot: a write committed after it moves
        # the store past the remembered one, so the next refresh reloads rather than missing it.
        revision, titles = self._store.load()
        return self._serve(revision, {title.title_id: title for title in titles})

    def refresh(self) -> Catalog | None:
        """The reloaded catalog when the store changed since the last load, else None."""
        if self._store.revision() == self._revision:
            return None
        return self.load()

    def register(self, title_id: str, artworks: Sequence[Artwork], *, replace: bool) -> Catalog:
        """AVA's RegisterArtworks: adds artworks to an existing title, all or none."""
        revision = self._store.add_artworks(title_id, artworks, replace=replace)
        return self._after_write(
            revision,
            lambda titles: titles.update(
                {title_id: _with_artworks(titles[title_id], artworks, replace=replace)}
            ),
        )

    def upsert(self, titles: Sequence[Title]) -> Catalog:
        """Inserts or replaces whole titles with their artworks, all or none."""
        revision = self._store.upsert_titles(titles)
        return self._after_write(
            revision, lambda held: held.update({t.title_id: t for t in titles})
        )

    def delete(self, title_ids: Sequence[str]) -> Catalog:
        """Removes titles with their artworks, all or none."""
        revision = self._store.delete_titles(title_ids)
        return self._after_write(
            revision, lambda held: [held.pop(title_id) for title_id in title_ids]
        )

    def _after_write(self, revision: int, apply: Callable[[dict[str, Title]], object]) -> Catalog:
        """`revision`: the one the write committed."""
        if self._revision is None or revision != self._revision + 1:
            return self.load()
        titles = dict(self._titles)
        apply(titles)
        return self._serve(revision, titles)

    def _serve(self, revision: int, titles: dict[str, Title]) -> Catalog:
        catalog = Catalog(
            [titles[title_id] for title_id in sorted(titles)], self._image_base_url, self._catalog
        )
        self._revision, self._titles, self._catalog = revision, titles, catalog
        return catalog
