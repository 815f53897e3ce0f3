"""What the artwork service needs of a catalog store, whichever engine holds it.

`ArtworkStore` (SQLite, `store.py`, the embedded default) and `PostgresCatalogStore`
(`postgres_store.py`, shared by every replica) implement it; `ARTWORK_STORE` picks one.
Every method is blocking (call it through asyncio.to_thread) and each write is one
transaction: all of it or none. A write returns the revision it committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple, Protocol

from common.errors import InvalidArgument
from services.artwork.model import Artwork, FaceBox, Title


class CatalogSnapshot(NamedTuple):
    """The titles and the revision they are at, read in one transaction: never a mixture."""

    revision: int
    titles: list[Title]


class CatalogStore(Protocol):
    def title_count(self) -> int:
        """How many titles the catalog holds."""
        ...

    def load(self) -> CatalogSnapshot:
        """Every title ordered by id (each with its artworks in their stored order) and the
        revision they are at, from one snapshot of the store."""
        ...

    def add_artworks(self, title_id: str, artworks: Sequence[Artwork], *, replace: bool) -> int:
        """Adds `artworks` to an existing title (AVA's RegisterArtworks).

        An artwork id the title already has is replaced; `replace` drops all its others.
        NotFound for an unknown title; InvalidArgument for an id that belongs to another.
        """
        ...

    def upsert_titles(self, titles: Sequence[Title]) -> int:
        """Inserts or replaces each title together with its whole set of artworks.

        InvalidArgument naming `titles[i].artworks[j].artwork_id` for an artwork id
        that belongs to a title outside this call.
        """
        ...

    def delete_titles(self, title_ids: Sequence[str]) -> int:
        """Deletes the titles and their artworks; NotFound naming `title_ids[i]` for an unknown one."""
        ...

    def revision(self) -> int:
        """A number that grows with every committed write, from any writer of the store.

        Replicas sharing one store poll it to learn that the catalog changed.
        """
        ...


TitleRow = tuple[str, str, Sequence[str], Sequence[str]]


def faces_from(boxes: Iterable[Sequence[float]]) -> tuple[FaceBox, ...]:
    """Stored face boxes, `[x, y, width, height]` each, as FaceBoxes."""
    return tuple(FaceBox(*box) for box in boxes)


def face_lists(faces: Sequence[FaceBox]) -> list[list[float]]:
    """FaceBoxes as stored: `[x, y, width, height]` each."""
    return [[f.x, f.y, f.width, f.height] for f in faces]


def positioned_artworks(titles: Iterable[Title]) -> Iterator[tuple[str, int, Artwork]]:
    """`(title_id, position, artwork)` for every artwork of `titles`, positions from 0 per title."""
    for title in titles:
        for position, artwork in enumerate(title.artworks):
            yield title.title_id, position, artwork


def assemble_titles(
    title_rows: Iterable[TitleRow], artwork_rows: Iterable[tuple[str, Artwork]]
) -> list[Title]:
    """Titles (id, name, genres, cast) in their order, each with its `(title_id, artwork)`s in theirs."""
    artworks: dict[str, list[Artwork]] = {}
    for title_id, artwork in artwork_rows:
        artworks.setdefault(title_id, []).append(artwork)
    return [
        Title(title_id, name, tuple(genres), tuple(cast), tuple(artworks.get(title_id, ())))
        for title_id, name, genres, cast in title_rows
    ]


def check_added_artworks(
    title_id: str, artworks: Sequence[Artwork], owners: Mapping[str, str]
) -> None:
    """InvalidArgument naming `artworks[i].artwork_id` for an id that another title owns.

    `owners`: the owning title of each of those ids the store holds already.
    """
    for i, artwork in enumerate(artworks):
        owner = owners.get(artwork.artwork_id, title_id)
        if owner != title_id:
            raise InvalidArgument(
                f"artworks[{i}].artwork_id", f"{artwork.artwork_id!r} belongs to title {owner!r}"
            )


def check_upserted_artworks(titles: Sequence[Title], owners: Mapping[str, str]) -> None:
    """InvalidArgument naming `titles[i].artworks[j].artwork_id` for an id that a title outside
    this call owns. `owners`: the owning title of each of those ids the store holds already."""
    upserted = {title.title_id for title in titles}
    for i, title in enumerate(titles):
        for j, artwork in enumerate(title.artworks):
            owner = owners.get(artwork.artwork_id, title.title_id)
            if owner not in upserted:
                raise InvalidArgument(
                    f"titles[{i}].artworks[{j}].artwork_id",
                    f"{artwork.artwork_id!r} belongs to title {owner!r}",
                )
