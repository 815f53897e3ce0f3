"""Frames to analyse: every still of a folder, or a video sampled and cut into shots."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from common.errors import InvalidArgument
from services.artwork.ava.faces import IMAGE_SUFFIXES

# Bhattacharyya distance between the hue/saturation histograms of consecutive samples
# above which a cut is declared (a pan or a face turning stays well below it).
CUT_DISTANCE = 0.4
PROBE_WIDTH = 160  # samples are compared (histogram, sharpness) at this width
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Frame:
    """One frame kept for annotation, held encoded (PNG/JPEG bytes) to bound memory."""

    source: str  # still file name, or the video's
    index: int  # frame number in the video, position among the stills
    time_s: float
    shot: int
    encoded: bytes = field(repr=False)

    def image(self) -> np.ndarray:
        return decode_image(self.encoded, self.source)


def decode_image(encoded: bytes, source: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidArgument("stills", f"{source} is not an image")
    return image


def read_stills(directory: Path) -> list[Frame]:
    """Each image file of `directory` (sorted by name) as its own shot."""
    if not directory.is_dir():
        raise InvalidArgument("stills", f"{directory} is not a directory")
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InvalidArgument("stills", f"{directory} has no files")
    frames = []
    for position, path in enumerate(files):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise InvalidArgument("stills", f"{path.name} is not an image file")
        frame = Frame(path.name, position, 0.0, position, path.read_bytes())
        frame.image()  # fails now, naming the file, rather than in a worker
        frames.append(frame)
    return frames


@dataclass
class VideoStats:
    """What sampling a video did and how long it took."""

    fps: float = 0.0
    frames_decoded: int = 0
    frames_sampled: int = 0
    shot_starts: list[int] = field(default_factory=list)  # first frame number of each shot
    decode_s: float = 0.0
    probe_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.frames_decoded / self.fps if self.fps else 0.0


def _probe(image: np.ndarray) -> tuple[np.ndarray, float]:
    """A sample's colour histogram (for cuts) and sharpness (to pick a shot's best frames)."""
    height = max(1, image.shape[0] * PROBE_WIDTH // image.shape[1])
    small = cv2.resize(image, (PROBE_WIDTH, height), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    histogram = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    cv2.normalize(histogram, histogram, 1.0, 0.0, cv2.NORM_L1)
    sharpness = float(cv2.Laplacian(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var())
    return histogram, sharpness


def _open(path: Path) -> tuple[cv2.VideoCapture, float]:
    if not path.is_file():
        raise InvalidArgument("video", f"{path} is not a file")
    if path.stat().st_size == 0:
        raise InvalidArgument("video", f"{path} is empty")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
    if not capture.isOpened() or not fps > 0:
        capture.release()
        raise InvalidArgument("video", f"{path} cannot be read as a video")
    return capture, fps


class _Shot:
    """The sharpest samples of the shot being read, encoded when it closes."""

    def __init__(self, number: int, keep: int) -> None:
        self.number = number
        self.keep = keep
        self.best: list[tuple[float, int, np.ndarray]] = []

    def offer(self, sharpness: float, index: int, image: np.ndarray) -> None:
        self.best.append((sharpness, index, image))
        self.best.sort(key=lambda item: -item[0])
        del self.best[self.keep :]

    def frames(self, source: str, fps: float) -> list[Frame]:
        frames = []
        for _, index, image in sorted(self.best, key=lambda item: item[1]):
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise RuntimeError(f"could not encode frame {index}")
            frames.append(Frame(source, index, index / fps, self.number, encoded.tobytes()))
        return frames


def sample_video(
    path: Path, samples_per_second: float, frames_per_shot: int, stats: VideoStats
) -> Iterator[list[Frame]]:
    """Yields each shot's kept frames as the shot ends, filling `stats` as it goes.

    Every frame is grabbed (demuxed and decoded) but only samples are retrieved
    (converted to BGR), which is most of the per-frame cost saved.
    """
    capture, fps = _open(path)
    stats.fps = fps
    step = max(1, round(fps / samples_per_second))
    previous: np.ndarray | None = None
    shot: _Shot | None = None
    try:
        while True:
            started = time.perf_counter()
            if not capture.grab():
                break
            index = stats.frames_decoded
            stats.frames_decoded += 1
            if index % step:
                stats.decode_s += time.perf_counter() - started
                continue
            ok, image = capture.retrieve()
            stats.decode_s += time.perf_counter() - started
            if not ok:
                break
            started = time.perf_counter()
            stats.frames_sampled += 1
            histogram, sharpness = _probe(image)
            cut = previous is None or (
                cv2.compareHist(previous, histogram, cv2.HISTCMP_BHATTACHARYYA) > CUT_DISTANCE
            )
            previous = histogram
            stats.probe_s += time.perf_counter() - started
            if cut or shot is None:
                if shot is not None:
                    yield shot.frames(path.name, fps)
                shot = _Shot(len(stats.shot_starts), frames_per_shot)
                stats.shot_starts.append(index)
            shot.offer(sharpness, index, image)
    finally:
        capture.release()
    if shot is None:
        raise InvalidArgument("video", f"{path} has no frames")
    yield shot.frames(path.name, fps)
