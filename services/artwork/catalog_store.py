"""What the artwork service needs of a catalog store, whichever engine holds it.

`ArtworkStore` (SQLite, `store.py`, the embedded default) and the PostgreSQL
store implement it; `ARTWORK_STORE` picks one. Every method is blocking (call it
through asyncio.to_thread) and each write is one transaction: all of it or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.artwork.model import Artwork, Title


class CatalogStore(Protocol):
    def title_count(self) -> int:
        """How many titles the catalog holds."""
        ...

    def load_titles(self) -> list[Title]:
        """Every title ordered by id, each with its artworks in their stored order."""
        ...

    def add_artworks(self, title_id: str, artworks: Sequence[Artwork], *, replace: bool) -> None:
        """Adds `artworks` to an existing title (AVA's RegisterArtworks).

        An artwork id the title already has is replaced; `replace` drops all its others.
        NotFound for an unknown title; InvalidArgument for an id that belongs to another.
        """
        ...

    def upsert_titles(self, titles: Sequence[Title]) -> None:
        """Inserts or replaces each title together with its whole set of artworks.

        InvalidArgument naming `titles[i].artworks[j].artwork_id` for an artwork id
        that belongs to a title outside this call.
        """
        ...

    def delete_titles(self, title_ids: Sequence[str]) -> None:
        """Deletes the titles and their artworks; NotFound naming `title_ids[i]` for an unknown one."""
        ...

    def revision(self) -> int:
        """A number that grows with every committed write, from any writer of the store.

        Replicas sharing one store poll it to learn that the catalog changed.
        """
        ...
