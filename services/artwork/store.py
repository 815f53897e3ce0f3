"""SQLite store of titles and their artworks. Blocking: call it through asyncio.to_thread."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

from common.errors import InvalidArgument, NotFound
from common.sqlite_files import check_database
from services.artwork.model import Artwork, FaceBox, Title

_SCHEMA = """
CREATE TABLE IF NOT EXISTS titles (
    title_id    TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    genres_json TEXT NOT NULL,
    cast_json   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS artworks (
    artwork_id     TEXT PRIMARY KEY,
    title_id       TEXT NOT NULL REFERENCES titles (title_id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    cast_json      TEXT NOT NULL,
    tones_json     TEXT NOT NULL,
    visual_quality REAL NOT NULL,
    composition    REAL NOT NULL,
    faces_json     TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS artworks_by_title ON artworks (title_id, position);
CREATE TABLE IF NOT EXISTS catalog_revision (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    revision  INTEGER NOT NULL
);
INSERT OR IGNORE INTO catalog_revision (singleton, revision) VALUES (1, 0);
"""
# Columns added since the first schema, for files written before them: (column, definition).
_ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("faces_json", "TEXT NOT NULL DEFAULT '[]'"),
    ("image_url", "TEXT NOT NULL DEFAULT ''"),
)


def _migrate(connection: sqlite3.Connection) -> None:
    """Adds the columns an older file lacks; its artworks get the column's default (no faces)."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(artworks)")}
    for column, definition in _ADDED_COLUMNS:
        if column not in present:
            connection.execute(f"ALTER TABLE artworks ADD COLUMN {column} {definition}")


def _faces_json(faces: Sequence[FaceBox]) -> str:
    return json.dumps([[f.x, f.y, f.width, f.height] for f in faces])


def _faces(raw: str) -> tuple[FaceBox, ...]:
    return tuple(FaceBox(*box) for box in json.loads(raw))


class ArtworkStore:
    """Titles ordered by id, each with its artworks in their stored order."""

    def __init__(self, path: Path, *, check: bool = False) -> None:
        """`check`: run SQLite's integrity check first (CorruptDatabase naming the file)."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            if check:
                check_database(connection, path)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
            _migrate(connection)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection whose `with` block is one transaction (rolled back on error)."""
        with closing(sqlite3.connect(self.path)) as connection:
            connection.execute("PRAGMA foreign_keys=ON")
            with connection:
                yield connection

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that also moves the revision forward."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            yield connection
            connection.execute("UPDATE catalog_revision SET revision = revision + 1")

    def revision(self) -> int:
        with self._connect() as connection:
            return int(connection.execute("SELECT revision FROM catalog_revision").fetchone()[0])

    def title_count(self) -> int:
        with self._connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM titles").fetchone()[0])

    def load_titles(self) -> list[Title]:
        with self._connect() as connection:
            artworks: dict[str, list[Artwork]] = {}
            artwork_rows = connection.execute(
                "SELECT title_id, artwork_id, cast_json, tones_json, visual_quality, composition,"
                " faces_json, image_url FROM artworks ORDER BY title_id, position"
            )
            for (
                title_id,
                artwork_id,
                cast,
                tones,
                visual_quality,
                composition,
                faces,
                image_url,
            ) in artwork_rows:
                artworks.setdefault(title_id, []).append(
                    Artwork(
                        artwork_id,
                        tuple(json.loads(cast)),
                        tuple(json.loads(tones)),
                        visual_quality,
                        composition,
                        _faces(faces),
                        image_url,
                    )
                )
            title_rows = connection.execute(
                "SELECT title_id, name, genres_json, cast_json FROM titles ORDER BY title_id"
            )
            return [
                Title(
                    title_id,
                    name,
                    tuple(json.loads(genres)),
                    tuple(json.loads(cast)),
                    tuple(artworks.get(title_id, ())),
                )
                for title_id, name, genres, cast in title_rows
            ]

    def add_artworks(self, title_id: str, artworks: Sequence[Artwork], *, replace: bool) -> None:
        """Appends `artworks` to an existing title in one transaction (all or none).

        An artwork id the title already has is replaced; `replace` drops all its others.
        NotFound for an unknown title; InvalidArgument for an id that belongs to another.
        """
        with self._write() as connection:
            if (
                connection.execute(
                    "SELECT 1 FROM titles WHERE title_id = ?", (title_id,)
                ).fetchone()
                is None
            ):
                raise NotFound(f"title {title_id!r} is not in the catalog")
            for position, artwork in enumerate(artworks):
                owner = connection.execute(
                    "SELECT title_id FROM artworks WHERE artwork_id = ?", (artwork.artwork_id,)
                ).fetchone()
                if owner is not None and owner[0] != title_id:
                    raise InvalidArgument(
                        f"artworks[{position}].artwork_id",
                        f"{artwork.artwork_id!r} belongs to title {owner[0]!r}",
                    )
            if replace:
                connection.execute("DELETE FROM artworks WHERE title_id = ?", (title_id,))
            else:
                connection.executemany(
                    "DELETE FROM artworks WHERE artwork_id = ?",
                    [(artwork.artwork_id,) for artwork in artworks],
                )
            start = connection.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM artworks WHERE title_id = ?",
                (title_id,),
            ).fetchone()[0]
            self._insert_artworks(
                connection, [(title_id, start + offset, a) for offset, a in enumerate(artworks)]
            )

    @staticmethod
    def _insert_artworks(
        connection: sqlite3.Connection, rows: Iterable[tuple[str, int, Artwork]]
    ) -> None:
        connection.executemany(
            "INSERT INTO artworks (artwork_id, title_id, position, cast_json, tones_json,"
            " visual_quality, composition, faces_json, image_url)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    artwork.artwork_id,
                    title_id,
                    position,
                    json.dumps(artwork.cast),
                    json.dumps(artwork.tones),
                    artwork.visual_quality,
                    artwork.composition,
                    _faces_json(artwork.faces),
                    artwork.image_url,
                )
                for title_id, position, artwork in rows
            ],
        )

    def upsert_titles(self, titles: Sequence[Title]) -> None:
        """Inserts or replaces each title together with its whole set of artworks, atomically.

        InvalidArgument naming `titles[i].artworks[j].artwork_id` for an artwork id that
        belongs to a title outside this call.
        """
        upserted = {title.title_id for title in titles}
        with self._write() as connection:
            for i, title in enumerate(titles):
                for j, artwork in enumerate(title.artworks):
                    owner = connection.execute(
                        "SELECT title_id FROM artworks WHERE artwork_id = ?", (artwork.artwork_id,)
                    ).fetchone()
                    if owner is not None and owner[0] not in upserted:
                        raise InvalidArgument(
                            f"titles[{i}].artworks[{j}].artwork_id",
                            f"{artwork.artwork_id!r} belongs to title {owner[0]!r}",
                        )
            connection.executemany(
                "INSERT INTO titles (title_id, name, genres_json, cast_json) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (title_id) DO UPDATE SET name = excluded.name,"
                " genres_json = excluded.genres_json, cast_json = excluded.cast_json",
                [
                    (title.title_id, title.name, json.dumps(title.genres), json.dumps(title.cast))
                    for title in titles
                ],
            )
            connection.executemany(
                "DELETE FROM artworks WHERE title_id = ?", [(title.title_id,) for title in titles]
            )
            self._insert_artworks(
                connection,
                [
                    (title.title_id, position, artwork)
                    for title in titles
                    for position, artwork in enumerate(title.artworks)
                ],
            )

    def delete_titles(self, title_ids: Sequence[str]) -> None:
        """Deletes the titles and their artworks; NotFound naming `title_ids[i]` for an unknown one."""
        with self._write() as connection:
            for i, title_id in enumerate(title_ids):
                deleted = connection.execute("DELETE FROM titles WHERE title_id = ?", (title_id,))
                if deleted.rowcount == 0:
                    raise NotFound(f"title_ids[{i}]: title {title_id!r} is not in the catalog")
