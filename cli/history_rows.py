"""One row of a viewer history file → a FeedbackEvent, or BadLine naming the field.

Ids are strings (a JSON number or a Parquet integer is refused: `42` and `42.0` would
be the same viewer to one tool and two to another); CSV cells are always text, so
`42` there is the id "42". `kind` is a name as `keyart event --kind` takes it.
`occurred_at` is ISO-8601 text with a time zone (or a Parquet timestamp with one): a
time without a zone is refused rather than guessed.
"""

from __future__ import annotations

from datetime import datetime

from cli.history_file import OPTIONAL, BadLine, Row
from common.errors import InvalidArgument
from common.events import FeedbackEvent
from common.validation import require_id, require_path_id
from suite.client import EVENT_KINDS

KIND_NAMES = ", ".join(sorted(EVENT_KINDS))


def _text(where: str, row: Row, field: str) -> str:
    value = row.get(field)
    if value is None:
        if field in OPTIONAL:
            return ""
        raise BadLine(where, field, "missing")
    if not isinstance(value, str):
        raise BadLine(where, field, f"must be a string, not {type(value).__name__} {value!r}")
    return value


def _occurred_at_ms(where: str, row: Row) -> int:
    value = row.get("occurred_at")
    if isinstance(value, str):
        text: str = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise BadLine(where, "occurred_at", f"{text[:40]!r} is not an ISO-8601 time") from None
    elif value is None:
        raise BadLine(where, "occurred_at", "missing")
    elif not isinstance(value, datetime):
        raise BadLine(where, "occurred_at", f"must be ISO-8601 text, not {value!r}")
    if value.utcoffset() is None:
        raise BadLine(
            where, "occurred_at", f"{value.isoformat()} has no time zone; add one (Z, +01:00)"
        )
    ms = int(value.timestamp() * 1000)
    if ms <= 0:
        raise BadLine(where, "occurred_at", f"{value.isoformat()} is not after 1970")
    return ms


def event_from_row(where: str, row: Row) -> FeedbackEvent:
    """The event `row` describes (genres and cast are the catalog's, added later)."""
    kind = _text(where, row, "kind")
    if kind not in EVENT_KINDS:
        raise BadLine(where, "kind", f"{kind[:40]!r} is not one of {KIND_NAMES}")
    texts = {field: _text(where, row, field) for field in ("event_id", "user_id", "title_id")}
    page_id = _text(where, row, "page_id")
    artwork_id = _text(where, row, "artwork_id")
    try:
        return FeedbackEvent(
            event_id=require_id(texts["event_id"], "event_id"),
            user_id=require_id(texts["user_id"], "user_id"),
            title_id=require_path_id(texts["title_id"], "title_id"),
            page_id=page_id and require_id(page_id, "page_id"),
            artwork_id=artwork_id and require_path_id(artwork_id, "artwork_id"),
            kind=EVENT_KINDS[kind],
            occurred_at_ms=_occurred_at_ms(where, row),
        )
    except InvalidArgument as error:
        raise BadLine(where, "", str(error)) from None
