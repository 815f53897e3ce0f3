"""The catalog store contract (services/artwork/catalog_store.py), against each real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import InvalidArgument, NotFound
from services.artwork.catalog_store import CatalogStore
from services.artwork.model import Artwork, Title
from services.artwork.store import ArtworkStore


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> CatalogStore:
    return ArtworkStore(tmp_path / "catalog.db")


def title(title_id: str, *names: str, image_url: str = "") -> Title:
    artworks = tuple(
        Artwork(f"{title_id}/{name}", ("Ada Crane",), ("drama",), 0.5, 0.25, (), image_url)
        for name in names
    )
    return Title(title_id, title_id.title(), ("drama",), ("Ada Crane",), artworks)


def test_upsert_replaces_a_titles_artworks_as_a_set_and_keeps_image_urls(
    store: CatalogStore,
) -> None:
    store.upsert_titles([title("t1", "a", "b"), title("t2", "a")])
    replaced = title("t1", "c", image_url="https://cdn.example/t1-c.jpg")
    store.upsert_titles([replaced])
    assert store.load().titles == [replaced, title("t2", "a")]


def test_an_artwork_id_of_another_title_is_refused_and_nothing_is_written(
    store: CatalogStore,
) -> None:
    store.upsert_titles([title("t1", "a")])
    stolen = Title("t2", "T2", (), (), (title("t1", "a").artworks[0],))
    with pytest.raises(InvalidArgument) as caught:
        store.upsert_titles([title("t3", "a"), stolen])
    assert caught.value.field == "titles[1].artworks[0].artwork_id"
    assert [t.title_id for t in store.load().titles] == ["t1"]


def test_delete_removes_titles_with_their_artworks_all_or_none(store: CatalogStore) -> None:
    store.upsert_titles([title("t1", "a"), title("t2", "a")])
    with pytest.raises(NotFound, match=r"title_ids\[1\]"):
        store.delete_titles(["t1", "nope"])
    assert store.title_count() == 2
    store.delete_titles(["t1"])
    assert store.load().titles == [title("t2", "a")]
    store.upsert_titles([title("t1", "a")])  # its artwork ids are free again
    assert store.title_count() == 2


def test_the_revision_moves_with_every_committed_write_and_not_with_a_refused_one(
    store: CatalogStore,
) -> None:
    start = store.revision()
    store.upsert_titles([title("t1", "a")])
    after_upsert = store.revision()
    store.add_artworks("t1", [title("t1", "b").artworks[0]], replace=False)
    after_add = store.revision()
    with pytest.raises(NotFound):
        store.delete_titles(["nope"])
    store.delete_titles(["t1"])
    assert start < after_upsert < after_add < store.revision()
    assert store.revision() == after_add + 1
