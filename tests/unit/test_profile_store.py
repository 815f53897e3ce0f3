"""Both profile store backends, real ones (a SQLite file, a redis-server on loopback):
idempotency, recency, durability across reopening."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from common.errors import AlreadyExists
from common.events import FeedbackEvent
from services.profile.redis_store import RedisProfileStore
from services.profile.sqlite_layout import Affinities
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


def mixed_history(count: int = 600, seed: int = 7) -> list[FeedbackEvent]:
    """Events of every kind over a few viewers and titles, out of time order, with retries."""
    rng = random.Random(seed)
    titles = [
        (f"t{i}", tuple(rng.sample(GENRES, 2)), tuple(rng.sample(CAST, rng.randint(0, 3))))
        for i in range(12)
    ]
    history = []
    for i in range(count):
        title_id, genres, cast = rng.choice(titles)
        history.append(
            event(
                f"e{i}",
                user_id=f"viewer-{rng.randint(0, 9)}",
                title_id=title_id,
                genres=genres,
                cast=cast,
                kind=rng.randint(1, 4),
                at_ms=DAY0 + rng.randint(-50, 50) * MS_PER_DAY // 7,
            )
        )
    retries = [history[rng.randrange(count)] for _ in range(count // 10)]
    return history + retries + history[: count // 20]


GENRES = ("comedy", "romance", "drama", "thriller", "action")
CAST = ("Robin Williams", "Matt Damon", "Minnie Driver", "Uma Thurman", "John Travolta")


def test_a_batch_gives_the_same_profiles_as_events_one_by_one(open_store: OpenStore) -> None:
    history = mixed_history()
    one_by_one = open_store("single")
    outcomes = [one_by_one.apply(item) for item in history]
    batched = open_store("batched")
    results = [batched.apply_batch(history[i : i + 128]) for i in range(0, len(history), 128)]
    assert sum(result.applied for result in results) == sum(outcomes) == 600
    assert sum(result.duplicates for result in results) == len(history) - 600
    assert set().union(*(result.user_ids for result in results)) == {
        item.user_id for item in history
    }
    for user in sorted({item.user_id for item in history}):
        assert batched.taste(user, DAY0 + 20 * MS_PER_DAY) == one_by_one.taste(
            user, DAY0 + 20 * MS_PER_DAY
        )
    one_by_one.close()
    batched.close()


def test_a_batch_with_a_reused_event_id_applies_nothing(store: ProfileStore) -> None:
    store.apply(event("e1"))
    batch = [event("e2"), event("e3", user_id="other"), event("e1", title_id="t2")]
    with pytest.raises(AlreadyExists, match="event_id: 'e1' was already recorded") as raised:
        store.apply_batch(batch)
    assert getattr(raised.value, "index", None) == 2
    assert store.taste("viewer", DAY0).event_count == 1
    assert store.taste("other", DAY0).event_count == 0
    assert store.apply_batch(batch[:2]).applied == 2


def test_a_batch_refuses_an_id_it_repeats_with_other_content(store: ProfileStore) -> None:
    with pytest.raises(AlreadyExists) as raised:
        store.apply_batch([event("e1"), event("e2"), event("e1", kind=3)])
    assert getattr(raised.value, "index", None) == 2
    assert store.taste("viewer", DAY0).event_count == 0
    result = store.apply_batch([event("e1"), event("e1"), event("e2")])
    assert (result.applied, result.duplicates, result.user_ids) == (2, 1, frozenset({"viewer"}))


# The earlier layout's SQL: one `affinities` row per viewer × affinity, first as a rowid
# table, then WITHOUT ROWID; `viewers` without its `affinities` column.
OLD_TABLES = """
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    title_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    occurred_at_ms INTEGER NOT NULL,
    page_id TEXT NOT NULL,
    artwork_id TEXT NOT NULL
);
CREATE TABLE viewers (
    user_id TEXT PRIMARY KEY,
    event_count INTEGER NOT NULL
);
CREATE TABLE affinities (
    user_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    weight REAL NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, feature)
)"""


def write_old_layout(source: Path, target: Path, affinities_suffix: str) -> None:
    """`source`'s events and profiles written to `target` in the earlier layout, with its SQL."""
    with closing(sqlite3.connect(source)) as new, closing(sqlite3.connect(target)) as old:
        old.executescript(OLD_TABLES + affinities_suffix + ";")
        old.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", new.execute("SELECT * FROM events")
        )
        for user_id, count, *packed in new.execute("SELECT * FROM viewers"):
            old.execute("INSERT INTO viewers VALUES (?, ?)", (user_id, count))
            old.executemany(
                "INSERT INTO affinities VALUES (?, ?, ?, ?) ON CONFLICT(user_id, feature) "
                "DO UPDATE SET weight = excluded.weight, updated_ms = excluded.updated_ms",
                [(user_id, *affinity) for affinity in Affinities.unpack(*packed).items()],
            )
        old.commit()


@pytest.mark.parametrize(
    "affinities_suffix", ["", " WITHOUT ROWID"], ids=["rowid", "without-rowid"]
)
def test_a_file_in_the_earlier_layout_keeps_its_tastes(
    tmp_path: Path, affinities_suffix: str
) -> None:
    """Opened, a file with one affinities row per viewer × affinity is converted in place:
    the same tastes bit for bit, its event ids still retries, later events fold on top."""
    history = mixed_history()
    reference = SqliteProfileStore(str(tmp_path / "reference.db"), HALF_LIFE)
    reference.apply_batch(history[:400])
    reference.close()
    write_old_layout(tmp_path / "reference.db", tmp_path / "old.db", affinities_suffix)
    converted = SqliteProfileStore(str(tmp_path / "old.db"), HALF_LIFE)
    reference = SqliteProfileStore(str(tmp_path / "reference.db"), HALF_LIFE)
    users = sorted({item.user_id for item in history})
    later = DAY0 + 20 * MS_PER_DAY
    assert [converted.taste(user, later) for user in users] == [
        reference.taste(user, later) for user in users
    ]
    assert converted.apply_batch(history[:400]).applied == 0
    assert converted.apply_batch(history[400:]) == reference.apply_batch(history[400:])
    assert [converted.taste(user, later) for user in users] == [
        reference.taste(user, later) for user in users
    ]
    converted.close()
    reference.close()
    with closing(sqlite3.connect(tmp_path / "old.db")) as db:
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        }
    assert tables == {"events", "viewers"}
