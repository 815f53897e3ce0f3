"""The feature schema shared by profile, artwork, gateway and ranker.

Viewer taste and artwork tags live in the same two blocks so that the ranker
can learn (or, for the bundled model, encode) their interaction:

- genre block: one slot per genre/tone in `GENRES`;
- cast block: `CAST_BUCKETS` slots; a cast member's name is hashed to a slot
  and a sign (signed feature hashing, as Vowpal Wabbit does), so no cast
  vocabulary has to be shared and collisions cancel out on average.

viewer  = [genre affinities | cast affinities]                 (VIEWER_DIM)
artwork = [tone weights | featured cast | visual_quality, composition]  (ARTWORK_DIM)
context = [device one-hot | hour sin, cos, known | weekend, day known]  (CONTEXT_DIM)

Each taste block is scaled so its largest magnitude is 1; artwork tone and
cast blocks sum to 1. The viewer's cast block holds only the names that stand
out (`standout_cast`): a play credits a title's whole cast, so most names a
viewer has met are co-stars met once or twice, and left in they fill every
hashed slot and drown the few names the viewer keeps coming back to.
Changing anything here changes SCHEMA_VERSION.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import TypeVar

import numpy as np

GENRES: tuple[str, ...] = (
    "action",
    "adventure",
    "animation",
    "comedy",
    "crime",
    "documentary",
    "drama",
    "family",
    "fantasy",
    "horror",
    "musical",
    "mystery",
    "romance",
    "scifi",
    "thriller",
    "western",
)
GENRE_INDEX: dict[str, int] = {genre: i for i, genre in enumerate(GENRES)}
# Enough slots that a viewer's few standout names rarely share one with an artwork's featured
# cast (the demo catalog credits 205 names); at 64, `keyart simulate` measured 3 points less
# oracle lift for the learned policy.
CAST_BUCKETS = 128
DEVICE_SLOTS = 5  # keyart.gateway.v1.DeviceType numbers 0-4
# A cast name stands out when its affinity is this many standard deviations above the mean of
# the viewer's cast affinities (the usual outlier rule).
STANDOUT_SDS = 2.0

GENRE_BLOCK = slice(0, len(GENRES))
CAST_BLOCK = slice(len(GENRES), len(GENRES) + CAST_BUCKETS)
VIEWER_DIM = len(GENRES) + CAST_BUCKETS
ARTWORK_DIM = VIEWER_DIM + 2
VISUAL_QUALITY_SLOT = VIEWER_DIM
COMPOSITION_SLOT = VIEWER_DIM + 1
CONTEXT_DIM = DEVICE_SLOTS + 3 + 2

# How AVA's two quality measures combine into one aesthetic score. A title's
# default artwork (the best non-personalized choice) is its highest-scoring
# candidate, and the bundled model weighs quality the same way.
AESTHETIC_WEIGHTS = (0.6, 0.4)  # (visual_quality, composition)
Quality = TypeVar("Quality", float, np.ndarray)

SCHEMA_VERSION = (
    "features-v1-"
    + hashlib.sha256(
        repr(
            (
                GENRES,
                CAST_BUCKETS,
                DEVICE_SLOTS,
                "signed-blake2b",
                "max-scaled",
                "standout-cast-capped",
                STANDOUT_SDS,
            )
        ).encode()
    ).hexdigest()[:8]
)


def aesthetic_score(visual_quality: Quality, composition: Quality) -> Quality:
    """One candidate's score from floats, or many candidates' from arrays."""
    return AESTHETIC_WEIGHTS[0] * visual_quality + AESTHETIC_WEIGHTS[1] * composition


def cast_slot(name: str) -> tuple[int, float]:
    """The cast-block slot (0-based within the block) and sign of a cast member."""
    digest = hashlib.blake2b(name.strip().lower().encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % CAST_BUCKETS, (1.0 if (value >> 63) & 1 else -1.0)


def unknown_genres(genres: Iterable[str]) -> list[str]:
    return [genre for genre in genres if genre not in GENRE_INDEX]


def _scale_to_unit_max(block: np.ndarray) -> None:
    peak = float(np.max(np.abs(block))) if block.size else 0.0
    if peak > 0:
        block /= peak


def standout_cast(cast_weights: Mapping[str, float]) -> dict[str, float]:
    """The names at least STANDOUT_SDS standard deviations above the viewer's mean cast affinity.

    The bar never rises above the strongest affinity, so the viewer's most-met
    name always counts, and when no name stands apart (all equal, a single
    name) every name does: nothing says which of them the viewer comes back for.
    """
    if not cast_weights:
        return {}
    weights = np.fromiter(cast_weights.values(), dtype=np.float64, count=len(cast_weights))
    bar = min(weights.mean() + STANDOUT_SDS * weights.std(), weights.max())
    return {name: w for name, w in cast_weights.items() if w >= bar - 1e-9 * abs(bar)}


def viewer_vector(
    genre_weights: Mapping[str, float], cast_weights: Mapping[str, float]
) -> np.ndarray:
    """Taste features from named affinities; all zeros is the cold-start vector."""
    vector = np.zeros(VIEWER_DIM, dtype=np.float32)
    for genre, weight in genre_weights.items():
        if genre in GENRE_INDEX:
            vector[GENRE_INDEX[genre]] += weight
    cast = vector[CAST_BLOCK]
    for name, weight in standout_cast(cast_weights).items():
        slot, sign = cast_slot(name)
        cast[slot] += sign * weight
    _scale_to_unit_max(vector[GENRE_BLOCK])
    _scale_to_unit_max(cast)
    return vector


def cold_start_vector() -> np.ndarray:
    return np.zeros(VIEWER_DIM, dtype=np.float32)


def artwork_vector(
    tones: Iterable[str], cast: Iterable[str], visual_quality: float, composition: float
) -> np.ndarray:
    """Artwork features from AVA tags. Tone and cast blocks each sum to 1."""
    vector = np.zeros(ARTWORK_DIM, dtype=np.float32)
    known_tones = [tone for tone in tones if tone in GENRE_INDEX]
    for tone in known_tones:
        vector[GENRE_INDEX[tone]] += 1.0 / len(known_tones)
    names = list(cast)
    cast_block = vector[CAST_BLOCK]
    for name in names:
        slot, sign = cast_slot(name)
        cast_block[slot] += sign / len(names)
    vector[VISUAL_QUALITY_SLOT] = visual_quality
    vector[COMPOSITION_SLOT] = composition
    return vector


def context_vector(device_type: int, local_hour: int | None, day_of_week: int) -> np.ndarray:
    """Request context: device one-hot, hour on the circle, weekend flag.

    `device_type` and `day_of_week` are keyart.gateway.v1 enum numbers
    (0 = unspecified); `local_hour` is 0-23 or None when unknown.
    """
    vector = np.zeros(CONTEXT_DIM, dtype=np.float32)
    vector[device_type if 0 <= device_type < DEVICE_SLOTS else 0] = 1.0
    if local_hour is not None:
        angle = 2 * math.pi * local_hour / 24
        vector[DEVICE_SLOTS : DEVICE_SLOTS + 3] = (math.sin(angle), math.cos(angle), 1.0)
    if day_of_week:
        vector[DEVICE_SLOTS + 3] = 1.0 if day_of_week >= 6 else 0.0
        vector[DEVICE_SLOTS + 4] = 1.0
    return vector


def pack(vector: np.ndarray) -> bytes:
    """Float32 little-endian bytes, the wire form of every vector and matrix."""
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def unpack(data: bytes, width: int, *, field: str) -> np.ndarray:
    """Inverse of `pack` into rows of `width`; ValueError names `field` when the size is off."""
    if width <= 0 or len(data) % (4 * width):
        raise ValueError(f"{field}: {len(data)} bytes is not a whole number of {width}-float rows")
    return np.frombuffer(data, dtype="<f4").reshape(-1, width)
