"""Cropping a frame to the artwork shapes, centred on its subject."""

from __future__ import annotations

import cv2
import numpy as np

from services.artwork.ava.faces import Box

# name → (width, height) of the written image; the ratio is the shape.
SHAPES: dict[str, tuple[int, int]] = {"16x9": (1280, 720), "2x3": (480, 720)}


def crop_window(width: int, height: int, aspect: float, subject: Box) -> Box:
    """The largest window of `aspect` (w/h) inside the frame, centred on the subject
    as far as the frame's edges allow."""
    window_w = min(width, round(height * aspect))
    window_h = min(height, round(window_w / aspect))
    x, y, w, h = subject
    left = int(np.clip(round(x + w / 2 - window_w / 2), 0, width - window_w))
    top = int(np.clip(round(y + h / 2 - window_h / 2), 0, height - window_h))
    return left, top, window_w, window_h


def crop(image: np.ndarray, shape: str, subject: Box) -> np.ndarray:
    size = SHAPES[shape]
    x, y, w, h = crop_window(image.shape[1], image.shape[0], size[0] / size[1], subject)
    region = image[y : y + h, x : x + w]
    interpolation = cv2.INTER_AREA if w >= size[0] else cv2.INTER_CUBIC
    return cv2.resize(region, size, interpolation=interpolation)
