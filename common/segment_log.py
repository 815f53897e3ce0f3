"""An append-only log of JSON lines in segment files, written by one thread with group commit.

Producers on the event loop call `append` (never blocking on disk); a writer
thread takes everything queued, writes and flushes it, fsyncs once for the
batch (or, with `sync_s` > 0, at most every `sync_s` seconds), and only then
resolves the futures of that batch. So:

- a producer that awaits its future on a log that fsyncs every batch (the
  gateway does for feedback events, before acknowledging them) knows the
  line survived a crash of the process and of the machine;
- a producer that does not wait (impressions) loses at most the batch in
  flight when the process dies, and on a log with `sync_s` > 0 at most the
  last `sync_s` seconds when the machine dies; never a torn line in the
  middle of a file (a reader drops a last line without its newline).

A segment is closed and a new one started when it passes `max_bytes` or is
older than `max_age_s`. Files are named `<kind>-<UTC start>-<seq>.jsonl` so
their names sort in write order; a segment is never rewritten.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from common.errors import KeyartError, ResourceExhausted
from common.logging import get_logger

log = get_logger(__name__)

# What the writer thread asks of a queued item: the records to write, given the
# number of the segment they go into (a renderer may leave out what that segment
# already holds). Building them there keeps serialization off the producer's loop.
Render = Callable[[int], list[dict]]


@dataclass(frozen=True)
class SegmentSettings:
    directory: Path
    kind: str  # file name prefix, e.g. "impressions"
    max_bytes: int = 64 << 20
    max_age_s: float = 3600.0
    max_queued: int = 10_000
    # 0: fsync every batch before resolving it. > 0: fsync at most this often (and
    # when a segment closes), for a log nobody waits on: fsync per reference page
    # cost the gateway about a fifth of its throughput.
    sync_s: float = 0.0


class SegmentLog:
    """Start with `start()`, stop with `close()` (drains what is queued)."""

    def __init__(self, settings: SegmentSettings, header: dict) -> None:
        self._settings = settings
        self._header = header
        self._queue: queue.Queue[tuple[Render, Future[None]] | None] = queue.Queue(
            settings.max_queued
        )
        self._thread = threading.Thread(target=self._run, name=f"{settings.kind}-log", daemon=True)
        self._file: BinaryIO | None = None
        self._segment = 0
        self._opened_at = 0.0
        self._synced_at = 0.0
        self.dropped = 0

    def start(self) -> None:
        self._settings.directory.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def append(self, render: Render) -> Future[None]:
        """Queues lines; the future resolves once they are written, and fsynced unless
        `sync_s` > 0 (ResourceExhausted if the queue is full)."""
        future: Future[None] = Future()
        try:
            self._queue.put_nowait((render, future))
        except queue.Full:
            self.dropped += 1
            raise ResourceExhausted(f"the {self._settings.kind} log is behind; retry") from None
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        done = False
        while not done:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = None in batch
            items = [item for item in batch if item is not None]
            if items:
                self._write(items)
        self._close_segment()

    def _write(self, items: list[tuple[Render, Future[None]]]) -> None:
        try:
            out = self._current()
            for render, _ in items:
                for record in render(self._segment):
                    out.write(orjson.dumps(record) + b"\n")
            out.flush()
            if time.monotonic() - self._synced_at >= self._settings.sync_s:
                self._sync()
        except Exception as error:  # noqa: BLE001 - handed to every waiting producer
            log.error("log write failed", kind=self._settings.kind, error=str(error))
            for _, future in items:
                future.set_exception(error)
            return
        for _, future in items:
            future.set_result(None)

    def _sync(self) -> None:
        if self._file is not None:
            os.fsync(self._file.fileno())
        self._synced_at = time.monotonic()

    def _close_segment(self) -> None:
        if self._file is not None:
            self._sync()
            self._file.close()
            self._file = None

    def _current(self) -> BinaryIO:
        settings = self._settings
        if self._file is not None and (
            self._file.tell() < settings.max_bytes
            and time.monotonic() - self._opened_at < settings.max_age_s
        ):
            return self._file
        self._close_segment()
        self._segment += 1
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{settings.kind}-{stamp}-{os.getpid()}-{self._segment:06d}.jsonl"
        path = settings.directory / name
        self._file = open(path, "ab")  # noqa: SIM115 - lives across batches, closed on roll/close
        self._opened_at = time.monotonic()
        header = {**self._header, "created_at_ms": int(time.time() * 1000)}
        self._file.write(orjson.dumps(header) + b"\n")
        fd = os.open(settings.directory, os.O_RDONLY)
        try:
            os.fsync(fd)  # the new file's directory entry is durable too
        finally:
            os.close(fd)
        log.info("log segment opened", kind=settings.kind, path=str(path))
        return self._file


class CorruptSegment(KeyartError):
    """A segment holds a complete line that is not a JSON record: damaged, not merely torn."""


def read_records(directory: Path, kind: str) -> Iterator[dict]:
    """Every complete record of `kind` segments in `directory`, in write order.

    A torn last line (a crash mid-write; never acknowledged) is skipped with a
    warning naming the file; any other line that does not parse raises
    CorruptSegment naming the file and line, so damaged data is never trained on.
    """
    for path in sorted(directory.glob(f"{kind}-*.jsonl")):
        yield from read_segment(path)


def read_segment(path: Path) -> Iterator[dict]:
    """The complete records of one segment file, header first (see read_records)."""
    with path.open("rb") as segment:
        for number, line in enumerate(segment, start=1):
            if not line.endswith(b"\n"):
                log.warning("torn last line skipped", path=str(path), line=number)
                continue
            try:
                record = orjson.loads(line)
            except ValueError:
                raise CorruptSegment(
                    f"log segment {path} line {number} is not a JSON record"
                ) from None
            if not isinstance(record, dict) or (number == 1) != (record.get("type") == "header"):
                raise CorruptSegment(f"log segment {path} line {number} is out of place")
            yield record
