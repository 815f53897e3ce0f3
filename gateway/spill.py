"""Impressions the stream could not take yet, kept in local segment files until it can.

The spill is the segment writer (common/segment_log.py) in its own directory,
holding standalone page records (gateway/stream_records.py). Before a replay
the open segment is closed, so every file replayed is whole; a file is
deleted only once JetStream acknowledged each of its records. The disk bound
counts the bytes of the records spilled (headers aside) and of the files left
by an earlier run; past it a page is dropped, logged and counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import orjson

from common.errors import ResourceExhausted
from common.log_schema import IMPRESSIONS, header
from common.logging import get_logger
from common.metrics import STREAM_IMPRESSIONS
from common.segment_log import SegmentLog, SegmentSettings, read_segment

log = get_logger(__name__)

# Builds a page's standalone record on the spill's writer thread (None: nothing to log).
RenderRecord = Callable[[], dict | None]


class Spill:
    def __init__(self, directory: Path, max_bytes: int, max_queued: int) -> None:
        self._directory = directory
        self._max_bytes = max_bytes
        self._max_queued = max_queued
        self._writer: SegmentLog | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._bytes = sum(path.stat().st_size for path in self._files())

    def _files(self) -> list[Path]:
        return sorted(self._directory.glob(f"{IMPRESSIONS}-*.jsonl"))

    @property
    def pending(self) -> bool:
        return self._writer is not None or self._bytes > 0

    def add(self, render: RenderRecord, page_id: str) -> None:
        """Queues the page for the spill's disk, or drops it (logged, counted) past the bound."""
        if self._bytes >= self._max_bytes:
            self._drop(page_id, "the spill is full")
            return
        if self._writer is None:
            self._writer = SegmentLog(
                SegmentSettings(
                    self._directory, IMPRESSIONS, max_queued=self._max_queued, sync_s=1.0
                ),
                {**header(IMPRESSIONS), "standalone": True},
            )
            self._writer.start()
        try:
            self._writer.append(lambda _segment: self._counted(render()))
        except ResourceExhausted:
            self._drop(page_id, "the spill's writer is behind")
            return
        STREAM_IMPRESSIONS.labels("spilled").inc()

    def _counted(self, record: dict | None) -> list[dict]:
        if record is None:
            return []
        self._bytes += len(orjson.dumps(record))  # the writer thread is the only one adding
        return [record]

    def _drop(self, page_id: str, why: str) -> None:
        STREAM_IMPRESSIONS.labels("dropped").inc()
        log.error("impression dropped", page_id=page_id, reason=why, spill=str(self._directory))

    async def close(self) -> None:
        """Closes the open segment (what is spilled stays for the next start to replay)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(writer.close)

    async def files_to_replay(self) -> list[Path]:
        """Closes the open segment and returns every spilled file, oldest first."""
        await self.close()
        return self._files()

    @staticmethod
    def messages(path: Path) -> list[tuple[str, bytes]]:
        """A spilled file's pages as (page id, message body)."""
        return [
            (record["page_id"], orjson.dumps(record))
            for record in read_segment(path)
            if record["type"] == "page"
        ]

    def replayed(self, path: Path) -> None:
        """Deletes a file whose records the stream has all acknowledged."""
        size = path.stat().st_size
        path.unlink()
        self._bytes = max(0, self._bytes - size)
