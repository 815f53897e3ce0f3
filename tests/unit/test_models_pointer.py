"""The models pointer (current.json): what publish and rollback do to it, and bad pointers."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.models_pointer import (
    HISTORY_LIMIT,
    POINTER_NAME,
    Pointer,
    PointerError,
    read_pointer,
    write_pointer,
)
from common.storage import Location


def test_publishing_pushes_the_current_version_onto_the_history() -> None:
    pointer = Pointer("a").published("b").published("c")
    assert pointer == Pointer("c", ("b", "a"))


def test_republishing_an_older_version_moves_it_out_of_the_history() -> None:
    assert Pointer("c", ("b", "a")).published("a") == Pointer("a", ("c", "b"))


def test_the_history_is_bounded() -> None:
    pointer = Pointer("v0")
    for number in range(1, HISTORY_LIMIT + 10):
        pointer = pointer.published(f"v{number}")
    assert len(pointer.history) == HISTORY_LIMIT
    assert pointer.history[0] == f"v{HISTORY_LIMIT + 8}"


def test_rollback_serves_the_previous_version_and_drops_the_rolled_back_one() -> None:
    pointer = Pointer("c", ("b", "a")).rolled_back()
    assert pointer == Pointer("b", ("a",))
    assert pointer.rolled_back() == Pointer("a")


def test_rollback_with_no_history_is_refused() -> None:
    with pytest.raises(PointerError, match="no previous model to roll back to"):
        Pointer("a").rolled_back()


def test_a_written_pointer_reads_back(tmp_path: Path) -> None:
    write_pointer(Location.local(tmp_path), Pointer("learned-0123abcd", ("bundled-99",)))
    assert read_pointer(Location.local(tmp_path)) == Pointer("learned-0123abcd", ("bundled-99",))
    assert [p.name for p in tmp_path.iterdir()] == ["current.json"]  # no temporary left


def test_a_directory_without_a_pointer_has_none(tmp_path: Path) -> None:
    assert read_pointer(Location.local(tmp_path)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"schema": "keyart-models/1",\n "current": ', ":2: current.json: not JSON"),
        ("[1]", ":1: current.json: expected a JSON object"),
        ('{"schema": "x", "current": "a"}', ":1: schema: expected 'keyart-models/1', got 'x'"),
        ('{"schema": "keyart-models/1", "current": "../etc"}', ":1: current: expected a model"),
        ('{"schema": "keyart-models/1", "current": 3}', ":1: current: expected a model version"),
        (
            '{"schema": "keyart-models/1", "current": "a", "history": ["b/c"]}',
            ":1: history: expected a list of model versions",
        ),
    ],
)
def test_a_bad_pointer_is_refused_naming_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    (tmp_path / POINTER_NAME).write_text(text)
    with pytest.raises(PointerError) as refused:
        read_pointer(Location.local(tmp_path))
    assert str(refused.value).startswith(f"{tmp_path / POINTER_NAME}{expected}")
