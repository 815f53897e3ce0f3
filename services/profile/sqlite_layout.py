"""The profile SQLite file's tables, and the conversion of a file in the earlier layout.

A viewer is one row of `viewers`: `event_count` and `affinities`, a JSON object
of affinity name → [weight, updated_ms] (e.g. `{"genre:comedy": [1.5,
1780000000000]}`; read one with `json_extract(affinities, '$."genre:comedy"[0]')`).
Files written before kept one row per viewer × affinity in an `affinities`
table; `migrate` folds that table into `viewers` in place.
"""

from __future__ import annotations

import itertools
import json
import sqlite3

# Affinity name → (weight, updated_ms). Loaded from JSON, a value is a list; both unpack alike.
Affinities = dict[str, tuple[float, int]]

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
    affinities TEXT NOT NULL DEFAULT '{}'
);
"""


def migrate(db: sqlite3.Connection) -> None:
    """Converts a file of the earlier layout to SCHEMA's, in one transaction (all or none).

    The weights go through Python floats, not SQLite's JSON functions (which print
    15 digits), so each comes back bit for bit. A file already converted is untouched.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        if "affinities" not in {row[1] for row in db.execute("PRAGMA table_info(viewers)")}:
            db.execute("ALTER TABLE viewers ADD COLUMN affinities TEXT NOT NULL DEFAULT '{}'")
        if db.execute("SELECT 1 FROM sqlite_schema WHERE name = 'affinities'").fetchone():
            rows = db.execute(
                "SELECT user_id, feature, weight, updated_ms FROM affinities ORDER BY user_id"
            )
            db.executemany(
                "INSERT INTO viewers VALUES (?, 0, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET affinities = excluded.affinities",
                (
                    (user_id, json.dumps({feature: [w, u] for _, feature, w, u in viewer}))
                    for user_id, viewer in itertools.groupby(rows, key=lambda row: row[0])
                ),
            )
            db.execute("DROP TABLE affinities")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
