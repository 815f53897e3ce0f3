"""A catalog's own genre and tone names → keyart's GENRES (common.features).

A name is folded first (lower case, everything but letters and digits dropped:
"Sci-Fi", "sci_fi" and "SCI FI" are all "scifi"), then looked up, in this order:
the `--genre-map` file, keyart's genre names, ALIASES; then the same with a
trailing "movies", "films", "series" or "shows" dropped, and with a plural "s"
dropped ("Westerns"); and last a compound ("Sci-Fi & Fantasy", "Action and
Adventure", "Crime/Thriller") is split and each part looked up, mapping only if
every part maps. A name that maps to nothing is unmapped: the caller reports it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cli.table_file import BadLine
from common.features import GENRE_INDEX, GENRES

# Folded name → keyart genres. docs/catalog.md lists this table; keep the two alike.
ALIASES: dict[str, tuple[str, ...]] = {
    "sciencefiction": ("scifi",),
    "sf": ("scifi",),
    "romantic": ("romance",),
    "romcom": ("romance", "comedy"),
    "romanticcomedy": ("romance", "comedy"),
    "kids": ("family",),
    "children": ("family",),
    "childrens": ("family",),
    "kidsandfamily": ("family",),
    "docs": ("documentary",),
    "documentaries": ("documentary",),
    "docuseries": ("documentary",),
    "animated": ("animation",),
    "anime": ("animation",),
    "cartoon": ("animation",),
    "suspense": ("thriller",),
    "comedies": ("comedy",),
    "standup": ("comedy",),
    "dramas": ("drama",),
    "mysteries": ("mystery",),
    "scary": ("horror",),
    "music": ("musical",),
    "musicals": ("musical",),
    "crimethriller": ("crime", "thriller"),
    "actionadventure": ("action", "adventure"),
}
_SUFFIXES = ("movies", "films", "series", "shows")
_COMPOUND = re.compile(r"\s*(?:&|\+|/|,|\band\b)\s*", re.IGNORECASE)
GenreMap = Mapping[str, tuple[str, ...]]


def fold(name: str) -> str:
    return "".join(character for character in name.lower() if character.isalnum())


def _lookup(folded: str, overrides: GenreMap) -> tuple[str, ...] | None:
    for table in (overrides, {genre: (genre,) for genre in GENRES}, ALIASES):
        if folded in table:
            return table[folded]
    return None


def _whole(folded: str, overrides: GenreMap) -> tuple[str, ...] | None:
    candidates = [folded]
    candidates += [folded[: -len(s)] for s in _SUFFIXES if folded.endswith(s) and folded != s]
    candidates += [c[:-1] for c in list(candidates) if c.endswith("s")]
    for candidate in candidates:
        found = _lookup(candidate, overrides)
        if found is not None:
            return found
    return None


def keyart_genres(name: str, overrides: GenreMap) -> tuple[str, ...] | None:
    """The keyart genres `name` stands for (() when a map drops it on purpose), or None."""
    found = _whole(fold(name), overrides)
    if found is not None:
        return found
    parts = [part for part in _COMPOUND.split(name) if part.strip()]
    if len(parts) < 2:
        return None
    mapped = [_whole(fold(part), overrides) for part in parts]
    if any(genres is None for genres in mapped):
        return None
    return tuple(dict.fromkeys(genre for genres in mapped if genres for genre in genres))


def load_genre_map(path: Path) -> dict[str, tuple[str, ...]]:
    """`{"Their name": "genre" | ["genre", …] | null}`, keyed by folded name; BadLine names
    the file and the key for anything else."""
    where = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BadLine(where, "", f"cannot be read ({error.strerror})") from None
    except ValueError as error:
        raise BadLine(where, "", f"not valid UTF-8 JSON ({error})") from None
    if not isinstance(data, dict):
        raise BadLine(where, "", 'expected a JSON object: {"Their name": "keyart-genre", …}')
    mapping: dict[str, tuple[str, ...]] = {}
    for key, value in data.items():
        genres = [value] if isinstance(value, str) else [] if value is None else value
        if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
            raise BadLine(where, repr(key), "must be a genre name, a list of them, or null")
        for genre in genres:
            if genre not in GENRE_INDEX:
                raise BadLine(
                    where, repr(key), f"{genre!r} is not a keyart genre ({', '.join(GENRES)})"
                )
        mapping[fold(key)] = tuple(dict.fromkeys(genres))
    return mapping


@dataclass
class NameReport:
    """Which of a file's names were mapped or left unmapped, and how often each was met."""

    mapped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    titles: Counter[str] = field(default_factory=Counter)
    artworks: Counter[str] = field(default_factory=Counter)
    unmapped: set[str] = field(default_factory=set)

    def count(self, names: Iterable[str], *, artwork: bool) -> None:
        (self.artworks if artwork else self.titles).update(set(names))

    def lines(self) -> list[str]:
        """One line per name that is not already a keyart genre, mapped ones first."""

        def carried(name: str) -> str:
            counts = [(self.titles[name], "title"), (self.artworks[name], "artwork")]
            return ", ".join(f"{n} {what}{'s' * (n != 1)}" for n, what in counts if n)

        lines = [
            f"mapped {name!r} → {', '.join(genres) or '(dropped by the map)'} ({carried(name)})"
            for name, genres in sorted(self.mapped.items())
            if genres != (name,)
        ]
        lines += [
            f"unmapped {name!r}: left out of the features ({carried(name)})"
            for name in sorted(self.unmapped)
        ]
        return lines


class NameMapper:
    """Maps the names of one file, remembering each for the report."""

    def __init__(self, overrides: GenreMap | None = None) -> None:
        self._overrides = overrides or {}
        self.report = NameReport()

    def map(self, names: Iterable[str], *, artwork: bool) -> tuple[tuple[str, ...], list[str]]:
        """(keyart genres, in order, once each; the names that mapped to nothing)."""
        names = list(names)
        self.report.count(names, artwork=artwork)
        genres: list[str] = []
        unmapped: list[str] = []
        for name in names:
            found = keyart_genres(name, self._overrides)
            if found is None:
                unmapped.append(name)
                self.report.unmapped.add(name)
            else:
                self.report.mapped[name] = found
                genres.extend(found)
        return tuple(dict.fromkeys(genres)), unmapped
