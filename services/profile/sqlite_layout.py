"""The profile SQLite file's tables, and the conversion of a file in the earlier layout.

A viewer is one row of `viewers`: `event_count` and its affinities packed side by
side (`Affinities.pack`): `affinity_names` (the names joined by newlines, which
no validated name holds), `weights` (little-endian float64s) and `updated_ms`
(little-endian int64s), the i-th of each belonging together. Packed, not JSON:
a batch decodes and encodes every viewer it touches, and JSON's float parsing
and printing cost ten times more. Files written before kept one row per
viewer × affinity in an `affinities` table; `migrate` folds it into `viewers`.
"""

from __future__ import annotations

import itertools
import sqlite3
import sys
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

SEPARATOR = "\n"


class Affinities:
    """One viewer's affinities: name → (weight, updated_ms), kept as stored (parallel arrays)."""

    __slots__ = ("_index", "_names", "_updated", "_weights")

    def __init__(self, names: list[str], weights: array[float], updated: array[int]) -> None:
        self._names, self._weights, self._updated = names, weights, updated
        self._index = dict(zip(names, range(len(names)), strict=True))

    @classmethod
    def unpack(cls, names: str, weights: bytes, updated: bytes) -> Affinities:
        return cls(
            names.split(SEPARATOR) if names else [], _array("d", weights), _array("q", updated)
        )

    @classmethod
    def of(cls, items: Iterable[tuple[str, float, int]]) -> Affinities:
        affinities = cls([], array("d"), array("q"))
        for name, weight, updated in items:
            affinities.set(name, weight, updated)
        return affinities

    def pack(self) -> tuple[str, bytes, bytes]:
        """(affinity_names, weights, updated_ms) as the columns hold them."""
        return SEPARATOR.join(self._names), _bytes(self._weights), _bytes(self._updated)

    def get(self, name: str, default: tuple[float, int]) -> tuple[float, int]:
        i = self._index.get(name)
        return default if i is None else (self._weights[i], self._updated[i])

    def set(self, name: str, weight: float, updated: int) -> None:
        i = self._index.get(name)
        if i is not None:
            self._weights[i], self._updated[i] = weight, updated
            return
        if SEPARATOR in name:
            raise ValueError(f"affinity name {name!r} holds a newline")
        self._index[name] = len(self._names)
        self._names.append(name)
        self._weights.append(weight)
        self._updated.append(updated)

    def items(self) -> Iterator[tuple[str, float, int]]:
        return zip(self._names, self._weights, self._updated, strict=True)


def _array(typecode: str, data: bytes) -> array[Any]:
    values = array(typecode, data)
    if sys.byteorder == "big":  # the file is little-endian wherever it was written
        values.byteswap()
    return values


def _bytes(values: array[Any]) -> bytes:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    title_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    occurred_at_ms INTEGER NOT NULL,
    page_id TEXT NOT NULL,
    artwork_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS viewers (
    user_id TEXT PRIMARY KEY,
    event_count INTEGER NOT NULL,
    affinity_names TEXT NOT NULL DEFAULT '',
    weights BLOB NOT NULL DEFAULT x'',
    updated_ms BLOB NOT NULL DEFAULT x''
);
"""


def migrate(db: sqlite3.Connection) -> None:
    """Converts a file of the earlier layout to SCHEMA's, in one transaction (all or none).

    Each weight comes back bit for bit. A file already converted is untouched.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(viewers)")}
        for column, default in (
            ("affinity_names", "TEXT NOT NULL DEFAULT ''"),
            ("weights", "BLOB NOT NULL DEFAULT x''"),
            ("updated_ms", "BLOB NOT NULL DEFAULT x''"),
        ):
            if column not in columns:
                db.execute(f"ALTER TABLE viewers ADD COLUMN {column} {default}")
        if db.execute("SELECT 1 FROM sqlite_schema WHERE name = 'affinities'").fetchone():
            rows = db.execute(
                "SELECT user_id, feature, weight, updated_ms FROM affinities ORDER BY user_id"
            )
            db.executemany(
                "INSERT INTO viewers VALUES (?, 0, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET "
                "affinity_names = excluded.affinity_names, weights = excluded.weights, "
                "updated_ms = excluded.updated_ms",
                (
                    (user_id, *Affinities.of(row[1:] for row in viewer).pack())
                    for user_id, viewer in itertools.groupby(rows, key=lambda row: row[0])
                ),
            )
            db.execute("DROP TABLE affinities")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
