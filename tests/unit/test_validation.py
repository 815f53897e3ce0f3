"""The id rules of common/validation.py: which title and artwork ids are safe in a path or URL."""

from __future__ import annotations

import pytest

from common.errors import InvalidArgument
from common.validation import require_id, require_path_id, require_path_ids
from demo.catalog import demo_titles

BAD_PATH_IDS = {
    "": "must not be empty",
    "..": "'..' has an empty, '.' or '..' segment between its '/'s",
    ".": "'.' has an empty, '.' or '..' segment between its '/'s",
    "title-00100/../../etc": "'title-00100/../../etc' has an empty, '.' or '..' segment",
    "gwh/./a": "'gwh/./a' has an empty, '.' or '..' segment",
    "/etc/passwd": "'/etc/passwd' has an empty, '.' or '..' segment",
    "gwh/": "'gwh/' has an empty, '.' or '..' segment",
    "gwh//a": "'gwh//a' has an empty, '.' or '..' segment",
    "gwh\\..\\a": "must not contain a backslash",
    "gwh/a b": "'gwh/a b' holds characters outside A-Z a-z 0-9 - _ . ~ / : @",
    "gwh/a%2e%2e": "holds characters outside",
    "gwh/a?x=1": "holds characters outside",
    "gwh/a#b": "holds characters outside",
    "gwh/é": "holds characters outside",
    "gwh/\x00": "must contain printable characters only",
    "x" * 129: "is 129 characters long; the limit is 128",
}


def test_every_demo_and_ava_id_is_a_path_id() -> None:
    ids = [title.title_id for title in demo_titles()]
    ids += [artwork.artwork_id for title in demo_titles() for artwork in title.artworks]
    ids += ["good-will-hunting/damon-driver", "title-00001/ava-00ff12ab34cd56ef", "a/b:c@d~e.f_g"]
    for value in ids:
        assert require_path_id(value, "title_id") == value
    assert require_path_ids(ids, "title_ids") == tuple(ids)


@pytest.mark.parametrize(("value", "problem"), BAD_PATH_IDS.items())
def test_unsafe_path_ids_are_refused_naming_the_field(value: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        require_path_id(value, "artworks[2].artwork_id")
    assert caught.value.field == "artworks[2].artwork_id"
    assert problem in str(caught.value)


@pytest.mark.parametrize("value", BAD_PATH_IDS)
def test_a_list_names_the_index_of_its_unsafe_id(value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        require_path_ids(["gwh", "pulp-fiction", value, "gwh/a"], "rows[3].title_ids")
    assert caught.value.field == "rows[3].title_ids[2]"


@pytest.mark.parametrize(("before", "after"), [("gwh", ".."), ("a", "./b"), ("a/", "b")])
def test_ids_that_are_safe_only_when_joined_are_still_refused(before: str, after: str) -> None:
    with pytest.raises(InvalidArgument):
        require_path_ids([before, after], "title_ids")


def test_opaque_ids_may_hold_any_printable_characters() -> None:
    assert require_id("viewer 7/../é", "user_id") == "viewer 7/../é"
