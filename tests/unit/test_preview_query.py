"""The preview's query parsing: bad input is refused with the parameter named."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from common.errors import InvalidArgument
from preview.server import DEFAULT_USERS, parse_home_query


def test_defaults_to_the_two_story_viewers() -> None:
    assert parse_home_query(MultiDict()) == (DEFAULT_USERS, False)


def test_blank_second_viewer_is_ignored() -> None:
    query = MultiDict([("user", "uma-fan"), ("user", ""), ("defaults", "on")])
    assert parse_home_query(query) == (["uma-fan"], True)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ([("user", "a"), ("user", "b"), ("user", "c")], "user"),
        ([("user", "x" * 129)], "user"),
        ([("user", "bad\nid")], "user"),
        ([("defaults", "maybe")], "defaults"),
        ([("page", "2")], "page"),
    ],
)
def test_bad_input_names_the_parameter(query: list[tuple[str, str]], field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_home_query(MultiDict(query))
    assert raised.value.field == field
