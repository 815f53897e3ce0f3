"""Checks of an artwork's AVA tags, shared by RegisterArtworks and UpsertTitles."""

from __future__ import annotations

import math
from collections.abc import Sequence

from keyart.artwork.v1 import artwork_service_pb2 as pb

from common.errors import InvalidArgument
from common.features import unknown_genres
from common.validation import require_id

MAX_CAST_PER_ARTWORK = 16
MAX_FACES_PER_ARTWORK = 32
# float32 coordinates: 0.3 + 0.7 may sum to a hair above 1.
EDGE_TOLERANCE = 1e-6


def require_unit_score(value: float, field: str) -> None:
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidArgument(field, f"{value} is not a score between 0 and 1")


def require_known_genres(names: Sequence[str], field: str) -> None:
    """Each name one of keyart's genres (common.features.GENRES)."""
    for position, name in enumerate(names):
        if unknown_genres([name]):
            raise InvalidArgument(f"{field}[{position}]", f"unknown genre {name!r}")


def _check_face(face: pb.FaceBox, field: str) -> None:
    """Fractions of the artwork's image: each in [0, 1], a non-empty box inside the image."""
    for name in ("x", "y", "width", "height"):
        value = getattr(face, name)
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise InvalidArgument(f"{field}.{name}", f"{value} is not a fraction between 0 and 1")
    for start, size in (("x", "width"), ("y", "height")):
        if getattr(face, size) <= 0.0:
            raise InvalidArgument(f"{field}.{size}", "must be above 0")
        if getattr(face, start) + getattr(face, size) > 1.0 + EDGE_TOLERANCE:
            raise InvalidArgument(
                f"{field}.{size}", f"{start} + {size} exceeds 1: the box leaves the image"
            )


def check_tags(tags: pb.AvaTags, field: str) -> None:
    """InvalidArgument naming the first bad field under `field` (e.g. `….tags.tones[1]`)."""
    require_known_genres(tags.tones, f"{field}.tones")
    if len(tags.cast) > MAX_CAST_PER_ARTWORK:
        raise InvalidArgument(f"{field}.cast", f"more than {MAX_CAST_PER_ARTWORK} names")
    for position, name in enumerate(tags.cast):
        require_id(name, f"{field}.cast[{position}]")
    require_unit_score(tags.visual_quality, f"{field}.visual_quality")
    require_unit_score(tags.composition, f"{field}.composition")
    if len(tags.faces) > MAX_FACES_PER_ARTWORK:
        raise InvalidArgument(
            f"{field}.faces",
            f"{len(tags.faces)} boxes exceed the limit of {MAX_FACES_PER_ARTWORK}",
        )
    for position, face in enumerate(tags.faces):
        _check_face(face, f"{field}.faces[{position}]")
