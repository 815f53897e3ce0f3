"""Checking a RegisterArtworks request and turning it into domain artworks."""

from __future__ import annotations

import math

from keyart.artwork.v1 import artwork_service_pb2 as pb

from common.errors import InvalidArgument
from common.features import unknown_genres
from common.validation import require_id, require_path_id
from services.artwork.messages import artwork_of
from services.artwork.model import Artwork

MAX_ARTWORKS_PER_REGISTRATION = 64
MAX_CAST_PER_ARTWORK = 16
MAX_FACES_PER_ARTWORK = 32
# float32 coordinates: 0.3 + 0.7 may sum to a hair above 1.
EDGE_TOLERANCE = 1e-6


def _unit_score(value: float, field: str) -> None:
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidArgument(field, f"{value} is not a score between 0 and 1")


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


def _artwork(new: pb.NewArtwork, title_id: str, field: str) -> Artwork:
    artwork_id = require_path_id(new.artwork_id, f"{field}.artwork_id")
    name = artwork_id.removeprefix(f"{title_id}/")
    if name == artwork_id or not name:
        raise InvalidArgument(f"{field}.artwork_id", f"must be '{title_id}/<name>'")
    tags = new.tags
    unknown = unknown_genres(tags.tones)
    if unknown:
        raise InvalidArgument(f"{field}.tags.tones", f"unknown tones {unknown}")
    if len(tags.cast) > MAX_CAST_PER_ARTWORK:
        raise InvalidArgument(f"{field}.tags.cast", f"more than {MAX_CAST_PER_ARTWORK} names")
    for position, name in enumerate(tags.cast):
        require_id(name, f"{field}.tags.cast[{position}]")
    _unit_score(tags.visual_quality, f"{field}.tags.visual_quality")
    _unit_score(tags.composition, f"{field}.tags.composition")
    if len(tags.faces) > MAX_FACES_PER_ARTWORK:
        raise InvalidArgument(
            f"{field}.tags.faces",
            f"{len(tags.faces)} boxes exceed the limit of {MAX_FACES_PER_ARTWORK}",
        )
    for position, face in enumerate(tags.faces):
        _check_face(face, f"{field}.tags.faces[{position}]")
    return artwork_of(artwork_id, tags)


def artworks_to_register(request: pb.RegisterArtworksRequest) -> list[Artwork]:
    """The request's artworks, checked; InvalidArgument names the first bad field."""
    title_id = require_path_id(request.title_id, "title_id")
    if not request.artworks:
        raise InvalidArgument("artworks", "must list at least one artwork")
    if len(request.artworks) > MAX_ARTWORKS_PER_REGISTRATION:
        raise InvalidArgument(
            "artworks",
            f"{len(request.artworks)} artworks exceed the limit of {MAX_ARTWORKS_PER_REGISTRATION}",
        )
    artworks = [
        _artwork(new, title_id, f"artworks[{position}]")
        for position, new in enumerate(request.artworks)
    ]
    seen: set[str] = set()
    for position, artwork in enumerate(artworks):
        if artwork.artwork_id in seen:
            raise InvalidArgument(f"artworks[{position}].artwork_id", "is listed twice")
        seen.add(artwork.artwork_id)
    return artworks
