"""Learning-log records as JetStream messages: each one standalone.

A segment file names a title once and later records give its number only;
a stream message cannot lean on the messages before it (a consumer may start
anywhere), so each page message names all its titles (`new_titles`), as the
first record of a fresh segment would. What a segment's header says travels
in the message's headers (MESSAGE_HEADERS), and the body is the record
itself, so a consumer decodes a message as a one-record segment with the
existing readers (common/log_schema.py).
"""

from __future__ import annotations

import numpy as np
import orjson

from common.features import SCHEMA_VERSION
from common.log_schema import SCHEMA, SegmentTitle
from gateway.impressions import page_records
from gateway.page_request import PageRequest
from gateway.render import RenderedPage, TitleGroup

MSG_ID = "Nats-Msg-Id"  # JetStream stores one message per id within the duplicate window


def message_headers(kind: str, message_id: str) -> dict[str, str]:
    """What a segment header would say, plus the id JetStream deduplicates on."""
    return {
        MSG_ID: message_id,
        "Keyart-Schema": SCHEMA,
        "Keyart-Kind": kind,
        "Keyart-Feature-Schema": SCHEMA_VERSION,
    }


class MessageTitles:
    """Numbers every title of one message afresh, from 0, and names each in `new_titles`."""

    def __init__(self) -> None:
        self._named = 0

    def __call__(self, group: TitleGroup) -> tuple[np.ndarray, dict[int, SegmentTitle]]:
        numbers = np.arange(self._named, self._named + len(group.titles), dtype=np.int64)
        self._named += len(group.titles)
        new = {
            number: SegmentTitle(
                group.catalog_version, title.title_id, title.first_row, title.artwork_ids
            )
            for number, title in zip(numbers.tolist(), group.titles, strict=True)
        }
        return numbers, new


def page_message(page: PageRequest, rendered: RenderedPage, served_ms: int) -> dict | None:
    """The page's standalone `page` record (None when it logs nothing); runs off the loop."""
    records = page_records(page, rendered, served_ms, MessageTitles())
    return records[0] if records else None


def encoded_page_message(
    page: PageRequest, rendered: RenderedPage, served_ms: int
) -> tuple[dict, bytes] | None:
    """The record and its message body (about 100 KB a reference page: encoded off the loop)."""
    record = page_message(page, rendered, served_ms)
    return None if record is None else (record, orjson.dumps(record))
