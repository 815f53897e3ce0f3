"""`python -m demo.catalog_seed`: the demo into an empty catalog through the catalog import, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1.artwork_service_pb2_grpc import ArtworkServiceStub

from cli.catalog_file import read_titles
from demo.catalog import demo_titles
from demo.catalog_seed import main
from suite.supervisor import ServiceProcess, local_suite_config


@pytest.fixture
def artwork(tmp_path: Path) -> Iterator[ServiceProcess]:
    config = local_suite_config(tmp_path, tmp_path / "unused.onnx")
    server = ServiceProcess("artwork", config)
    server.start()
    try:
        server.wait_serving()
        yield server
    finally:
        server.stop()


def info(address: str) -> pb.GetCatalogInfoResponse:
    with grpc.insecure_channel(address) as channel:
        return ArtworkServiceStub(channel).GetCatalogInfo(pb.GetCatalogInfoRequest())


def test_seeds_an_empty_catalog_once_with_what_the_demo_holds(
    artwork: ServiceProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    titles = demo_titles()
    assert main(["--target", artwork.address]) == 0
    assert capsys.readouterr().out.strip().endswith(f"demo catalog: {len(titles)} titles imported")
    seeded = info(artwork.address)
    with grpc.insecure_channel(artwork.address) as channel:
        story = ArtworkServiceStub(channel).GetTitles(
            pb.GetTitlesRequest(title_ids=["good-will-hunting"])
        )
    expected = next(t for t in titles if t.title_id == "good-will-hunting")
    assert [(a.artwork_id, list(a.tags.cast)) for a in story.titles[0].artworks] == [
        (a.artwork_id, list(a.cast)) for a in expected.artworks
    ]
    assert (seeded.title_count, seeded.artwork_count) == (
        len(titles),
        sum(len(title.artworks) for title in titles),
    )
    assert main(["--target", artwork.address]) == 0
    assert capsys.readouterr().out.strip().endswith("demo catalog: already there")
    assert info(artwork.address).catalog_version == seeded.catalog_version


def test_the_demo_catalog_file_is_in_the_import_format(tmp_path: Path) -> None:
    path = tmp_path / "demo.parquet"
    assert main(["--write", str(path)]) == 0
    lines = list(read_titles(path))
    assert len(lines) == len(demo_titles())
    assert lines[0].title_id == demo_titles()[0].title_id


def test_an_unreachable_artwork_service_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--target", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "UNAVAILABLE" in err and "Traceback" not in err
