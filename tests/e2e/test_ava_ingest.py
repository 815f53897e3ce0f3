"""`keyart ava ingest` against the running suite: candidates registered through the artwork
service's gRPC API and served by GetCandidates; bad input changes nothing."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from keyart.artwork.v1 import artwork_service_pb2 as pb
from keyart.artwork.v1.artwork_service_pb2_grpc import ArtworkServiceStub

from services.artwork.ava.client import ArtworkCatalogClient
from services.artwork.model import Artwork, FaceBox
from suite.supervisor import Suite, SuiteConfig
from tests.ava_media import write_stills

TITLE = "title-00015"  # on neither demo page


def keyart_ava(args: list[str], image_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEYART_IMAGE_DIR": str(image_dir), "AVA_WORKERS": "2"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "ava", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,  # the tests read the exit status
    )


def candidates(address: str) -> pb.GetCandidatesResponse:
    with grpc.insecure_channel(address) as channel:
        return ArtworkServiceStub(channel).GetCandidates(
            pb.GetCandidatesRequest(title_ids=[TITLE]), timeout=5
        )


def served_artworks(address: str) -> dict[str, pb.Artwork]:
    with grpc.insecure_channel(address) as channel:
        response = ArtworkServiceStub(channel).GetTitles(
            pb.GetTitlesRequest(title_ids=[TITLE]), timeout=5
        )
    return {artwork.artwork_id: artwork for artwork in response.titles[0].artworks}


def test_ingested_stills_are_served_as_candidates(
    suite: Suite, suite_config: SuiteConfig, tmp_path: Path
) -> None:
    artwork = suite_config.addresses["artwork"]
    stills = write_stills(tmp_path / "stills", ["astronaut", "coffee", "rocket", "chelsea"])
    images = tmp_path / "images"
    before = candidates(artwork)

    done = keyart_ava(
        ["ingest", "--title", TITLE, "--stills", str(stills), "--top-k", "3", "--target", artwork],
        images,
    )

    assert done.returncode == 0, done.stderr
    after = candidates(artwork)
    new_ids = list(after.titles[0].artwork_ids)[len(before.titles[0].artwork_ids) :]
    assert len(new_ids) == 3 and all(i.startswith(f"{TITLE}/ava-") for i in new_ids)
    assert after.catalog_version != before.catalog_version
    assert all(artwork_id in done.stdout for artwork_id in new_ids)
    for artwork_id in new_ids:
        assert (images / f"{artwork_id}.png").stat().st_size > 0
        assert (images / f"{artwork_id}.2x3.png").stat().st_size > 0
    # Only the astronaut has a face: one box, in her 16:9 crop (full width, rows around her face).
    served = served_artworks(artwork)
    with_faces = [served[i] for i in new_ids if served[i].tags.faces]
    assert len(with_faces) == 1 and len(with_faces[0].tags.faces) == 1
    face = with_faces[0].tags.faces[0]
    assert 0.25 < face.x + face.width / 2 < 0.6 and 0.2 < face.y + face.height / 2 < 0.6
    assert 0.1 < face.width < 0.4 and face.y + face.height <= 1.0


def test_face_boxes_registered_are_returned_by_get_titles(
    suite: Suite, suite_config: SuiteConfig
) -> None:
    address = suite_config.addresses["artwork"]
    faces = (FaceBox(0.125, 0.25, 0.25, 0.5), FaceBox(0.5, 0.0625, 0.5, 0.9375))
    artwork = Artwork(f"{TITLE}/faces-e2e", ("Eileen Collins",), ("drama",), 0.7, 0.6, faces)
    with ArtworkCatalogClient(address) as catalog:
        catalog.register(TITLE, [artwork], replace=False)
        before = served_artworks(address)
        too_wide = dataclasses.replace(
            artwork, artwork_id=f"{TITLE}/faces-bad", faces=(faces[0], FaceBox(0.5, 0.0, 0.75, 0.5))
        )
        with pytest.raises(grpc.RpcError) as refused:
            catalog.register(TITLE, [artwork, too_wide], replace=False)
    served = before[artwork.artwork_id].tags.faces
    assert [(f.x, f.y, f.width, f.height) for f in served] == [
        dataclasses.astuple(f) for f in faces
    ]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        refused.value.details()
        == "artworks[1].tags.faces[1].width: x + width exceeds 1: the box leaves the image"
    )
    assert served_artworks(address) == before


def test_bad_ingests_leave_the_catalog_and_image_store_unchanged(
    suite: Suite, suite_config: SuiteConfig, tmp_path: Path
) -> None:
    artwork = suite_config.addresses["artwork"]
    stills = write_stills(tmp_path / "stills", ["coffee"])
    empty_video = tmp_path / "empty.mp4"
    empty_video.write_bytes(b"")
    garbage_video = tmp_path / "garbage.mp4"
    garbage_video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)
    corrupt_stills = write_stills(tmp_path / "corrupt-stills", ["coffee", "rocket"])
    (corrupt_stills / "rocket.png").write_bytes((corrupt_stills / "rocket.png").read_bytes()[:200])
    images = tmp_path / "images"
    before = candidates(artwork)
    cases = [
        (
            ["--title", "no-such-title", "--stills", str(stills)],
            "NotFound: title 'no-such-title' is not in the catalog",
        ),
        (
            ["--title", TITLE, "--video", str(empty_video)],
            f"InvalidArgument: video: {empty_video} is empty",
        ),
        (
            ["--title", TITLE, "--video", str(garbage_video)],
            f"video: {garbage_video} cannot be read as a video",
        ),
        (
            ["--title", TITLE, "--stills", str(corrupt_stills)],
            "InvalidArgument: stills: rocket.png is not an image",
        ),
    ]
    for args, message in cases:
        done = keyart_ava(["ingest", *args, "--target", artwork], images)
        assert done.returncode == 1
        assert message in done.stderr
    assert candidates(artwork) == before
    assert not images.exists()
