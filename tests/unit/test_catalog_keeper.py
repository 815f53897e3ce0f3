"""CatalogKeeper applies its own writes in memory; what it serves must be what the store holds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from demo.catalog import demo_titles
from services.artwork.catalog import Catalog
from services.artwork.keeper import CatalogKeeper
from services.artwork.model import Artwork, FaceBox, Title
from services.artwork.store import ArtworkStore

IMAGES = "http://img.test/images"


def keeper_on(path: Path) -> CatalogKeeper:
    return CatalogKeeper(lambda: ArtworkStore(path), IMAGES)


def same(a: Catalog, b: Catalog) -> bool:
    return (
        a.version == b.version
        and [e.title for e in a] == [e.title for e in b]
        and np.array_equal(a.matrix, b.matrix)
    )


def test_every_kind_of_write_serves_what_a_fresh_read_of_the_store_serves(
    tmp_path: Path,
) -> None:
    path = tmp_path / "catalog.db"
    ArtworkStore(path).upsert_titles(demo_titles()[:50])
    keeper = keeper_on(path)
    keeper.load()
    first = demo_titles()[3]
    new = Artwork(
        f"{first.title_id}/ava",
        ("Ada Crane",),
        ("comedy",),
        0.91,
        0.4,
        (FaceBox(0.1, 0.2, 0.3, 0.4),),
        "https://cdn.test/a.jpg",
    )
    writes = [
        lambda: keeper.upsert(
            [
                Title(
                    "zz-new",
                    "New",
                    ("drama",),
                    ("Ada Crane",),
                    (dataclasses.replace(new, artwork_id="zz-new/a"),),
                )
            ]
        ),
        lambda: keeper.register(first.title_id, [new], replace=False),
        lambda: keeper.register(
            first.title_id, [dataclasses.replace(new, composition=0.2)], replace=False
        ),
        lambda: keeper.register(
            demo_titles()[4].title_id,
            [dataclasses.replace(new, artwork_id=f"{demo_titles()[4].title_id}/x")],
            replace=True,
        ),
        lambda: keeper.delete([demo_titles()[5].title_id, "zz-new"]),
    ]
    for write in writes:
        served = write()
        assert same(served, keeper_on(path).load())


def test_a_write_by_another_writer_in_between_makes_the_keeper_read_the_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "catalog.db"
    ArtworkStore(path).upsert_titles(demo_titles()[:10])
    keeper = keeper_on(path)
    keeper.load()
    other = Title("yy-other", "Other", (), (), (Artwork("yy-other/a", (), (), 0.5, 0.5),))
    ArtworkStore(path).upsert_titles([other])  # another replica's write, not yet polled
    served = keeper.upsert(
        [dataclasses.replace(other, title_id="zz", artworks=(Artwork("zz/a", (), (), 0.5, 0.5),))]
    )
    assert {"yy-other", "zz"} <= {entry.title.title_id for entry in served}
    assert same(served, keeper_on(path).load())


def test_refresh_reloads_only_when_the_store_moved(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    ArtworkStore(path).upsert_titles(demo_titles()[:10])
    keeper = keeper_on(path)
    keeper.load()
    assert keeper.refresh() is None
    ArtworkStore(path).delete_titles([demo_titles()[0].title_id])
    refreshed = keeper.refresh()
    assert refreshed is not None and len(refreshed) == 9


def test_a_catalog_built_on_a_previous_one_equals_one_built_anew() -> None:
    titles = demo_titles()[:200]
    previous = Catalog(titles, IMAGES)
    changed = [*titles[:100], dataclasses.replace(titles[100], name="Renamed"), *titles[102:]]
    assert same(Catalog(changed, IMAGES, previous), Catalog(changed, IMAGES))
    assert Catalog(changed, IMAGES, previous).version != previous.version
