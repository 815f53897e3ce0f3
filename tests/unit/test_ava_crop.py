"""AVA's face boxes moved from frame pixels into the crop that becomes the artwork's image."""

from __future__ import annotations

import cv2
import pytest

from services.artwork.ava.annotate import annotate
from services.artwork.ava.crop import crop, faces_in_window
from services.artwork.ava.faces import Box, detect_faces
from services.artwork.ava.frames import Frame
from services.artwork.ava.ingest import PRIMARY_SHAPE, to_artwork
from services.artwork.ava.rank import score
from services.artwork.model import FaceBox
from tests.ava_media import photo

WINDOW = (100, 50, 400, 200)  # left, top, width, height in frame pixels


@pytest.mark.parametrize(
    ("face", "placed"),
    [
        ((150, 100, 40, 20), FaceBox(0.125, 0.25, 0.1, 0.1)),  # inside: shifted and scaled
        ((80, 60, 40, 40), FaceBox(0.0, 0.05, 0.05, 0.2)),  # half inside: clipped to the crop
        ((480, 230, 40, 40), None),  # a quarter inside (corner): left out
        ((70, 60, 40, 40), None),  # a quarter inside (edge): left out
        ((600, 60, 40, 40), None),  # outside
    ],
)
def test_a_face_box_is_placed_in_the_crop_or_left_out(face: Box, placed: FaceBox | None) -> None:
    assert faces_in_window([face], WINDOW) == ((placed,) if placed else ())


def test_a_face_at_the_crops_edge_ends_at_exactly_one() -> None:
    (box,) = faces_in_window([(1, 1, 2, 2)], (0, 0, 3, 3))
    assert (box.x, box.width) == (0.3333, 0.6667) and box.x + box.width == 1.0


def test_ingested_faces_are_where_the_crop_shows_them() -> None:
    """The astronaut's box, moved into the 16:9 crop, covers the face found in that crop."""
    image = photo("astronaut")  # 512 × 512: the 16:9 crop drops rows above and below
    annotation = annotate(image)
    frame = Frame("astronaut.png", 0, 0.0, 0, cv2.imencode(".png", image)[1].tobytes())
    artwork = to_artwork(
        "title-00001", score(frame, annotation), None, (image.shape[1], image.shape[0])
    )

    (box,) = artwork.faces
    cropped = crop(image, PRIMARY_SHAPE, annotation.subject)
    height, width = cropped.shape[:2]
    found = detect_faces(cv2.cvtColor(cropped, cv2.COLOR_BGR2GRAY))[0]
    fx, fy, fw, fh = (found[0] / width, found[1] / height, found[2] / width, found[3] / height)
    overlap_w = min(box.x + box.width, fx + fw) - max(box.x, fx)
    overlap_h = min(box.y + box.height, fy + fh) - max(box.y, fy)
    union = box.width * box.height + fw * fh - overlap_w * overlap_h
    assert overlap_w > 0 and overlap_h > 0
    assert overlap_w * overlap_h / union > 0.6
    source_y = annotation.faces[0].box[1] / image.shape[0]
    assert box.y != pytest.approx(source_y, abs=0.02)  # it did move: the crop is not the frame
