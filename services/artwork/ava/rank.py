"""From annotated frames to the top K: filter, aesthetic score, near-duplicates, diversity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from common.features import aesthetic_score
from services.artwork.ava.annotate import Annotation
from services.artwork.ava.frames import Frame

# A frame is dropped when any of these holds.
MIN_BRIGHTNESS = 0.12  # too dark
MAX_BRIGHTNESS = 0.92  # washed out
MIN_SHARPNESS = 40.0  # blurred (variance of the Laplacian at the analysis size)
MIN_CONTRAST = 0.05  # empty: a flat frame (fade, black, slate)

# visual_quality = Σ weight × measure, each measure mapped to 0-1 first:
VISUAL_WEIGHTS = {
    "exposure": 0.25,  # 1 at mid-grey brightness, 0 at black or white
    "contrast": 0.25,  # RMS contrast / 0.25
    "colourfulness": 0.2,  # Hasler-Süsstrunk M / 100
    "sharpness": 0.3,  # log10(1 + Laplacian variance) / 3
}
# composition = Σ weight × measure (all 0-1 already):
COMPOSITION_WEIGHTS = {
    "thirds": 0.3,
    "depth_of_field": 0.25,
    "free_space": 0.2,
    "frontal_faces": 0.15,  # the largest face's frontalness; 0.5 with no face
    "symmetry": 0.1,
}
# The aesthetic score is common.features.aesthetic_score(visual_quality, composition),
# the same that picks a title's default artwork.

DUPLICATE_BITS = 12  # perceptual hashes this close (of 64 bits) are the same picture
# Greedy top K: each already chosen frame with the same shot type / cast / colour family
# takes this share off a frame's score, so the K differ where they can.
DIVERSITY_PENALTIES = {"shot_type": 0.15, "cast": 0.2, "colour": 0.1}


@dataclass(frozen=True)
class Scored:
    frame: Frame
    annotation: Annotation
    visual_quality: float
    composition: float

    @property
    def score(self) -> float:
        return aesthetic_score(self.visual_quality, self.composition)


def rejection(annotation: Annotation) -> str | None:
    """Why a frame cannot be artwork, or None."""
    if annotation.brightness < MIN_BRIGHTNESS:
        return "too dark"
    if annotation.brightness > MAX_BRIGHTNESS:
        return "washed out"
    if annotation.contrast < MIN_CONTRAST:
        return "empty"
    if annotation.sharpness < MIN_SHARPNESS:
        return "blurred"
    return None


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def visual_quality(annotation: Annotation) -> float:
    measures = {
        "exposure": 1.0 - abs(annotation.brightness - 0.5) / 0.5,
        "contrast": annotation.contrast / 0.25,
        "colourfulness": annotation.colourfulness / 100.0,
        "sharpness": math.log10(1.0 + annotation.sharpness) / 3.0,
    }
    return sum(weight * _clip(measures[name]) for name, weight in VISUAL_WEIGHTS.items())


def composition(annotation: Annotation) -> float:
    measures = {
        "thirds": annotation.thirds,
        "depth_of_field": annotation.depth_of_field,
        "free_space": annotation.free_space,
        "frontal_faces": annotation.faces[0].frontalness if annotation.faces else 0.5,
        "symmetry": annotation.symmetry,
    }
    return sum(weight * _clip(measures[name]) for name, weight in COMPOSITION_WEIGHTS.items())


def score(frame: Frame, annotation: Annotation) -> Scored:
    return Scored(frame, annotation, visual_quality(annotation), composition(annotation))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def without_duplicates(scored: Sequence[Scored]) -> list[Scored]:
    """Best first; a frame within DUPLICATE_BITS of a better one is dropped."""
    kept: list[Scored] = []
    for candidate in sorted(scored, key=lambda item: -item.score):
        if all(
            hamming(candidate.annotation.phash, k.annotation.phash) > DUPLICATE_BITS for k in kept
        ):
            kept.append(candidate)
    return kept


def _shared(candidate: Scored, chosen: Scored) -> float:
    a, b = candidate.annotation, chosen.annotation
    return (
        DIVERSITY_PENALTIES["shot_type"] * (a.shot_type == b.shot_type)
        + DIVERSITY_PENALTIES["cast"] * (a.cast == b.cast)
        + DIVERSITY_PENALTIES["colour"] * (a.dominant_hue == b.dominant_hue)
    )


def diverse_top(scored: Sequence[Scored], k: int) -> list[Scored]:
    """Greedily the best score after diversity penalties, K times."""
    pool = list(scored)
    chosen: list[Scored] = []
    while pool and len(chosen) < k:
        best = max(
            pool,
            key=lambda c: c.score * max(0.0, 1.0 - sum(_shared(c, done) for done in chosen)),
        )
        chosen.append(best)
        pool.remove(best)
    return chosen


def rank(annotated: Sequence[tuple[Frame, Annotation]], k: int) -> list[Scored]:
    """The top K artwork frames: usable, distinct, diverse, best first."""
    usable = [score(frame, a) for frame, a in annotated if rejection(a) is None]
    return diverse_top(without_duplicates(usable), k)
