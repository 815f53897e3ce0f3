"""Checks for identifiers that arrive in requests. Failures name the field."""

from __future__ import annotations

from common.errors import InvalidArgument

MAX_ID_LENGTH = 128


def require_id(value: str, field: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    """A non-empty identifier of printable characters, at most `max_length` long."""
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidArgument(field, f"is {len(value)} characters long; the limit is {max_length}")
    if not value.isprintable():
        raise InvalidArgument(field, "must contain printable characters only")
    return value
