"""The simulator's world: viewers with hidden tastes and a known click model over the demo catalog.

A viewer has hidden genre affinities (two favourite genres) and favourite
cast members (three), and the chance that an artwork makes them play is

    P(play) = sigmoid(BASE + TONE · Σ_g taste_g · tone_g
                           + CAST · (share of the artwork's featured cast they love)
                           + QUALITY · (aesthetic − 0.7)
                           + MOBILE · (composition − 0.6) on mobile)

so what matters is the viewer × artwork match, plus a context effect (on a
phone, tight compositions read better). The oracle knows this and shows each
viewer the candidate with the highest P(play); nothing else does: the
services only ever see the viewer's profile, built from the plays the
simulator reports.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from common.features import GENRES
from demo.catalog import demo_titles
from services.artwork.model import Artwork, Title

BASE = -3.2
TONE = 2.5
CAST = 3.5
QUALITY = 1.0
MOBILE = 3.0
DEVICE_MOBILE = 2  # keyart.gateway.v1.DEVICE_TYPE_MOBILE


@dataclass(frozen=True)
class Viewer:
    user_id: str
    genres: dict[str, float]
    cast: frozenset[str]


def play_probability(viewer: Viewer, artwork: Artwork, device_type: int) -> float:
    tones = artwork.tones
    tone_match = sum(viewer.genres.get(tone, 0.0) for tone in tones) / len(tones) if tones else 0.0
    cast = artwork.cast
    cast_match = sum(name in viewer.cast for name in cast) / len(cast) if cast else 0.0
    logit = BASE + TONE * tone_match + CAST * cast_match + QUALITY * (artwork.aesthetic_score - 0.7)
    if device_type == DEVICE_MOBILE:
        logit += MOBILE * (artwork.composition - 0.6)
    return 1.0 / (1.0 + math.exp(-logit))


class World:
    """The catalog the services serve, and `viewers` synthetic viewers drawn from `seed`."""

    def __init__(self, viewers: int, seed: int) -> None:
        rng = random.Random(seed)
        self.titles: dict[str, Title] = {title.title_id: title for title in demo_titles()}
        self.choosable = [t.title_id for t in self.titles.values() if len(t.artworks) >= 2]
        self.by_genre = {
            genre: [t.title_id for t in self.titles.values() if t.genres == (genre,)]
            for genre in GENRES
        }
        featured = sorted(
            {name for title in self.titles.values() for art in title.artworks for name in art.cast}
        )
        self.viewers = [
            Viewer(
                user_id=f"sim-{seed}-{i:04d}",
                genres=dict(zip(rng.sample(GENRES, 2), (1.0, 0.6), strict=True)),
                cast=frozenset(rng.sample(featured, 3)),
            )
            for i in range(viewers)
        ]

    def history(self, viewer: Viewer, plays: int, rng: random.Random) -> list[str]:
        """Titles the viewer has watched: half with a favourite cast member, half of a favourite
        genre alone (each as often as the viewer likes it), so that the profile the services
        build from these plays reflects the hidden taste."""
        by_cast = [t.title_id for t in self.titles.values() if viewer.cast & set(t.cast)]
        genres = list(viewer.genres)
        watched = rng.sample(by_cast, min(len(by_cast), plays // 2))
        while len(watched) < plays:
            genre = rng.choices(genres, weights=[viewer.genres[g] for g in genres])[0]
            watched.append(rng.choice(self.by_genre[genre]))
        return watched

    def probabilities(self, viewer: Viewer, title_id: str, device_type: int) -> dict[str, float]:
        """P(play) of each candidate artwork of the title, by artwork id."""
        return {
            artwork.artwork_id: play_probability(viewer, artwork, device_type)
            for artwork in self.titles[title_id].artworks
        }

    def default_artwork(self, title_id: str) -> str:
        return max(self.titles[title_id].artworks, key=lambda a: a.aesthetic_score).artwork_id
