"""The artwork domain's tags to and from protobuf, in one place for the service and its callers."""

from __future__ import annotations

from keyart.artwork.v1 import artwork_service_pb2 as pb

from services.artwork.model import Artwork, FaceBox, Title


def ava_tags(artwork: Artwork) -> pb.AvaTags:
    return pb.AvaTags(
        cast=artwork.cast,
        tones=artwork.tones,
        visual_quality=artwork.visual_quality,
        composition=artwork.composition,
        faces=[pb.FaceBox(x=f.x, y=f.y, width=f.width, height=f.height) for f in artwork.faces],
    )


def artwork_of(artwork_id: str, tags: pb.AvaTags, image_url: str = "") -> Artwork:
    """The domain artwork, as the message says (unchecked: the caller checks first)."""
    return Artwork(
        artwork_id=artwork_id,
        cast=tuple(tags.cast),
        tones=tuple(tags.tones),
        visual_quality=tags.visual_quality,
        composition=tags.composition,
        faces=tuple(FaceBox(f.x, f.y, f.width, f.height) for f in tags.faces),
        image_url=image_url,
    )


def new_title(title: Title) -> pb.NewTitle:
    """The message that upserts `title` as it is (what `keyart catalog export` writes)."""
    return pb.NewTitle(
        title_id=title.title_id,
        name=title.name,
        genres=title.genres,
        cast=title.cast,
        artworks=[
            pb.Artwork(artwork_id=a.artwork_id, image_url=a.image_url, tags=ava_tags(a))
            for a in title.artworks
        ],
    )
