"""Both profile store backends, real ones (a SQLite file, a redis-server on loopback):
idempotency, recency, durability across reopening."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.errors import AlreadyExists
from common.events import FeedbackEvent
from services.profile.redis_store import RedisProfileStore
from services.profile.sqlite_store import SqliteProfileStore
from services.profile.store import ProfileStore
from services.profile.taste import MS_PER_DAY, Decay
from tests.redis_server import RedisServer, redis_server_binary

DAY0 = 1_780_000_000_000
HALF_LIFE = Decay(half_life_days=30)


def event(
    event_id: str,
    *,
    at_ms: int = DAY0,
    kind: int = 4,
    genres=("comedy",),
    cast=("Robin Williams",),
    user_id: str = "viewer",
    title_id: str = "t1",
    page_id: str = "",
    artwork_id: str = "",
) -> FeedbackEvent:
    return FeedbackEvent(
        event_id=event_id,
        user_id=user_id,
        title_id=title_id,
        kind=kind,
        occurred_at_ms=at_ms,
        page_id=page_id,
        artwork_id=artwork_id,
        genres=tuple(genres),
        cast=tuple(cast),
    )


OpenStore = Callable[[str], ProfileStore]


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens the named store of this backend; the same name reopens the same data."""
    if request.param == "sqlite":
        yield lambda name: SqliteProfileStore(str(tmp_path / f"{name}.db"), HALF_LIFE)
        return
    server = request.getfixturevalue("redis_server")
    server.flush()
    yield lambda name: RedisProfileStore(server.url, HALF_LIFE, prefix=f"test:{name}:")


@pytest.fixture
def store(open_store: OpenStore) -> Iterator[ProfileStore]:
    opened = open_store("profile")
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


def test_a_retry_at_another_time_is_still_a_retry(store: ProfileStore) -> None:
    assert store.apply(event("e1", page_id="p1", artwork_id="t1/a")) is True
    assert store.apply(event("e1", page_id="p1", artwork_id="t1/a", at_ms=DAY0 + 5)) is False
    assert store.taste("viewer", DAY0).event_count == 1


@pytest.mark.parametrize(
    "other",
    [
        {"user_id": "someone-else"},
        {"title_id": "t2"},
        {"artwork_id": "t1/b"},
        {"page_id": "p2"},
        {"kind": 2},
    ],
)
def test_a_reused_event_id_with_other_content_is_already_exists(
    store: ProfileStore, other: dict[str, Any]
) -> None:
    """AIP-155: the same id with other content is not a retry; nothing of it is applied."""
    first: dict[str, Any] = {"page_id": "p1", "artwork_id": "t1/a"}
    assert store.apply(event("e1", **first)) is True
    with pytest.raises(AlreadyExists, match="event_id: 'e1' was already recorded"):
        store.apply(event("e1", **{**first, **other}))
    assert store.taste("viewer", DAY0).event_count == 1
    assert not store.taste("someone-else", DAY0).known


def test_weights_follow_the_event_kind(store: ProfileStore) -> None:
    store.apply(event("impression", kind=1))
    assert not store.taste("viewer", DAY0).known  # an impression alone says nothing of taste
    store.apply(event("start", kind=3))
    assert store.taste("viewer", DAY0).genres["comedy"] == pytest.approx(0.5)


def test_affinity_halves_every_half_life(store: ProfileStore) -> None:
    store.apply(event("e1"))
    later = store.taste("viewer", DAY0 + 30 * MS_PER_DAY)
    assert later.genres["comedy"] == pytest.approx(0.5)


def test_result_does_not_depend_on_arrival_order(open_store: OpenStore) -> None:
    events = [
        event("old", at_ms=DAY0, genres=("romance",)),
        event("new", at_ms=DAY0 + 10 * MS_PER_DAY),
    ]
    tastes = []
    for name, ordered in (("forward", events), ("backward", events[::-1])):
        store = open_store(name)
        for item in ordered:
            store.apply(item)
        tastes.append(store.taste("viewer", DAY0 + 20 * MS_PER_DAY))
        store.close()
    assert tastes[0].genres == pytest.approx(tastes[1].genres)
    assert tastes[0].cast == pytest.approx(tastes[1].cast)
    assert tastes[0].genres["romance"] == pytest.approx(0.5 ** (20 / 30))


def test_applied_events_survive_reopening(open_store: OpenStore) -> None:
    store = open_store("profile")
    store.apply(event("e1"))
    store.close()
    reopened = open_store("profile")
    assert reopened.taste("viewer", DAY0).event_count == 1
    assert reopened.apply(event("e1")) is False
    reopened.close()


def test_a_repeated_genre_or_name_counts_once_per_event(store: ProfileStore) -> None:
    store.apply(event("e1", genres=("comedy", "comedy"), cast=()))
    assert store.taste("viewer", DAY0).genres == {"comedy": pytest.approx(1.0)}


def test_redis_killed_keeps_acknowledged_events(tmp_path: Path) -> None:
    """With appendfsync always, what apply() acknowledged is on disk when redis-server is killed."""
    binary = redis_server_binary()
    if binary is None:
        pytest.skip("REDIS TEST SKIPPED: redis-server cannot be installed here")
    server = RedisServer(binary, tmp_path)
    store = RedisProfileStore(server.url, HALF_LIFE)
    assert store.apply(event("e1")) is True
    store.close()
    server.process.kill()  # SIGKILL: no save on shutdown, only the AOF remains
    server.process.wait()
    restarted = RedisServer(binary, tmp_path, port=server.port)
    try:
        reopened = RedisProfileStore(restarted.url, HALF_LIFE)
        assert reopened.taste("viewer", DAY0).event_count == 1
        assert reopened.apply(event("e1")) is False
        reopened.close()
    finally:
        restarted.stop()
        server.stop()
