"""Viewer profiles in SQLite (WAL), the embedded default: the event log and decayed affinities.

Each event (or batch of events) is applied in one transaction together with its
idempotency record, so an acknowledged event survives a crash and a retried one
counts once. `affinities` is a WITHOUT ROWID table (one B-tree, not a table and
its key index: a batch's upserts touch half the pages); a file made before keeps
its rowid table, which works the same, only slower.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from common.events import FeedbackEvent
from common.sqlite_files import check_database
from services.profile.store import (
    BatchOutcome,
    ReusedEventId,
    event_record,
    taste_features,
    taste_from,
)
from services.profile.taste import EVENT_WEIGHTS, Decay, Taste

T = TypeVar("T")

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
) WITHOUT ROWID;
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
        self._max_parameters = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

    def close(self) -> None:
        self._db.close()

    def apply(self, event: FeedbackEvent) -> bool:
        """Applies `event` once; returns False when its event_id was already applied (a retry);
        raises ReusedEventId when it was applied with other content. All in one transaction."""
        return self.apply_batch([event]).applied == 1

    def apply_batch(self, events: Sequence[FeedbackEvent]) -> BatchOutcome:
        """The events as `apply` would apply them one by one, in one transaction: each touched
        viewer's affinities are read once and written once."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            new, duplicates = self._new_events(events)
            db.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(event.event_id, *event_record(event)) for event in new],
            )
            counts = Counter(event.user_id for event in new)
            db.executemany(
                "INSERT INTO viewers VALUES (?, ?) ON CONFLICT(user_id) "
                "DO UPDATE SET event_count = event_count + excluded.event_count",
                counts.items(),
            )
            self._add_affinities(new)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return BatchOutcome(len(new), duplicates, frozenset(counts))

    def _new_events(self, events: Sequence[FeedbackEvent]) -> tuple[list[FeedbackEvent], int]:
        """The events not recorded yet (the first of a repeated id), and how many were retries."""
        recorded = {
            event_id: tuple(content)
            for chunk in _chunks(list({event.event_id for event in events}), self._max_parameters)
            for event_id, *content in self._db.execute(
                "SELECT event_id, user_id, page_id, title_id, artwork_id, kind FROM events "
                f"WHERE event_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
        }
        new = []
        for index, event in enumerate(events):
            content = recorded.get(event.event_id)
            if content is None:
                recorded[event.event_id] = event.content()
                new.append(event)
            elif content != event.content():
                raise ReusedEventId(event.event_id, index)
        return new, len(events) - len(new)

    def _add_affinities(self, events: list[FeedbackEvent]) -> None:
        """Folds the events into their viewers' stored affinities, in order (Decay.accumulate)."""
        gains = [
            (event.user_id, feature, EVENT_WEIGHTS[event.kind], event.occurred_at_ms)
            for event in events
            if EVENT_WEIGHTS[event.kind] > 0
            for feature in taste_features(event)
        ]
        # Only the (viewer, affinity) pairs the batch feeds: a viewer with a long history
        # holds many more.
        pairs = sorted({(user_id, feature) for user_id, feature, *_ in gains})
        current: dict[tuple[str, str], tuple[float, int]] = {
            (user_id, feature): (weight, updated)
            for chunk in _chunks(pairs, self._max_parameters // 2)
            for user_id, feature, weight, updated in self._db.execute(
                # A join, not `(user_id, feature) IN (VALUES …)`: SQLite scans the table for that.
                f"WITH wanted(user_id, feature) AS (VALUES {','.join(['(?, ?)'] * len(chunk))}) "
                "SELECT a.user_id, a.feature, a.weight, a.updated_ms FROM wanted "
                "CROSS JOIN affinities AS a USING (user_id, feature)",
                [value for pair in chunk for value in pair],
            )
        }
        changed: dict[tuple[str, str], tuple[float, int]] = {}
        for user_id, feature, added, at_ms in gains:
            key = (user_id, feature)
            weight, updated = changed.get(key, current.get(key, (0.0, at_ms)))
            changed[key] = self._decay.accumulate(weight, updated, added, at_ms)
        self._db.executemany(
            "INSERT INTO affinities VALUES (?, ?, ?, ?) ON CONFLICT(user_id, feature) "
            "DO UPDATE SET weight = excluded.weight, updated_ms = excluded.updated_ms",
            [(*key, weight, updated) for key, (weight, updated) in sorted(changed.items())],
        )

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


def _chunks(values: list[T], size: int) -> list[list[T]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
