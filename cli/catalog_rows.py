"""One row of a catalog file → a TitleLine, or BadLine naming the field.

Types are strict, as in the history import: a number where a string is expected is
refused (ids `42` and `42.0` would be one title to one tool and two to another),
and so is a key the format does not have (a misspelt optional key would otherwise
be dropped without a word). Ranges, ids and limits are checked later by the
artwork server's own `title_of`, so the file and the API refuse the same things.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cli.table_file import BadLine, Row
from services.artwork.model import FaceBox

TITLE_KEYS = ("title_id", "name", "genres", "cast", "artworks")
ARTWORK_KEYS = ("artwork_id", "image", "cast", "tones", "visual_quality", "composition", "faces")
# The tags an artwork needs; without them it is analysed (`--analyse`) or refused.
NEEDED_TAGS = ("tones", "visual_quality", "composition")
FACE_FIELDS = ("x", "y", "width", "height")


@dataclass(frozen=True)
class ArtworkLine:
    """An artwork as the file gives it; None for a tag left out."""

    artwork_id: str
    image: str
    cast: tuple[str, ...] | None
    tones: tuple[str, ...] | None  # the file's own names, not yet mapped
    visual_quality: float | None
    composition: float | None
    faces: tuple[FaceBox, ...] | None

    def missing_tags(self) -> list[str]:
        return [name for name in NEEDED_TAGS if getattr(self, name) is None]


@dataclass(frozen=True)
class TitleLine:
    where: str
    title_id: str
    name: str
    genres: tuple[str, ...]  # the file's own names, not yet mapped
    cast: tuple[str, ...]
    artworks: tuple[ArtworkLine, ...]


def _kind(value: object) -> str:
    return f"{type(value).__name__} {value!r}"[:60]


def _text(where: str, value: object, field: str) -> str:
    if not isinstance(value, str):
        raise BadLine(where, field, f"must be a string, not {_kind(value)}")
    return value


def _texts(where: str, value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise BadLine(where, field, f"must be a list of strings, not {_kind(value)}")
    return tuple(_text(where, item, f"{field}[{i}]") for i, item in enumerate(value))


def _number(where: str, value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadLine(where, field, f"must be a number, not {_kind(value)}")
    return float(value)


def _faces(where: str, value: object, field: str) -> tuple[FaceBox, ...]:
    if not isinstance(value, list):
        raise BadLine(where, field, f"must be a list of [x, y, width, height], not {_kind(value)}")
    faces = []
    for i, box in enumerate(value):
        if not isinstance(box, list) or len(box) != len(FACE_FIELDS):
            raise BadLine(where, f"{field}[{i}]", "must be [x, y, width, height] (fractions 0..1)")
        x, y, width, height = (_number(where, v, f"{field}[{i}][{j}]") for j, v in enumerate(box))
        faces.append(FaceBox(x, y, width, height))
    return tuple(faces)


def _object(where: str, value: object, field: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadLine(where, field, f"must be an object, not {_kind(value)}")
    # Parquet structs have every key: a null there is a key left out.
    present = {key: item for key, item in value.items() if item is not None}
    unknown = sorted(set(present) - set(keys))
    if unknown:
        name = f"{field}.{unknown[0]}" if field else unknown[0]
        raise BadLine(where, name, f"unknown key; expected {', '.join(keys)}")
    return present


def _required(where: str, row: dict[str, Any], key: str, field: str) -> object:
    if key not in row:
        raise BadLine(where, field, "missing")
    return row[key]


def _artwork(where: str, value: object, field: str) -> ArtworkLine:
    row = _object(where, value, field, ARTWORK_KEYS)
    at = f"{field}."

    def optional(key: str, parse: Any) -> Any:
        return parse(where, row[key], at + key) if key in row else None

    return ArtworkLine(
        artwork_id=_text(
            where, _required(where, row, "artwork_id", at + "artwork_id"), at + "artwork_id"
        ),
        image=optional("image", _text) or "",
        cast=optional("cast", _texts),
        tones=optional("tones", _texts),
        visual_quality=optional("visual_quality", _number),
        composition=optional("composition", _number),
        faces=optional("faces", _faces),
    )


def title_from_row(where: str, row: Row) -> TitleLine:
    """The title `row` describes, types checked (`where` names it in errors)."""
    row = _object(where, row, "", TITLE_KEYS)
    artworks = _required(where, row, "artworks", "artworks")
    if not isinstance(artworks, list):
        raise BadLine(where, "artworks", f"must be a list of objects, not {_kind(artworks)}")
    return TitleLine(
        where=where,
        title_id=_text(where, _required(where, row, "title_id", "title_id"), "title_id"),
        name=_text(where, _required(where, row, "name", "name"), "name"),
        genres=_texts(where, row.get("genres", []), "genres"),
        cast=_texts(where, row.get("cast", []), "cast"),
        artworks=tuple(_artwork(where, a, f"artworks[{i}]") for i, a in enumerate(artworks)),
    )
