"""The profile store interface: what the servicer needs, whichever backend holds the data.

Every backend applies an event atomically together with its idempotency
record, so an acknowledged event is never lost and a retried one counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from common.errors import Unavailable
from services.profile.taste import Taste


@dataclass(frozen=True)
class FeedbackEvent:
    event_id: str
    user_id: str
    title_id: str
    kind: int
    occurred_at_ms: int
    page_id: str
    artwork_id: str
    genres: tuple[str, ...]
    cast: tuple[str, ...]

    def features(self) -> list[str]:
        """The affinity names this event feeds, each once, genres first."""
        named = [GENRE + genre for genre in self.genres] + [CAST + name for name in self.cast]
        return list(dict.fromkeys(named))


GENRE = "genre:"
CAST = "cast:"


class StoreUnavailable(Unavailable):
    """The backing store cannot be reached: UNAVAILABLE to a caller; at start, the process ends."""


class ProfileStore(Protocol):
    """Blocking calls: the servicer runs them off the event loop, one at a time."""

    def apply(self, event: FeedbackEvent) -> bool:
        """Applies `event` once; returns False when its event_id was already applied."""
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
