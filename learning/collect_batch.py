"""Stream messages into staged dataset parts: one batch of the collector (learning/collector.py).

A message is decoded as the one-record segment it is (docs/event-stream.md:
the segment header's fields travel in its headers). A page's decisions and
the action sets they add are built as `keyart dataset compact` builds them
(learning/compact.py), so the two paths give the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from common.events import FeedbackEvent
from common.features import CONTEXT_DIM, SCHEMA_VERSION, VIEWER_DIM
from common.log_schema import SCHEMA, LogFormatError, PageImpression, feedback_from_record
from common.storage import Location
from learning.compact import Catalogs, DecisionChunk, feedback_table
from learning.parquet_layout import write_action_sets, write_decisions, write_feedback


@dataclass(frozen=True)
class StreamMessage:
    stream: str
    sequence: int  # the message's sequence in its stream
    headers: Mapping[str, str]
    body: bytes


def _record(message: StreamMessage) -> dict:
    """The message's record, once its headers say it is in the schema this keyart reads."""
    schema = message.headers.get("Keyart-Schema")
    if schema != SCHEMA:
        raise LogFormatError(f"Keyart-Schema: {schema!r}; this reader knows {SCHEMA!r}")
    features = message.headers.get("Keyart-Feature-Schema")
    if features != SCHEMA_VERSION:
        raise LogFormatError(f"Keyart-Feature-Schema: {features!r}, not {SCHEMA_VERSION!r}")
    try:
        record = orjson.loads(message.body)
    except orjson.JSONDecodeError as error:
        raise LogFormatError(f"body: not JSON ({error})") from None
    if not isinstance(record, dict):
        raise LogFormatError("body: not a JSON object")
    return record


def decode_page(message: StreamMessage) -> PageImpression:
    """LogFormatError when the message is not a page record this keyart reads."""
    record = _record(message)
    try:
        return PageImpression.from_record(record, VIEWER_DIM, CONTEXT_DIM)
    except (KeyError, TypeError, ValueError) as error:
        raise LogFormatError(f"page record: {error!r}") from None


def decode_feedback(message: StreamMessage) -> FeedbackEvent:
    record = _record(message)
    try:
        return feedback_from_record(record)
    except (KeyError, TypeError) as error:
        raise LogFormatError(f"feedback record: {error!r}") from None


@dataclass
class StagedBatch:
    """What one batch adds; its files are under `directory` until committed."""

    directory: Location
    decisions: int = 0
    feedback: int = 0
    action_sets: int = 0
    parts: int = 0
    skipped_decisions: int = 0
    unresolved_versions: set[str] = field(default_factory=set)


def stage(
    directory: Location,
    pages: list[PageImpression],
    events: list[FeedbackEvent],
    catalogs: Catalogs,
    known: set[str],
) -> StagedBatch:
    """Writes the batch's parts under `directory` (laid out as the dataset is), named after it.
    `known` (the dataset's action set names) gains the sets this batch adds."""
    staged = StagedBatch(directory)
    name = directory.name
    chunk = DecisionChunk()
    for page in pages:
        chunk.add_page(page, catalogs, known)
    if chunk.new_sets:
        write_action_sets(directory, chunk.action_sets(), name)
        staged.parts += 1
    if len(chunk):
        staged.parts += len(write_decisions(directory, chunk.decisions(), name))
    if events:
        staged.parts += len(write_feedback(directory, feedback_table(events), name))
    staged.decisions = len(chunk)
    staged.feedback = len(events)
    staged.action_sets = len(chunk.new_sets)
    staged.skipped_decisions = chunk.skipped.total()
    staged.unresolved_versions = set(chunk.skipped)
    return staged
