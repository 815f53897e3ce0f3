"""Opening a service's SQLite file at start: a corrupt or truncated file stops the process, named."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class CorruptDatabase(Exception):
    """The file is not a SQLite database, or fails SQLite's integrity check."""


def check_database(connection: sqlite3.Connection, path: Path | str) -> None:
    """Raises CorruptDatabase naming `path` unless `PRAGMA quick_check` passes.

    quick_check reads every page (seconds for gigabytes), so run it once at start,
    not per request: a page that does not read back is found before it is served.
    """
    try:
        problems = [row[0] for row in connection.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as error:
        raise CorruptDatabase(f"database file {path} cannot be read: {error}") from None
    if problems != ["ok"]:
        raise CorruptDatabase(f"database file {path} is corrupt: {'; '.join(problems)}")
