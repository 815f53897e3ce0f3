"""The profile store interface: what the servicer needs, whichever backend holds the data.

Every backend applies an event atomically together with its idempotency
record, so an acknowledged event is never lost and a retried one counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from common.errors import AlreadyExists, Unavailable
from common.events import FeedbackEvent
from services.profile.taste import Taste

GENRE = "genre:"
CAST = "cast:"


def taste_features(event: FeedbackEvent) -> list[str]:
    """The affinity names `event` feeds, each once, genres first."""
    named = [GENRE + genre for genre in event.genres] + [CAST + name for name in event.cast]
    return list(dict.fromkeys(named))


def event_record(event: FeedbackEvent) -> tuple[str, str, int, int, str, str]:
    """What the event log keeps of `event` besides its id, in the stores' column order."""
    return (
        event.user_id,
        event.title_id,
        event.kind,
        event.occurred_at_ms,
        event.page_id,
        event.artwork_id,
    )


class ReusedEventId(AlreadyExists):
    """A second event under an event id that is not a retry of the first (AIP-155).

    `index` is the event's place in the batch that held it."""

    def __init__(self, event_id: str, index: int = 0) -> None:
        super().__init__(
            f"event_id: {event_id!r} was already recorded for another user, page, title, "
            "artwork or kind; a new event needs a new event_id"
        )
        self.index = index


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch did: events applied, retries of recorded ones, and the viewers the
    applied events changed."""

    applied: int
    duplicates: int
    user_ids: frozenset[str]


class StoreUnavailable(Unavailable):
    """The backing store cannot be reached: UNAVAILABLE to a caller; at start, the process ends."""


class ProfileStore(Protocol):
    """Blocking calls: the servicer runs them off the event loop, one at a time."""

    def apply(self, event: FeedbackEvent) -> bool:
        """Applies `event` once; returns False when its event_id was already applied with
        the same content (a retry), and raises ReusedEventId when with other content."""
        ...

    def apply_batch(self, events: Sequence[FeedbackEvent]) -> BatchOutcome:
        """Applies each event as `apply` would, in order, all or none: when one reuses an
        event id with other content, ReusedEventId (its index) and nothing is applied."""
        ...

    def taste(self, user_id: str, now_ms: int) -> Taste:
        """The viewer's affinities decayed to `now_ms`; empty for an unknown viewer."""
        ...

    def close(self) -> None: ...


def taste_from(affinities: dict[str, float], event_count: int) -> Taste:
    """Splits named affinities (`genre:…`, `cast:…`) into a Taste."""
    genres = {name[len(GENRE) :]: w for name, w in affinities.items() if name.startswith(GENRE)}
    cast = {name[len(CAST) :]: w for name, w in affinities.items() if name.startswith(CAST)}
    return Taste(genres=genres, cast=cast, event_count=event_count)
