"""Checking a RegisterArtworks request and turning it into domain artworks."""

from __future__ import annotations

from keyart.artwork.v1 import artwork_service_pb2 as pb

from common.errors import InvalidArgument
from common.validation import require_path_id
from services.artwork.messages import artwork_of
from services.artwork.model import Artwork
from services.artwork.tag_checks import check_tags

MAX_ARTWORKS_PER_REGISTRATION = 64


def _artwork(new: pb.NewArtwork, title_id: str, field: str) -> Artwork:
    artwork_id = require_path_id(new.artwork_id, f"{field}.artwork_id")
    name = artwork_id.removeprefix(f"{title_id}/")
    if name == artwork_id or not name:
        raise InvalidArgument(f"{field}.artwork_id", f"must be '{title_id}/<name>'")
    check_tags(new.tags, f"{field}.tags")
    return artwork_of(artwork_id, new.tags)


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
