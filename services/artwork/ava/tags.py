"""A candidate's AVA tags in the ranking schema: cast, tones, visual quality, composition."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from common.errors import InvalidArgument
from common.features import unknown_genres
from services.artwork.ava.annotate import Annotation

# Tones guessed from the picture when no editorial labels are given: the first rule whose
# condition holds (brightness and colourfulness as in Annotation; hue = dominant colour family).
TONE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dark and colourless", ("thriller", "mystery")),
    ("dark, cold hue", ("scifi", "thriller")),
    ("bright and colourful", ("comedy", "family")),
    ("warm hue, faces", ("romance", "drama")),
    ("faces", ("drama",)),
)


def _rule_holds(rule: str, a: Annotation) -> bool:
    dark = a.brightness < 0.3
    return {
        "dark and colourless": dark and a.colourfulness < 20,
        "dark, cold hue": dark and a.dominant_hue in ("cyan-blue", "purple"),
        "bright and colourful": a.brightness > 0.55 and a.colourfulness > 45,
        "warm hue, faces": bool(a.faces) and a.dominant_hue in ("red", "orange"),
        "faces": bool(a.faces),
    }[rule]


def guessed_tones(annotation: Annotation) -> tuple[str, ...]:
    return next((tones for rule, tones in TONE_RULES if _rule_holds(rule, annotation)), ())


@dataclass(frozen=True)
class Labels:
    """Editorial labels for one ingest: `{"tones": ["drama", "romance"]}`."""

    tones: tuple[str, ...]


def load_labels(path: Path) -> Labels:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidArgument("labels", f"{path} is not a readable JSON file ({error})") from None
    tones = data.get("tones") if isinstance(data, dict) else None
    if not isinstance(tones, list) or not all(isinstance(tone, str) for tone in tones):
        raise InvalidArgument("labels.tones", "must be a list of tone names")
    unknown = unknown_genres(tones)
    if unknown:
        raise InvalidArgument("labels.tones", f"unknown tones {unknown}")
    return Labels(tuple(tones))
