"""Checks for identifiers that arrive in requests. Failures name the field.

Two kinds of id:

- `require_id`: an opaque id (viewer, event, page, row ids, cast names):
  non-empty, printable, at most MAX_ID_LENGTH characters.
- `require_path_id`: an id that becomes part of a file path or a URL (title
  and artwork ids: the image store and `image_url` are built from them). On
  top of the above it holds only PATH_ID_CHARACTERS (ASCII letters, digits
  and `-_.~/:@`, all safe in a URL path without escaping), and split on `/`
  it has no empty, `.` or `..` segment (so no leading, trailing or doubled
  `/`, and no way out of the folder it names).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from common.errors import InvalidArgument

MAX_ID_LENGTH = 128
PATH_ID_CHARACTERS = "A-Z a-z 0-9 - _ . ~ / : @"
_PATH_ID = re.compile(r"[A-Za-z0-9\-_.~/:@]+")


def require_id(value: str, field: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    """A non-empty identifier of printable characters, at most `max_length` long."""
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidArgument(field, f"is {len(value)} characters long; the limit is {max_length}")
    if not value.isprintable():
        raise InvalidArgument(field, "must contain printable characters only")
    return value


def _is_path_id_text(wrapped: str) -> bool:
    """`wrapped` is one id or several joined by `/`, with a `/` before and after.
    (Three `in` tests: a page checks ~1,600 ids, and a generator over them costs more.)"""
    return (
        _PATH_ID.fullmatch(wrapped) is not None
        and "//" not in wrapped
        and "/./" not in wrapped
        and "/../" not in wrapped
    )


def require_path_id(value: str, field: str) -> str:
    """A title or artwork id: safe to put in a path or URL (the module docstring's rule)."""
    require_id(value, field)
    if "\\" in value:
        raise InvalidArgument(field, "must not contain a backslash")
    if not _PATH_ID.fullmatch(value):
        raise InvalidArgument(
            field, f"{value[:32]!r} holds characters outside {PATH_ID_CHARACTERS}"
        )
    if not _is_path_id_text(f"/{value}/"):
        raise InvalidArgument(
            field, f"{value[:32]!r} has an empty, '.' or '..' segment between its '/'s"
        )
    return value


def require_path_ids(values: Sequence[str], field: str) -> tuple[str, ...]:
    """Every id in `values` checked as `require_path_id`, errors naming `field[index]`.

    The whole list is checked at once first (a page holds ~1,600 title ids); only a
    list that fails is walked to name the bad id."""
    ids = tuple(values)
    if ids and max(map(len, ids)) <= MAX_ID_LENGTH and _is_path_id_text("/" + "/".join(ids) + "/"):
        return ids
    for index, value in enumerate(ids):
        require_path_id(value, f"{field}[{index}]")
    return ids
