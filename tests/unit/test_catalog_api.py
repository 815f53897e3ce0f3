"""UpsertTitles and DeleteTitles on an in-process server over a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1.artwork_service_pb2_grpc import ArtworkServiceStub

from services.artwork.store import ArtworkStore
from services.artwork.titles import MAX_ARTWORKS_PER_TITLE, MAX_TITLES_PER_UPSERT
from tests.unit.test_artwork_registration import on_server

CDN = "https://cdn.example.com/art"


def artwork(
    artwork_id: str, quality: float = 0.7, tones: tuple[str, ...] = ("drama",)
) -> pb.Artwork:
    return pb.Artwork(
        artwork_id=artwork_id,
        image_url=f"{CDN}/{artwork_id}.jpg",
        tags=pb.AvaTags(cast=["Ada Crane"], tones=tones, visual_quality=quality, composition=0.5),
    )


def new_title(
    title_id: str, *artworks: pb.Artwork, genres: tuple[str, ...] = ("drama",)
) -> pb.NewTitle:
    return pb.NewTitle(
        title_id=title_id,
        name=f"The {title_id}",
        genres=genres,
        cast=["Ada Crane", "Wes Hollis"],
        artworks=artworks or (artwork(f"{title_id}-a"),),
    )


def upsert(*titles: pb.NewTitle) -> pb.UpsertTitlesRequest:
    return pb.UpsertTitlesRequest(titles=titles)


def test_upserted_titles_are_served_with_their_image_urls_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "catalog.db"

    async def scenario(stub: ArtworkServiceStub) -> tuple[pb.UpsertTitlesResponse, ...]:
        first = await stub.UpsertTitles(
            upsert(
                new_title("lagoon", artwork("lagoon-sea"), artwork("lagoon-sky", 0.9)),
                new_title("ridge"),
            )
        )
        again = await stub.UpsertTitles(
            upsert(
                new_title("lagoon", artwork("lagoon-sea"), artwork("lagoon-sky", 0.9)),
                new_title("ridge"),
            )
        )
        return first, again

    first, again = on_server(db, scenario, seed=False)
    assert (first.changed, first.title_count, first.artwork_count) == (True, 2, 3)
    assert (again.changed, again.catalog_version) == (False, first.catalog_version)

    async def after_restart(
        stub: ArtworkServiceStub,
    ) -> tuple[pb.GetTitlesResponse, pb.GetCatalogInfoResponse]:
        titles = await stub.GetTitles(pb.GetTitlesRequest(title_ids=["lagoon"]))
        return titles, await stub.GetCatalogInfo(pb.GetCatalogInfoRequest())

    titles, info = on_server(db, after_restart, seed=False)
    assert info.catalog_version == first.catalog_version
    served = titles.titles[0]
    assert [a.image_url for a in served.artworks] == [
        f"{CDN}/lagoon-sea.jpg",
        f"{CDN}/lagoon-sky.jpg",
    ]
    assert served.default_artwork_id == "lagoon-sky"  # the better aesthetic score
    assert list(served.genres) == ["drama"] and served.name == "The lagoon"


def test_a_titles_artworks_are_replaced_as_a_set(tmp_path: Path) -> None:
    async def scenario(stub: ArtworkServiceStub) -> pb.GetCandidatesResponse:
        await stub.UpsertTitles(
            upsert(new_title("lagoon", artwork("lagoon-sea"), artwork("lagoon-sky")))
        )
        await stub.UpsertTitles(upsert(new_title("lagoon", artwork("lagoon-dusk"))))
        return await stub.GetCandidates(pb.GetCandidatesRequest(title_ids=["lagoon"]))

    served = on_server(tmp_path / "catalog.db", scenario, seed=False)
    assert list(served.titles[0].artwork_ids) == ["lagoon-dusk"]


def test_delete_removes_titles_all_or_none(tmp_path: Path) -> None:
    async def scenario(
        stub: ArtworkServiceStub,
    ) -> tuple[
        grpc.aio.AioRpcError,
        pb.GetCatalogInfoResponse,
        pb.DeleteTitlesResponse,
        pb.GetTitlesResponse,
    ]:
        await stub.UpsertTitles(upsert(new_title("lagoon"), new_title("ridge")))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.DeleteTitles(pb.DeleteTitlesRequest(title_ids=["lagoon", "nope"]))
        kept = await stub.GetCatalogInfo(pb.GetCatalogInfoRequest())
        deleted = await stub.DeleteTitles(pb.DeleteTitlesRequest(title_ids=["lagoon"]))
        missing = await stub.GetTitles(pb.GetTitlesRequest(title_ids=["lagoon", "ridge"]))
        return refused.value, kept, deleted, missing

    refused, kept, deleted, missing = on_server(tmp_path / "catalog.db", scenario, seed=False)
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    assert refused.details() == "title_ids[1]: title 'nope' is not in the catalog"
    assert kept.title_count == 2
    assert (deleted.title_count, deleted.artwork_count) == (1, 1)
    assert list(missing.missing_title_ids) == ["lagoon"]


def bad_quality() -> pb.UpsertTitlesRequest:
    return upsert(
        new_title("ok"), new_title("bad", artwork("bad-1"), artwork("bad-2", quality=1.5))
    )


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            bad_quality(),
            "titles[1].artworks[1].tags.visual_quality: 1.5 is not a score between 0 and 1",
        ),
        (upsert(), "titles: must list at least one title"),
        (
            upsert(
                *[new_title(f"t{i}", artwork(f"t{i}-a")) for i in range(MAX_TITLES_PER_UPSERT + 1)]
            ),
            f"titles: {MAX_TITLES_PER_UPSERT + 1} titles exceed the limit of {MAX_TITLES_PER_UPSERT}",
        ),
        (
            upsert(
                new_title("big", *[artwork(f"big-{j}") for j in range(MAX_ARTWORKS_PER_TITLE + 1)])
            ),
            f"titles[0].artworks: {MAX_ARTWORKS_PER_TITLE + 1} artworks exceed the limit of {MAX_ARTWORKS_PER_TITLE}",
        ),
        (
            upsert(new_title("x", genres=("drama", "anime"))),
            "titles[0].genres[1]: unknown genre 'anime'",
        ),
        (
            upsert(new_title("x", artwork("x-a", tones=("sad",)))),
            "titles[0].artworks[0].tags.tones[0]: unknown genre 'sad'",
        ),
        (
            upsert(new_title("../etc")),
            "titles[0].title_id: '../etc' has an empty, '.' or '..' segment between its '/'s",
        ),
        (upsert(new_title("x"), new_title("x")), "titles[1].title_id: 'x' is also titles[0]"),
        (
            upsert(new_title("x", artwork("shared")), new_title("y", artwork("shared"))),
            "titles[1].artworks[0].artwork_id: 'shared' is also an artwork of titles[0]",
        ),
        (upsert(pb.NewTitle(title_id="x", name=" ")), "titles[0].name: must not be empty"),
        (
            upsert(pb.NewTitle(title_id="x", name="X")),
            "titles[0].artworks: must list at least one artwork",
        ),
        (
            upsert(new_title("x", pb.Artwork(artwork_id="x-a", image_url="file:///etc/passwd"))),
            "titles[0].artworks[0].image_url: 'file:///etc/passwd' is not an http(s) URL",
        ),
    ],
)
def test_bad_titles_are_refused_naming_the_field_and_nothing_is_stored(
    tmp_path: Path, request_: pb.UpsertTitlesRequest, message: str
) -> None:
    async def scenario(stub: ArtworkServiceStub) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpsertTitles(request_)
        return caught.value

    error = on_server(tmp_path / "catalog.db", scenario, seed=False)
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    assert ArtworkStore(tmp_path / "catalog.db").title_count() == 0


def test_an_artwork_id_of_a_title_outside_the_call_is_refused(tmp_path: Path) -> None:
    async def scenario(stub: ArtworkServiceStub) -> grpc.aio.AioRpcError:
        await stub.UpsertTitles(upsert(new_title("x", artwork("mine"))))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpsertTitles(upsert(new_title("y"), new_title("z", artwork("mine"))))
        return caught.value

    error = on_server(tmp_path / "catalog.db", scenario, seed=False)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "titles[1].artworks[0].artwork_id: 'mine' belongs to title 'x'"
    assert ArtworkStore(tmp_path / "catalog.db").title_count() == 1


def test_list_titles_pages_through_the_whole_catalog_in_id_order(tmp_path: Path) -> None:
    ids = [f"t{i:02d}" for i in range(7)]

    async def scenario(stub: ArtworkServiceStub) -> tuple[list[list[str]], set[str]]:
        await stub.UpsertTitles(upsert(*[new_title(i, artwork(f"{i}-a")) for i in reversed(ids)]))
        pages: list[list[str]] = []
        versions: set[str] = set()
        token = ""
        while True:
            page = await stub.ListTitles(pb.ListTitlesRequest(page_size=3, page_token=token))
            pages.append([title.title_id for title in page.titles])
            versions.add(page.catalog_version)
            token = page.next_page_token
            if not token:
                return pages, versions

    pages, versions = on_server(tmp_path / "catalog.db", scenario, seed=False)
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    assert len(versions) == 1


def test_list_titles_refuses_an_oversized_page(tmp_path: Path) -> None:
    async def scenario(stub: ArtworkServiceStub) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListTitles(pb.ListTitlesRequest(page_size=5001))
        return caught.value

    error = on_server(tmp_path / "catalog.db", scenario, seed=False)
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size: 5001; the limit is 5000",
    )
