"""RegisterArtworks on an in-process server over a real SQLite store: all or none."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import grpc
import numpy as np
import pytest
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1.artwork_service_pb2_grpc import ArtworkServiceStub

from common.errors import InvalidArgument
from common.features import ARTWORK_DIM, artwork_vector, unpack
from services.artwork.model import Artwork
from services.artwork.server import build_server
from services.artwork.store import ArtworkStore
from tests.unit.test_artwork_service import make_config, store_demo

T = TypeVar("T")
TITLE = "title-00001"


def on_server(
    db_path: Path, scenario: Callable[[ArtworkServiceStub], Awaitable[T]], *, seed: bool = True
) -> T:
    """`scenario` against an in-process server on the store at `db_path` (`seed`: the demo's)."""
    config = make_config(db_path)
    if seed:
        store_demo(db_path)

    async def run() -> T:
        server, servicer = build_server(config)
        await servicer.load()
        port = await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await scenario(ArtworkServiceStub(channel))
        finally:
            await server.stop()

    return asyncio.run(run())


def new(
    name: str,
    tones: tuple[str, ...] = ("drama",),
    title: str = TITLE,
    faces: list[tuple[float, float, float, float]] | None = None,
) -> pb.NewArtwork:
    boxes = [pb.FaceBox(x=x, y=y, width=w, height=h) for x, y, w, h in faces or []]
    return pb.NewArtwork(
        artwork_id=f"{title}/{name}",
        tags=pb.AvaTags(
            cast=["Eileen Collins"], tones=tones, visual_quality=0.7, composition=0.6, faces=boxes
        ),
    )


def with_faces(*faces: tuple[float, float, float, float]) -> pb.RegisterArtworksRequest:
    """A registration whose second artwork carries `faces` (the first is fine)."""
    return pb.RegisterArtworksRequest(
        title_id=TITLE, artworks=[new("ok"), new("faces", faces=list(faces))]
    )


async def candidates(stub: ArtworkServiceStub) -> pb.GetCandidatesResponse:
    return await stub.GetCandidates(
        pb.GetCandidatesRequest(title_ids=[TITLE], include_features=True)
    )


def test_registered_artworks_are_served_with_their_feature_vectors(tmp_path: Path) -> None:
    async def scenario(stub: ArtworkServiceStub) -> tuple[pb.GetCandidatesResponse, ...]:
        before = await candidates(stub)
        response = await stub.RegisterArtworks(
            pb.RegisterArtworksRequest(title_id=TITLE, artworks=[new("ava-1"), new("ava-2")])
        )
        after = await candidates(stub)
        return before, response, after

    before, response, after = on_server(tmp_path / "catalog.db", scenario)
    old_ids = list(before.titles[0].artwork_ids)
    assert list(after.titles[0].artwork_ids) == [*old_ids, f"{TITLE}/ava-1", f"{TITLE}/ava-2"]
    assert response.catalog_version == after.catalog_version != before.catalog_version
    expected = artwork_vector(("drama",), ("Eileen Collins",), 0.7, 0.6)
    rows = unpack(response.features, response.feature_dim, field="features")
    np.testing.assert_allclose(rows, [expected, expected], rtol=1e-6)
    served = unpack(after.features, ARTWORK_DIM, field="features")
    np.testing.assert_allclose(served[-2:], rows)
    stored = {t.title_id: t for t in ArtworkStore(tmp_path / "catalog.db").load().titles}[TITLE]
    assert [a.artwork_id for a in stored.artworks][-2:] == [f"{TITLE}/ava-1", f"{TITLE}/ava-2"]


def test_replace_existing_serves_exactly_the_new_ones(tmp_path: Path) -> None:
    async def scenario(stub: ArtworkServiceStub) -> pb.GetCandidatesResponse:
        await stub.RegisterArtworks(
            pb.RegisterArtworksRequest(
                title_id=TITLE, artworks=[new("ava-1")], replace_existing=True
            )
        )
        return await candidates(stub)

    after = on_server(tmp_path / "catalog.db", scenario)
    assert list(after.titles[0].artwork_ids) == [f"{TITLE}/ava-1"]
    assert after.titles[0].default_artwork_id == f"{TITLE}/ava-1"


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (
            pb.RegisterArtworksRequest(
                title_id="no-such-title", artworks=[new("a", title="no-such-title")]
            ),
            grpc.StatusCode.NOT_FOUND,
            "title 'no-such-title' is not in the catalog",
        ),
        (
            pb.RegisterArtworksRequest(
                title_id=TITLE, artworks=[new("ok"), new("bad", tones=("sad",))]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "artworks[1].tags.tones[0]: unknown genre 'sad'",
        ),
        (
            pb.RegisterArtworksRequest(title_id=TITLE, artworks=[new("x", title="title-00002")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            f"artworks[0].artwork_id: must be '{TITLE}/<name>'",
        ),
        (
            pb.RegisterArtworksRequest(
                title_id=TITLE,
                artworks=[
                    pb.NewArtwork(artwork_id=f"{TITLE}/x", tags=pb.AvaTags(visual_quality=1.5))
                ],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "artworks[0].tags.visual_quality: 1.5 is not a score between 0 and 1",
        ),
        (
            pb.RegisterArtworksRequest(title_id=TITLE, artworks=[new("twice"), new("twice")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "artworks[1].artwork_id: is listed twice",
        ),
        (
            pb.RegisterArtworksRequest(title_id=TITLE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "artworks: must list at least one artwork",
        ),
        (
            with_faces((0.1, 0.1, 0.2, 0.2), (0.5, -0.25, 0.2, 0.2)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "artworks[1].tags.faces[1].y: -0.25 is not a fraction between 0 and 1",
        ),
        (
            with_faces((0.1, 0.1, float("nan"), 0.2)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "artworks[1].tags.faces[0].width: nan is not a fraction between 0 and 1",
        ),
        (
            with_faces((0.75, 0.1, 0.5, 0.2)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "artworks[1].tags.faces[0].width: x + width exceeds 1: the box leaves the image",
        ),
        (
            with_faces((0.1, 0.5, 0.2, 0.0)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "artworks[1].tags.faces[0].height: must be above 0",
        ),
        (
            with_faces(*[(0.0, 0.0, 0.1, 0.1)] * 33),
            grpc.StatusCode.INVALID_ARGUMENT,
            "artworks[1].tags.faces: 33 boxes exceed the limit of 32",
        ),
        (
            pb.RegisterArtworksRequest(title_id=TITLE, artworks=[new("ok"), new("../../etc")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            f"artworks[1].artwork_id: '{TITLE}/../../etc' has an empty, '.' or '..' segment "
            "between its '/'s",
        ),
        (
            pb.RegisterArtworksRequest(title_id=TITLE, artworks=[new("a\\b")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "artworks[0].artwork_id: must not contain a backslash",
        ),
        (
            pb.RegisterArtworksRequest(title_id=f"{TITLE}/..", artworks=[new("a")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            f"title_id: '{TITLE}/..' has an empty, '.' or '..' segment between its '/'s",
        ),
    ],
)
def test_bad_registrations_change_nothing(
    tmp_path: Path, request_: pb.RegisterArtworksRequest, code: grpc.StatusCode, message: str
) -> None:
    async def scenario(
        stub: ArtworkServiceStub,
    ) -> tuple[pb.GetCandidatesResponse, grpc.aio.AioRpcError, pb.GetCandidatesResponse]:
        before = await candidates(stub)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RegisterArtworks(request_)
        return before, caught.value, await candidates(stub)

    before, error, after = on_server(tmp_path / "catalog.db", scenario)
    assert (error.code(), error.details()) == (code, message)
    assert after == before
    stored = {t.title_id: t for t in ArtworkStore(tmp_path / "catalog.db").load().titles}[TITLE]
    assert [a.artwork_id for a in stored.artworks] == list(before.titles[0].artwork_ids)


def test_an_artwork_id_of_another_title_is_refused_whole(tmp_path: Path) -> None:
    store = ArtworkStore(tmp_path / "catalog.db")
    store_demo(tmp_path / "catalog.db")
    other = store.load().titles[0].artworks[0].artwork_id  # a good-will-hunting artwork
    before = store.load().titles
    with pytest.raises(InvalidArgument, match=r"artworks\[1\].artwork_id: .* belongs to title"):
        store.add_artworks(
            TITLE,
            [Artwork(f"{TITLE}/new", (), (), 0.5, 0.5), Artwork(other, (), (), 0.5, 0.5)],
            replace=True,
        )
    assert store.load().titles == before


def test_face_boxes_are_stored_and_served_by_get_titles(tmp_path: Path) -> None:
    # In float32, 0.6 + 0.4 is a hair above 1: a box touching the edge is still accepted.
    faces = [(0.6, 0.125, 0.4, 0.5), (0.0, 0.5, 0.25, 0.5)]

    async def scenario(stub: ArtworkServiceStub) -> pb.Title:
        await stub.RegisterArtworks(
            pb.RegisterArtworksRequest(title_id=TITLE, artworks=[new("ava-faces", faces=faces)])
        )
        return (await stub.GetTitles(pb.GetTitlesRequest(title_ids=[TITLE]))).titles[0]

    title = on_server(tmp_path / "catalog.db", scenario)
    served = {a.artwork_id: a for a in title.artworks}[f"{TITLE}/ava-faces"]
    got = [(f.x, f.y, f.width, f.height) for f in served.tags.faces]
    np.testing.assert_allclose(got, faces, atol=1e-6)
    stored = {t.title_id: t for t in ArtworkStore(tmp_path / "catalog.db").load().titles}[TITLE]
    boxes = [(f.x, f.y, f.width, f.height) for f in stored.artworks[-1].faces]
    np.testing.assert_allclose(boxes, faces, atol=1e-6)
