"""The profile store on a real SQLite file: idempotency, recency, durability across reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.profile.store import FeedbackEvent, ProfileStore
from services.profile.taste import MS_PER_DAY, Decay

DAY0 = 1_780_000_000_000
HALF_LIFE = Decay(half_life_days=30)


def event(event_id: str, *, at_ms: int = DAY0, kind: int = 4, genres=("comedy",), cast=("Robin Williams",)) -> FeedbackEvent:
    return FeedbackEvent(
        event_id=event_id, user_id="viewer", title_id="t1", kind=kind, occurred_at_ms=at_ms,
        page_id="", artwork_id="", genres=tuple(genres), cast=tuple(cast),
    )


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    opened = ProfileStore(str(tmp_path / "profile.db"), HALF_LIFE)
    yield opened
    opened.close()


def test_unknown_viewer_has_no_taste(store: ProfileStore) -> None:
    taste = store.taste("nobody", DAY0)
    assert (taste.known, taste.event_count, taste.genres, taste.cast) == (False, 0, {}, {})


def test_same_event_id_applies_once(store: ProfileStore) -> None:
    assert store.apply(event("e1")) is True
    assert store.apply(event("e1")) is False
    taste = store.taste("viewer", DAY0)
    assert taste.event_count == 1
    assert taste.genres == {"comedy": pytest.approx(1.0)}
    assert taste.cast == {"Robin Williams": pytest.approx(1.0)}


def test_weights_follow_the_event_kind(store: ProfileStore) -> None:
    store.apply(event("impression", kind=1))
    assert not store.taste("viewer", DAY0).known  # an impression alone says nothing of taste
    store.apply(event("start", kind=3))
    assert store.taste("viewer", DAY0).genres["comedy"] == pytest.approx(0.5)


def test_affinity_halves_every_half_life(store: ProfileStore) -> None:
    store.apply(event("e1"))
    later = store.taste("viewer", DAY0 + 30 * MS_PER_DAY)
    assert later.genres["comedy"] == pytest.approx(0.5)


def test_result_does_not_depend_on_arrival_order(tmp_path: Path) -> None:
    events = [event("old", at_ms=DAY0, genres=("romance",)), event("new", at_ms=DAY0 + 10 * MS_PER_DAY)]
    tastes = []
    for name, ordered in (("forward", events), ("backward", events[::-1])):
        store = ProfileStore(str(tmp_path / f"{name}.db"), HALF_LIFE)
        for item in ordered:
            store.apply(item)
        tastes.append(store.taste("viewer", DAY0 + 20 * MS_PER_DAY))
        store.close()
    assert tastes[0].genres == pytest.approx(tastes[1].genres)
    assert tastes[0].cast == pytest.approx(tastes[1].cast)
    assert tastes[0].genres["romance"] == pytest.approx(0.5 ** (20 / 30))


def test_applied_events_survive_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "profile.db")
    store = ProfileStore(path, HALF_LIFE)
    store.apply(event("e1"))
    store.close()
    reopened = ProfileStore(path, HALF_LIFE)
    assert reopened.taste("viewer", DAY0).event_count == 1
    assert reopened.apply(event("e1")) is False
    reopened.close()
