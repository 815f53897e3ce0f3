"""The demo viewers and their watch histories, sent through the real event path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from demo.catalog import titles_by_genre, titles_with_cast

# Histories are stamped from a fixed start so seeding is deterministic.
HISTORY_START = datetime(2026, 11, 1, 20, 0, tzinfo=UTC)
PLAYS_PER_VIEWER = 12


@dataclass(frozen=True)
class WatchEvent:
    event_id: str
    user_id: str
    title_id: str
    occurred_at: datetime


def _history(user_id: str, title_ids: list[str]) -> list[WatchEvent]:
    return [
        WatchEvent(
            event_id=f"seed-{user_id}-{i:03d}",
            user_id=user_id,
            title_id=title_id,
            occurred_at=HISTORY_START + timedelta(hours=i),
        )
        for i, title_id in enumerate(title_ids[:PLAYS_PER_VIEWER])
    ]


def demo_histories() -> list[WatchEvent]:
    """Qualified plays: romances, comedies, Uma Thurman films, John Travolta films.

    `new-viewer` has no history.
    """
    return [
        *_history("romance-fan", titles_by_genre("romance")),
        *_history("comedy-fan", titles_by_genre("comedy")),
        *_history("uma-fan", titles_with_cast("Uma Thurman")),
        *_history("travolta-fan", titles_with_cast("John Travolta")),
    ]


DEMO_VIEWERS = ("romance-fan", "comedy-fan", "uma-fan", "travolta-fan", "new-viewer")
