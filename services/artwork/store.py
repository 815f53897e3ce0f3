"""SQLite store of titles and their artworks. Blocking: call it through asyncio.to_thread."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

from common.errors import NotFound
from common.sqlite_files import check_database
from services.artwork.catalog_store import (
    CatalogSnapshot,
    assemble_titles,
    check_added_artworks,
    check_upserted_artworks,
    face_lists,
    faces_from,
    positioned_artworks,
)
from services.artwork.model import Artwork, Title

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


def _owners(connection: sqlite3.Connection, artworks: Iterable[Artwork]) -> dict[str, str]:
    """The owning title of each of these artwork ids that the catalog holds."""
    owners = {}
    for artwork in artworks:
        row = connection.execute(
            "SELECT title_id FROM artworks WHERE artwork_id = ?", (artwork.artwork_id,)
        ).fetchone()
        if row is not None:
            owners[artwork.artwork_id] = row[0]
    return owners


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
    def _write(self) -> Iterator[tuple[sqlite3.Connection, int]]:
        """One write transaction and the revision it moved forward to (committed with it)."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            (revision,) = connection.execute(
                "UPDATE catalog_revision SET revision = revision + 1 RETURNING revision"
            ).fetchone()
            yield connection, int(revision)

    def revision(self) -> int:
        with self._connect() as connection:
            return int(connection.execute("SELECT revision FROM catalog_revision").fetchone()[0])

    def title_count(self) -> int:
        with self._connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM titles").fetchone()[0])

    def load(self) -> CatalogSnapshot:
        # One read transaction: in WAL mode it reads one snapshot, whatever commits meanwhile.
        with self._connect() as connection:
            connection.execute("BEGIN")
            revision = int(
                connection.execute("SELECT revision FROM catalog_revision").fetchone()[0]
            )
            artwork_rows = connection.execute(
                "SELECT title_id, artwork_id, cast_json, tones_json, visual_quality, composition,"
                " faces_json, image_url FROM artworks ORDER BY title_id, position"
            )
            artworks = [
                (
                    title_id,
                    Artwork(
                        artwork_id,
                        tuple(json.loads(cast)),
                        tuple(json.loads(tones)),
                        visual_quality,
                        composition,
                        faces_from(json.loads(faces)),
                        image_url,
                    ),
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
                ) in artwork_rows
            ]
            title_rows = connection.execute(
                "SELECT title_id, name, genres_json, cast_json FROM titles ORDER BY title_id"
            )
            titles = assemble_titles(
                (
                    (title_id, name, json.loads(genres), json.loads(cast))
                    for title_id, name, genres, cast in title_rows
                ),
                artworks,
            )
            return CatalogSnapshot(revision, titles)

    def add_artworks(self, title_id: str, artworks: Sequence[Artwork], *, replace: bool) -> int:
        """Appends `artworks` to an existing title in one transaction (all or none).

        An artwork id the title already has is replaced; `replace` drops all its others.
        NotFound for an unknown title; InvalidArgument for an id that belongs to another.
        """
        with self._write() as (connection, revision):
            if (
                connection.execute(
                    "SELECT 1 FROM titles WHERE title_id = ?", (title_id,)
                ).fetchone()
                is None
            ):
                raise NotFound(f"title {title_id!r} is not in the catalog")
            check_added_artworks(title_id, artworks, _owners(connection, artworks))
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
            return revision

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
                    json.dumps(face_lists(artwork.faces)),
                    artwork.image_url,
                )
                for title_id, position, artwork in rows
            ],
        )

    def upsert_titles(self, titles: Sequence[Title]) -> int:
        """Inserts or replaces each title together with its whole set of artworks, atomically.

        InvalidArgument naming `titles[i].artworks[j].artwork_id` for an artwork id that
        belongs to a title outside this call.
        """
        with self._write() as (connection, revision):
            check_upserted_artworks(
                titles,
                _owners(connection, [artwork for title in titles for artwork in title.artworks]),
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
            self._insert_artworks(connection, positioned_artworks(titles))
            return revision

    def delete_titles(self, title_ids: Sequence[str]) -> int:
        """Deletes the titles and their artworks; NotFound naming `title_ids[i]` for an unknown one."""
        with self._write() as (connection, revision):
            for i, title_id in enumerate(title_ids):
                deleted = connection.execute("DELETE FROM titles WHERE title_id = ?", (title_id,))
                if deleted.rowcount == 0:
                    raise NotFound(f"title_ids[{i}]: title {title_id!r} is not in the catalog")
            return revision
