"""The in-memory catalog: every candidate's feature vector in one float32 matrix."""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass, field

import numpy as np

from common.features import ARTWORK_DIM, SCHEMA_VERSION, artwork_vector
from services.artwork.model import Title


@dataclass(frozen=True)
class CatalogEntry:
    """One title as served: its candidates' ids, image urls, default, and matrix rows."""

    title: Title
    default_artwork_id: str
    artwork_ids: tuple[str, ...]
    image_base_url: str
    rows: range
    features: memoryview = field(repr=False, compare=False)
    digest: bytes = field(repr=False, compare=False)

    @property
    def image_urls(self) -> tuple[str, ...]:
        """Made when asked, not held: 600,000 of them are ~100 MB of strings."""
        return tuple(
            artwork.image_url or f"{self.image_base_url}/{artwork.artwork_id}.png"
            for artwork in self.title.artworks
        )


def title_digest(title: Title) -> bytes:
    """A digest of everything served about `title`."""
    return hashlib.sha256(json.dumps(_content(title), separators=(",", ":")).encode()).digest()


def catalog_version(digests: Iterable[bytes]) -> str:
    """Changes whenever any served content or the feature schema changes (titles in id order)."""
    digest = hashlib.sha256(SCHEMA_VERSION.encode())
    for title in digests:
        digest.update(title)
    return digest.hexdigest()[:12]


def _content(title: Title) -> list[object]:
    return [
        title.title_id,
        title.name,
        title.genres,
        title.cast,
        [
            [
                a.artwork_id,
                a.cast,
                a.tones,
                a.visual_quality,
                a.composition,
                [astuple(f) for f in a.faces],
                a.image_url,
            ]
            for a in title.artworks
        ],
    ]


class Catalog:
    """Immutable once built; lookups are safe from any thread or task."""

    def __init__(
        self, titles: Sequence[Title], image_base_url: str, previous: Catalog | None = None
    ) -> None:
        """`titles` in id order. A title `previous` holds unchanged keeps its feature rows
        and digest from there: a catalog of 600,000 artworks takes seconds to build anew,
        and a write changes a few titles of it."""
        reused = {
            title.title_id: entry
            for title in titles
            if previous is not None
            and (entry := previous._entries.get(title.title_id)) is not None
            and (entry.title is title or entry.title == title)
        }
        self.artwork_count = sum(len(title.artworks) for title in titles)
        self.matrix = np.zeros((self.artwork_count, ARTWORK_DIM), dtype="<f4")
        starts = np.cumsum([0] + [len(title.artworks) for title in titles]).tolist()
        for title, start in zip(titles, starts, strict=False):
            kept = reused.get(title.title_id)
            if kept is not None and previous is not None:
                self.matrix[start : start + len(title.artworks)] = previous.matrix[
                    kept.rows.start : kept.rows.stop
                ]
                continue
            for row, artwork in enumerate(title.artworks, start):
                self.matrix[row] = artwork_vector(
                    artwork.tones, artwork.cast, artwork.visual_quality, artwork.composition
                )
        self.matrix.flags.writeable = False
        self._entries: dict[str, CatalogEntry] = {}
        for title, start in zip(titles, starts, strict=False):
            stop = start + len(title.artworks)
            kept = reused.get(title.title_id)
            best = max(title.artworks, key=lambda artwork: artwork.aesthetic_score, default=None)
            self._entries[title.title_id] = CatalogEntry(
                title=title,
                default_artwork_id=best.artwork_id if best is not None else "",
                artwork_ids=tuple(artwork.artwork_id for artwork in title.artworks),
                image_base_url=image_base_url,
                rows=range(start, stop),
                features=self.matrix[start:stop].data,
                digest=kept.digest if kept is not None else title_digest(title),
            )
        self.version = catalog_version(entry.digest for entry in self._entries.values())
        self._ids = sorted(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self._entries.values())

    def candidates(
        self, title_ids: Sequence[str], *, with_features: bool = True
    ) -> tuple[list[CatalogEntry | None], bytes]:
        """Per requested id its entry (None if unknown), and (with_features) the packed
        feature rows of every found title's candidates, in request order.

        Joining each title's contiguous slice of the matrix is one allocation and
        copy; gathering rows by index (`matrix[index].tobytes()`) is two, and over ten
        times slower for a 1,600-title page (page faults on the 3.6 MB buffers).
        """
        entries = [self._entries.get(title_id) for title_id in title_ids]
        if not with_features:
            return entries, b""
        return entries, b"".join([entry.features for entry in entries if entry is not None])

    def titles_after(self, title_id: str, limit: int) -> list[CatalogEntry]:
        """Up to `limit` titles in id order, starting after `title_id` ("" = from the first)."""
        start = bisect.bisect_right(self._ids, title_id) if title_id else 0
        return [self._entries[i] for i in self._ids[start : start + limit]]

    def titles(self, title_ids: Sequence[str]) -> tuple[list[CatalogEntry], list[str]]:
        """The found titles in request order, and the ids not in the catalog."""
        found: list[CatalogEntry] = []
        missing: list[str] = []
        for title_id in title_ids:
            entry = self._entries.get(title_id)
            if entry is None:
                missing.append(title_id)
            else:
                found.append(entry)
        return found, missing
