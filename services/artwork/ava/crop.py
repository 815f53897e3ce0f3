"""Cropping a frame to the artwork shapes, centred on its subject, and placing its faces in the crop."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from services.artwork.ava.faces import Box
from services.artwork.model import FaceBox

# name → (width, height) of the written image; the ratio is the shape.
SHAPES: dict[str, tuple[int, int]] = {"16x9": (1280, 720), "2x3": (480, 720)}
# A face with less than this share of its box inside the crop is cut off there: not kept.
MIN_VISIBLE_SHARE = 0.5


def crop_window(width: int, height: int, aspect: float, subject: Box) -> Box:
    """The largest window of `aspect` (w/h) inside the frame, centred on the subject
    as far as the frame's edges allow."""
    window_w = min(width, round(height * aspect))
    window_h = min(height, round(window_w / aspect))
    x, y, w, h = subject
    left = int(np.clip(round(x + w / 2 - window_w / 2), 0, width - window_w))
    top = int(np.clip(round(y + h / 2 - window_h / 2), 0, height - window_h))
    return left, top, window_w, window_h


def shape_window(width: int, height: int, shape: str, subject: Box) -> Box:
    """The window of a `width` × `height` frame that the `shape` crop keeps."""
    size = SHAPES[shape]
    return crop_window(width, height, size[0] / size[1], subject)


def crop(image: np.ndarray, shape: str, subject: Box) -> np.ndarray:
    size = SHAPES[shape]
    x, y, w, h = shape_window(image.shape[1], image.shape[0], shape, subject)
    region = image[y : y + h, x : x + w]
    interpolation = cv2.INTER_AREA if w >= size[0] else cv2.INTER_CUBIC
    return cv2.resize(region, size, interpolation=interpolation)


def faces_in_window(faces: Iterable[Box], window: Box) -> tuple[FaceBox, ...]:
    """Frame-pixel face boxes as fractions of the cropped image, clipped to it; a face
    mostly outside the window (see MIN_VISIBLE_SHARE) is left out. Order is kept."""
    left, top, window_w, window_h = window
    placed = []
    for x, y, w, h in faces:
        x0, y0 = max(x, left), max(y, top)
        x1, y1 = min(x + w, left + window_w), min(y + h, top + window_h)
        if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) < MIN_VISIBLE_SHARE * w * h:
            continue
        # Edges rounded first, so a box at the crop's edge ends at exactly 1.
        fx0, fx1 = round((x0 - left) / window_w, 4), round((x1 - left) / window_w, 4)
        fy0, fy1 = round((y0 - top) / window_h, 4), round((y1 - top) / window_h, 4)
        placed.append(FaceBox(fx0, fy0, round(fx1 - fx0, 4), round(fy1 - fy0, 4)))
    return tuple(placed)
