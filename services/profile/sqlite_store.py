"""Viewer profiles in SQLite (WAL), the embedded default: the event log and decayed affinities.

Each event is applied in one transaction together with its idempotency record,
so an acknowledged event survives a crash and a retried one counts once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from common.events import FeedbackEvent
from common.sqlite_files import check_database
from services.profile.store import reused_event_id, taste_features, taste_from
from services.profile.taste import EVENT_WEIGHTS, Decay, Taste

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    title_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    occurred_at_ms INTEGER NOT NULL,
    page_id TEXT NOT NULL,
    artwork_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS affinities (
    user_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    weight REAL NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, feature)
);
CREATE TABLE IF NOT EXISTS viewers (
    user_id TEXT PRIMARY KEY,
    event_count INTEGER NOT NULL
);
"""


class SqliteProfileStore:
    """Not thread-safe: use it from one thread (the servicer owns a one-thread executor).

    A corrupt or truncated file raises CorruptDatabase naming it.
    """

    def __init__(self, path: str, decay: Decay, synchronous: str = "full") -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._decay = decay
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        check_database(self._db, path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def apply(self, event: FeedbackEvent) -> bool:
        """Applies `event` once; returns False when its event_id was already applied (a retry);
        raises AlreadyExists when it was applied with other content. All in one transaction."""
        added = EVENT_WEIGHTS[event.kind]
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            inserted = db.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.event_id,
                    event.user_id,
                    event.title_id,
                    event.kind,
                    event.occurred_at_ms,
                    event.page_id,
                    event.artwork_id,
                ),
            ).rowcount
            if not inserted:
                self._check_retry(event)
            else:
                db.execute(
                    "INSERT INTO viewers VALUES (?, 1) "
                    "ON CONFLICT(user_id) DO UPDATE SET event_count = event_count + 1",
                    (event.user_id,),
                )
                if added > 0:
                    self._add_affinities(
                        event.user_id, taste_features(event), added, event.occurred_at_ms
                    )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return bool(inserted)

    def _check_retry(self, event: FeedbackEvent) -> None:
        recorded = self._db.execute(
            "SELECT user_id, page_id, title_id, artwork_id, kind FROM events WHERE event_id = ?",
            (event.event_id,),
        ).fetchone()
        if tuple(recorded) != event.content():
            raise reused_event_id(event.event_id)

    def _add_affinities(self, user_id: str, features: list[str], added: float, at_ms: int) -> None:
        current = {
            feature: (weight, updated)
            for feature, weight, updated in self._db.execute(
                f"SELECT feature, weight, updated_ms FROM affinities "
                f"WHERE user_id = ? AND feature IN ({','.join('?' * len(features))})",
                (user_id, *features),
            )
        }
        rows = []
        for feature in features:
            weight, updated = current.get(feature, (0.0, at_ms))
            rows.append((user_id, feature, *self._decay.accumulate(weight, updated, added, at_ms)))
        self._db.executemany("INSERT OR REPLACE INTO affinities VALUES (?, ?, ?, ?)", rows)

    def taste(self, user_id: str, now_ms: int) -> Taste:
        """The viewer's affinities decayed to `now_ms`; empty for an unknown viewer."""
        affinities = {
            feature: weight * self._decay.factor(now_ms - updated)
            for feature, weight, updated in self._db.execute(
                "SELECT feature, weight, updated_ms FROM affinities WHERE user_id = ?", (user_id,)
            )
        }
        row = self._db.execute(
            "SELECT event_count FROM viewers WHERE user_id = ?", (user_id,)
        ).fetchone()
        return taste_from(affinities, row[0] if row else 0)
