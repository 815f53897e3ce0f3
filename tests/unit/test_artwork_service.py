"""The artwork service over a real channel, backed by a real SQLite store."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import TypeVar

import grpc
import numpy as np
import pytest
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1.artwork_service_pb2_grpc import ArtworkServiceStub

from common.config import ConfigError
from common.features import ARTWORK_DIM, aesthetic_score, artwork_vector
from common.server import ServerSettings
from demo.catalog import demo_titles
from demo.layout import face_boxes
from services.artwork.catalog import Catalog
from services.artwork.config import ArtworkConfig
from services.artwork.model import Artwork, FaceBox, Title
from services.artwork.server import build_server, load_catalog
from services.artwork.store import ArtworkStore

T = TypeVar("T")
IMAGES = "http://img.test/images"
LIMIT = 2000
DEMO = {title.title_id: title for title in demo_titles()}


def store_demo(db_path: Path) -> None:
    """The demo titles written straight into the store (what the demo's import leaves)."""
    ArtworkStore(db_path).upsert_titles(demo_titles())


def make_config(db_path: Path) -> ArtworkConfig:
    return ArtworkConfig(
        server=ServerSettings("127.0.0.1:0", 64 << 20, 64 << 20, grace_s=0.5),
        db_path=db_path,
        image_base_url=IMAGES,
        max_titles_per_request=LIMIT,
    )


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    db_path = tmp_path_factory.mktemp("artwork") / "catalog.db"
    store_demo(db_path)
    return load_catalog(make_config(db_path))


def call(catalog: Catalog | None, scenario: Callable[[ArtworkServiceStub], Awaitable[T]]) -> T:
    """Runs `scenario` against an in-process server on port 0 serving `catalog`."""

    async def run() -> T:
        server, servicer = build_server(make_config(Path("unused.db")))
        if catalog is not None:
            servicer.serve(catalog)
        port = await server.start()
        try:
            async with grpc.aio.insecure_channel(
                f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", 64 << 20)]
            ) as channel:
                return await scenario(ArtworkServiceStub(channel))
        finally:
            await server.stop()

    return asyncio.run(run())


async def get_candidates(stub: ArtworkServiceStub, ids: list[str]) -> pb.GetCandidatesResponse:
    return await stub.GetCandidates(pb.GetCandidatesRequest(title_ids=ids, include_features=True))


def vectors(artworks: tuple[Artwork, ...]) -> np.ndarray:
    return np.stack(
        [artwork_vector(a.tones, a.cast, a.visual_quality, a.composition) for a in artworks]
    )


def test_candidates_of_the_story_titles_in_request_order(catalog: Catalog) -> None:
    ids = ["pulp-fiction", "no-such-title", "good-will-hunting"]
    response = call(catalog, lambda stub: get_candidates(stub, ids))

    assert [(t.title_id, t.found) for t in response.titles] == [
        ("pulp-fiction", True),
        ("no-such-title", False),
        ("good-will-hunting", True),
    ]
    pulp, unknown, hunting = response.titles
    assert pulp.default_artwork_id == "pulp-fiction/neutral"
    assert list(pulp.artwork_ids) == [
        "pulp-fiction/uma-thurman",
        "pulp-fiction/john-travolta",
        "pulp-fiction/neutral",
    ]
    assert list(pulp.image_urls) == [
        "http://img.test/images/pulp-fiction/uma-thurman.png",
        "http://img.test/images/pulp-fiction/john-travolta.png",
        "http://img.test/images/pulp-fiction/neutral.png",
    ]
    assert unknown == pb.TitleCandidates(title_id="no-such-title", found=False)
    assert hunting.default_artwork_id == "good-will-hunting/neutral"
    assert list(hunting.artwork_ids) == [
        "good-will-hunting/damon-driver",
        "good-will-hunting/robin-williams",
        "good-will-hunting/neutral",
    ]
    assert response.feature_dim == ARTWORK_DIM
    assert len(response.features) == 6 * ARTWORK_DIM * 4
    matrix = np.frombuffer(response.features, dtype="<f4").reshape(6, ARTWORK_DIM)
    expected = np.vstack(
        [vectors(DEMO["pulp-fiction"].artworks), vectors(DEMO["good-will-hunting"].artworks)]
    )
    np.testing.assert_array_equal(matrix, expected)
    assert response.catalog_version == catalog.version
    assert len(catalog.version) == 12


def test_a_full_page_of_generated_titles(catalog: Catalog) -> None:
    ids = [f"title-{n:05d}" for n in range(1600, 0, -1)]
    response = call(catalog, lambda stub: get_candidates(stub, ids))

    assert [t.title_id for t in response.titles] == ids
    assert all(t.found for t in response.titles)
    for candidates in response.titles:
        demo = DEMO[candidates.title_id]
        assert list(candidates.artwork_ids) == [a.artwork_id for a in demo.artworks]
        best = max(demo.artworks, key=lambda a: aesthetic_score(a.visual_quality, a.composition))
        assert candidates.default_artwork_id == best.artwork_id
    expected = np.vstack([vectors(DEMO[title_id].artworks) for title_id in ids])
    assert len(response.features) == expected.shape[0] * ARTWORK_DIM * 4
    np.testing.assert_array_equal(
        np.frombuffer(response.features, dtype="<f4").reshape(-1, ARTWORK_DIM), expected
    )


def test_get_titles_returns_metadata_and_ava_tags(catalog: Catalog) -> None:
    ids = ["good-will-hunting", "missing", "title-00001"]
    response = call(catalog, lambda stub: stub.GetTitles(pb.GetTitlesRequest(title_ids=ids)))

    assert [t.title_id for t in response.titles] == ["good-will-hunting", "title-00001"]
    assert list(response.missing_title_ids) == ["missing"]
    hunting = response.titles[0]
    assert hunting.name == "Good Will Hunting"
    assert list(hunting.genres) == ["drama", "romance"]
    assert list(hunting.cast) == ["Matt Damon", "Robin Williams", "Minnie Driver", "Ben Affleck"]
    assert hunting.default_artwork_id == "good-will-hunting/neutral"
    first = hunting.artworks[0]
    assert first.artwork_id == "good-will-hunting/damon-driver"
    assert first.image_url == "http://img.test/images/good-will-hunting/damon-driver.png"
    assert list(first.tags.cast) == ["Matt Damon", "Minnie Driver"]
    assert list(first.tags.tones) == ["romance", "drama"]
    assert first.tags.visual_quality == pytest.approx(0.84)
    assert first.tags.composition == pytest.approx(0.78)
    # Two figures drawn, two face boxes: those of demo.layout, where demo.images draws the faces.
    boxes = [(f.x, f.y, f.width, f.height) for f in first.tags.faces]
    np.testing.assert_allclose(boxes, [dataclasses.astuple(f) for f in face_boxes(2)], atol=1e-6)
    assert len(boxes) == 2 and boxes[0][0] < boxes[1][0]
    assert response.titles[1].name == "Midnight in Lisbon"


ids_and_errors = [
    ([], "title_ids: must list at least one title id"),
    (["good-will-hunting", ""], "title_ids[1]: must not be empty"),
    (["title-00001"] * (LIMIT + 1), f"title_ids: {LIMIT + 1} ids exceed the limit of {LIMIT}"),
]


@pytest.mark.parametrize(("ids", "message"), ids_and_errors)
def test_bad_title_ids_are_invalid_argument_naming_the_field(
    catalog: Catalog, ids: list[str], message: str
) -> None:
    async def both(stub: ArtworkServiceStub) -> list[grpc.aio.AioRpcError]:
        errors = []
        for rpc in (
            stub.GetCandidates(pb.GetCandidatesRequest(title_ids=ids)),
            stub.GetTitles(pb.GetTitlesRequest(title_ids=ids)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await rpc
            errors.append(caught.value)
        return errors

    for error in call(catalog, both):
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == message


def test_unavailable_until_the_catalog_is_loaded() -> None:
    async def scenario(stub: ArtworkServiceStub) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetCandidates(pb.GetCandidatesRequest(title_ids=["pulp-fiction"]))
        return caught.value

    error = call(None, scenario)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == "the catalog is still loading"


def sample_title(*artworks: Artwork) -> Title:
    return Title("t1", "Sample", ("drama",), ("Ada Crane", "Wes Hollis"), artworks)


def test_store_round_trips_and_replaces_a_titles_artworks(tmp_path: Path) -> None:
    store = ArtworkStore(tmp_path / "nested" / "catalog.db")
    first = sample_title(
        Artwork("t1/a", ("Ada Crane",), ("drama",), 0.5, 0.6),
        Artwork("t1/b", (), (), 0.7, 0.8),
    )
    store.upsert_titles([first])
    assert store.load().titles == [first]

    second = dataclasses.replace(
        first, name="Sample, Recut", artworks=(Artwork("t1/c", ("Wes Hollis",), (), 0.4, 0.3),)
    )
    store.upsert_titles([second])
    assert ArtworkStore(store.path).load().titles == [second]
    assert store.title_count() == 1
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT COUNT(*) FROM artworks").fetchone() == (1,)


# The artworks table as files written before face boxes have it.
SCHEMA_BEFORE_FACES = """
CREATE TABLE titles (title_id TEXT PRIMARY KEY, name TEXT NOT NULL, genres_json TEXT NOT NULL,
                     cast_json TEXT NOT NULL);
CREATE TABLE artworks (artwork_id TEXT PRIMARY KEY,
                       title_id TEXT NOT NULL REFERENCES titles (title_id) ON DELETE CASCADE,
                       position INTEGER NOT NULL, cast_json TEXT NOT NULL, tones_json TEXT NOT NULL,
                       visual_quality REAL NOT NULL, composition REAL NOT NULL);
INSERT INTO titles VALUES ('t1', 'Sample', '["drama"]', '["Ada Crane"]');
INSERT INTO artworks VALUES ('t1/a', 't1', 0, '["Ada Crane"]', '["drama"]', 0.5, 0.6);
"""


def test_store_round_trips_face_boxes(tmp_path: Path) -> None:
    store = ArtworkStore(tmp_path / "catalog.db")
    faces = (FaceBox(0.25, 0.125, 0.1875, 0.5), FaceBox(0.625, 0.0, 0.375, 1.0))
    title = sample_title(Artwork("t1/a", ("Ada Crane", "Wes Hollis"), (), 0.5, 0.6, faces))
    store.upsert_titles([title])
    assert ArtworkStore(store.path).load().titles == [title]


def test_a_file_from_before_face_boxes_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(SCHEMA_BEFORE_FACES)
    store = ArtworkStore(path, check=True)
    old = Artwork("t1/a", ("Ada Crane",), ("drama",), 0.5, 0.6)
    assert store.load().titles == [Title("t1", "Sample", ("drama",), ("Ada Crane",), (old,))]
    with_face = Artwork("t1/b", ("Ada Crane",), (), 0.7, 0.8, (FaceBox(0.1, 0.2, 0.3, 0.4),))
    store.add_artworks("t1", [with_face], replace=False)
    assert ArtworkStore(path).load().titles[0].artworks == (old, with_face)
    with closing(sqlite3.connect(path)) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(artworks)")]
    assert columns.count("faces_json") == 1  # opening it again did not add it twice


def test_a_failed_upsert_changes_nothing(tmp_path: Path) -> None:
    store = ArtworkStore(tmp_path / "catalog.db")
    original = sample_title(Artwork("t1/a", (), (), 0.5, 0.6))
    store.upsert_titles([original])
    clash = Title("t2", "Clash", (), (), (Artwork("t1/a", (), (), 0.1, 0.1),))
    with pytest.raises(sqlite3.IntegrityError):
        store.upsert_titles([dataclasses.replace(original, name="Renamed"), clash])
    assert store.load().titles == [original]


def test_the_server_never_seeds_an_empty_store(tmp_path: Path) -> None:
    catalog = load_catalog(make_config(tmp_path / "catalog.db"))
    assert len(catalog) == 0
    assert catalog.candidates(["pulp-fiction"]) == ([None], b"")


def test_default_is_the_highest_aesthetic_score_and_an_empty_title_has_none() -> None:
    catalog = Catalog(
        [
            sample_title(
                Artwork("t1/a", (), (), 0.9, 0.3),  # 0.66
                Artwork("t1/b", (), (), 0.6, 0.8),  # 0.68
            ),
            Title("t2", "Bare", (), (), ()),
        ],
        IMAGES,
    )
    (sample, bare), missing = catalog.titles(["t1", "t2"])
    assert (sample.default_artwork_id, bare.default_artwork_id, missing) == ("t1/b", "", [])
    assert sample.rows == range(2)
    assert catalog.candidates(["t2"])[1] == b""


def test_config_defaults_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ARTWORK_ADDRESS",
        "ARTWORK_MAX_MESSAGE_BYTES",
        "ARTWORK_DB",
        "ARTWORK_IMAGE_BASE_URL",
        "ARTWORK_MAX_TITLES_PER_REQUEST",
    ):
        monkeypatch.delenv(name, raising=False)
    config = ArtworkConfig.from_env()
    assert config.server.address == "127.0.0.1:50053"
    assert config.server.max_receive_bytes == 64 * 1024 * 1024
    assert config.db_path == Path("var/catalog.db")
    assert config.image_base_url == "http://127.0.0.1:8080/images"
    assert config.max_titles_per_request == 10_000

    monkeypatch.setenv("ARTWORK_IMAGE_BASE_URL", "https://cdn.example/art/")
    assert ArtworkConfig.from_env().image_base_url == "https://cdn.example/art"
    monkeypatch.setenv("ARTWORK_IMAGE_BASE_URL", "ftp://cdn.example/art")
    with pytest.raises(ConfigError, match="ARTWORK_IMAGE_BASE_URL"):
        ArtworkConfig.from_env()


def test_candidates_name_their_catalog_rows_and_leave_features_out_by_default(
    catalog: Catalog,
) -> None:
    ids = ["good-will-hunting", "title-00007"]

    async def scenario(
        stub: ArtworkServiceStub,
    ) -> tuple[pb.GetCandidatesResponse, list[pb.StreamCatalogFeaturesResponse]]:
        response = await stub.GetCandidates(pb.GetCandidatesRequest(title_ids=ids))
        chunks = [
            chunk
            async for chunk in stub.StreamCatalogFeatures(
                pb.StreamCatalogFeaturesRequest(rows_per_chunk=1000)
            )
        ]
        return response, chunks

    response, chunks = call(catalog, scenario)
    assert response.features == b""
    streamed = np.frombuffer(b"".join(c.features for c in chunks), dtype="<f4").reshape(
        -1, ARTWORK_DIM
    )
    np.testing.assert_array_equal(streamed, catalog.matrix)
    assert [c.first_row for c in chunks] == list(range(0, catalog.artwork_count, 1000))
    assert {(c.catalog_version, c.total_rows) for c in chunks} == {
        (catalog.version, catalog.artwork_count)
    }
    for title in response.titles:
        rows = streamed[title.first_row : title.first_row + len(title.artwork_ids)]
        np.testing.assert_array_equal(rows, vectors(DEMO[title.title_id].artworks))


def test_catalog_info_and_oversized_chunks(catalog: Catalog) -> None:
    async def scenario(
        stub: ArtworkServiceStub,
    ) -> tuple[pb.GetCatalogInfoResponse, grpc.aio.AioRpcError]:
        info = await stub.GetCatalogInfo(pb.GetCatalogInfoRequest())
        try:
            async for _ in stub.StreamCatalogFeatures(
                pb.StreamCatalogFeaturesRequest(rows_per_chunk=10**6)
            ):
                pass
        except grpc.aio.AioRpcError as error:
            return info, error
        raise AssertionError("an oversized chunk was accepted")

    info, error = call(catalog, scenario)
    assert (info.catalog_version, info.title_count, info.artwork_count) == (
        catalog.version,
        len(catalog),
        catalog.artwork_count,
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.details() or "").startswith("rows_per_chunk:")
