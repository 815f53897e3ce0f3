"""The three AVA groups of measures for one frame: visual, contextual, composition.

Measures are taken on a copy scaled to ANALYSIS_LONG_SIDE, so they do not depend on
the source resolution (a Laplacian variance does); boxes are in source pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from services.artwork.ava.faces import Box, FaceMatcher, detect_faces, face_crop, frontalness

ANALYSIS_LONG_SIDE = 640
DOMINANT_COLOURS = 3
# Largest face height as a share of the frame height: at least this → that shot type.
SHOT_TYPES: tuple[tuple[str, float], ...] = (("close-up", 0.3), ("medium", 0.12), ("wide", 0.0))
NO_FACE_SHOT = "scene"
SALIENT = 0.5  # a pixel belongs to the subject when its saliency is at least this share of the peak
QUIET_DETAIL = 6.0  # local mean |Laplacian| (grey levels) below which a region is free for text


@dataclass(frozen=True)
class Face:
    box: Box
    share: float  # of the frame's area
    frontalness: float  # 0-1, mirror symmetry of the face
    name: str | None  # from the cast gallery, if given and near enough


@dataclass(frozen=True)
class Annotation:
    # visual
    brightness: float  # mean luma, 0-1
    contrast: float  # RMS contrast (luma standard deviation), 0-0.5
    colourfulness: float  # Hasler-Süsstrunk M: ~15 slightly, ~60 quite, ~110 extremely colourful
    sharpness: float  # variance of the Laplacian; motion blur and defocus lower it
    dominant_colours: tuple[str, ...]  # "#rrggbb", most frequent first
    dominant_hue: str  # a colour family name of the most frequent colour, for diversity
    # contextual
    faces: tuple[Face, ...]  # largest first
    shot_type: str  # close-up, medium, wide (by face size), or scene (no face)
    # composition
    subject: Box  # faces' union if any, else the salient region
    thirds: float  # 0-1, subject centre near a rule-of-thirds power point
    symmetry: float  # 0-1, left-right mirror similarity
    depth_of_field: float  # 0-1, share of detail inside the subject box (0.5 = no separation)
    free_space: float  # 0-1, calm share of the calmest third (room for the title treatment)
    phash: int  # 64-bit perceptual hash, for near-duplicates

    @property
    def cast(self) -> tuple[str, ...]:
        names = [face.name for face in self.faces if face.name is not None]
        return tuple(dict.fromkeys(names))


@functools.cache
def _saliency() -> cv2.saliency.StaticSaliencySpectralResidual:
    return cv2.saliency.StaticSaliencySpectralResidual.create()


def _hasler_susstrunk(image: np.ndarray) -> float:
    b, g, r = (channel.astype(np.float32) for channel in cv2.split(image))
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = np.hypot(rg.std(), yb.std())
    mean = np.hypot(rg.mean(), yb.mean())
    return float(spread + 0.3 * mean)


_HUE_FAMILIES = (
    (15, "red"),
    (35, "orange"),
    (85, "yellow-green"),
    (130, "cyan-blue"),
    (165, "purple"),
    (180, "red"),
)


def _hue_family(bgr: np.ndarray) -> str:
    hue, saturation, value = cv2.cvtColor(bgr.reshape(1, 1, 3), cv2.COLOR_BGR2HSV)[0, 0]
    if saturation < 50 or value < 40:
        return "dark" if value < 80 else "grey"
    return next(name for limit, name in _HUE_FAMILIES if hue < limit)


def _dominant_colours(image: np.ndarray) -> tuple[tuple[str, ...], str]:
    pixels = cv2.resize(image, (64, 36), interpolation=cv2.INTER_AREA).reshape(-1, 3)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(  # type: ignore[call-overload]  # stub wants bestLabels; None: kmeans allocates it
        pixels.astype(np.float32), DOMINANT_COLOURS, None, criteria, 2, cv2.KMEANS_PP_CENTERS
    )
    order = np.argsort(-np.bincount(labels.ravel(), minlength=DOMINANT_COLOURS))
    colours = np.clip(centres[order], 0, 255).astype(np.uint8)
    hexes = tuple(f"#{r:02x}{g:02x}{b:02x}" for b, g, r in colours)
    return hexes, _hue_family(colours[0])


def _shot_type(faces: list[Box], frame_height: int) -> str:
    if not faces:
        return NO_FACE_SHOT
    tallest = max(h for _, _, _, h in faces) / frame_height
    return next(name for name, share in SHOT_TYPES if tallest >= share)


def _union(boxes: list[Box]) -> Box:
    x0 = min(x for x, _, _, _ in boxes)
    y0 = min(y for _, y, _, _ in boxes)
    x1 = max(x + w for x, _, w, _ in boxes)
    y1 = max(y + h for _, y, _, h in boxes)
    return x0, y0, x1 - x0, y1 - y0


def _salient_box(saliency: np.ndarray) -> Box:
    ys, xs = np.nonzero(saliency >= SALIENT)
    if xs.size == 0:
        return 0, 0, saliency.shape[1], saliency.shape[0]
    x0, x1 = np.percentile(xs, (5, 95)).astype(int)
    y0, y1 = np.percentile(ys, (5, 95)).astype(int)
    return int(x0), int(y0), int(x1 - x0 + 1), int(y1 - y0 + 1)


def _thirds(subject: Box, width: int, height: int) -> float:
    x, y, w, h = subject
    cx, cy = (x + w / 2) / width, (y + h / 2) / height
    distance = min(np.hypot(cx - px, cy - py) for px in (1 / 3, 2 / 3) for py in (1 / 3, 2 / 3))
    return float(np.clip(1.0 - distance / 0.33, 0.0, 1.0))


def _depth_of_field(detail: np.ndarray, subject: Box) -> float:
    x, y, w, h = subject
    mask = np.zeros(detail.shape, bool)
    mask[y : y + h, x : x + w] = True
    if mask.all() or not mask.any():
        return 0.5
    inside, outside = float(detail[mask].mean()), float(detail[~mask].mean())
    return inside / (inside + outside) if inside + outside > 0 else 0.5


def _free_space(detail: np.ndarray) -> float:
    height, width = detail.shape
    quiet = cv2.GaussianBlur(detail, (0, 0), 8) < QUIET_DETAIL
    thirds = (
        quiet[:, : width // 3],
        quiet[:, width - width // 3 :],
        quiet[: height // 3],
        quiet[height - height // 3 :],
    )
    return float(max(band.mean() for band in thirds))


def _phash(image: np.ndarray) -> int:
    return int.from_bytes(cv2.img_hash.pHash(image).tobytes(), "big")


def annotate(image: np.ndarray, matcher: FaceMatcher | None = None) -> Annotation:
    """All measures of one BGR frame."""
    height, width = image.shape[:2]
    scale = ANALYSIS_LONG_SIDE / max(height, width)
    small = cv2.resize(
        image,
        (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA,
    )
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    luma = gray.astype(np.float32) / 255.0
    laplacian = cv2.Laplacian(gray, cv2.CV_32F)
    detail = np.abs(laplacian)

    boxes = detect_faces(gray)
    faces = []
    for box in boxes:
        crop = face_crop(gray, box)
        name = matcher.match(crop)[0] if matcher is not None else None
        x, y, w, h = (round(v / scale) for v in box)
        faces.append(Face((x, y, w, h), w * h / (width * height), frontalness(crop), name))

    _, salient = _saliency().computeSaliency(small)
    saliency = np.asarray(cv2.GaussianBlur(salient.astype(np.float32), (0, 0), 3), np.float32)
    saliency /= max(float(saliency.max()), 1e-6)
    subject = _union(boxes) if boxes else _salient_box(saliency)
    colours, hue = _dominant_colours(small)
    sx, sy, sw, sh = subject
    return Annotation(
        brightness=float(luma.mean()),
        contrast=float(luma.std()),
        colourfulness=_hasler_susstrunk(small),
        sharpness=float(laplacian.var()),
        dominant_colours=colours,
        dominant_hue=hue,
        faces=tuple(faces),
        shot_type=_shot_type(boxes, small.shape[0]),
        subject=(round(sx / scale), round(sy / scale), round(sw / scale), round(sh / scale)),
        thirds=_thirds(subject, small.shape[1], small.shape[0]),
        symmetry=float(np.clip(1.0 - np.abs(luma - luma[:, ::-1]).mean() / 0.5, 0.0, 1.0)),
        depth_of_field=_depth_of_field(detail, subject),
        free_space=_free_space(detail),
        phash=_phash(small),
    )
