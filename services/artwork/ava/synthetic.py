"""Videos made from stills with known cuts: each shot a slow zoom into one picture.

Used by the benchmark, the demo rebuild and the tests, which then know where the
shot boundaries are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

ZOOM_PER_SHOT = 0.15  # a shot ends 15% zoomed in: motion without a cut


def shot_frame(picture: np.ndarray, size: tuple[int, int], progress: float) -> np.ndarray:
    """`picture` zoomed by `progress` × ZOOM_PER_SHOT and fitted (letterboxed) into `size`."""
    width, height = size
    zoom = 1.0 + ZOOM_PER_SHOT * progress
    ph, pw = picture.shape[:2]
    cw, ch = pw / zoom, ph / zoom
    x0, y0 = (pw - cw) / 2, (ph - ch) / 2
    fit = min(width / cw, height / ch)
    out_w, out_h = round(cw * fit), round(ch * fit)
    transform = np.array(
        [[fit, 0, -x0 * fit + (width - out_w) / 2], [0, fit, -y0 * fit + (height - out_h) / 2]],
        dtype=np.float32,
    )
    return cv2.warpAffine(picture, transform, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def write_video(
    path: Path, shots: Sequence[tuple[np.ndarray, int]], size: tuple[int, int], fps: float = 24.0
) -> list[int]:
    """Writes one shot of `frames` frames per (picture, frames); returns each shot's first frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"cannot write a video to {path}")
    starts = []
    written = 0
    try:
        for picture, frames in shots:
            starts.append(written)
            for frame in range(frames):
                writer.write(shot_frame(picture, size, frame / max(1, frames - 1)))
            written += frames
    finally:
        writer.release()
    return starts
