"""The artwork domain: titles and their candidate artworks with AVA tags."""

from __future__ import annotations

from dataclasses import dataclass

from common.features import aesthetic_score


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A face in the artwork's (cropped) image; every field a fraction 0..1 of its size."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Artwork:
    artwork_id: str
    cast: tuple[str, ...]
    tones: tuple[str, ...]
    visual_quality: float
    composition: float
    faces: tuple[FaceBox, ...] = ()  # largest first
    # Where the picture is served when it lives outside keyart's image store (an imported
    # catalog's CDN); empty: `ARTWORK_IMAGE_BASE_URL/<artwork_id>.png`.
    image_url: str = ""

    @property
    def aesthetic_score(self) -> float:
        return aesthetic_score(self.visual_quality, self.composition)


@dataclass(frozen=True, slots=True)
class Title:
    title_id: str
    name: str
    genres: tuple[str, ...]
    cast: tuple[str, ...]
    artworks: tuple[Artwork, ...]
