"""Real photographs (scikit-image ships them) and media built from them, for the AVA tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data

from demo.ava import photo
from services.artwork.ava.faces import FACE_SIZE

__all__ = ["photo", "stranger_faces", "write_stills"]


def stranger_faces(first: int, count: int) -> list[np.ndarray]:
    """Face crops of people other than the astronaut (scikit-image's LFW subset)."""
    faces = skimage.data.lfw_subset()[first : first + count]
    return [cv2.resize((face * 255).astype(np.uint8), (FACE_SIZE, FACE_SIZE)) for face in faces]


def write_stills(directory: Path, names: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(directory / f"{name}.png"), photo(name))
    return directory
