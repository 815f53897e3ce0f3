"""The artwork domain: titles and their candidate artworks with AVA tags."""

from __future__ import annotations

from dataclasses import dataclass

from common.features import aesthetic_score


@dataclass(frozen=True)
class Artwork:
    artwork_id: str
    cast: tuple[str, ...]
    tones: tuple[str, ...]
    visual_quality: float
    composition: float

    @property
    def aesthetic_score(self) -> float:
        return aesthetic_score(self.visual_quality, self.composition)


@dataclass(frozen=True)
class Title:
    title_id: str
    name: str
    genres: tuple[str, ...]
    cast: tuple[str, ...]
    artworks: tuple[Artwork, ...]
