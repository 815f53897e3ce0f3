"""Finding faces (OpenCV's bundled Haar cascade) and naming them (LBPH on a cast gallery)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import cv2.data
import numpy as np

from common.errors import InvalidArgument

CASCADE_FILE = "haarcascade_frontalface_alt2.xml"  # fewest false positives of the bundled ones
EYE_CASCADE_FILE = "haarcascade_eye.xml"
FACE_SIZE = 96  # side of the normalised face crop the matcher compares
# LBPH chi-square distance above which a face is left unnamed (measured: the same person in
# another photo scores ~30-60, strangers 80+).
MAX_MATCH_DISTANCE = 75.0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

Box = tuple[int, int, int, int]  # x, y, width, height in pixels


@functools.cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / name))
    if cascade.empty():
        raise RuntimeError(f"OpenCV's {name} did not load")
    return cascade


def detect_faces(gray: np.ndarray) -> list[Box]:
    """Frontal faces in a greyscale image, largest first."""
    min_side = max(24, min(gray.shape) // 20)
    found = _cascade(CASCADE_FILE).detectMultiScale(
        cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    boxes: list[Box] = [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]
    return sorted(boxes, key=lambda box: -box[2] * box[3])


def face_crop(gray: np.ndarray, box: Box) -> np.ndarray:
    """The face normalised for comparison: square, FACE_SIZE, histogram-equalised."""
    x, y, w, h = box
    crop = cv2.resize(
        gray[y : y + h, x : x + w], (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA
    )
    return cv2.equalizeHist(crop)


def frontalness(crop: np.ndarray) -> float:
    """0-1: two eyes found, centred on the face's axis → 1; one eye 0.5; none 0.25."""
    eyes = _cascade(EYE_CASCADE_FILE).detectMultiScale(
        crop[: FACE_SIZE * 3 // 5], scaleFactor=1.1, minNeighbors=3, minSize=(FACE_SIZE // 8,) * 2
    )
    if len(eyes) == 0:
        return 0.25
    if len(eyes) == 1:
        return 0.5
    largest = sorted(eyes, key=lambda eye: -eye[2] * eye[3])[:2]
    middle = sum(x + w / 2 for x, _, w, _ in largest) / 2
    return float(np.clip(1.0 - abs(middle - FACE_SIZE / 2) / (FACE_SIZE / 4), 0.0, 1.0))


@dataclass(frozen=True)
class Gallery:
    """Normalised face crops per cast member; picklable, so worker processes can train on it."""

    names: tuple[str, ...]
    faces: tuple[np.ndarray, ...]
    labels: tuple[int, ...]


def load_gallery(directory: Path) -> Gallery:
    """A folder per cast member (the folder name is the name) with a few photos each.

    A photo's largest detected face is used; a photo with no detectable face is taken
    to be a face crop already.
    """
    if not directory.is_dir():
        raise InvalidArgument("cast_gallery", f"{directory} is not a directory")
    names: list[str] = []
    faces: list[np.ndarray] = []
    labels: list[int] = []
    for person in sorted(p for p in directory.iterdir() if p.is_dir()):
        photos = sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        crops = []
        for photo in photos:
            gray = cv2.imread(str(photo), cv2.IMREAD_GRAYSCALE)
            if gray is None:
                raise InvalidArgument("cast_gallery", f"{photo} is not an image")
            boxes = detect_faces(gray)
            crops.append(
                face_crop(gray, boxes[0] if boxes else (0, 0, gray.shape[1], gray.shape[0]))
            )
        if not crops:
            raise InvalidArgument("cast_gallery", f"{person.name}: no photos")
        faces.extend(crops)
        labels.extend([len(names)] * len(crops))
        names.append(person.name)
    if not names:
        raise InvalidArgument("cast_gallery", f"{directory} has no folder per cast member")
    return Gallery(tuple(names), tuple(faces), tuple(labels))


class FaceMatcher:
    """Names a face crop after the nearest gallery face, if near enough."""

    def __init__(self, gallery: Gallery, max_distance: float = MAX_MATCH_DISTANCE) -> None:
        self._names = gallery.names
        self._max_distance = max_distance
        self._model = cv2.face.LBPHFaceRecognizer.create(radius=1, neighbors=8, grid_x=8, grid_y=8)
        self._model.train(list(gallery.faces), np.array(gallery.labels, dtype=np.int32))

    def match(self, crop: np.ndarray) -> tuple[str | None, float]:
        """(name or None, distance)."""
        label, distance = self._model.predict(crop)
        return (self._names[label] if distance <= self._max_distance else None), float(distance)
