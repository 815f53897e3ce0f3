"""Learning-log records as JetStream messages: each one standalone.

A segment file names a title once and later records give its number only;
a stream message cannot lean on the messages before it (a consumer may start
anywhere), so each page message names all its titles (`new_titles`), as the
first record of a fresh segment would. What a segment's header says travels
in the message's headers (MESSAGE_HEADERS), and the body is the record
itself, so a consumer decodes a message as a one-record segment with the
existing readers (common/log_schema.py).

Naming 1,600 titles a page is most of a message's bytes and, built as
objects per title, most of the gateway's CPU under load (docs/benchmarks.md):
so each title's entry is encoded once per catalog version (TitleEntries) and
a page's `new_titles` is those pieces joined, numbered in page order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import orjson

from common.features import SCHEMA_VERSION
from common.log_schema import SCHEMA, SegmentTitle
from gateway.impressions import page_records
from gateway.page_request import PageRequest
from gateway.render import RenderedPage, TitleGroup

MSG_ID = "Nats-Msg-Id"  # JetStream stores one message per id within the duplicate window
KEPT_VERSIONS = 2  # catalog versions whose entries are kept (a page may straddle a change)


def message_headers(kind: str, message_id: str) -> dict[str, str]:
    """What a segment header would say, plus the id JetStream deduplicates on."""
    return {
        MSG_ID: message_id,
        "Keyart-Schema": SCHEMA,
        "Keyart-Kind": kind,
        "Keyart-Feature-Schema": SCHEMA_VERSION,
    }


class MessageTitles:
    """Numbers a message's titles from 0 in page order; names none itself (TitleEntries does)."""

    def __init__(self) -> None:
        self._named = 0

    def __call__(self, group: TitleGroup) -> tuple[np.ndarray, dict[int, SegmentTitle]]:
        numbers = np.arange(self._named, self._named + len(group.titles), dtype=np.int64)
        self._named += len(group.titles)
        return numbers, {}


class TitleEntries:
    """Each title's `new_titles` entry as JSON, less its leading number, encoded once per
    catalog version and title (a title's first row names it within a version). Kept for the
    last KEPT_VERSIONS versions: about 100 bytes a title. Shared by the render thread and
    the spill's writer, hence the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: OrderedDict[str, dict[int, bytes]] = OrderedDict()

    @property
    def versions(self) -> list[str]:
        """The catalog versions kept, least recently used first."""
        with self._lock:
            return list(self._versions)

    def _version(self, catalog_version: str) -> dict[int, bytes]:
        entries = self._versions.get(catalog_version)
        if entries is None:
            entries = self._versions[catalog_version] = {}
            while len(self._versions) > KEPT_VERSIONS:
                self._versions.popitem(last=False)
        self._versions.move_to_end(catalog_version)
        return entries

    def page(self, groups: list[TitleGroup]) -> orjson.Fragment:
        """The page's `new_titles`: every title of `groups`, numbered from 0 in their order."""
        pieces: list[bytes] = []
        with self._lock:
            for group in groups:
                entries = self._version(group.catalog_version)
                for title in group.titles:
                    tail = entries.get(title.first_row)
                    if tail is None:
                        entry = SegmentTitle(
                            group.catalog_version,
                            title.title_id,
                            title.first_row,
                            title.artwork_ids,
                        ).to_entry(0)
                        tail = entries[title.first_row] = orjson.dumps(entry[1:])[1:]
                    pieces.append(b"[%d,%s" % (len(pieces), tail))
        return orjson.Fragment(b"[" + b",".join(pieces) + b"]")


class PageMessages:
    """Builds pages' standalone records; one per gateway, called off the event loop."""

    def __init__(self) -> None:
        self._titles = TitleEntries()

    def record(self, page: PageRequest, rendered: RenderedPage, served_ms: int) -> dict | None:
        """The page's standalone `page` record (None when it logs nothing)."""
        records = page_records(page, rendered, served_ms, MessageTitles())
        if not records or rendered.inputs is None:
            return None
        record = records[0]
        record["new_titles"] = self._titles.page([group for group, _ in rendered.inputs.groups])
        return record

    def encoded(
        self, page: PageRequest, rendered: RenderedPage, served_ms: int
    ) -> tuple[dict, bytes] | None:
        """The record and its message body (about 100 KB a reference page)."""
        record = self.record(page, rendered, served_ms)
        return None if record is None else (record, orjson.dumps(record))
