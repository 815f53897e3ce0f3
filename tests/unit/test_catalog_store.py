"""The catalog store contract (services/artwork/catalog_store.py), against each real store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from common.errors import InvalidArgument, NotFound, Unavailable
from services.artwork.catalog_store import CatalogStore
from services.artwork.model import Artwork, Title
from services.artwork.postgres_store import PostgresCatalogStore
from services.artwork.store import ArtworkStore
from suite.supervisor import free_address

OpenStore = Callable[[], CatalogStore]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    """Opens another store object on one fresh catalog (as another replica would)."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        return lambda: PostgresCatalogStore(url)
    return lambda: ArtworkStore(tmp_path / "catalog.db")


@pytest.fixture
def store(open_store: OpenStore) -> CatalogStore:
    return open_store()


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


def test_a_write_returns_the_revision_it_committed_and_a_load_reads_it_with_the_titles(
    store: CatalogStore,
) -> None:
    written = store.upsert_titles([title("t1", "a")])
    assert written == store.revision()
    assert store.load() == (written, [title("t1", "a")])
    assert store.add_artworks("t1", [title("t1", "b").artworks[0]], replace=True) == written + 1
    assert store.delete_titles(["t1"]) == written + 2


def test_two_writers_at_once_lose_nothing_and_revisions_only_move_forward(
    open_store: OpenStore,
) -> None:
    writers, per_writer = 2, 15
    stores = [open_store() for _ in range(writers)]
    start = stores[0].revision()
    revisions: list[list[int]] = [[] for _ in range(writers)]
    both_ready = threading.Barrier(writers)

    def write(k: int) -> None:
        both_ready.wait()
        for i in range(per_writer):
            revisions[k].append(stores[k].upsert_titles([title(f"w{k}-{i:02d}", "a")]))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loaded = stores[1].load()
    assert [t.title_id for t in loaded.titles] == sorted(
        f"w{k}-{i:02d}" for k in range(writers) for i in range(per_writer)
    )
    for own in revisions:
        assert own == sorted(own)  # each writer sees its revisions grow
    handed_out = sorted(r for own in revisions for r in own)
    assert handed_out == list(range(start + 1, start + writers * per_writer + 1))  # all distinct
    assert loaded.revision == start + writers * per_writer


def test_a_load_during_writes_is_one_snapshot_never_a_mixture(open_store: OpenStore) -> None:
    """Each write adds one title, so a snapshot at revision r holds exactly r - start titles."""
    writer, reader = open_store(), open_store()
    start = writer.revision()
    done = threading.Event()

    def write() -> None:
        for i in range(40):
            writer.upsert_titles([title(f"t{i:02d}", "a", "b")])
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    snapshots = []
    while not done.is_set():
        snapshots.append(reader.load())
    thread.join()
    assert len(snapshots) > 1
    for revision, titles in snapshots:
        assert len(titles) == revision - start
        assert all(len(t.artworks) == 2 for t in titles)


def test_postgres_unreachable_is_unavailable_naming_the_store_without_its_password() -> None:
    url = f"postgresql://keyart:s3cret@{free_address()}/catalog"
    with pytest.raises(Unavailable) as caught:
        PostgresCatalogStore(url)
    message = str(caught.value)
    assert "catalog store (PostgreSQL at 127.0.0.1:" in message and "/catalog)" in message
    assert "retry" in message and "s3cret" not in message
