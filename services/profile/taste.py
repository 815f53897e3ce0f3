"""How feedback becomes taste: event weights and recency decay. No I/O, no protobuf."""

from __future__ import annotations

import math
from dataclasses import dataclass

# keyart.gateway.v1.EventKind number → how much one such event says about taste.
EVENT_WEIGHTS: dict[int, float] = {
    1: 0.0,  # impression seen: recorded, says nothing about taste yet
    2: 0.25,  # click
    3: 0.5,  # play start
    4: 1.0,  # qualified play
}

MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class Decay:
    """Exponential decay with a half-life: an affinity's weight halves every `half_life_days`."""

    half_life_days: float

    def factor(self, elapsed_ms: float) -> float:
        return math.exp2(-max(elapsed_ms, 0.0) / (self.half_life_days * MS_PER_DAY))

    def accumulate(
        self, weight: float, updated_ms: int, added: float, at_ms: int
    ) -> tuple[float, int]:
        """Adds `added` observed at `at_ms` to `weight` last decayed to `updated_ms`.

        The result is the same whatever order events arrive in: an older
        event is decayed to the stored time instead of rewinding it.
        """
        if at_ms >= updated_ms:
            return weight * self.factor(at_ms - updated_ms) + added, at_ms
        return weight + added * self.factor(updated_ms - at_ms), updated_ms


@dataclass(frozen=True)
class Taste:
    """A viewer's named affinities, decayed to one moment."""

    genres: dict[str, float]
    cast: dict[str, float]
    event_count: int

    @property
    def known(self) -> bool:
        return any(weight > 0 for weight in self.genres.values()) or any(
            weight > 0 for weight in self.cast.values()
        )
