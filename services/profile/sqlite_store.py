"""Viewer profiles in SQLite (WAL), the embedded default: the event log and decayed affinities.

Each event (or batch of events) is applied in one transaction together with its
idempotency record, so an acknowledged event survives a crash and a retried one
counts once. A viewer is one row: the event count and every decayed affinity,
packed (services.profile.sqlite_layout), so a batch reads and writes each viewer it touches once,
whatever the number of affinities its events feed. A file written with the
earlier layout (an `affinities` table, one row per viewer × affinity) is
converted on open (services.profile.sqlite_layout).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from common.events import FeedbackEvent
from common.sqlite_files import check_database
from services.profile.sqlite_layout import SCHEMA, Affinities, migrate
from services.profile.store import (
    BatchOutcome,
    ReusedEventId,
    event_record,
    taste_features,
    taste_from,
)
from services.profile.taste import EVENT_WEIGHTS, Decay, Taste


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
        self._db.executescript(SCHEMA)
        migrate(self._db)
        self._max_parameters = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

    def close(self) -> None:
        self._db.close()

    def apply(self, event: FeedbackEvent) -> bool:
        """Applies `event` once; returns False when its event_id was already applied (a retry);
        raises ReusedEventId when it was applied with other content. All in one transaction."""
        return self.apply_batch([event]).applied == 1

    def apply_batch(self, events: Sequence[FeedbackEvent]) -> BatchOutcome:
        """The events as `apply` would apply them one by one, in one transaction: each touched
        viewer's row is read once and written once."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            new, duplicates = self._new_events(events)
            db.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(event.event_id, *event_record(event)) for event in new],
            )
            counts = Counter(event.user_id for event in new)
            viewers = self._viewers(counts)
            for event in new:
                self._fold(viewers[event.user_id][1], event)
            db.executemany(
                "INSERT INTO viewers VALUES (?, ?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET "
                "event_count = excluded.event_count, affinity_names = excluded.affinity_names, "
                "weights = excluded.weights, updated_ms = excluded.updated_ms",
                [
                    (user_id, count + counts[user_id], *affinities.pack())
                    for user_id, (count, affinities) in sorted(viewers.items())
                ],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return BatchOutcome(len(new), duplicates, frozenset(counts))

    def _new_events(self, events: Sequence[FeedbackEvent]) -> tuple[list[FeedbackEvent], int]:
        """The events not recorded yet (the first of a repeated id), and how many were retries."""
        recorded = {
            event_id: tuple(content)
            for event_id, *content in self._select_in(
                "SELECT event_id, user_id, page_id, title_id, artwork_id, kind FROM events "
                "WHERE event_id IN ({})",
                {event.event_id for event in events},
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

    def _viewers(self, user_ids: Iterable[str]) -> dict[str, tuple[int, Affinities]]:
        """Each viewer's stored (event count, affinities); (0, {}) for one not stored yet."""
        viewers = {user_id: (0, Affinities.of(())) for user_id in user_ids}
        for user_id, count, *packed in self._select_in(
            "SELECT user_id, event_count, affinity_names, weights, updated_ms FROM viewers "
            "WHERE user_id IN ({})",
            viewers,
        ):
            viewers[user_id] = (count, Affinities.unpack(*packed))
        return viewers

    def _fold(self, affinities: Affinities, event: FeedbackEvent) -> None:
        """Adds `event` to a viewer's affinities in place (Decay.accumulate)."""
        added = EVENT_WEIGHTS[event.kind]
        if added <= 0:
            return
        at_ms = event.occurred_at_ms
        for feature in taste_features(event):
            weight, updated = affinities.get(feature, (0.0, at_ms))
            affinities.set(feature, *self._decay.accumulate(weight, updated, added, at_ms))

    def _select_in(self, query: str, values: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        """`query`'s rows with its `IN ({})` filled with `values`, as many calls as the
        parameter limit needs."""
        listed = list(values)
        for start in range(0, len(listed), self._max_parameters):
            chunk = listed[start : start + self._max_parameters]
            yield from self._db.execute(query.format(",".join("?" * len(chunk))), chunk)

    def taste(self, user_id: str, now_ms: int) -> Taste:
        """The viewer's affinities decayed to `now_ms`; empty for an unknown viewer."""
        row = self._db.execute(
            "SELECT event_count, affinity_names, weights, updated_ms FROM viewers "
            "WHERE user_id = ?",
            (user_id,),
        ).fetchone()
        if row is None:
            return taste_from({}, 0)
        return taste_from(
            {
                feature: weight * self._decay.factor(now_ms - updated)
                for feature, weight, updated in Affinities.unpack(*row[1:]).items()
            },
            row[0],
        )
