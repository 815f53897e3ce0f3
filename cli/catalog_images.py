"""An artwork's `image` in a catalog file: an http(s) URL served as it is, or a local picture
copied into keyart's image store as `<artwork_id>.png` (served like AVA's)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cli.table_file import BadLine
from common.atomic_files import write_atomically
from demo.images import image_path


def is_url(image: str) -> bool:
    return image.startswith(("http://", "https://"))


def local_path(image: str, folder: Path) -> Path:
    """A local image relative to the catalog file's folder, or absolute."""
    path = Path(image).expanduser()
    return path if path.is_absolute() else folder / path


def read_picture(path: Path, where: str, field: str) -> np.ndarray:
    """The picture as BGR pixels; BadLine when it is not there or not a picture OpenCV reads."""
    if not path.is_file():
        raise BadLine(where, field, f"{str(path)!r}: no such file")
    picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if picture is None:
        raise BadLine(where, field, f"{str(path)!r} is not a readable picture")
    return picture


def store_picture(image_dir: Path, artwork_id: str, picture: np.ndarray) -> bool:
    """Writes the picture as `<image_dir>/<artwork_id>.png`, atomically; False (nothing
    written) when that file holds exactly this PNG already."""
    ok, encoded = cv2.imencode(".png", picture)
    if not ok:
        raise RuntimeError(f"could not encode {artwork_id}.png")
    data = encoded.tobytes()
    path = image_path(image_dir, artwork_id)
    if path.is_file() and path.read_bytes() == data:
        return False
    write_atomically(path, data)
    return True
