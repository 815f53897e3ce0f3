"""The artwork catalog in PostgreSQL, shared by every artwork replica (`ARTWORK_STORE`).

Each call opens its own connection (with a connect timeout) and closes it: calls are few (a
revision poll every `ARTWORK_CATALOG_POLL_S`, the writes, a reload when the revision moved),
and a connection opened per call is never a stale one left over from before a database
restart, which a pool would have to detect and replace.

Every write transaction first increments the one revision row. That takes the row's lock, so
writers run one after another: each sees what the one before it committed, none loses
another's rows, and the revisions are committed in the order they are handed out. A reader
takes the revision and the titles from one REPEATABLE READ snapshot, so a replica never
serves a mixture of two writes. The database unreachable, or gone mid-call, is `Unavailable`
(gRPC UNAVAILABLE: retry) naming the store; the driver's detail goes to the log only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from common.errors import NotFound, Unavailable
from common.logging import get_logger
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

log = get_logger(__name__)

CONNECT_TIMEOUT_S = 3
# Any constant: replicas starting together create the schema one at a time under it.
_SCHEMA_LOCK = 7_310_216
# Ids sort by code point ("C"), as SQLite's do, whatever the database's default collation.
_SCHEMA = (
    "SELECT pg_advisory_xact_lock(%s)",
    """CREATE TABLE IF NOT EXISTS catalog_revision (
        singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
        revision  BIGINT NOT NULL
    )""",
    "INSERT INTO catalog_revision (singleton, revision) VALUES (TRUE, 0) ON CONFLICT DO NOTHING",
    """CREATE TABLE IF NOT EXISTS titles (
        title_id   TEXT COLLATE "C" PRIMARY KEY,
        name       TEXT NOT NULL,
        genres     TEXT[] NOT NULL,
        cast_names TEXT[] NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS artworks (
        artwork_id     TEXT COLLATE "C" PRIMARY KEY,
        title_id       TEXT COLLATE "C" NOT NULL REFERENCES titles (title_id) ON DELETE CASCADE,
        position       INTEGER NOT NULL,
        cast_names     TEXT[] NOT NULL,
        tones          TEXT[] NOT NULL,
        visual_quality DOUBLE PRECISION NOT NULL,
        composition    DOUBLE PRECISION NOT NULL,
        faces          JSONB NOT NULL,
        image_url      TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS artworks_by_title ON artworks (title_id, position)",
)


def store_name(url: str) -> str:
    """`PostgreSQL at host:port/dbname`: how messages name the store, without its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "PostgreSQL (an unreadable URL)"
    return (
        f"PostgreSQL at {parts.get('host', '')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
    )


class PostgresCatalogStore:
    """Thread-safe: every call has its own connection. Opening creates the schema if missing."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.name = store_name(url)
        with self._connect() as connection, connection.transaction():
            for statement in _SCHEMA:
                connection.execute(statement, (_SCHEMA_LOCK,) if "%s" in statement else ())

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection]:
        """A connection in autocommit mode (transactions are explicit), closed afterwards."""
        try:
            with psycopg.connect(
                self._url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True
            ) as connection:
                yield connection
        except psycopg.OperationalError as error:
            log.warning("catalog store unreachable", store=self.name, error=str(error).strip())
            raise Unavailable(f"the catalog store ({self.name}) is unreachable; retry") from None

    @contextmanager
    def _write(self) -> Iterator[tuple[psycopg.Cursor, int]]:
        """One write transaction, and the revision it moves forward to (committed with it)."""
        with self._connect() as connection, connection.transaction():
            cursor = connection.cursor()
            row = cursor.execute(
                "UPDATE catalog_revision SET revision = revision + 1 RETURNING revision"
            ).fetchone()
            assert row is not None, "the schema inserts the revision row"
            yield cursor, int(row[0])

    def revision(self) -> int:
        with self._connect() as connection:
            row = connection.execute("SELECT revision FROM catalog_revision").fetchone()
        assert row is not None, "the schema inserts the revision row"
        return int(row[0])

    def title_count(self) -> int:
        with self._connect() as connection:
            row = connection.execute("SELECT COUNT(*) FROM titles").fetchone()
        assert row is not None
        return int(row[0])

    def load(self) -> CatalogSnapshot:
        with self._connect() as connection:
            connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            connection.read_only = True
            with connection.transaction():
                revision = connection.execute("SELECT revision FROM catalog_revision").fetchone()
                artworks = connection.execute(
                    "SELECT title_id, artwork_id, cast_names, tones, visual_quality, composition,"
                    " faces, image_url FROM artworks ORDER BY title_id, position"
                ).fetchall()
                titles = connection.execute(
                    "SELECT title_id, name, genres, cast_names FROM titles ORDER BY title_id"
                ).fetchall()
        assert revision is not None, "the schema inserts the revision row"
        return CatalogSnapshot(
            int(revision[0]),
            assemble_titles(
                titles,
                (
                    (
                        title_id,
                        Artwork(
                            artwork_id, tuple(cast), tuple(tones), vq, comp, faces_from(faces), url
                        ),
                    )
                    for title_id, artwork_id, cast, tones, vq, comp, faces, url in artworks
                ),
            ),
        )

    def add_artworks(self, title_id: str, artworks: Sequence[Artwork], *, replace: bool) -> int:
        with self._write() as (cursor, revision):
            if (
                cursor.execute("SELECT 1 FROM titles WHERE title_id = %s", (title_id,)).fetchone()
                is None
            ):
                raise NotFound(f"title {title_id!r} is not in the catalog")
            check_added_artworks(title_id, artworks, _owners(cursor, artworks))
            if replace:
                cursor.execute("DELETE FROM artworks WHERE title_id = %s", (title_id,))
            else:
                cursor.execute(
                    "DELETE FROM artworks WHERE artwork_id = ANY(%s)",
                    ([artwork.artwork_id for artwork in artworks],),
                )
            row = cursor.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM artworks WHERE title_id = %s",
                (title_id,),
            ).fetchone()
            assert row is not None
            _insert_artworks(cursor, ((title_id, row[0] + i, a) for i, a in enumerate(artworks)))
            return revision

    def upsert_titles(self, titles: Sequence[Title]) -> int:
        with self._write() as (cursor, revision):
            check_upserted_artworks(
                titles, _owners(cursor, [artwork for title in titles for artwork in title.artworks])
            )
            cursor.executemany(
                "INSERT INTO titles (title_id, name, genres, cast_names) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (title_id) DO UPDATE SET name = excluded.name,"
                " genres = excluded.genres, cast_names = excluded.cast_names",
                [(t.title_id, t.name, list(t.genres), list(t.cast)) for t in titles],
            )
            cursor.execute(
                "DELETE FROM artworks WHERE title_id = ANY(%s)", ([t.title_id for t in titles],)
            )
            _insert_artworks(cursor, positioned_artworks(titles))
            return revision

    def delete_titles(self, title_ids: Sequence[str]) -> int:
        with self._write() as (cursor, revision):
            deleted = {
                row[0]
                for row in cursor.execute(
                    "DELETE FROM titles WHERE title_id = ANY(%s) RETURNING title_id",
                    (list(title_ids),),
                )
            }
            for i, title_id in enumerate(title_ids):
                if title_id not in deleted:  # raising rolls the whole delete back
                    raise NotFound(f"title_ids[{i}]: title {title_id!r} is not in the catalog")
            return revision


def _owners(cursor: psycopg.Cursor, artworks: Iterable[Artwork]) -> dict[str, str]:
    """The owning title of each of these artwork ids that the catalog holds."""
    rows = cursor.execute(
        "SELECT artwork_id, title_id FROM artworks WHERE artwork_id = ANY(%s)",
        ([artwork.artwork_id for artwork in artworks],),
    )
    return {artwork_id: title_id for artwork_id, title_id in rows}


def _insert_artworks(cursor: psycopg.Cursor, rows: Iterable[tuple[str, int, Artwork]]) -> None:
    cursor.executemany(
        "INSERT INTO artworks (artwork_id, title_id, position, cast_names, tones,"
        " visual_quality, composition, faces, image_url)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (
                artwork.artwork_id,
                title_id,
                position,
                list(artwork.cast),
                list(artwork.tones),
                artwork.visual_quality,
                artwork.composition,
                Jsonb(face_lists(artwork.faces)),
                artwork.image_url,
            )
            for title_id, position, artwork in rows
        ],
    )
