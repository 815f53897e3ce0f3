"""The AVA measures and pipeline on real photographs and on videos built from them."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.errors import InvalidArgument
from services.artwork.ava.analyse import analyse
from services.artwork.ava.annotate import annotate
from services.artwork.ava.faces import FaceMatcher, load_gallery
from services.artwork.ava.frames import VideoStats, read_stills, sample_video
from services.artwork.ava.rank import DUPLICATE_BITS, hamming, rejection
from services.artwork.ava.synthetic import shot_frame, write_video
from tests.ava_media import photo, stranger_faces, write_stills

SIZE = (640, 360)


@pytest.mark.parametrize(("name", "faces"), [("astronaut", 1), ("coffee", 0), ("rocket", 0)])
def test_faces_are_found_where_there_are_faces(name: str, faces: int) -> None:
    assert len(annotate(photo(name)).faces) == faces


def test_the_astronauts_face_is_frontal_and_a_medium_shot() -> None:
    annotation = annotate(photo("astronaut"))
    face = annotation.faces[0]
    x, y, w, h = face.box
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 180  # her face, upper left of centre
    assert face.frontalness > 0.7
    assert annotation.shot_type == "medium"


@pytest.mark.parametrize("name", ["astronaut", "coffee", "rocket"])
def test_measures_order_controlled_variants(name: str) -> None:
    original = annotate(photo(name))
    darker = annotate(cv2.convertScaleAbs(photo(name), alpha=0.5))
    flatter = annotate(cv2.addWeighted(photo(name), 0.4, np.full_like(photo(name), 128), 0.6, 0))
    blurred = annotate(cv2.GaussianBlur(photo(name), (0, 0), 3))
    assert darker.brightness < original.brightness
    assert flatter.contrast < original.contrast
    assert flatter.colourfulness < original.colourfulness
    assert blurred.sharpness < original.sharpness / 4


def test_unusable_frames_are_rejected_with_the_reason() -> None:
    coffee = photo("coffee")
    assert rejection(annotate(coffee)) is None
    assert rejection(annotate(cv2.convertScaleAbs(coffee, alpha=0.15))) == "too dark"
    assert rejection(annotate(cv2.GaussianBlur(coffee, (0, 0), 8))) == "blurred"
    assert rejection(annotate(np.full_like(coffee, 90))) == "empty"


PICTURES = ["astronaut", "coffee", "rocket", "chelsea", "astronaut", "immunohistochemistry"]
SHOT_FRAMES = [29, 37, 31, 26, 40, 33]  # cuts fall between samples, not on them


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    path = tmp_path_factory.mktemp("ava") / "cuts.mp4"
    starts = write_video(
        path, [(photo(n), f) for n, f in zip(PICTURES, SHOT_FRAMES, strict=True)], SIZE
    )
    return path, starts


def test_detected_shot_boundaries_match_the_cuts(video: tuple[Path, list[int]]) -> None:
    path, cuts = video
    stats = VideoStats()
    shots = list(sample_video(path, samples_per_second=4.0, frames_per_shot=2, stats=stats))
    step = 6  # 24 fps at 4 samples a second
    assert stats.frames_decoded == sum(SHOT_FRAMES)
    assert len(stats.shot_starts) == len(cuts)
    for detected, cut in zip(stats.shot_starts, cuts, strict=True):
        assert 0 <= detected - cut < step  # the first sample after the cut
    assert [len(shot) for shot in shots] == [2] * len(cuts)
    assert all(frame.shot == number for number, shot in enumerate(shots) for frame in shot)


def test_duplicates_collapse_and_the_top_k_are_diverse(video: tuple[Path, list[int]]) -> None:
    path, _ = video
    analysis = analyse(video=path, top_k=4, workers=2)
    top = analysis.top
    assert len(top) == 4
    pictures = [PICTURES[frame.shot] for frame in (chosen.frame for chosen in top)]
    assert len(set(pictures)) == 4  # the astronaut's two shots are one candidate at most
    assert all(
        hamming(a.annotation.phash, b.annotation.phash) > DUPLICATE_BITS
        for i, a in enumerate(top)
        for b in top[i + 1 :]
    )
    assert len({(c.annotation.shot_type, c.annotation.dominant_hue) for c in top}) >= 3
    assert [c.score for c in top[:1]] == [max(c.score for c in top)]


def write_gallery(directory: Path, with_astronaut: bool) -> Path:
    people = {"Person A": stranger_faces(0, 3), "Person B": stranger_faces(3, 3)}
    if with_astronaut:
        astronaut = photo("astronaut")
        people["Eileen Collins"] = [
            astronaut,
            astronaut[:, ::-1],
            cv2.convertScaleAbs(astronaut, alpha=1.2),
        ]
    for name, pictures in people.items():
        (directory / name).mkdir(parents=True)
        for number, picture in enumerate(pictures):
            cv2.imwrite(str(directory / name / f"{number}.png"), picture)
    return directory


def test_cast_gallery_names_the_right_person(tmp_path: Path) -> None:
    gallery = load_gallery(write_gallery(tmp_path / "with", with_astronaut=True))
    assert gallery.names == ("Eileen Collins", "Person A", "Person B")
    frame = shot_frame(photo("astronaut"), SIZE, 0.7)  # another size and framing than the gallery's
    assert annotate(frame, FaceMatcher(gallery)).cast == ("Eileen Collins",)


def test_a_face_not_in_the_gallery_stays_unnamed(tmp_path: Path) -> None:
    gallery = load_gallery(write_gallery(tmp_path / "without", with_astronaut=False))
    annotation = annotate(photo("astronaut"), FaceMatcher(gallery))
    assert len(annotation.faces) == 1 and annotation.cast == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"not a video at all" * 100, "cannot be read as a video")],
)
def test_unreadable_videos_are_invalid(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(InvalidArgument, match=message) as raised:
        list(sample_video(path, 4.0, 2, VideoStats()))
    assert raised.value.field == "video"


def test_stills_that_are_not_images_are_invalid(tmp_path: Path) -> None:
    stills = write_stills(tmp_path / "stills", ["coffee"])
    (stills / "notes.txt").write_text("not a picture")
    with pytest.raises(InvalidArgument, match=re.escape("notes.txt is not an image file")):
        read_stills(stills)
    (stills / "notes.txt").unlink()
    (stills / "broken.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(InvalidArgument, match=re.escape("broken.png is not an image")):
        read_stills(stills)
